import Accounts
import BazaarcheApp
import BazaarcheCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Messaging
import Synchronization
import Testing

/// Anonymous abuse: per-address budgets, sign-in throttling that cannot lock a victim out,
/// bounded password hashing, and SMS through a real HTTP gateway adapter.
@Suite struct AnonymousAbuseTests {
    static func from(_ address: String) -> HTTPFields { [.xForwardedFor: address] }

    /// One trusted proxy hop (so tests choose client addresses with X-Forwarded-For) and the
    /// anonymous budgets scaled by `scale`.
    static func behindOneProxy(scale: Double) -> (inout AppConfig) -> Void {
        { config in
            config.trustedProxyHops = 1
            config.anonymousRateScale = scale
        }
    }

    @Test func anonymousOperationsHaveABudgetPerClientAddress() async throws {
        // Scale 0.05: one application per address an hour, three sign-ins per address in 15 minutes.
        try await withApp(configure: Self.behindOneProxy(scale: 0.05)) { api in
            let body = RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351110001")
            let first = try await api.call(.post, "/v1/producer-applications", json: body, headers: Self.from("10.0.0.1"))
            #expect(first.status == .accepted)
            #expect(first.headers[.rateLimitLimit] == "1")
            let second = try await api.call(
                .post, "/v1/producer-applications",
                json: RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351110002"),
                headers: Self.from("10.0.0.1"))
            #expect(second.status == .tooManyRequests)
            #expect(second.code == "rate_limited")
            #expect(Int(second.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(second.headers[.rateLimitRemaining] == "0")
            // Refused before anything was stored or sent.
            #expect(try await api.db.rows("SELECT 1 FROM sms_messages WHERE mobile = '09351110002'").isEmpty)
            // Another address has its own budget; a proxy hop the service does not trust changes nothing.
            let other = try await api.call(
                .post, "/v1/producer-applications",
                json: RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351110003"),
                headers: Self.from("10.0.0.2"))
            #expect(other.status == .accepted)
            let spoofed = try await api.call(
                .post, "/v1/producer-applications",
                json: RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351110004"),
                headers: Self.from("1.2.3.4, 10.0.0.1"))
            #expect(spoofed.status == .tooManyRequests)

            // However the path is spelled, and with a token of one's own, it is the same budget.
            let producer = try await api.producer()
            for (path, token) in [("//v1/producer-applications/", nil), ("/v1/producer-applications", producer.token)]
                as [(String, String?)]
            {
                let again = try await api.call(
                    .post, path,
                    json: RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351110005"),
                    token: token, headers: Self.from("10.0.0.1"))
                #expect(again.status == .tooManyRequests, "\(path)")
                #expect(again.code == "rate_limited")
            }
            // Addresses in one IPv6 /64 share a budget; the next /64 has its own.
            let v6 = [
                ("2001:db8:0:7::1", HTTPResponse.Status.accepted), ("2001:db8:0:7::2", .tooManyRequests),
                ("2001:db8:0:8::1", .accepted),
            ]
            for (index, (address, expected)) in v6.enumerated() {
                let reply = try await api.call(
                    .post, "/v1/producer-applications",
                    json: RegistrationTests.application(
                        nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "0935222000\(index)"),
                    headers: Self.from(address))
                #expect(reply.status == expected, "\(address)")
            }

            // Sign-in: three attempts an address, even with the right password afterwards.
            let name = "partner.\(Fixtures.next())"
            _ = try await api.accounts.create(
                role: .partner, login: name, password: API.password, provinceCode: nil, partnerID: try await api.partnerCompany(),
                actor: nil)
            for _ in 0..<3 {
                let wrong = try await api.call(
                    .post, "/v1/auth/tokens", json: #"{"login":"x\#(name)","password":"wrong-password"}"#,
                    headers: Self.from("10.0.0.9"))
                #expect(wrong.status == .unauthorized)
            }
            let blocked = try await api.call(
                .post, "/v1/auth/tokens", json: #"{"login":"\#(name)","password":"\#(API.password)"}"#,
                headers: Self.from("10.0.0.9"))
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.code == "rate_limited")
            // Search is budgeted for anonymous callers only: a token is counted per account instead.
            let token = try #require(
                try await api.call(
                    .post, "/v1/auth/tokens", json: #"{"login":"\#(name)","password":"\#(API.password)"}"#,
                    headers: Self.from("10.0.0.10")
                )
                .string("token"))
            var anonymous: [HTTPResponse.Status] = []
            for _ in 0..<31 {
                #expect(try await api.call(.get, "/v1/products", token: token, headers: Self.from("10.0.0.11")).status == .ok)
                anonymous.append(try await api.call(.get, "/v1/products", headers: Self.from("10.0.0.12")).status)
            }
            #expect(anonymous.prefix(30).allSatisfy { $0 == .ok } && anonymous.last == .tooManyRequests)
        }
    }

    @Test func failingOnPurposeFromElsewhereCannotLockTheVictimOut() async throws {
        try await withApp(configure: Self.behindOneProxy(scale: 1)) { api in
            let name = "supervisor.\(Fixtures.next())"
            _ = try await api.accounts.create(
                role: .supervisor, login: name, password: API.password, provinceCode: "IR-00", actor: nil)
            func attempt(_ password: String, from address: String) async throws -> Reply {
                try await api.call(
                    .post, "/v1/auth/tokens", json: #"{"login":"\#(name)","password":"\#(password)"}"#,
                    headers: Self.from(address))
            }
            // Three free attempts from the attacker's address, then it must wait, and the wait grows.
            for _ in 0..<4 { #expect(try await attempt("wrong-password", from: "203.0.113.7").status == .unauthorized) }
            let pair = "key LIKE 'pair:%|203.0.113.7'"
            let charged = try await api.db.rows(
                """
                SELECT failures, extract(epoch FROM blocked_until - last_failure)::int FROM login_throttle WHERE\
                 \(unescaped: pair)
                """
            )[0]
            .decode((Int, Int).self)
            #expect(charged == (4, 1))
            // Stretch the wait so the next two attempts surely fall inside it however slow the machine.
            try await api.db.execute(
                "UPDATE login_throttle SET blocked_until = now() + interval '1 minute' WHERE \(unescaped: pair)")
            let wait = try await attempt("wrong-password", from: "203.0.113.7")
            #expect(wait.status == .tooManyRequests)
            #expect(wait.code == "too_many_attempts")
            // Even the right password waits from that address…
            #expect(try await attempt(API.password, from: "203.0.113.7").status == .tooManyRequests)
            // …but the victim, from its own address, signs in at once.
            #expect(try await attempt(API.password, from: "198.51.100.20").status == .created)
            // The delay doubles: 1 s after the 4th charged attempt, 2 s after the 5th, capped at 15 minutes.
            let delays = try await api.db.rows(
                "SELECT array_agg(login_delay(n) ORDER BY n) FROM generate_series(1, 20) n")[0].decode([Int].self)
            #expect(delays == [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900, 900, 900])
            try await api.db.execute(
                "UPDATE login_throttle SET blocked_until = now() - interval '1 second' WHERE \(unescaped: pair)")
            #expect(try await attempt("wrong-password", from: "203.0.113.7").status == .unauthorized)
            // Refused attempts were not charged: this is the 5th, so the wait is now 2 s.
            let next = try await api.db.rows(
                """
                SELECT failures, extract(epoch FROM blocked_until - last_failure)::int FROM login_throttle WHERE\
                 \(unescaped: pair)
                """
            )[0]
            .decode((Int, Int).self)
            #expect(next == (5, 2))
        }
    }

    @Test func passwordHashingIsBoundedAndRefusesPastItsQueue() async throws {
        let gate = HashGate(permits: 1, maxWaiting: 1)
        let release = Mutex(false)
        let started = Atomic<Int>(0)
        let hold: @Sendable () -> Int = {
            started.add(1, ordering: .relaxed)
            while !release.withLock({ $0 }) { usleep(1000) }
            return 1
        }
        let first = Task { try await gate.run(hold) }
        while started.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let second = Task { try await gate.run(hold) }
        while gate.queued == 0 { try await Task.sleep(for: .milliseconds(5)) }
        // One running, one waiting: the third is refused at once rather than queued.
        let refused = await #expect(throws: APIError.self) { try await gate.run { 0 } }
        #expect(refused?.code == HashGate.busy.code)
        #expect(started.load(ordering: .relaxed) == 1)
        release.withLock { $0 = true }
        #expect(try await first.value == 1)
        #expect(try await second.value == 1)
        #expect(try await gate.run { 7 } == 7)
    }

    @Test func smsGoesThroughTheHTTPGatewayAdapter() async throws {
        // A fake gateway, outside our system, started by the test.
        struct Received: Sendable {
            var authorization: String?
            var body: String
        }
        let received = Mutex<[Received]>([])
        let failing = Atomic<Bool>(false)
        let router = Router()
        router.post("/send") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 10_000)
            received.withLock { $0.append(Received(authorization: request.headers[.authorization], body: String(buffer: body))) }
            if failing.load(ordering: .relaxed) { return Response(status: .badGateway) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"id":"gw-42"}"#)))
        }
        let gateway = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await gateway.test(.live) { client in
            let port = try #require(client.port)
            try await withApp(configure: {
                $0.smsGatewayURL = "http://127.0.0.1:\(port)/send"
                $0.smsGatewayKey = "test-key"
            }) { api in
                let applied = try await api.post(
                    "/v1/producer-applications",
                    RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351230000"))
                #expect(applied.status == .accepted)
                let sent = received.withLock { $0 }
                #expect(sent.count == 1)
                #expect(sent.first?.authorization == "Bearer test-key")
                let payload = try JSONSerialization.jsonObject(with: Data((sent.first?.body ?? "").utf8)) as? [String: String]
                #expect(payload?["to"] == "09351230000")
                let code = payload?["text"].flatMap { text in
                    Digits.ascii(text).split(whereSeparator: { !$0.isNumber }).first { $0.count == 6 }.map { String($0) }
                }
                #expect(code != nil)
                // With a real gateway the stored copy does not hold the code.
                let row = try await api.db.rows("SELECT status, gateway_id, body FROM sms_messages")[0].decode(
                    (String, String?, String).self)
                #expect(row.0 == "sent" && row.1 == "gw-42")
                #expect(!row.2.contains(code ?? "never"))
                // The code that arrived through the gateway confirms the application.
                let confirmed = try await api.post(
                    "/v1/producer-applications/confirmations",
                    RegistrationTests.confirmation(applied.string("application_request_id"), code: code ?? ""))
                #expect(confirmed.status == .accepted)

                // A gateway that fails: the caller is told to retry, and the failure is kept.
                failing.store(true, ordering: .relaxed)
                let down = try await api.post(
                    "/v1/producer-applications",
                    RegistrationTests.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: "09351230001"))
                #expect(down.status == .serviceUnavailable)
                #expect(down.code == "sms_unavailable")
                let failed = try await api.db.rows("SELECT status FROM sms_messages WHERE mobile = '09351230001'")[0].decode(
                    String.self)
                #expect(failed == "failed")
            }
        }
    }

    @Test func clientsAreCountedByIPv4AddressOrIPv6Network() {
        #expect(ClientKey.of("203.0.113.7") == "203.0.113.7")
        #expect(ClientKey.of("::ffff:203.0.113.7") == "203.0.113.7")
        #expect(ClientKey.of("2001:db8:1:2:3:4:5:6") == ClientKey.of("2001:db8:1:2::9"))
        #expect(ClientKey.of("2001:db8:1:2::9") == "v6:20010db800010002/64")
        #expect(ClientKey.of("[2001:db8:1:2::9]") == ClientKey.of("2001:db8:1:2::1%eth0"))
        #expect(ClientKey.of("2001:db8:1:3::9") != ClientKey.of("2001:db8:1:2::9"))
        #expect(ClientKey.of("not an address") == "not an address")
    }

    @Test func clientAddressesComeFromTrustedHopsOnly() {
        #expect(AppRequestContext.clientAddress(forwardedFor: ["1.1.1.1, 2.2.2.2"], peer: "9.9.9.9", hops: 0) == "9.9.9.9")
        #expect(AppRequestContext.clientAddress(forwardedFor: ["1.1.1.1, 2.2.2.2"], peer: "9.9.9.9", hops: 1) == "2.2.2.2")
        #expect(AppRequestContext.clientAddress(forwardedFor: ["1.1.1.1", "2.2.2.2"], peer: "9.9.9.9", hops: 2) == "1.1.1.1")
        #expect(AppRequestContext.clientAddress(forwardedFor: ["2.2.2.2"], peer: "9.9.9.9", hops: 3) == "2.2.2.2")
        #expect(AppRequestContext.clientAddress(forwardedFor: [], peer: "9.9.9.9", hops: 1) == "9.9.9.9")
    }
}
