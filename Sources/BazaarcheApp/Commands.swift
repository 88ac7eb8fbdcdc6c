import Accounts
import ArgumentParser
import BazaarcheCore
import Foundation
import Metrics
import Prometheus

public struct BazaarcheCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bazaarche",
        abstract: "Bazaarche: the national e-marketplace backend for home-made products.",
        subcommands: [Serve.self, Migrate.self, AccountsCommand.self, DemoDataCommand.self, DatasetCommand.self])

    public init() {}
}

/// What every command needs before touching the database: settings, logging, and a database
/// (DATABASE_URL, or the private cluster under ./.data/postgres).
struct CommandContext {
    let config: AppConfig
    let logger: Logger
    let database: PostgresClient.Configuration
    var readDatabase: PostgresClient.Configuration? = nil
    let cluster: PrivateCluster?
    let startedCluster: Bool
    let migrator: Migrator
    let sqlDirectory: URL

    static func prepare(quiet: Bool = false) async throws -> CommandContext {
        let config: AppConfig
        do { config = try AppConfig.fromEnvironment() } catch {
            FileHandle.standardError.write(Data("bazaarche: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                config.logFormat == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = quiet ? .warning : config.logLevel
            return handler
        }
        let logger = Logger(label: "bazaarche")
        let sqlDirectory = try Migrator.locateDirectory(explicit: config.sqlDirectory)
        let migrator = try Migrator(directory: sqlDirectory)
        if let url = config.databaseURL {
            return CommandContext(
                config: config, logger: logger, database: try DatabaseURL.configuration(url),
                readDatabase: try config.readDatabaseURL.map { try DatabaseURL.configuration($0, setting: "DATABASE_READ_URL") },
                cluster: nil, startedCluster: false, migrator: migrator, sqlDirectory: sqlDirectory)
        }
        let cluster = try PrivateCluster(directory: config.dataDirectory, logger: logger)
        let started = try cluster.start()
        let admin = PostgresClient.Configuration(
            unixSocketPath: cluster.socketDirectory + "/.s.PGSQL.5432", username: cluster.user, password: nil,
            database: "postgres")
        try await withRunningClient(admin, logger: logger) { client in
            let exists = try await client.query("SELECT 1 FROM pg_database WHERE datname = 'bazaarche'").collect()
            if exists.isEmpty { try await client.query("CREATE DATABASE bazaarche") }
        }
        var database = admin
        database.database = "bazaarche"
        return CommandContext(
            config: config, logger: logger, database: database, cluster: cluster, startedCluster: started,
            migrator: migrator, sqlDirectory: sqlDirectory)
    }

    func finish() {
        if startedCluster { cluster?.stop() }
    }

    func client() -> (PostgresClient, PoolHealth) {
        Self.client(database, poolSize: config.poolSize, logger: logger)
    }

    /// The replica's pool, when DATABASE_READ_URL is set.
    func readClient() -> (PostgresClient, PoolHealth)? {
        readDatabase.map { Self.client($0, poolSize: config.poolSize, logger: logger) }
    }

    static func client(_ database: PostgresClient.Configuration, poolSize: Int, logger: Logger) -> (PostgresClient, PoolHealth) {
        let health = PoolHealth()
        let client = PostgresClient(
            configuration: clientConfiguration(database, poolSize: poolSize), backgroundLogger: health.observing(logger))
        return (client, health)
    }

    func accounts(_ db: Database) -> Accounts {
        Accounts(
            db: db,
            settings: AccountSettings(
                tokenLifetime: .seconds(config.tokenLifetimeSeconds), bcryptCost: UInt8(config.bcryptCost)))
    }
}

/// Runs `client` for the duration of `body`.
func withRunningClient<T: Sendable>(
    _ configuration: PostgresClient.Configuration, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    // The body may lease before run() is scheduled; PostgresNIO warns about that harmless race.
    var quiet = logger
    quiet.logLevel = .error
    let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations, then serve the HTTP API (private PostgreSQL cluster without DATABASE_URL).")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Flag(help: "Load the demo data set after migrating, unless it is already there.") var demo = false

    func run() async throws {
        let env = try await CommandContext.prepare()
        defer { env.finish() }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let (client, health) = env.client()
        var dependencies = AppDependencies(
            client: client, poolHealth: health, migrator: env.migrator, registry: registry,
            openAPIDocument: loadOpenAPIDocument(sqlDirectory: env.sqlDirectory))
        dependencies.readReplica = env.readClient()
        var config = env.config
        config.loadDemoData = demo
        let app = buildApplication(
            config: config, dependencies: dependencies, logger: env.logger, host: host, port: port)
        try await app.runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations and exit.")

    func run() async throws {
        let env = try await CommandContext.prepare()
        defer { env.finish() }
        let applied = try await withRunningClient(env.database, logger: env.logger) { client in
            try await env.migrator.migrate(client: client, logger: env.logger)
        }
        print(
            applied.isEmpty
                ? "Migrations already up to date." : "Applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts", abstract: "Manage accounts.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account. The password comes from BAZAARCHE_PASSWORD or, if unset, one line on standard input.")

        @Option(help: "admin, supervisor, implementer, partner or export_officer.") var role: String
        @Option(help: "The login name.") var login: String
        @Option(
            help: "Province code (ISO 3166-2:IR, e.g. IR-00); required for supervisors; repeat it for an implementer's provinces."
        )
        var province: [String] = []
        @Option(help: "Partner company id; required for partner accounts.") var partner: Int64?
        @Option(help: "A partner account's role in its company: owner (default), buyer or viewer.") var companyRole: String?

        func run() async throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role must be one of: \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let companyRole = try companyRole.map {
                guard let value = CompanyRole(rawValue: $0) else {
                    throw ValidationError("--company-role must be one of: owner, buyer, viewer")
                }
                return value
            }
            let password: String
            if let given = ProcessInfo.processInfo.environment["BAZAARCHE_PASSWORD"], !given.isEmpty {
                password = given
            } else if let line = readLine(strippingNewline: true), !line.isEmpty {
                password = line
            } else {
                throw ValidationError("no password: set BAZAARCHE_PASSWORD or pass one line on standard input")
            }
            let env = try await CommandContext.prepare(quiet: true)
            defer { env.finish() }
            let json = try await withRunningClient(env.database, logger: env.logger) { client in
                try await env.migrator.migrate(client: client, logger: env.logger)
                let db = Database(client: client, logger: env.logger)
                do {
                    return try await env.accounts(db).create(
                        role: role, login: login, password: password, provinceCode: role == .implementer ? nil : province.first,
                        provinceCodes: role == .implementer ? province : nil, partnerID: partner, companyRole: companyRole,
                        actor: nil)
                } catch let error as APIError {
                    throw ValidationError(error.detail ?? error.title)
                }
            }
            print(json)
        }
    }
}

struct DemoDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-data", abstract: "Load a small demo data set (Persian names and products) and print the demo logins.")

    func run() async throws {
        let env = try await CommandContext.prepare(quiet: true)
        defer { env.finish() }
        let logins = try await withRunningClient(env.database, logger: env.logger) { client in
            try await env.migrator.migrate(client: client, logger: env.logger)
            let db = Database(client: client, logger: env.logger)
            return try await DemoData.load(db: db, accounts: env.accounts(db), logger: env.logger)
        }
        printLogins(logins)
    }
}

func printLogins(_ logins: [(String, String)]) {
    print("Demo logins (password: \(DemoData.password)):")
    for (login, role) in logins { print("  \(login.padding(toLength: 22, withPad: " ", startingAt: 0)) \(role)") }
}
