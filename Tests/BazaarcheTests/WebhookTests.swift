import BazaarcheApp
import BazaarcheCore
import Crypto
import Foundation
import Hummingbird
import Integrations
import Testing

/// A local HTTP receiver on 127.0.0.1 (an ephemeral port) that records what arrives and answers
/// with the statuses it is told, then 200.
actor Inbox {
    struct Received: Sendable {
        var path: String
        var headers: HTTPFields
        var body: String
        func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
    }
    private(set) var received: [Received] = []
    private var answers: [HTTPResponse.Status] = []
    private var always: HTTPResponse.Status = .ok

    func answer(_ statuses: [HTTPResponse.Status], then always: HTTPResponse.Status = .ok) {
        answers = statuses
        self.always = always
    }

    func take(_ request: Received) -> HTTPResponse.Status {
        received.append(request)
        return answers.isEmpty ? always : answers.removeFirst()
    }

    func at(_ path: String) -> [Received] { received.filter { $0.path == path } }

    /// Runs `body` with the receiver listening; its port is passed in.
    static func listening(_ inbox: Inbox, _ body: @Sendable (Int) async throws -> Void) async throws {
        let router = Router()
        router.post("/{name}") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            let status = await inbox.take(
                Received(path: request.uri.path, headers: request.headers, body: String(buffer: buffer)))
            return Response(status: status)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var quiet = Logger(label: "webhook-receiver")
        quiet.logLevel = .critical  // stopping it mid-connection is expected here
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            try await body(port)
            group.cancelAll()
        }
    }
}

/// docs/integrations.md, "Verifying a delivery" (Swift): the same code, so the example is exercised.
func verifyWebhook(body: Data, signatureHeader: String, secret: String, now: Date = Date(), tolerance: TimeInterval = 300)
    -> Bool
{
    var timestamp: String?
    var signatures: [String] = []
    for part in signatureHeader.split(separator: ",") {
        let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
        guard pair.count == 2 else { continue }
        if pair[0] == "t" { timestamp = pair[1] }
        if pair[0] == "v1" { signatures.append(pair[1]) }
    }
    guard let timestamp, let seconds = TimeInterval(timestamp), abs(now.timeIntervalSince1970 - seconds) <= tolerance
    else { return false }
    let key = SymmetricKey(data: Data(secret.utf8))
    let signed = Data((timestamp + ".").utf8) + body
    return signatures.contains { hex in
        guard let mac = Data(hexString: hex) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: key)
    }
}

extension Data {
    init?(hexString: String) {
        guard hexString.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = hexString.startIndex
        while index < hexString.endIndex {
            let next = hexString.index(index, offsetBy: 2)
            guard let byte = UInt8(hexString[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}

@Suite struct WebhookTests {
    static func development(_ config: inout AppConfig) {
        config.webhooksAllowPrivate = true
        config.webhookPollSeconds = 0  // the tests drive the worker with their own clock
    }

    static func production(_ config: inout AppConfig) {
        config.webhookPollSeconds = 0  // nothing is to be sent
    }

    static func deliverer(allowPrivate: Bool = true) -> (API) -> WebhookDeliverer {
        { api in WebhookDeliverer(db: api.db, settings: WebhookSettings(allowPrivate: allowPrivate)) }
    }

    static func register(_ api: API, _ token: String, url: String, types: String = #"["order.*"]"#) async throws -> Reply {
        try await api.must(
            .post, "/v1/webhook-endpoints", json: #"{"url":"\#(url)","event_types":\#(types),"description":"ERP"}"#,
            token: token, status: .created)
    }

    static func deliveries(_ api: API, _ endpoint: Int64, _ token: String) async throws -> [[String: Any]] {
        try await api.must(.get, "/v1/webhook-endpoints/\(endpoint)/deliveries", token: token).items
    }

    @Test func aPlacedOrderArrivesSignedAndIsRetriedInOrderUntilItSucceeds() async throws {
        try await withApp(configure: Self.development) { api in
            let inbox = Inbox()
            await inbox.answer([.internalServerError, .serviceUnavailable])
            try await Inbox.listening(inbox) { port in
                let (producer, cake, partner) = try await api.orderParties(stock: 10)
                let created = try await Self.register(api, partner, url: "http://127.0.0.1:\(port)/erp")
                let endpoint = try #require(created.int("id"))
                let secret = try #require(created.string("secret"))
                #expect(secret.hasPrefix("whsec_"))
                // The secret is shown once: never again on a read.
                let read = try await api.must(.get, "/v1/webhook-endpoints/\(endpoint)", token: partner)
                #expect(read.json["secret"] == nil && !read.text.contains(secret))

                let order = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 2)]).int("id"))
                try await api.must(.post, "/v1/orders/\(order)/transitions", json: #"{"to":"accepted"}"#, token: producer.token)
                let worker = Self.deliverer()(api)
                let t0 = Date()
                // order.accepted waits while order.placed (same subject) is still pending.
                #expect(try await worker.deliverDue(now: t0) == 1)
                #expect(try await worker.deliverDue(now: t0) == 0, "a failed attempt is not retried at once")
                #expect(try await worker.deliverDue(now: t0.addingTimeInterval(86400)) == 1)
                #expect(await inbox.received.count == 2)
                #expect(try await worker.deliverDue(now: t0.addingTimeInterval(2 * 86400)) == 1)
                #expect(try await worker.deliverDue(now: t0.addingTimeInterval(2 * 86400)) == 1)  // now order.accepted

                let received = await inbox.received
                #expect(
                    received.map { $0.json["type"] as? String } == [
                        "order.placed", "order.placed", "order.placed", "order.accepted",
                    ])
                let firstID = try #require(received[0].header("Bazaarche-Event-Id"))
                #expect(firstID.hasPrefix("evt_"))
                #expect(
                    received.prefix(3).allSatisfy {
                        $0.header("Bazaarche-Event-Id") == firstID && $0.json["id"] as? String == firstID
                    })
                #expect(received.map { $0.header("Bazaarche-Delivery-Attempt") } == ["1", "2", "3", "1"])
                let data = try #require(received[2].json["data"] as? [String: Any])
                #expect(data["id"] as? Int64 == order && data["status"] as? String == "placed")
                for request in received {
                    let header = try #require(request.header("Bazaarche-Signature"))
                    #expect(verifyWebhook(body: Data(request.body.utf8), signatureHeader: header, secret: secret))
                    // The check can fail: another secret, or a changed body, does not verify.
                    #expect(!verifyWebhook(body: Data(request.body.utf8), signatureHeader: header, secret: secret + "x"))
                    #expect(!verifyWebhook(body: Data((request.body + " ").utf8), signatureHeader: header, secret: secret))
                }

                let log = try await Self.deliveries(api, endpoint, partner)
                #expect(log.map { $0["status"] as? String } == ["succeeded", "succeeded"])
                #expect(log.map { $0["attempts"] as? Int } == [3, 1])
                #expect(log.first?["last_status_code"] as? Int == 200 && log.first?["event_id"] as? String == firstID)
                let deliveryID = try #require((log.first?["id"] as? NSNumber)?.int64Value)
                let detail = try await api.must(
                    .get, "/v1/webhook-endpoints/\(endpoint)/deliveries/\(deliveryID)", token: partner)
                let attempts = try #require(detail.json["attempt_log"] as? [[String: Any]])
                #expect(attempts.map { $0["status_code"] as? Int } == [500, 503, 200])
                // Delivered means done: nothing is sent again later.
                #expect(try await worker.deliverDue(now: t0.addingTimeInterval(2.9 * 86400)) == 0)
                #expect(await inbox.received.count == 4)
            }
        }
    }

    @Test func anotherCompanysEventsNeverReachThisCompanysEndpoint() async throws {
        try await withApp(configure: Self.development) { api in
            let inbox = Inbox()
            try await Inbox.listening(inbox) { port in
                let (producer, cake, partnerA) = try await api.orderParties(stock: 10)
                let partnerB = try await api.token(.partner)
                let admin = try await api.token(.admin)
                let endpointA = try #require(
                    try await Self.register(api, partnerA, url: "http://127.0.0.1:\(port)/a", types: #"["*"]"#).int("id"))
                _ = try await Self.register(api, admin, url: "http://127.0.0.1:\(port)/admin", types: #"["order.placed"]"#)
                let orderB = try #require(try await api.order(partnerB, producer: producer.id, lines: [(cake, 1)]).int("id"))
                let orderA = try #require(try await api.order(partnerA, producer: producer.id, lines: [(cake, 1)]).int("id"))
                let worker = Self.deliverer()(api)
                while try await worker.deliverDue(now: Date()) > 0 {}
                let toA = await inbox.at("/a").map { ($0.json["data"] as? [String: Any])?["id"] as? Int64 }
                #expect(toA == [orderA], "company A's endpoint gets its own order only")
                let toAdmin = Set(await inbox.at("/admin").map { ($0.json["data"] as? [String: Any])?["id"] as? Int64 })
                #expect(toAdmin == [orderA, orderB], "an admin's endpoint sees every company's")
                // Company B cannot see or change A's endpoint; a producer has no endpoints.
                #expect(try await api.get("/v1/webhook-endpoints/\(endpointA)", token: partnerB).status == .notFound)
                #expect(try await api.get("/v1/webhook-endpoints/\(endpointA)/deliveries", token: partnerB).status == .notFound)
                #expect(
                    try await api.call(.delete, "/v1/webhook-endpoints/\(endpointA)", token: partnerB).status == .notFound)
                #expect(try await api.get("/v1/webhook-endpoints", token: partnerB).items.isEmpty)
                #expect(try await api.get("/v1/webhook-endpoints", token: producer.token).status == .forbidden)
                #expect(try await api.get("/v1/webhook-endpoints/\(endpointA)", token: partnerA).status == .ok)
            }
        }
    }

    @Test func privateAddressesAreRefusedOutsideDevelopment() async throws {
        try await withApp(configure: Self.production) { api in
            let partner = try await api.token(.partner)
            for url in [
                "http://127.0.0.1:8080/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://10.0.0.1/hook",
                "https://169.254.169.254/latest/meta-data", "https://192.168.1.10/", "https://172.16.0.5/", "https://100.64.0.1/",
                "https://[::1]/hook", "https://[fe80::1]/", "https://[fd00::1]/", "https://[::ffff:10.0.0.1]/",
                "https://0.0.0.0/",
                "https://224.0.0.1/", "ftp://example.org/", "not a url", "https://user:pw@203.0.113.10/",
            ] {
                let reply = try await api.post(
                    "/v1/webhook-endpoints", #"{"url":"\#(url)","event_types":["order.placed"]}"#, token: partner)
                #expect(reply.status == .unprocessableContent && reply.fields == ["url"], "\(url): \(reply.text)")
            }
            let badType = try await api.post(
                "/v1/webhook-endpoints", #"{"url":"https://203.0.113.10/hook","event_types":["order.teleported","nothing.*"]}"#,
                token: partner)
            #expect(badType.fields == ["event_types[0]", "event_types[1]"], "\(badType.text)")
            #expect(try await api.get("/v1/webhook-endpoints", token: partner).items.isEmpty, "nothing refused was stored")
            // A public address is accepted (nothing is sent: the worker is off).
            let accepted = try await api.post(
                "/v1/webhook-endpoints", #"{"url":"https://203.0.113.10/hook","event_types":["order.*","invitation.created"]}"#,
                token: partner)
            #expect(accepted.status == .created, "\(accepted.text)")
            let id = try #require(accepted.int("id"))
            let moved = try await api.call(
                .patch, "/v1/webhook-endpoints/\(id)", json: #"{"url":"https://10.1.2.3/"}"#, token: partner)
            #expect(moved.status == .unprocessableContent && moved.fields == ["url"])
            #expect(try await api.get("/v1/webhook-endpoints/\(id)", token: partner).string("url") == "https://203.0.113.10/hook")
        }
    }

    @Test func theAddressIsCheckedAgainBeforeEachDelivery() async throws {
        // Registered while private addresses were allowed; a worker that does not allow them sends nothing.
        try await withApp(configure: Self.development) { api in
            let inbox = Inbox()
            try await Inbox.listening(inbox) { port in
                let (producer, cake, partner) = try await api.orderParties(stock: 5)
                let endpoint = try #require(try await Self.register(api, partner, url: "http://127.0.0.1:\(port)/x").int("id"))
                _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
                #expect(try await Self.deliverer(allowPrivate: false)(api).deliverDue(now: Date()) == 1)
                #expect(await inbox.received.isEmpty)
                let log = try await Self.deliveries(api, endpoint, partner)
                #expect(log.first?["status"] as? String == "pending")
                #expect((log.first?["last_error"] as? String)?.contains("https") == true, "\(log)")
            }
        }
    }

    @Test func aLongFailureRunDisablesTheEndpointAndTellsTheOwnerThenRedeliveryWorks() async throws {
        try await withApp(configure: Self.development) { api in
            let inbox = Inbox()
            await inbox.answer([], then: .internalServerError)
            try await Inbox.listening(inbox) { port in
                let (producer, cake, partner) = try await api.orderParties(stock: 10)
                let created = try await Self.register(api, partner, url: "http://127.0.0.1:\(port)/down")
                let endpoint = try #require(created.int("id"))
                let oldSecret = try #require(created.string("secret"))
                _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
                let worker = Self.deliverer()(api)
                let t0 = Date()
                #expect(try await worker.deliverDue(now: t0) == 1)
                #expect(try await api.get("/v1/webhook-endpoints/\(endpoint)", token: partner).json["enabled"] as? Bool == true)
                // Past the 3 days: the delivery gives up and the endpoint, failing all along, is disabled.
                #expect(try await worker.deliverDue(now: t0.addingTimeInterval(3 * 86400 + 3600)) == 1)
                let disabled = try await api.get("/v1/webhook-endpoints/\(endpoint)", token: partner)
                #expect(disabled.json["enabled"] as? Bool == false)
                #expect(disabled.json["disabled_reason"] is String)
                let log = try await Self.deliveries(api, endpoint, partner)
                #expect(log.map { $0["status"] as? String } == ["failed"] && log.first?["next_attempt_at"] is NSNull)
                let told = try await EventTests.feed(api, partner, "&type=webhook_endpoint.disabled")
                #expect(told.count == 1 && (told.first?["subject"] as? [String: Any])?["id"] as? Int64 == endpoint)
                // A disabled endpoint gets no new deliveries, and cannot be redelivered to.
                _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
                #expect(try await Self.deliveries(api, endpoint, partner).count == 1)
                let deliveryID = try #require((log.first?["id"] as? NSNumber)?.int64Value)
                let redeliver = "/v1/webhook-endpoints/\(endpoint)/deliveries/\(deliveryID)/redeliveries"
                #expect(try await api.post(redeliver, "{}", token: partner).status == .conflict)

                // Enabled again, with a rotated secret: the redelivery arrives, signed with both secrets.
                try await api.must(.patch, "/v1/webhook-endpoints/\(endpoint)", json: #"{"enabled":true}"#, token: partner)
                let rotated = try await api.must(
                    .post, "/v1/webhook-endpoints/\(endpoint)/secret-rotations", token: partner, status: .created)
                let newSecret = try #require(rotated.string("secret"))
                #expect(newSecret != oldSecret && rotated.json["previous_secret_expires_at"] is String)
                await inbox.answer([], then: .noContent)
                let again = try await api.post(redeliver, "{}", token: partner)
                #expect(again.status == .accepted && again.string("status") == "pending", "\(again.text)")
                #expect(try await worker.deliverDue(now: Date()) == 1)
                let last = try #require(await inbox.received.last)
                #expect(last.header("Bazaarche-Event-Id") == (log.first?["event_id"] as? String))
                let header = try #require(last.header("Bazaarche-Signature"))
                #expect(verifyWebhook(body: Data(last.body.utf8), signatureHeader: header, secret: newSecret))
                #expect(verifyWebhook(body: Data(last.body.utf8), signatureHeader: header, secret: oldSecret))
                let after = try await Self.deliveries(api, endpoint, partner)
                #expect(after.first?["status"] as? String == "succeeded" && after.first?["attempts"] as? Int == 3)
                // Deleted: gone for good.
                try await api.must(.delete, "/v1/webhook-endpoints/\(endpoint)", token: partner, status: .noContent)
                #expect(try await api.get("/v1/webhook-endpoints/\(endpoint)", token: partner).status == .notFound)
            }
        }
    }

    @Test func addressRanges() {
        for text in ["8.8.8.8", "203.0.113.10", "2001:4860:4860::8888", "1.1.1.1"] {
            #expect(WebhookAddress.Address(text)?.isPublic == true, "\(text)")
        }
        for text in [
            "127.0.0.1", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1", "100.127.255.255",
            "0.0.0.0", "224.0.0.251", "255.255.255.255", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
            "::ffff:127.0.0.1", "64:ff9b::a00:1",
        ] {
            #expect(WebhookAddress.Address(text)?.isPublic == false, "\(text)")
        }
        #expect(WebhookAddress.Address("172.32.0.1")?.isPublic == true)
        #expect(WebhookAddress.Address("100.128.0.1")?.isPublic == true)
    }
}
