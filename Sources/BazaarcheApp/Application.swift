import Accounts
import BazaarcheCore
import Catalog
import Exports
import Foundation
import Hummingbird
import HummingbirdCore
import Integrations
import Matching
import Messaging
import Onboarding
import Orders
import Partners
import Prometheus
import Reference

/// What the application needs from outside: the database client (already configured) and where
/// its migrations and docs are. Shared by `bazaarche serve` and the tests.
public struct AppDependencies: Sendable {
    public var client: PostgresClient
    public var migrator: Migrator
    public var registry: PrometheusCollectorRegistry
    public var openAPIDocument: String?
    /// The health object whose `observing(_:)` logger `client` was built with.
    public var poolHealth: PoolHealth
    /// A streaming replica's pool (and its health) for reads that tolerate lag; nil reads the primary.
    public var readReplica: (client: PostgresClient, health: PoolHealth)?

    public init(
        client: PostgresClient, poolHealth: PoolHealth, migrator: Migrator, registry: PrometheusCollectorRegistry,
        openAPIDocument: String?
    ) {
        self.client = client
        self.poolHealth = poolHealth
        self.migrator = migrator
        self.registry = registry
        self.openAPIDocument = openAPIDocument
    }
}

public func buildApplication(
    config: AppConfig, dependencies: AppDependencies, logger: Logger,
    host: String = "127.0.0.1", port: Int = 8080
) -> some ApplicationProtocol {
    let db = Database(client: dependencies.client, logger: logger, health: dependencies.poolHealth)
    let readDB = dependencies.readReplica.map { Database(replica: $0.client, health: $0.health, primary: db) } ?? db
    let router = buildRouter(config: config, dependencies: dependencies, db: db, readDB: readDB)
    // Idle keep-alive connections are closed after 60 s (a slow or abandoned client cannot hold
    // sockets forever); headers are capped well below NIO's defaults: no client of this API needs
    // more than 100 header fields or 16 KiB of them.
    let http = HTTP1Channel.Configuration(
        idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)),
        httpDecoderConfiguration: .init(maxHeaderFieldSize: 8 * 1024, maxHeaderListSize: 16 * 1024, maxHeaderFieldCount: 100))
    var app = Application(
        router: router,
        server: .http1(configuration: http),
        configuration: .init(address: .hostname(host, port: port), serverName: "bazaarche"),
        logger: logger)
    app.addServices(dependencies.client)
    if let replica = dependencies.readReplica { app.addServices(replica.client) }
    if config.orderSweepSeconds > 0 {
        app.addServices(
            OrderSweeper(orders: Orders(db: db, settings: config.orderSettings), every: .seconds(config.orderSweepSeconds)))
    }
    if config.quoteSweepSeconds > 0 {
        let quotes = Quotes(db: db, orders: Orders(db: db, settings: config.orderSettings))
        app.addServices(QuoteSweeper(quotes: quotes, every: .seconds(config.quoteSweepSeconds)))
    }
    if config.eventRetentionDays > 0 { app.addServices(EventRetention(db: db, days: config.eventRetentionDays)) }
    if config.webhookPollSeconds > 0 {
        let deliverer = WebhookDeliverer(db: db, settings: config.webhookSettings)
        app.addServices(WebhookWorker(deliverer: deliverer, every: .seconds(config.webhookPollSeconds)))
    }
    if config.notificationPollSeconds > 0 {
        let sms = SMS(db: db, gateway: smsGateway(config: config, logger: db.logger))
        let dispatcher = NotificationDispatcher(
            db: db, sms: sms, settings: config.notificationSettings, sources: .application)
        app.addServices(NotificationWorker(dispatcher: dispatcher, every: .seconds(config.notificationPollSeconds)))
    }
    if config.migrateOnStart {
        app.beforeServerStarts {
            let applied = try await dependencies.migrator.migrate(client: dependencies.client, logger: logger)
            logger.info("migrations up to date", metadata: ["applied_now": "\(applied)"])
            if config.loadDemoData {
                let db = Database(client: dependencies.client, logger: logger, health: dependencies.poolHealth)
                let accounts = Accounts(
                    db: db,
                    settings: AccountSettings(
                        tokenLifetime: .seconds(config.tokenLifetimeSeconds), bcryptCost: UInt8(config.bcryptCost)))
                printLogins(try await DemoData.load(db: db, accounts: accounts, logger: logger))
            }
        }
    }
    return app
}

/// Every (method, path template) the application serves, as its router registered them (the
/// contract test compares them with docs/openapi.yaml both ways). Builds the router only; nothing
/// connects to the database.
public func registeredRoutes(config: AppConfig, dependencies: AppDependencies, logger: Logger) -> [(method: String, path: String)]
{
    let db = Database(client: dependencies.client, logger: logger, health: dependencies.poolHealth)
    return buildRouter(config: config, dependencies: dependencies, db: db, readDB: db).routes
        .map { (method: $0.method.rawValue, path: $0.path.description) }
}

/// `readDB` serves reads that tolerate replication lag (search, export figures); everything that
/// writes, or must see the caller's own writes, uses `db` (the primary).
func buildRouter(config: AppConfig, dependencies: AppDependencies, db: Database, readDB: Database) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let table = RouteTable()
    router.add(middleware: ObservabilityMiddleware(maxBodyBytes: config.maxBodyBytes))
    router.add(middleware: ClientAddressMiddleware(hops: config.trustedProxyHops))
    router.add(middleware: ProblemMiddleware(routes: table))
    let apiKeys = APIKeys(db: db, perMinute: config.apiKeyRateLimitPerMinute)
    router.add(
        middleware: AuthMiddleware(
            db: db, limiter: config.rateLimitPerMinute > 0 ? RateLimiter(perMinute: config.rateLimitPerMinute) : nil,
            keys: apiKeys))
    router.add(
        middleware: AnonymousLimitMiddleware(
            limits: AnonymousLimits(scale: config.anonymousRateScale), db: db, gate: LeaseGate(permits: config.poolSize / 2)))

    var routes = Routes(router: router)
    let accounts = Accounts(
        db: db,
        settings: AccountSettings(
            tokenLifetime: .seconds(config.tokenLifetimeSeconds), bcryptCost: UInt8(config.bcryptCost),
            hashConcurrency: config.hashConcurrency))
    let sms = SMS(db: db, gateway: smsGateway(config: config, logger: db.logger))

    routes.get("/healthz") { _, _ in JSONResponse.raw("{\"status\":\"ok\"}") }
    routes.get("/readyz") { _, _ in
        do {
            // A probe must answer promptly: a database that does not answer in time is not ready.
            let current = try await withDeadline(.seconds(config.readinessTimeoutSeconds)) {
                try await dependencies.migrator.isCurrent(db: db)
            }
            if current { return JSONResponse.raw("{\"status\":\"ready\"}") }
            return JSONResponse.raw("{\"status\":\"migrations_pending\"}", status: .serviceUnavailable)
        } catch {
            return JSONResponse.raw("{\"status\":\"database_unavailable\"}", status: .serviceUnavailable)
        }
    }
    routes.get("/metrics") { _, _ in
        var buffer: [UInt8] = []
        dependencies.registry.emit(into: &buffer)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
    routes.get("/openapi.yaml") { _, _ in
        guard let document = dependencies.openAPIDocument else { throw APIError.notFound("The OpenAPI document") }
        return Response(
            status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    ReferenceData(db: db).addRoutes(to: &routes)
    accounts.addRoutes(to: &routes)
    Producers(db: db, accounts: accounts, sms: sms).addRoutes(to: &routes)
    Training(db: db).addRoutes(to: &routes)
    Assessments(db: db).addRoutes(to: &routes)
    Programme(db: db).addRoutes(to: &routes)
    Activities(db: db).addRoutes(to: &routes)
    Studies(db: db).addRoutes(to: &routes)
    VerificationProposals(db: db).addRoutes(to: &routes)
    Inspections(db: db).addRoutes(to: &routes)
    ActivityFunnel(db: db).addRoutes(to: &routes)
    Loans(db: db).addRoutes(to: &routes)
    ProgrammePage(db: db).addRoutes(to: &routes)
    Brands(db: db).addRoutes(to: &routes)
    Products(db: db).addRoutes(to: &routes)
    ProductImport(db: db).addRoutes(to: &routes)
    Quality(db: db).addRoutes(to: &routes)
    Search(db: readDB).addRoutes(to: &routes)
    let orders = Orders(db: db, settings: config.orderSettings)
    orders.addRoutes(to: &routes)
    Partners(db: db).addRoutes(to: &routes)
    Demands(db: db).addRoutes(to: &routes)
    Invitations(db: db, orders: orders).addRoutes(to: &routes)
    Quotes(db: db, orders: orders).addRoutes(to: &routes)
    Shipments(db: db).addRoutes(to: &routes)
    Figures(db: readDB, primary: db).addRoutes(to: &routes)
    Dashboard(db: db).addRoutes(to: &routes)
    EventFeed(db: db).addRoutes(to: &routes)
    Notifications(db: db, settings: config.notificationSettings).addRoutes(to: &routes)
    WebhookEndpoints(db: db, settings: config.webhookSettings).addRoutes(to: &routes)
    apiKeys.addRoutes(to: &routes)

    table.set(routes.registered)
    return router
}

/// The HTTP gateway when one is configured, otherwise the development sink.
func smsGateway(config: AppConfig, logger: Logger) -> any SMSGateway {
    if let url = config.smsGatewayURL, let key = config.smsGatewayKey { return HTTPSMSGateway(url: url, key: key) }
    return DevelopmentSMSSink(logger: logger)
}

/// The pool settings every instance uses. UTC by habit: JSON timestamps do not depend on it (api_time).
public func clientConfiguration(_ base: PostgresClient.Configuration, poolSize: Int) -> PostgresClient.Configuration {
    var configuration = base
    configuration.options.maximumConnections = poolSize
    // A connection attempt that takes this long counts as failed, and requests waiting for a
    // connection then get 503 (see Database.leaseTimeout); generous enough for a loaded machine.
    configuration.options.connectTimeout = .seconds(5)
    configuration.options.minimumConnections = 0
    // Typo tolerance of product search: how close a word must be (pg_trgm's default 0.6 misses
    // one-letter typos in short Persian words).
    configuration.options.additionalStartupParameters = [
        ("TimeZone", "UTC"), ("application_name", "bazaarche"), ("pg_trgm.word_similarity_threshold", "0.5"),
        // Relevance search reads its tiers through UNION ALL … LIMIT and relies on Append running
        // them in order (stopping when the page is full); a parallel Append could interleave them.
        ("enable_parallel_append", "off"),
        // Our statements are short and planned per call; JIT compiling them costs more than it saves
        // (measured: a 1 s matching query on 1M products spent 0.4 s in JIT).
        ("jit", "off"),
    ]
    return configuration
}

/// Finds docs/openapi.yaml next to the sql/ folder.
public func loadOpenAPIDocument(sqlDirectory: URL) -> String? {
    let candidates = [
        sqlDirectory.deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml"),
        URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("docs/openapi.yaml"),
    ]
    for url in candidates {
        if let text = try? String(contentsOf: url, encoding: .utf8) { return text }
    }
    return nil
}

extension AppConfig {
    /// The order deadlines as the Orders module takes them.
    var orderSettings: OrderSettings { OrderSettings(acceptHours: orderAcceptHours, confirmDays: orderConfirmDays) }

    /// Webhook behaviour as the Integrations module takes it.
    public var webhookSettings: WebhookSettings { WebhookSettings(allowPrivate: webhooksAllowPrivate) }

    /// Producer notifications as the Messaging module takes them.
    public var notificationSettings: NotificationSettings {
        var settings = NotificationSettings()
        settings.smsDailyLimit = notificationSMSDailyLimit
        settings.orderExpiringHours = orderExpiringNoticeHours
        settings.certificateExpiringDays = certificateExpiringNoticeDays
        return settings
    }
}

extension NotificationSources {
    /// Orders and certificates as their own modules put them in events.
    public static let application = NotificationSources(
        orders: { Orders.eventSource($0) }, certificates: { Quality.certificateEvents($0) })
}
