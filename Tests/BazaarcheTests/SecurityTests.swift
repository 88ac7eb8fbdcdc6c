import BazaarcheApp
import BazaarcheCore
import Foundation
import HummingbirdTesting
import Synchronization
import Testing

@Suite struct SecurityTests {
    @Test func repeatedWrongPasswordsAreThrottled() async throws {
        try await withApp { api in
            _ = try await api.token(.admin)  // a known account to attack
            let login = try await api.db.rows("SELECT login FROM accounts ORDER BY id DESC LIMIT 1")[0].decode(String.self)
            // Ten guesses at once: each is charged before its password is checked, so they cannot
            // all be checked (three are free, then the pair must wait).
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await api.post("/v1/auth/tokens", #"{"login":"\#(login)","password":"wrong-password"}"#).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let checked = statuses.filter { $0 == .unauthorized }.count
            #expect(checked >= 1 && checked <= 6, "\(statuses)")
            #expect(statuses.allSatisfy { $0 == .unauthorized || $0 == .tooManyRequests })
            // While the pair waits even the right password is refused: trying it teaches nothing.
            try await api.db.execute(
                "UPDATE login_throttle SET blocked_until = now() + interval '1 minute' WHERE key LIKE 'pair:%'")
            let blocked = try await api.post("/v1/auth/tokens", #"{"login":"\#(login)","password":"\#(API.password)"}"#)
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.code == "too_many_attempts")
            let wait = Int(blocked.headers[.retryAfter] ?? "") ?? 0
            #expect(wait > 50 && wait <= 60)
            // Another login is not affected; when the wait is over the right password works and
            // the pair starts afresh.
            _ = try await api.token(.supervisor, province: "IR-23")
            try await api.db.execute("UPDATE login_throttle SET blocked_until = now() - interval '1 second'")
            #expect(
                try await api.post("/v1/auth/tokens", #"{"login":"\#(login)","password":"\#(API.password)"}"#).status == .created)
            #expect(
                try await api.db.rows("SELECT 1 FROM login_throttle WHERE key LIKE \("pair:" + login.lowercased() + "|%")")
                    .isEmpty)
        }
    }

    @Test func accountsHaveARateLimitWithHeaders() async throws {
        try await withApp(rateLimitPerMinute: 5) { api in
            let token = try await api.token(.admin)
            var statuses: [Int] = []
            var remaining: [String] = []
            for _ in 0..<7 {
                let reply = try await api.get("/v1/me", token: token)
                statuses.append(reply.status.code)
                remaining.append(reply.headers[.rateLimitRemaining] ?? "-")
                if reply.status == .tooManyRequests {
                    #expect(reply.code == "rate_limited")
                    #expect(Int(reply.headers[.retryAfter] ?? "") ?? 0 >= 1)
                    #expect(reply.headers[.rateLimitLimit] == "5")
                }
            }
            // The window may roll over mid-test; what must hold is that no more than 5 pass per minute.
            #expect(statuses.filter { $0 == 200 }.count <= 6)
            #expect(statuses.contains(429))
            #expect(remaining.first == "4")
            // Anonymous public reads are not counted against anyone.
            #expect(try await api.get("/v1/provinces").status == .ok)
        }
    }

    @Test func responsesCarrySecurityHeaders() async throws {
        try await withApp { api in
            let reply = try await api.get("/v1/provinces")
            #expect(reply.headers[.xContentTypeOptions] == "nosniff")
            #expect(reply.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            #expect(reply.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            #expect(reply.headers[.contentSecurityPolicy] == "default-src 'none'; frame-ancestors 'none'")
            #expect(reply.headers[.strictTransportSecurity] == nil)
            let https = try await api.call(.get, "/v1/provinces", headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"])
            #expect(https.headers[.strictTransportSecurity]?.hasPrefix("max-age=") == true)
            // The dashboard keeps its own, narrower policy.
            let page = try await api.get("/dashboard/exports")
            #expect(page.headers[.contentSecurityPolicy]?.contains("connect-src 'self'") == true)
        }
    }

    /// SQL and HTML metacharacters and very long Persian text are stored and returned verbatim,
    /// or refused with 422 — never a 500.
    @Test func hostileTextIsStoredVerbatimOrRefused() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            // As JSON text: escaped quotes and a \u escape, decoded by the server.
            let hostile = #"'); DROP TABLE products; -- <script>alert(\"x\")</script> \u0027 ٪ ‌ 🍯"#
            let id = try await api.product(producer, title: hostile)
            let stored = try await api.get("/v1/products/\(id)")
            #expect(stored.string("title_fa") == #"'); DROP TABLE products; -- <script>alert("x")</script> ' ٪ ‌ 🍯"#)
            let long = String(repeating: "کیک خانگی شکلاتی ", count: 400)
            let tooLong = try await api.post(
                "/v1/products",
                #"{"title_fa":"\#(long)","category_code":"food.bakery","unit":"piece","price_rials":1000,"stock":1}"#,
                token: producer.token)
            #expect(tooLong.status == .unprocessableContent)
            #expect(tooLong.fields == ["title_fa"])
            let description = Array(repeating: "توضیحات بلند فارسی با حروف «گ» و «ژ» و ارقام ۱۲۳۴", count: 90).joined(
                separator: " ")
            let patched = try await api.call(
                .patch, "/v1/products/\(id)", json: #"{"description":"\#(description)"}"#, token: producer.token)
            #expect(patched.status == .ok || patched.status == .unprocessableContent)
            if patched.status == .ok { #expect(patched.string("description") == description) }
            // Search with metacharacters is just text.
            #expect(try await api.get("/v1/products?q=%27%3B%20DROP%20TABLE%20products%3B%20--").status == .ok)
            #expect(try await api.get("/v1/products?q=%25_%5C").status == .ok)
            #expect(try await api.db.rows("SELECT count(*)::int FROM products")[0].decode(Int.self) == 1)
        }
    }
}

@Suite struct ServerLimitTests {
    /// Against the real server (not the router alone): oversized headers are refused before any
    /// handler runs.
    @Test func oversizedHeadersAreRefused() async throws {
        let database = try await TestDatabase.shared.createDatabase()
        defer { Task { await TestDatabase.shared.dropDatabase(database.name) } }
        let logger = await TestDatabase.shared.logger
        var config = AppConfig()
        config.migrateOnStart = false
        let client = PostgresClient(
            configuration: clientConfiguration(database.configuration, poolSize: 2), backgroundLogger: logger)
        let app = buildApplication(
            config: config,
            dependencies: AppDependencies(
                client: client, poolHealth: PoolHealth(), migrator: await TestDatabase.shared.migrator,
                registry: TestDatabase.registry, openAPIDocument: nil),
            logger: logger, port: 0)
        try await app.test(.live) { client in
            let ok = try await client.execute(uri: "/healthz", method: .get)
            #expect(ok.status == .ok)
            var huge = HTTPFields()
            huge[HTTPField.Name("X-Padding")!] = String(repeating: "a", count: 20 * 1024)
            // Refused at the parser: a 4xx, or the connection closed without a response.
            let refused = try? await client.execute(uri: "/healthz", method: .get, headers: huge)
            #expect(refused == nil || refused!.status.code >= 400)
        }
    }
}

@Suite struct PoolHealthTests {
    /// Requests get a quick 503 only while connection attempts fail; that news reaches us as a
    /// PostgresNIO log message, so this pins it: a client pointed at a closed port must report it.
    @Test func failedConnectionAttemptsAreNoticed() async throws {
        let health = PoolHealth()
        let logger = TestDatabase.shared.logger
        #expect(!health.connectFailedSinceLastLease)
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let configuration = PostgresClient.Configuration(
            host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: "nothing", tls: .disable)
        let client = PostgresClient(
            configuration: clientConfiguration(configuration, poolSize: 1), backgroundLogger: health.observing(logger))
        let db = Database(client: client, logger: logger, health: health)
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let error = await #expect(throws: APIError.self) { try await db.execute("SELECT 1") }
            #expect(error?.code == APIError.unavailable.code, "a refused connection is a 503, not another error")
            #expect(health.connectFailedSinceLastLease)
        }
    }

    /// Writes without a principal hold at most the gate's permits of the pool at once, however
    /// many run; a lease nested in one already held does not wait again (no self-deadlock).
    @Test func anonymousWritesHoldAtMostTheGatesConnections() async throws {
        try await withApp { api in
            let gate = LeaseGate(permits: 2)
            final class Peak: Sendable { let counts = Mutex((now: 0, most: 0)) }
            let peak = Peak()
            try await Database.$gate.withValue(gate) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<12 {
                        group.addTask {
                            try await api.db.withConnection { connection in
                                peak.counts.withLock {
                                    $0.now += 1
                                    $0.most = max($0.most, $0.now)
                                }
                                _ = try await connection.query("SELECT pg_sleep(0.02)", logger: api.db.logger).collect()
                                // Nested: runs on its own lease without waiting for a permit.
                                try await api.db.execute("SELECT 1")
                                peak.counts.withLock { $0.now -= 1 }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(peak.counts.withLock { $0.most } == 2)
            #expect(gate.free == 2)
        }
    }
}
