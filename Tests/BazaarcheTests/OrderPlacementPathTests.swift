import BazaarcheCore
import Foundation
import Testing

/// Placement in one statement (`place_order_keyed`, sql/0028): what a buyer gets, what is
/// recorded, and every refusal, exactly as when placement was a dozen statements.
@Suite struct OrderPlacementPathTests {
    /// "field: message" for each field error of a problem response.
    static func problems(_ reply: Reply) -> [String] {
        (reply.json["errors"] as? [[String: Any]] ?? []).map {
            "\($0["field"] as? String ?? ""): \($0["message"] as? String ?? "")"
        }
    }

    static func parsed(_ text: String) -> NSDictionary {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary) ?? [:]
    }

    @Test func aPlacedOrderIsItsReadItsHistoryAuditAndEvent() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-07", status: .verified)
            let tiered = try await api.product(
                producer, price: 1_000_000, stock: 100,
                extra: #","price_tiers":[{"min_quantity":10,"unit_price_rials":900000}]"#)
            let plain = try await api.product(producer, title: "مربا", category: "food.jams_syrups", price: 700_000, stock: 3)
            let partner = try await api.token(.partner)
            let placed = try await api.order(partner, producer: producer.id, lines: [(tiered, 10), (plain, 2)])
            #expect(placed.status == .created, "\(placed.text)")
            let id = try #require(placed.int("id"))
            #expect(placed.headers[.location] == "/v1/orders/\(id)")
            #expect(placed.headers[.eTag] == "\"1\"")
            #expect(placed.headers[.idempotentReplayed] == nil)
            #expect(placed.int("total_rials") == Int64(10 * 900_000 + 2 * 700_000))
            let lines = placed.json["lines"] as? [[String: Any]] ?? []
            #expect(lines.map { $0["price_source"] as? String } == ["tier", "list"])
            #expect(lines.map { $0["list_price_rials"] as? Int } == [1_000_000, 700_000])
            #expect(lines.map { $0["line_no"] as? Int } == [1, 2])
            #expect(try await api.stock(tiered) == 90)
            #expect(try await api.stock(plain) == 1)

            let read = try await api.get("/v1/orders/\(id)", token: partner)
            #expect(placed.text == read.text)
            #expect(placed.headers[.eTag] == read.headers[.eTag])
            #expect((read.json["history"] as? [[String: Any]])?.map { $0["actor_role"] as? String } == ["partner"])
            // The list's expression (Orders.json) and order_detail_json (sql/0028) show the same fields.
            let listed = try await api.get("/v1/orders", token: partner)
            let item = try #require(listed.items.first { ($0["id"] as? NSNumber)?.int64Value == id })
            var detail = read.json
            detail["history"] = nil
            #expect(NSDictionary(dictionary: item) == NSDictionary(dictionary: detail))

            let buyer = try await api.db.rows("SELECT partner_account_id, partner_id FROM orders WHERE id = \(id)")[0]
                .decode((Int64, Int64?).self)
            // The history row, the audit row and the outbox event, as the statements before wrote them.
            let history = try await api.db.rows(
                """
                SELECT actor_account_id, actor_role, from_status IS NULL, to_status, reason IS NULL FROM order_events
                WHERE order_id = \(id)
                """)
            #expect(history.count == 1)
            #expect(try history[0].decode((Int64, String, Bool, String, Bool).self) == (buyer.0, "partner", true, "placed", true))
            let audit = try await api.db.rows(
                """
                SELECT actor_account_id, actor_role, province_code, from_status IS NULL, to_status, reason IS NULL
                FROM audit_events WHERE entity_type = 'order' AND entity_id = \(id) AND action = 'order.placed'
                """)
            #expect(audit.count == 1)
            #expect(
                try audit[0].decode((Int64, String, String, Bool, String, Bool).self)
                    == (buyer.0, "partner", "IR-07", true, "placed", true))
            let events = try await api.db.rows(
                """
                SELECT type, data::text, province_code, producer_id, partner_id FROM events
                WHERE subject_type = 'order' AND subject_id = \(id)
                """)
            #expect(events.count == 1)
            let (type, data, province, eventProducer, eventPartner) = try events[0].decode(
                (String, String, String?, Int64?, Int64?).self)
            #expect(type == "order.placed")
            #expect(Self.parsed(data) == Self.parsed(read.text))
            #expect(province == "IR-07" && eventProducer == producer.id && eventPartner == buyer.1)
        }
    }

    @Test func everyRefusalIsWordedAsBeforeAndChangesNothing() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let other = try await api.producer(status: .verified)
            let screened = try await api.producer(status: .screened)
            let cake = try await api.product(producer, stock: 5, extra: #","min_order_qty":2"#)
            let packs = try await api.product(
                producer, title: "جعبه", price: 500_000, stock: 100, extra: #","order_increment":6,"min_order_qty":6"#)
            let foreign = try await api.product(other, title: "گلیم", category: "carpets.kilim")
            let draft = try await api.product(producer, title: "پیش‌نویس", list: false)
            var dear: [Int64] = []
            for _ in 0..<10 { dear.append(try await api.product(producer, price: 1_000_000_000_000, stock: 1_000_000)) }
            let partner = try await api.token(.partner)
            let before = try await api.db.rows("SELECT id, stock, version FROM products ORDER BY id").map {
                try $0.decode((Int64, Int, Int).self)
            }

            let cases: [(lines: [(Int64, Int)], producer: Int64, status: HTTPResponse.Status, code: String, problems: [String])] =
                [
                    (
                        [(cake, 2)], screened.id, .unprocessableContent, "validation_failed",
                        ["producer_id: is not a producer whose products can be ordered"]
                    ),
                    ([(cake, 2)], 999_999_999, .unprocessableContent, "validation_failed", ["producer_id: is not a producer"]),
                    (
                        [(cake, 2), (foreign, 1)], producer.id, .unprocessableContent, "validation_failed",
                        ["lines[1].product_id: is not a listed product of producer \(producer.id)"]
                    ),
                    (
                        [(draft, 1)], producer.id, .unprocessableContent, "validation_failed",
                        ["lines[0].product_id: is not a listed product of producer \(producer.id)"]
                    ),
                    (
                        [(cake, 1)], producer.id, .unprocessableContent, "validation_failed",
                        ["lines[0].quantity: is below the minimum order quantity 2"]
                    ),
                    (
                        [(packs, 8)], producer.id, .unprocessableContent, "validation_failed",
                        ["lines[0].quantity: must be a multiple of the order increment 6 (for example 6 or 12)"]
                    ),
                    (
                        [(packs, 6), (cake, 6)], producer.id, .conflict, "insufficient_stock",
                        ["lines[1].quantity: only 5 available"]
                    ),
                    (
                        dear.map { ($0, 1_000_000) }, producer.id, .unprocessableContent, "validation_failed",
                        ["lines: the order total is too large"]
                    ),
                ]
            for (i, c) in cases.enumerated() {
                let reply = try await api.order(partner, producer: c.producer, lines: c.lines, key: "refused-\(i)")
                #expect(reply.status == c.status, "case \(i): \(reply.text)")
                #expect(reply.code == c.code, "case \(i): \(reply.text)")
                #expect(Self.problems(reply) == c.problems, "case \(i): \(reply.text)")
            }
            let short = try await api.order(partner, producer: producer.id, lines: [(packs, 6), (cake, 6)], key: "refused-6")
            #expect(short.string("product_id") == String(cake))
            #expect(short.string("available") == "5")
            #expect(short.string("detail") == "Product \(cake) has 5 available; 6 were ordered.")
            #expect(short.headers[.idempotentReplayed] == "true")

            let unknownProvince = try await api.call(
                .post, "/v1/orders",
                json: """
                    {"producer_id":\(producer.id),"lines":[{"product_id":\(cake),"quantity":2}],
                     "delivery":{"province_code":"IR-99","city":"تهران","address":"x","recipient":"y","phone":"02166554433"}}
                    """,
                token: partner, headers: [.idempotencyKey: "refused-province"])
            #expect(unknownProvince.status == .unprocessableContent)
            #expect(Self.problems(unknownProvince) == ["delivery.province_code: is not a known province"])

            let after = try await api.db.rows("SELECT id, stock, version FROM products ORDER BY id").map {
                try $0.decode((Int64, Int, Int).self)
            }
            #expect(after.map(\.0) == before.map(\.0) && after.map(\.1) == before.map(\.1) && after.map(\.2) == before.map(\.2))
            #expect(try await api.db.rows("SELECT 1 FROM orders").isEmpty)
            #expect(try await api.db.rows("SELECT 1 FROM order_lines").isEmpty)
            #expect(try await api.db.rows("SELECT 1 FROM order_events").isEmpty)
            #expect(try await api.db.rows("SELECT 1 FROM events WHERE subject_type = 'order'").isEmpty)
            #expect(try await api.db.rows("SELECT 1 FROM audit_events WHERE entity_type = 'order'").isEmpty)
            // Each refusal is stored under its key, for its retries.
            #expect(
                try await api.db.rows(
                    "SELECT count(*)::int FROM idempotency_keys WHERE key LIKE 'refused-%' AND response_status >= 400"
                )[0].decode(Int.self) == cases.count + 1)
        }
    }

    @Test func aRefusalIsReplayedEvenOnceItWouldSucceed() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 2)
            let refused = try await api.order(partner, producer: producer.id, lines: [(cake, 3)], key: "k-refused")
            #expect(refused.status == .conflict)
            #expect(refused.code == "insufficient_stock")
            #expect(refused.headers[.idempotentReplayed] == nil)
            try await api.must(.patch, "/v1/products/\(cake)", json: #"{"stock":10}"#, token: producer.token)
            let again = try await api.order(partner, producer: producer.id, lines: [(cake, 3)], key: "k-refused")
            #expect(again.status == .conflict)
            #expect(again.text == refused.text)
            #expect(again.headers[.idempotentReplayed] == "true")
            let reused = try await api.order(partner, producer: producer.id, lines: [(cake, 4)], key: "k-refused")
            #expect(reused.status == .unprocessableContent)
            #expect(reused.code == "idempotency_key_reused")
            #expect(try await api.stock(cake) == 10)
            #expect(try await api.order(partner, producer: producer.id, lines: [(cake, 3)]).status == .created)
            #expect(try await api.stock(cake) == 7)
        }
    }

    @Test func aReplayedSuccessPlacesNothing() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let first = try await api.order(partner, producer: producer.id, lines: [(cake, 2)], key: "k-once")
            for _ in 0..<3 {
                let again = try await api.order(partner, producer: producer.id, lines: [(cake, 2)], key: "k-once")
                #expect(again.status == .created)
                #expect(again.text == first.text)
                #expect(again.headers[.eTag] == first.headers[.eTag] && again.headers[.location] == first.headers[.location])
                #expect(again.headers[.idempotentReplayed] == "true")
            }
            #expect(try await api.stock(cake) == 8)
            for table in [
                "orders", "order_events", "events WHERE subject_type = 'order'", "audit_events WHERE entity_type = 'order'",
            ] {
                #expect(
                    try await api.db.rows("SELECT count(*)::int FROM \(unescaped: table)")[0].decode(Int.self) == 1, "\(table)")
            }
        }
    }
}
