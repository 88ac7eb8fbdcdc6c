import BazaarcheCore
import Foundation
import Testing

@Suite struct OrderPlacementTests {
    @Test func placeAnOrderWithServerComputedTotals() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let cake = try await api.product(producer, price: 1_500_000, stock: 10)
            let jam = try await api.product(producer, title: "مربا", category: "food.jams_syrups", price: 700_000, stock: 3)
            let partner = try await api.token(.partner)
            let reply = try await api.order(partner, producer: producer.id, lines: [(cake, 4), (jam, 3)])
            #expect(reply.status == .created)
            #expect(reply.string("status") == "placed")
            #expect(reply.int("total_rials") == Int64(4 * 1_500_000 + 3 * 700_000))
            let lines = reply.json["lines"] as? [[String: Any]] ?? []
            #expect(lines.map { $0["unit_price_rials"] as? Int } == [1_500_000, 700_000])
            #expect(try await api.stock(cake) == 6)
            #expect(try await api.stock(jam) == 0)
            // The captured price does not follow later price changes.
            try await api.must(.patch, "/v1/products/\(cake)", json: #"{"price_rials":9999999}"#, token: producer.token)
            let id = try #require(reply.int("id"))
            let read = try await api.get("/v1/orders/\(id)", token: partner)
            #expect((read.json["lines"] as? [[String: Any]])?.first?["unit_price_rials"] as? Int == 1_500_000)
            #expect((read.json["history"] as? [[String: Any]])?.map { $0["to"] as? String } == ["placed"])
        }
    }

    @Test func refusalsNameTheLineAndChangeNothing() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let other = try await api.producer(status: .verified)
            let cake = try await api.product(producer, stock: 5, extra: #","min_order_qty":2"#)
            let foreign = try await api.product(other, title: "گلیم", category: "carpets.kilim")
            let draft = try await api.product(producer, title: "پیش‌نویس", list: false)
            let partner = try await api.token(.partner)

            let mixed = try await api.order(partner, producer: producer.id, lines: [(cake, 2), (foreign, 1)])
            #expect(mixed.status == .unprocessableContent)
            #expect(mixed.fields == ["lines[1].product_id"])
            let unlisted = try await api.order(partner, producer: producer.id, lines: [(draft, 1)])
            #expect(unlisted.fields == ["lines[0].product_id"])
            let tooFew = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
            #expect(tooFew.fields == ["lines[0].quantity"])
            let tooMany = try await api.order(partner, producer: producer.id, lines: [(cake, 6)])
            #expect(tooMany.status == .conflict)
            #expect(tooMany.code == "insufficient_stock")
            #expect(tooMany.string("available") == "5")
            #expect(tooMany.string("product_id") == String(cake))
            let unverified = try await api.producer(status: .screened)
            let notVerified = try await api.order(partner, producer: unverified.id, lines: [(cake, 2)])
            #expect(notVerified.fields == ["producer_id"])
            let empty = try await api.order(partner, producer: producer.id, lines: [])
            #expect(empty.fields == ["lines"])
            #expect(try await api.stock(cake) == 5)
            #expect(try await api.db.rows("SELECT 1 FROM orders").isEmpty)
            // Only partners order.
            #expect(try await api.order(producer.token, producer: producer.id, lines: [(cake, 2)]).status == .forbidden)
        }
    }

    @Test func idempotencyKeyIsRequiredAndReplays() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let body =
                #"""
                {"producer_id":\#(producer.id),"lines":[{"product_id":\#(cake),"quantity":2}],\#
                "delivery":{"province_code":"IR-23","city":"تهران","address":"x","recipient":"y","phone":"02166554433"}}
                """#
            let missing = try await api.call(.post, "/v1/orders", json: body, token: partner)
            #expect(missing.status == .badRequest)
            #expect(missing.code == "idempotency_key_required")
            let first = try await api.order(partner, producer: producer.id, lines: [(cake, 2)], key: "order-abc")
            let again = try await api.order(partner, producer: producer.id, lines: [(cake, 2)], key: "order-abc")
            #expect(first.status == .created)
            #expect(again.status == .created)
            #expect(again.int("id") == first.int("id"))
            #expect(again.text == first.text)
            #expect(again.headers[.location] == first.headers[.location])
            #expect(again.headers[.eTag] == first.headers[.eTag])
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(first.headers[.idempotentReplayed] == nil)
            // What the route decided: the order's URL, its ETag and its detail, as GET gives them.
            let id = try #require(first.int("id"))
            let read = try await api.get("/v1/orders/\(id)", token: partner)
            #expect(first.headers[.location] == "/v1/orders/\(id)")
            #expect(first.headers[.eTag] != nil && first.headers[.eTag] == read.headers[.eTag])
            #expect(first.text == read.text)
            let longKey = try await api.order(
                partner, producer: producer.id, lines: [(cake, 1)], key: String(repeating: "k", count: 201))
            #expect(longKey.status == .badRequest)
            #expect(try await api.stock(cake) == 8)
            let different = try await api.order(partner, producer: producer.id, lines: [(cake, 3)], key: "order-abc")
            #expect(different.status == .unprocessableContent)
            #expect(different.code == "idempotency_key_reused")
            // Keys are per caller: another partner's identical key is a new order.
            let other = try await api.token(.partner)
            #expect(
                try await api.order(other, producer: producer.id, lines: [(cake, 2)], key: "order-abc").int("id")
                    != first.int("id"))
            // A refusal is replayed as it was.
            let refused = try await api.order(partner, producer: producer.id, lines: [(cake, 100)], key: "big")
            #expect(refused.status == .conflict)
            let refusedAgain = try await api.order(partner, producer: producer.id, lines: [(cake, 100)], key: "big")
            #expect(refusedAgain.status == .conflict)
            #expect(refusedAgain.code == "insufficient_stock")
            #expect(try await api.db.rows("SELECT count(*)::int FROM orders")[0].decode(Int.self) == 2)
        }
    }
}

@Suite struct OrderConcurrencyTests {
    @Test func fiftyOrdersRaceForFiveUnits() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 5)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 5)
            #expect(statuses.filter { $0 == .conflict }.count == 45)
            #expect(try await api.stock(cake) == 0)
            let sold = try await api.db.rows(
                "SELECT coalesce(sum(quantity), 0)::int FROM order_lines WHERE product_id = \(cake)")[0].decode(Int.self)
            #expect(sold == 5)
            // The schema refuses negative stock even if code forgot to check.
            await expectSQLState("23514") {
                try await api.db.client.query("UPDATE products SET stock = stock - 1 WHERE id = \(cake)")
            }
        }
    }

    @Test func sameKeyTwentyTimesConcurrentlyCreatesOneOrder() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 100)
            let replies = try await withThrowingTaskGroup(of: (HTTPResponse.Status, Int64?).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let r = try await api.order(partner, producer: producer.id, lines: [(cake, 3)], key: "same-key")
                        return (r.status, r.int("id"))
                    }
                }
                return try await group.reduce(into: [(HTTPResponse.Status, Int64?)]()) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.0 == .created })
            #expect(Set(replies.compactMap(\.1)).count == 1)
            #expect(try await api.db.rows("SELECT count(*)::int FROM orders")[0].decode(Int.self) == 1)
            #expect(try await api.stock(cake) == 97)
        }
    }

    @Test func concurrentAcceptAndCancelExactlyOneWins() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            for _ in 0..<5 {
                let placed = try await api.order(partner, producer: producer.id, lines: [(cake, 2)])
                let id = try #require(placed.int("id"))
                let etag = try #require(placed.headers[.eTag])
                let results = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                    group.addTask {
                        (
                            "accepted",
                            try await api.call(
                                .post, "/v1/orders/\(id)/transitions", json: #"{"to":"accepted"}"#,
                                token: producer.token, headers: [.ifMatch: etag]
                            ).status
                        )
                    }
                    group.addTask {
                        (
                            "cancelled",
                            try await api.call(
                                .post, "/v1/orders/\(id)/transitions", json: #"{"to":"cancelled"}"#,
                                token: partner, headers: [.ifMatch: etag]
                            ).status
                        )
                    }
                    return try await group.reduce(into: [(String, HTTPResponse.Status)]()) { $0.append($1) }
                }
                #expect(results.filter { $0.1 == .ok }.count == 1)
                #expect(results.filter { $0.1 == .preconditionFailed }.count == 1)
                let final = try await api.db.rows("SELECT status FROM orders WHERE id = \(id)")[0].decode(String.self)
                #expect(results.first { $0.1 == .ok }?.0 == final)
                if final == "accepted" {
                    _ = try await api.call(.post, "/v1/orders/\(id)/transitions", json: #"{"to":"cancelled"}"#, token: partner)
                }
            }
            // Every order ended cancelled exactly once: all stock is back.
            #expect(try await api.stock(cake) == 10)
        }
    }

    @Test func doubleCancelReleasesStockOnce() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let id = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 4)]).int("id"))
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        try await api.call(.post, "/v1/orders/\(id)/transitions", json: #"{"to":"cancelled"}"#, token: partner)
                            .status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 4)
            #expect(try await api.stock(cake) == 10)
        }
    }
}

@Suite struct OrderLifecycleTests {
    @Test func fulfilmentToDeliveryIsAuditedAndConnectsTheProducer() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let id = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 2)]).int("id"))
            func move(_ to: String, _ token: String, extra: String = "") async throws -> Reply {
                try await api.post("/v1/orders/\(id)/transitions", #"{"to":"\#(to)"\#(extra)}"#, token: token)
            }
            #expect(try await move("accepted", partner).status == .forbidden)
            #expect(try await move("accepted", producer.token).status == .ok)
            let early = try await move("shipped", producer.token, extra: #","tracking_code":"P-1""#)
            #expect(early.status == .conflict, "\(early.text)")
            #expect(try await move("packed", producer.token).status == .ok)
            let noTracking = try await move("shipped", producer.token)
            #expect(noTracking.fields == ["tracking_code"])
            #expect(try await move("cancelled", partner).status == .conflict)
            #expect(
                try await move("shipped", producer.token, extra: #","tracking_code":"IR123456789""#).string("tracking_code")
                    == "IR123456789")
            #expect(try await move("delivered", partner).status == .ok)
            let history = try await api.get("/v1/orders/\(id)", token: producer.token).json["history"] as? [[String: Any]] ?? []
            #expect(history.map { $0["to"] as? String } == ["placed", "accepted", "packed", "shipped", "delivered"])
            let audit = try await api.db.rows(
                "SELECT count(*)::int FROM audit_events WHERE entity_type = 'order' AND entity_id = \(id)")
            #expect(try audit[0].decode(Int.self) == 5)
            #expect(try await api.stock(cake) == 8)
            let admin = try await api.token(.admin)
            let year = SolarHijri.year(of: Date())
            let funnel = try await api.get("/v1/reports/funnel?year=\(year)", token: admin)
            let markazi = (funnel.json["rows"] as? [[String: Any]])?.first { $0["province_code"] as? String == "IR-00" }
            #expect(markazi?["connected"] as? Int == 1)
        }
    }

    @Test func rejectionReleasesStock() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let id = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 7)]).int("id"))
            #expect(try await api.stock(cake) == 3)
            let rejected = try await api.post(
                "/v1/orders/\(id)/transitions", #"{"to":"rejected","reason_code":"out_of_stock","reason":"out of season"}"#,
                token: producer.token)
            #expect(rejected.status == .ok)
            #expect(try await api.stock(cake) == 10)
            #expect(
                try await api.post("/v1/orders/\(id)/transitions", #"{"to":"accepted"}"#, token: producer.token).status
                    == .conflict)
            #expect(try await api.stock(cake) == 10)
        }
    }

    @Test func ordersAreVisibleToTheirPartiesOnly() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(province: "IR-00", stock: 10)
            let rival = try await api.token(.partner)
            let otherProducer = try await api.producer(status: .verified)
            let id = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            #expect(try await api.get("/v1/orders/\(id)", token: partner).status == .ok)
            #expect(try await api.get("/v1/orders/\(id)", token: producer.token).status == .ok)
            #expect(try await api.get("/v1/orders/\(id)", token: rival).status == .notFound)
            #expect(try await api.get("/v1/orders/\(id)", token: otherProducer.token).status == .notFound)
            #expect(try await api.post("/v1/orders/\(id)/transitions", #"{"to":"cancelled"}"#, token: rival).status == .notFound)
            #expect(
                try await api.post("/v1/orders/\(id)/transitions", #"{"to":"accepted"}"#, token: otherProducer.token).status
                    == .notFound)
            let markazi = try await api.token(.supervisor, province: "IR-00")
            let tehran = try await api.token(.supervisor, province: "IR-23")
            #expect(try await api.get("/v1/orders/\(id)", token: markazi).status == .ok)
            #expect(try await api.get("/v1/orders/\(id)", token: tehran).status == .notFound)
            #expect(try await api.get("/v1/orders", token: rival).items.isEmpty)
            #expect(try await api.get("/v1/orders", token: partner).items.count == 1)
            #expect(try await api.get("/v1/orders", token: tehran).items.isEmpty)
            #expect(try await api.get("/v1/orders?status=placed", token: markazi).items.count == 1)
            #expect(try await api.get("/v1/orders?status=delivered", token: markazi).items.isEmpty)
            #expect(
                try await api.get("/v1/orders?created_from=2020-01-01&created_to=2099-12-31", token: partner).items.count == 1)
            #expect(try await api.get("/v1/orders?created_to=2020-01-01", token: partner).items.isEmpty)
            #expect(try await api.get("/v1/orders?created_from=yesterday", token: partner).status == .unprocessableContent)
            let officer = try await api.token(.exportOfficer)
            #expect(try await api.get("/v1/orders", token: officer).status == .forbidden)
        }
    }
}

@Suite struct OrderListTests {
    @Test func adminsPageThroughEveryOrder() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let other = try await api.producer(status: .verified)
            let cake = try await api.product(producer, stock: 100)
            let rug = try await api.product(other, title: "گلیم", category: "carpets.kilim", stock: 100)
            let partner = try await api.token(.partner)
            var ids: [Int64] = []
            for i in 0..<5 {
                let reply = try await api.order(
                    partner, producer: i % 2 == 0 ? producer.id : other.id, lines: [(i % 2 == 0 ? cake : rug, 1)])
                ids.append(try #require(reply.int("id")))
            }
            let admin = try await api.token(.admin)
            var seen: [Int64] = []
            var cursor: String? = nil
            repeat {
                let page = try await api.get("/v1/orders?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: admin)
                seen += page.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil && seen.count < 20
            #expect(seen == ids)
            let filtered = try await api.get("/v1/orders?producer_id=\(other.id)", token: admin)
            #expect(filtered.items.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [ids[1], ids[3]])
        }
    }

    @Test func aSuspendedProducerCannotBeOrderedFrom() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let cake = try await api.product(producer, stock: 10)
            let admin = try await api.token(.admin)
            try await api.must(
                .post, "/v1/producers/\(producer.id)/transitions", json: #"{"to":"suspended","reason":"audit"}"#, token: admin)
            let partner = try await api.token(.partner)
            let reply = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
            #expect(reply.status == .unprocessableContent)
            #expect(reply.fields == ["producer_id"])
            #expect(try await api.stock(cake) == 10)
        }
    }
}
