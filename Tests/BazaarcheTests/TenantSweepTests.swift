import BazaarcheCore
import Foundation
import Testing

/// Two producers, two partner companies (an owner and a viewer each), two exporters and two supervisors and two implementers of different provinces:
/// every operation that names an object is tried by each of them on the other tenant's objects,
/// with a valid body, and must be refused with 403 or 404 — and change nothing. (One exception by
/// design: a producer may read an open demand it could supply.)
@Suite struct TenantSweepTests {
    struct Tenant {
        var producer: (id: Int64, token: String)
        var producerAccount: Int64
        var product: Int64
        var brand: Int64
        var certificate: Int64
        var partner: String
        /// A viewer account of the same company as `partner`.
        var viewer: String
        var exporter: String
        var supervisor: String
        var implementer: String
        var proposal: Int64
        var inspection: Int64
        var demand: Int64
        var order: Int64
        var invitation: Int64
        var shipment: Int64
    }

    static let delivery =
        #"{"province_code":"IR-23","city":"تهران","address":"خیابان آزادی","recipient":"انبار","phone":"02166554433"}"#

    func tenant(_ api: API, province: String, n: Int) async throws -> Tenant {
        let producer = try await api.producer(province: province, status: .verified)
        let product = try await api.product(producer, title: "کیک تست \(n)", price: 500_000, stock: 100)
        let producerAccount = try #require(try await api.get("/v1/me", token: producer.token).int("id"))
        let declared = try await api.call(
            .put, "/v1/products/\(product)/packaging", json: #"{"level":"export"}"#, token: producer.token)
        #expect(declared.status == .ok, "packaging: \(declared.text)")
        let brand = try #require(
            try await api.post(
                "/v1/brands", #"{"slug":"brand-\#(n)-\#(Fixtures.next())","name_fa":"برند \#(n)"}"#, token: producer.token
            ).int("id"))
        let certificate = try #require(
            try await api.post(
                "/v1/products/\(product)/certificates",
                #"{"kind":"halal","number":"H-\#(n)","issuer":"x","issued_on":"2025-01-01","expires_on":"2099-01-01"}"#,
                token: producer.token
            ).int("id"))
        let (partner, company) = try await api.partnerToken(role: .owner)
        let viewer = try await api.partnerToken(company: company, role: .viewer).token
        let demand = try await api.demand(partner, #""category_code":"food","quantity":5,"max_unit_price_rials":1000000"#)
        let order = try #require(try await api.order(partner, producer: producer.id, lines: [(product, 1)]).int("id"))
        let invitation = try #require(
            try await api.post(
                "/v1/demands/\(demand)/invitations",
                #"""
                {"producer_id":\#(producer.id),"product_id":\#(product),"quantity":2,"unit_price_rials":400000,\#
                "delivery":\#(Self.delivery)}
                """#,
                token: partner
            ).int("id"))
        let exporter = try await api.exporterToken()
        let shipment = try await api.shipment(exporter, producer: producer.id, on: "2026-10-01", status: "declared")
        let supervisor = try await api.token(.supervisor, province: province)
        let implementer = try await api.token(.implementer, provinces: [province])
        let proposal = try await api.db.rows(
            "SELECT id FROM verification_proposals WHERE producer_id = \(producer.id)")[0].decode(Int64.self)
        let inspection = try #require(
            try await api.post(
                "/v1/inspections",
                """
                {"subject_type":"producer","subject_id":\(producer.id),"inspected_on":"2026-10-01","findings":"x",
                 "follow_up_due":"2026-10-10"}
                """, token: supervisor
            ).int("id"))
        return Tenant(
            producer: producer, producerAccount: producerAccount, product: product, brand: brand, certificate: certificate,
            partner: partner, viewer: viewer, exporter: exporter,
            supervisor: supervisor, implementer: implementer, proposal: proposal, inspection: inspection, demand: demand,
            order: order, invitation: invitation, shipment: shipment)
    }

    /// Every operation on an object, with a body that would succeed for its owner.
    func operations(on t: Tenant) -> [(HTTPRequest.Method, String, String?)] {
        [
            (.get, "/v1/producers/\(t.producer.id)", nil),
            (.post, "/v1/producers/\(t.producer.id)/transitions", #"{"to":"suspended","reason":"sweep"}"#),
            (
                .post, "/v1/producers/\(t.producer.id)/counseling-sessions",
                #"{"topic":"quality","counselor":"مشاور","held_on":"2026-10-01","mode":"online"}"#
            ),
            (.get, "/v1/producers/\(t.producer.id)/counseling-sessions", nil),
            (.post, "/v1/producers/\(t.producer.id)/verification-proposals", "{}"),
            (.get, "/v1/verification-proposals/\(t.proposal)", nil),
            (.post, "/v1/verification-proposals/\(t.proposal)/decision", #"{"decision":"send_back","reasons":["sweep"]}"#),
            (.get, "/v1/inspections/\(t.inspection)", nil),
            (.post, "/v1/inspections/\(t.inspection)/follow-up", #"{"note":"sweep"}"#),
            (.patch, "/v1/brands/\(t.brand)", #"{"story":"بازنویسی"}"#),
            (.patch, "/v1/products/\(t.product)", #"{"price_rials":1}"#),
            (.post, "/v1/products/\(t.product)/transitions", #"{"to":"paused"}"#),
            (.put, "/v1/products/\(t.product)/packaging", #"{"level":"retail"}"#),
            (.post, "/v1/products/\(t.product)/packaging/review", #"{"decision":"approve","level":"export"}"#),
            (.post, "/v1/accounts/\(t.producerAccount)/disable", #"{"reason":"sweep"}"#),
            (
                .post, "/v1/products/\(t.product)/certificates",
                #"{"kind":"organic","number":"X","issuer":"x","issued_on":"2025-01-01","expires_on":"2099-01-01"}"#
            ),
            (.post, "/v1/certificates/\(t.certificate)/transitions", #"{"to":"under_review"}"#),
            (.get, "/v1/orders/\(t.order)", nil),
            (.post, "/v1/orders/\(t.order)/transitions", #"{"to":"cancelled","reason":"sweep"}"#),
            (.post, "/v1/orders/\(t.order)/transitions", #"{"to":"accepted"}"#),
            (.post, "/v1/orders/\(t.order)/transitions", #"{"to":"rejected","reason_code":"buyer_request"}"#),
            (.post, "/v1/orders/\(t.order)/rejection-confirmation", #"{"reason":"sweep"}"#),
            (.get, "/v1/demands/\(t.demand)", nil),
            (.get, "/v1/demands/\(t.demand)/matches", nil),
            (.post, "/v1/demands/\(t.demand)/transitions", #"{"to":"cancelled"}"#),
            (
                .post, "/v1/demands/\(t.demand)/invitations",
                #"""
                {"producer_id":\#(t.producer.id),"product_id":\#(t.product),"quantity":1,"unit_price_rials":1000,\#
                "delivery":\#(Self.delivery)}
                """#
            ),
            (.get, "/v1/invitations/\(t.invitation)", nil),
            (.post, "/v1/invitations/\(t.invitation)/accept", "{}"),
            (.post, "/v1/invitations/\(t.invitation)/decline", #"{"reason":"sweep"}"#),
            (.get, "/v1/export-shipments/\(t.shipment)", nil),
            (.post, "/v1/export-shipments/\(t.shipment)/transitions", #"{"to":"cleared"}"#),
            (.patch, "/v1/export-shipments/\(t.shipment)", #"{"fob_value_usd":"1.00"}"#),
            (.post, "/v1/export-shipments/\(t.shipment)/confirmation", nil),
        ]
    }

    @Test func nobodyReachesTheOtherTenantsObjects() async throws {
        try await withApp { api in
            let a = try await tenant(api, province: "IR-23", n: 1)
            let b = try await tenant(api, province: "IR-10", n: 2)
            let before = try await api.db.rows(
                "SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) FROM products p"
            )[0].decode(String.self)
            var tried = 0
            var leaks: [String] = []
            for (mine, theirs) in [(a, b), (b, a)] {
                let actors = [
                    ("producer", mine.producer.token), ("partner", mine.partner), ("viewer", mine.viewer),
                    ("exporter", mine.exporter),
                    ("supervisor", mine.supervisor), ("implementer", mine.implementer),
                ]
                for (who, token) in actors {
                    for (method, path, body) in operations(on: theirs) {
                        // By design a producer reads the open demands it could supply.
                        if who == "producer" && method == .get && path == "/v1/demands/\(theirs.demand)" { continue }
                        let reply = try await api.call(method, path, json: body, token: token)
                        tried += 1
                        if reply.status != .forbidden && reply.status != .notFound {
                            leaks.append("\(who) \(method) \(path): \(reply.status.code) \(reply.text.prefix(120))")
                        }
                    }
                }
            }
            #expect(tried == 2 * (6 * operations(on: a).count - 1))
            #expect(leaks.isEmpty, "\(leaks.joined(separator: "\n"))")
            // Nothing changed: the products (price, status, stock) and every status are as they were.
            let after = try await api.db.rows(
                "SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) FROM products p"
            )[0].decode(String.self)
            #expect(before == after)
            let statuses = try await api.db.rows(
                """
                SELECT (SELECT string_agg(status, ',' ORDER BY id) FROM orders), (SELECT string_agg(status, ',' ORDER BY id) FROM
                demands),
                       (SELECT string_agg(status, ',' ORDER BY id) FROM invitations), (SELECT string_agg(status, ',' ORDER BY id)
                       FROM export_shipments),
                       (SELECT string_agg(status, ',' ORDER BY id) FROM producers), (SELECT count(*)::int FROM
                       counseling_sessions),
                       (SELECT string_agg(review_status || ':' || level, ',' ORDER BY product_id) FROM product_packaging),
                       (SELECT count(*)::int FROM accounts WHERE disabled),
                       (SELECT string_agg(fob_cents::text, ',' ORDER BY id) FROM export_shipments),
                       (SELECT string_agg(status, ',' ORDER BY id) FROM verification_proposals),
                       (SELECT count(*)::int FROM inspections WHERE followed_up_at IS NOT NULL)
                """)[0].decode((String, String, String, String, String, Int, String, Int, String, String, Int).self)
            #expect(statuses.0 == "placed,placed")
            #expect(statuses.1 == "open,open")
            #expect(statuses.2 == "pending,pending")
            #expect(statuses.3 == "declared,declared")
            #expect(statuses.4 == "verified,verified")
            #expect(statuses.5 == 0)
            #expect(statuses.6 == "pending_review:export,pending_review:export")
            #expect(statuses.7 == 0)
            #expect(!statuses.8.split(separator: ",").contains("100"))
            #expect(statuses.9 == "approved,approved")
            #expect(statuses.10 == 0)
            // Lists never show the other tenant's objects either.
            for (mine, theirs) in [(a, b), (b, a)] {
                for (path, id) in [
                    ("/v1/orders", theirs.order), ("/v1/demands", theirs.demand), ("/v1/invitations", theirs.invitation),
                    ("/v1/export-shipments", theirs.shipment),
                ] {
                    for token in [
                        mine.producer.token, mine.partner, mine.viewer, mine.exporter, mine.supervisor, mine.implementer,
                    ]
                    where !(path == "/v1/demands" && token == mine.producer.token) {
                        let reply = try await api.get(path, token: token)
                        let ids = reply.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                        #expect(!ids.contains(id) || reply.status != .ok, "\(path) shows \(id)")
                    }
                }
            }
        }
    }
}
