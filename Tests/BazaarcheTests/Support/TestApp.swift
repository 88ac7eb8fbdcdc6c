import Accounts
import BazaarcheApp
import BazaarcheCore
import Foundation
import HummingbirdTesting
import Onboarding
import Partners
import Synchronization
import Testing

/// A response as a client sees it, with JSON helpers.
struct Reply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }
    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    var code: String? { json["code"] as? String }
    var fields: [String] { (json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
    func int(_ key: String) -> Int64? { (json[key] as? NSNumber)?.int64Value }
    func string(_ key: String) -> String? { json[key] as? String }
}

/// The application under test, its private database, and helpers to drive it over HTTP.
struct API: Sendable {
    let client: any TestClientProtocol
    let db: Database
    let accounts: Accounts
    static let password = "password-123"

    @discardableResult
    func call(
        _ method: HTTPRequest.Method, _ path: String, json: String? = nil, token: String? = nil,
        headers: HTTPFields = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        var fields = headers
        if let token { fields[.authorization] = "Bearer \(token)" }
        if json != nil && fields[.contentType] == nil { fields[.contentType] = "application/json" }
        let response = try await client.executeRequest(
            uri: path, method: method, headers: fields, body: json.map { ByteBuffer(string: $0) })
        let reply = Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        let bare = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        for problem in OpenAPIConformance.shared.check(
            method: method.rawValue, path: bare, status: Int(reply.status.code),
            contentType: reply.headers[.contentType], body: reply.text)
        {
            Issue.record("OpenAPI: \(problem)", sourceLocation: sourceLocation)
        }
        if reply.status.code >= 500 && reply.status.code != 503 {
            Issue.record("server error \(reply.status.code): \(reply.text)", sourceLocation: sourceLocation)
        }
        return reply
    }

    func get(_ path: String, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Reply {
        try await call(.get, path, token: token, sourceLocation: sourceLocation)
    }

    func post(_ path: String, _ json: String, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> Reply
    {
        try await call(.post, path, json: json, token: token, sourceLocation: sourceLocation)
    }

    /// A set-up step that must work: a failed set-up fails the test instead of silently weakening it.
    @discardableResult
    func must(
        _ method: HTTPRequest.Method, _ path: String, json: String? = nil, token: String? = nil,
        status: HTTPResponse.Status = .ok, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let reply = try await call(method, path, json: json, token: token, sourceLocation: sourceLocation)
        #expect(reply.status == status, "set-up \(method) \(path): \(reply.text.prefix(300))", sourceLocation: sourceLocation)
        return reply
    }

    /// Logs in over HTTP and returns the bearer token.
    func login(_ login: String, _ password: String = API.password) async throws -> String {
        let reply = try await post("/v1/auth/tokens", #"{"login":"\#(login)","password":"\#(password)"}"#)
        #expect(reply.status == .created, "login \(login): \(reply.text)")
        return reply.string("token") ?? ""
    }

    /// Creates a staff/partner account directly and returns a token for it.
    /// An implementer takes `provinces` (default: `province`, else IR-00).
    func token(_ role: Role, province: String? = nil, provinces: [String]? = nil) async throws -> String {
        let name = "\(role.rawValue).\(Fixtures.next())"
        let partner = role == .partner ? try await partnerCompany() : nil
        let implementerProvinces = role == .implementer ? provinces ?? [province ?? "IR-00"] : nil
        _ = try await accounts.create(
            role: role, login: name, password: API.password, provinceCode: role == .implementer ? nil : province,
            provinceCodes: implementerProvinces, partnerID: partner, actor: nil)
        return try await login(name)
    }

    /// A partner account with `role` in `company` (a new company when nil), signed in.
    func partnerToken(company: Int64? = nil, role: CompanyRole) async throws -> (token: String, partnerID: Int64) {
        let name = "partner.\(role.rawValue).\(Fixtures.next())"
        var partner = company ?? 0
        if company == nil { partner = try await partnerCompany() }
        _ = try await accounts.create(
            role: .partner, login: name, password: API.password, provinceCode: nil, partnerID: partner, companyRole: role,
            actor: nil)
        return (try await login(name), partner)
    }

    /// A partner company with a fresh valid legal national ID, inserted directly.
    func partnerCompany(kind: String = "lead_firm") async throws -> Int64 {
        let legalID = Fixtures.legalID(Fixtures.next())
        return try await db.rows(
            """
            INSERT INTO partners (legal_national_id, name, kind, province_code) VALUES (\(legalID), 'شرکت آزمون', \(kind),\
             'IR-23') RETURNING id
            """
        )[0].decode(Int64.self)
    }

    /// The one-time code the development SMS sink recorded for a mobile (the newest).
    func smsCode(to mobile: String) async throws -> String? {
        let rows = try await db.rows(
            "SELECT body FROM sms_messages WHERE mobile = \(mobile) AND purpose = 'application_code' ORDER BY id DESC LIMIT 1")
        guard let body = try rows.first?.decode(String.self) else { return nil }
        let digits = Digits.ascii(body).split(whereSeparator: { !$0.isNumber }).first { $0.count == 6 }
        return digits.map { String($0) }
    }

    /// Applies over HTTP, confirms with the SMS code, and returns the confirmation reply.
    @discardableResult
    func apply(
        nationalID: String, mobile: String, province: String = "IR-00", password: String = API.password,
        activities: [String] = []
    ) async throws -> Reply {
        let named = activities.map { "\"\($0)\"" }.joined(separator: ",")
        let applied = try await post(
            "/v1/producer-applications",
            """
            {"national_id":"\(nationalID)","first_name":"زهرا","last_name":"احمدی","mobile":"\(mobile)",
             "province_code":"\(province)","city":"اراک","skills":["کیک خانگی"],"activities":[\(named)]}
            """)
        #expect(applied.status == .accepted, "application: \(applied.text)")
        let code = try await smsCode(to: Mobile.normalize(mobile)) ?? "000000"
        let requestID = applied.string("application_request_id") ?? ""
        return try await post(
            "/v1/producer-applications/confirmations",
            "{\"application_request_id\":\"\(requestID)\",\"code\":\"\(code)\",\"password\":\"\(password)\"}")
    }

    /// Files a producer application over HTTP (with its SMS code) and moves it to `status` as an admin would.
    func producer(province: String = "IR-00", status: ProducerStatus = .applied, activities: [String] = []) async throws
        -> (id: Int64, token: String)
    {
        let n = Fixtures.next()
        let mobile = String(format: "0935%07d", n)
        let reply = try await apply(
            nationalID: Fixtures.nationalID(n), mobile: mobile, province: province, activities: activities)
        #expect(reply.status == .accepted, "confirmation: \(reply.text)")
        let producerToken = try await login(mobile)
        let id = try await get("/v1/me", token: producerToken).int("producer_id") ?? 0
        let path: [ProducerStatus] =
            switch status {
            case .applied: []
            case .screened: [.screened]
            case .verified: [.screened, .verified]
            case .suspended: [.screened, .verified, .suspended]
            case .rejected: [.rejected]
            case .withdrawn: []
            }
        if !path.isEmpty {
            let admin = try await token(.admin)
            for step in path {
                if step == .verified {
                    // Four eyes: an implementer of the province proposes, the admin decides.
                    let implementer = try await token(.implementer, provinces: [province])
                    let proposal = try await post("/v1/producers/\(id)/verification-proposals", "{}", token: implementer)
                    #expect(proposal.status == .created, "proposal: \(proposal.text)")
                    let decided = try await post(
                        "/v1/verification-proposals/\(proposal.int("id") ?? 0)/decision", #"{"decision":"approve"}"#,
                        token: admin)
                    #expect(decided.status == .ok, "verification decision: \(decided.text)")
                    continue
                }
                // Screening needs a completed assessment (AssessmentTests.swift).
                if step == .screened { try await completedAssessment(of: id, token: admin) }
                let moved = try await post(
                    "/v1/producers/\(id)/transitions", #"{"to":"\#(step.rawValue)","reason":"test"}"#, token: admin)
                #expect(moved.status == .ok, "transition to \(step): \(moved.text)")
            }
        }
        if status == .withdrawn {
            let withdrawn = try await post("/v1/producers/\(id)/transitions", #"{"to":"withdrawn"}"#, token: producerToken)
            #expect(withdrawn.status == .ok, "withdrawal: \(withdrawn.text)")
        }
        return (id, producerToken)
    }
}

enum Fixtures {
    static let counter = Atomic<Int>(Int.random(in: 0..<1_000_000))
    static func next() -> Int { counter.add(1, ordering: .relaxed).newValue % 10_000_000 }

    static func legalID(_ n: Int) -> String {
        LegalNationalID.withCheckDigit(String(format: "1%09d", n % 1_000_000_000))
    }

    /// A valid national ID derived from `n`.
    static func nationalID(_ n: Int) -> String {
        NationalID.withCheckDigit(String(format: "1%08d", n % 100_000_000))
    }
}

/// Runs `body` against a fresh application on its own database copied from the migrated template.
/// `readReplica`, when given, is where lag-tolerant reads go (as DATABASE_READ_URL would).
/// `sessionTimeZone` replaces the pool's TimeZone start-up setting (a pooler or a role default
/// could hand the service such a session).
func withApp(
    tokenLifetime: Int = 3600, rateLimitPerMinute: Int = 3000, readReplica: PostgresClient.Configuration? = nil,
    sessionTimeZone: String? = nil,
    configure: (inout AppConfig) -> Void = { _ in },
    _ body: @Sendable (API) async throws -> Void
) async throws {
    let database = try await TestDatabase.shared.createDatabase()
    let logger = await TestDatabase.shared.logger
    var config = AppConfig()
    config.bcryptCost = 4
    config.migrateOnStart = false
    config.tokenLifetimeSeconds = tokenLifetime
    config.maxBodyBytes = 64 * 1024
    config.rateLimitPerMinute = rateLimitPerMinute
    // The whole suite runs in parallel on a small machine: a fresh pool's first connection may
    // take longer than a production probe allows.
    config.readinessTimeoutSeconds = 10
    // Hundreds of apps run at once: their background workers would each hold connections. Tests
    // that need one drive it directly (WebhookTests, NotificationTests, EventRetentionTests,
    // `api.sweep()`): a test that outlives the order sweeper's 30 s on a loaded machine must not
    // find its due orders already swept.
    config.orderSweepSeconds = 0
    config.webhookPollSeconds = 0
    config.notificationPollSeconds = 0
    config.quoteSweepSeconds = 0
    config.eventRetentionDays = 0
    configure(&config)
    let health = PoolHealth()
    var clientSettings = clientConfiguration(database.configuration, poolSize: 4)
    if let sessionTimeZone {
        clientSettings.options.additionalStartupParameters = clientSettings.options.additionalStartupParameters.map {
            $0.0 == "TimeZone" ? ($0.0, sessionTimeZone) : $0
        }
    }
    let client = PostgresClient(configuration: clientSettings, backgroundLogger: health.observing(logger))
    var dependencies = AppDependencies(
        client: client, poolHealth: health, migrator: await TestDatabase.shared.migrator, registry: TestDatabase.registry,
        openAPIDocument: await TestDatabase.shared.openAPIDocument)
    if let readReplica {
        let replicaHealth = PoolHealth()
        let replica = PostgresClient(
            configuration: clientConfiguration(readReplica, poolSize: 2), backgroundLogger: replicaHealth.observing(logger))
        dependencies.readReplica = (replica, replicaHealth)
    }
    let app = buildApplication(config: config, dependencies: dependencies, logger: logger)
    let db = Database(client: client, logger: logger)
    let accounts = Accounts(db: db, settings: AccountSettings(tokenLifetime: .seconds(tokenLifetime), bcryptCost: 4))
    do {
        try await app.test(.router) { client in
            try await body(API(client: client, db: db, accounts: accounts))
        }
    } catch {
        await TestDatabase.shared.dropDatabase(database.name)
        throw error
    }
    await TestDatabase.shared.dropDatabase(database.name)
}

/// Expects `body` to fail with this SQLSTATE: a schema invariant must refuse for its own reason,
/// not because the statement had a typo.
func expectSQLState(
    _ state: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected SQLSTATE \(state), but the statement succeeded", sourceLocation: sourceLocation)
    } catch let error as PSQLError {
        #expect(error.serverInfo?[.sqlState] == state, "\(String(reflecting: error))", sourceLocation: sourceLocation)
    } catch let error as APIError {
        // Database maps constraint violations; check the mapping kept the cause.
        let mapped: [String: String] = ["23514": "validation_failed", "23505": "already_exists"]
        #expect(error.code == mapped[state] ?? state, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
