import BazaarcheApp
import BazaarcheCore
import Foundation
import Metrics
import Prometheus

/// The repository root, found from this file's path (tests run from any folder).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// One PostgreSQL server for the whole test process, and a migrated template database that every
/// test copies (`CREATE DATABASE … TEMPLATE`), so each test gets a private, fully migrated database
/// in milliseconds instead of re-running migrations.
actor TestDatabase {
    static let shared = TestDatabase()
    static let template = "bazaarche_template"
    static let registry = PrometheusCollectorRegistry()

    private var admin: PostgresClient?
    let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }()
    let migrator: Migrator = try! Migrator(directory: repositoryRoot.appendingPathComponent("sql"))
    let openAPIDocument: String? = try? String(
        contentsOf: repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)

    /// Configuration for the server's maintenance database, starting the server and template on first use.
    func serverConfiguration() async throws -> PostgresClient.Configuration {
        // One set-up for all the tests that ask at once (the actor is re-entered across awaits).
        if let setup { return try await setup.value }
        let task = Task { try await self.setUp() }
        setup = task
        return try await task.value
    }

    private var setup: Task<PostgresClient.Configuration, any Error>?

    private func setUp() async throws -> PostgresClient.Configuration {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: Self.registry))
        var configuration: PostgresClient.Configuration
        if let url = ProcessInfo.processInfo.environment["BAZAARCHE_TEST_DATABASE_URL"] {
            configuration = try DatabaseURL.configuration(url)
            // Tests drop and create databases: never point them at anything but this machine.
            if let host = configuration.host, !["localhost", "127.0.0.1", "::1"].contains(host) {
                fatalError("BAZAARCHE_TEST_DATABASE_URL must point at a local server, not \(host)")
            }
        } else {
            let cluster = try PrivateCluster(
                directory: repositoryRoot.appendingPathComponent(".data/test-postgres").path, logger: logger,
                fallbackParent: "/tmp")
            // Every test runs at once, each app with its own pool of 4: room for all of them (the
            // later max_connections wins over the cluster's default 200).
            _ = try cluster.start(
                extraOptions: "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=600")
            // scripts/test stops the cluster when the run ends; tell it where the cluster is.
            try? cluster.dataDirectory.write(
                to: repositoryRoot.appendingPathComponent(".data/test-cluster-path"), atomically: true, encoding: .utf8)
            configuration = .init(
                unixSocketPath: cluster.socketDirectory + "/.s.PGSQL.5432", username: cluster.user, password: nil,
                database: "postgres")
        }
        configuration.database = "postgres"
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        Task { await client.run() }
        admin = client
        try await client.query("DROP DATABASE IF EXISTS \(unescaped: Self.template) WITH (FORCE)")
        try await client.query("CREATE DATABASE \(unescaped: Self.template)")
        var templateConfiguration = configuration
        templateConfiguration.database = Self.template
        try await withClient(templateConfiguration) { client in
            try await self.migrator.migrate(client: client, logger: self.logger)
        }
        return configuration
    }

    /// A new database copied from the migrated template; returns its client configuration.
    func createDatabase() async throws -> (name: String, configuration: PostgresClient.Configuration) {
        var configuration = try await serverConfiguration()
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await createFromTemplate(name)
        configuration.database = name
        return (name, configuration)
    }

    /// An empty database (no migrations), for migration tests.
    func createEmptyDatabase() async throws -> PostgresClient.Configuration {
        var configuration = try await serverConfiguration()
        let name = "empty_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await admin!.query("CREATE DATABASE \(unescaped: name)")
        configuration.database = name
        return configuration
    }

    private func createFromTemplate(_ name: String) async throws {
        // The template may still show a closing connection for a moment; retry briefly.
        for attempt in 0..<50 {
            do {
                try await admin!.query("CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: Self.template)")
                return
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55006" && attempt < 49 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    func dropDatabase(_ name: String) async {
        _ = try? await admin?.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
    }
}

func withClient<T: Sendable>(
    _ configuration: PostgresClient.Configuration, _ body: @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    let client = PostgresClient(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Producer 1 of an upgrade's seed: verified, in Markazi (IR-00), written straight into the old
/// schema (only columns every version has had).
func seedProducer(_ client: PostgresClient) async throws {
    try await client.query(
        """
        INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, status)
        VALUES (\(Fixtures.nationalID(1)), 'زهرا', 'احمدی', '09350000001', 'IR-00', 'اراک', 'verified')
        """)
}

/// An upgrade as a deployed database lives it: a fresh database migrated only with the files before
/// `version` (as the previous release shipped them), `seed` writing data in that old schema, then
/// every current migration, then `check` on the result. The database is dropped afterwards.
func withUpgrade(
    from version: String, seed: @Sendable (PostgresClient) async throws -> Void,
    check: @Sendable (PostgresClient) async throws -> Void
) async throws {
    let configuration = try await TestDatabase.shared.createEmptyDatabase()
    let logger = await TestDatabase.shared.logger
    let previous = FileManager.default.temporaryDirectory.appendingPathComponent("bazaarche-sql-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: previous) }
    do {
        try FileManager.default.createDirectory(at: previous, withIntermediateDirectories: true)
        let sql = repositoryRoot.appendingPathComponent("sql")
        for file in try FileManager.default.contentsOfDirectory(atPath: sql.path) where file.hasSuffix(".sql") && file < version {
            try FileManager.default.copyItem(at: sql.appendingPathComponent(file), to: previous.appendingPathComponent(file))
        }
        try await withClient(configuration) { client in
            try await Migrator(directory: previous).migrate(client: client, logger: logger)
            try await seed(client)
            try await TestDatabase.shared.migrator.migrate(client: client, logger: logger)
            try await check(client)
        }
    } catch {
        await TestDatabase.shared.dropDatabase(configuration.database ?? "")
        throw error
    }
    await TestDatabase.shared.dropDatabase(configuration.database ?? "")
}
