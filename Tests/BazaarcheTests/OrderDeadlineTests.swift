import BazaarcheCore
import Foundation
import Orders
import Testing

@Suite struct OrderDeadlineTests {
    @Test func anUnacceptedOrderExpiresReleasesItsStockAndLeavesTheRecordUntouched() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(province: "IR-00", price: 1_000_000, stock: 10)
            let placed = try await api.order(partner, producer: producer.id, lines: [(cake, 3)])
            let id = try #require(placed.int("id"))
            #expect(placed.string("expires_at") != nil)
            // The accept-by time is 72 hours (the default) after placement.
            #expect(
                try await api.db.rows("SELECT expires_at - created_at = interval '72 hours' FROM orders WHERE id = \(id)")[0]
                    .decode(Bool.self))
            #expect(try await api.sweep() == (0, 0))
            #expect(try await api.stock(cake) == 7)

            try await api.makeDue(id, "expires_at")
            #expect(try await api.sweep() == (1, 0))
            #expect(try await api.stock(cake) == 10)
            let read = try await api.get("/v1/orders/\(id)", token: partner)
            #expect(read.string("status") == "expired")
            #expect(read.json["expires_at"] is NSNull)
            let last = try #require((read.json["history"] as? [[String: Any]])?.last)
            #expect(last["to"] as? String == "expired")
            #expect(last["actor_role"] as? String == "system")
            let audit = try await api.db.rows(
                """
                SELECT actor_role, actor_account_id IS NULL FROM audit_events WHERE action = 'order.expired' AND entity_id = \(id)
                """
            )
            #expect(try audit.map { try $0.decode((String, Bool).self) }.map(\.0) == ["system"])
            // Not the producer's failure: no record, and matching scores it as having none.
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))
            let demand = try await api.demand(partner, #""category_code":"food","quantity":5,"max_unit_price_rials":2000000"#)
            let match = try #require((try await api.matches(demand, token: partner)["matches"] as? [[String: Any]])?.first)
            #expect(units((match["breakdown"] as? [String: Any])?["delivery_record"]) == 750)
            // Expiry happens once; an expired order moves no further.
            #expect(try await api.sweep() == (0, 0))
            #expect(try await api.stock(cake) == 10)
            let accept = try await api.moveOrder(id, #"{"to":"accepted"}"#, token: producer.token)
            #expect(accept.status == .conflict)
            #expect(accept.code == "invalid_transition")
            #expect(try await api.moveOrder(id, #"{"to":"expired"}"#, token: producer.token).status == .forbidden)
            #expect(try await api.moveOrder(id, #"{"to":"expired"}"#, token: partner).status == .forbidden)
        }
    }

    /// Before the sweeper comes by, a move on an order past its accept-by time expires it instead.
    @Test func aPastDeadlineOrderCannotBeAcceptedOrCancelled() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let late = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 4)]).int("id"))
            let alsoLate = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 2)]).int("id"))
            try await api.makeDue(late, "expires_at")
            try await api.makeDue(alsoLate, "expires_at")
            #expect(try await api.stock(cake) == 4)

            let accept = try await api.moveOrder(late, #"{"to":"accepted"}"#, token: producer.token)
            #expect(accept.status == .conflict)
            #expect(accept.code == "order_expired")
            #expect(accept.string("current_status") == "expired")
            #expect(try await api.status(ofOrder: late) == "expired")
            #expect(try await api.stock(cake) == 8)
            let cancel = try await api.moveOrder(alsoLate, #"{"to":"cancelled"}"#, token: partner)
            #expect(cancel.code == "order_expired")
            #expect(try await api.status(ofOrder: alsoLate) == "expired")
            #expect(try await api.stock(cake) == 10)
            #expect(try await api.sweep() == (0, 0))
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))
            // Someone outside the order still learns nothing, and nothing changes for them.
            let stranger = try await api.producer(status: .verified)
            let onTime = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            try await api.makeDue(onTime, "expires_at")
            #expect(try await api.moveOrder(onTime, #"{"to":"accepted"}"#, token: stranger.token).status == .notFound)
            #expect(try await api.status(ofOrder: onTime) == "placed")
        }
    }

    @Test func onlyTheBuyerConfirmsDeliveryAndAShippedOrderIsConfirmedAutomatically() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let id = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: producer, product: cake, partner: partner)
            let shipped = try await api.get("/v1/orders/\(id)", token: partner)
            #expect(shipped.string("confirm_by") != nil)
            #expect(
                try await api.db.rows(
                    "SELECT confirm_by - updated_at = interval '14 days' FROM orders WHERE id = \(id)")[0].decode(Bool.self))
            let byProducer = try await api.moveOrder(id, #"{"to":"delivered"}"#, token: producer.token)
            #expect(byProducer.status == .forbidden)
            #expect(try await api.status(ofOrder: id) == "shipped")
            #expect(try await api.sweep() == (0, 0))
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))

            try await api.makeDue(id, "confirm_by")
            #expect(try await api.sweep() == (0, 1))
            let read = try await api.get("/v1/orders/\(id)", token: producer.token)
            #expect(read.string("status") == "delivered")
            let last = try #require((read.json["history"] as? [[String: Any]])?.last)
            #expect(last["actor_role"] as? String == "system")
            #expect((last["reason"] as? String)?.hasPrefix("auto-confirmed") == true)
            #expect(try await api.deliveryRecord(producer.id) == (1, 0))
            #expect(
                try await api.db.rows(
                    """
                    SELECT 1 FROM audit_events WHERE action = 'order.auto_confirmed' AND entity_id = \(id) AND actor_role =\
                     'system'
                    """
                ).count == 1)
            #expect(try await api.stock(cake) == 9)
            // The buyer's own confirmation counts the same way.
            let confirmed = try await api.orderThrough(
                ["accepted", "packed", "shipped", "delivered"], producer: producer, product: cake, partner: partner)
            #expect(try await api.status(ofOrder: confirmed) == "delivered")
            #expect(try await api.deliveryRecord(producer.id) == (2, 0))
        }
    }

    @Test func aDisputedOrderIsNotConfirmedAutomaticallyNorCountedAsDelivered() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let id = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: producer, product: cake, partner: partner)
            let noReason = try await api.moveOrder(id, #"{"to":"disputed"}"#, token: partner)
            #expect(noReason.fields == ["reason"])
            #expect(
                try await api.moveOrder(id, #"{"to":"disputed","reason":"broken jars"}"#, token: producer.token).status
                    == .forbidden)
            let disputed = try await api.moveOrder(id, #"{"to":"disputed","reason":"three jars arrived broken"}"#, token: partner)
            #expect(disputed.status == .ok)
            #expect(disputed.string("status") == "disputed")
            #expect(disputed.json["confirm_by"] is NSNull)
            try await api.makeDue(id, "confirm_by")
            #expect(try await api.sweep() == (0, 0))
            #expect(try await api.status(ofOrder: id) == "disputed")
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))
            #expect(try await api.get("/v1/orders?status=delivered", token: partner).items.isEmpty)
            #expect(try await api.get("/v1/orders?status=disputed", token: partner).items.count == 1)
            #expect(try await api.moveOrder(id, #"{"to":"cancelled"}"#, token: partner).code == "invalid_transition")
            // Settled: the buyer confirms after all.
            #expect(try await api.moveOrder(id, #"{"to":"delivered"}"#, token: producer.token).status == .forbidden)
            #expect(try await api.moveOrder(id, #"{"to":"delivered","reason":"replaced"}"#, token: partner).status == .ok)
            #expect(try await api.deliveryRecord(producer.id) == (1, 0))
        }
    }

    /// A reason code is the producer's word: a buyer-side code keeps a rejection out of the record
    /// only once the buyer (or staff, for a buyer who will not) confirms it.
    @Test func aBuyerSideRejectionCountsUntilTheBuyerConfirmsIt() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(province: "IR-00", price: 1_000_000, stock: 10)
            let a = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 2)]).int("id"))
            let noCode = try await api.moveOrder(a, #"{"to":"rejected","reason":"sorry"}"#, token: producer.token)
            #expect(noCode.status == .unprocessableContent)
            #expect(noCode.fields == ["reason_code"])
            #expect(
                try await api.moveOrder(a, #"{"to":"rejected","reason_code":"weather"}"#, token: producer.token).fields == [
                    "reason_code"
                ])
            #expect(
                try await api.moveOrder(a, #"{"to":"accepted","reason_code":"capacity"}"#, token: producer.token).fields == [
                    "reason_code"
                ])
            #expect(try await api.status(ofOrder: a) == "placed")
            let demand = try await api.demand(partner, #""category_code":"food","quantity":5,"max_unit_price_rials":2000000"#)
            func deliveryPart() async throws -> Int {
                let match = (try await api.matches(demand, token: partner)["matches"] as? [[String: Any]])?.first
                return units((match?["breakdown"] as? [String: Any])?["delivery_record"])
            }
            #expect(try await deliveryPart() == 750)

            // Blaming the buyer does not keep the rejection out of the record on its own.
            let buyerSide = try await api.moveOrder(
                a, #"{"to":"rejected","reason_code":"buyer_unreachable","reason":"phone never answered"}"#, token: producer.token)
            #expect(buyerSide.status == .ok)
            #expect(buyerSide.string("rejection_reason_code") == "buyer_unreachable")
            #expect(buyerSide.json["rejection_confirmed_at"] is NSNull)
            #expect((buyerSide.json["history"] as? [[String: Any]])?.last?["reason_code"] as? String == "buyer_unreachable")
            #expect(try await api.stock(cake) == 10)
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))
            #expect(try await deliveryPart() == 0)

            // Only the buyer (or staff) confirms it.
            let confirm = "/v1/orders/\(a)/rejection-confirmation"
            #expect(try await api.post(confirm, "{}", token: producer.token).status == .forbidden)
            #expect(try await api.post(confirm, "{}", token: try await api.token(.partner)).status == .notFound)
            let elsewhere = try await api.token(.supervisor, province: "IR-23")
            #expect(try await api.post(confirm, #"{"reason":"x"}"#, token: elsewhere).status == .notFound)
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))
            let confirmed = try await api.post(confirm, #"{"reason":"we changed our minds"}"#, token: partner)
            #expect(confirmed.status == .ok, "\(confirmed.text)")
            #expect(confirmed.string("rejection_confirmed_at") != nil)
            #expect(confirmed.string("status") == "rejected")
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))
            #expect(try await deliveryPart() == 750)
            // Confirming again changes nothing.
            let again = try await api.post(confirm, "{}", token: partner)
            #expect(again.status == .ok)
            #expect(again.string("rejection_confirmed_at") == confirmed.string("rejection_confirmed_at"))
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))
            #expect(
                try await api.db.rows(
                    """
                    SELECT 1 FROM audit_events WHERE action = 'order.rejection_confirmed' AND entity_id = \(a) AND actor_role =\
                     'partner'
                    """
                ).count == 1)

            // A producer-side code is an admission: nothing to confirm, and it counts.
            let b = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 2)]).int("id"))
            let early = try await api.post("/v1/orders/\(b)/rejection-confirmation", "{}", token: partner)
            #expect(early.status == .conflict)
            #expect(early.code == "rejection_not_confirmable")
            #expect(early.string("current_status") == "placed")
            #expect(
                try await api.moveOrder(b, #"{"to":"rejected","reason_code":"out_of_stock"}"#, token: producer.token).status
                    == .ok)
            #expect(
                try await api.post("/v1/orders/\(b)/rejection-confirmation", "{}", token: partner).code
                    == "rejection_not_confirmable")
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))

            // A buyer who will not answer: the province's supervisor confirms, with a reason.
            let c = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            #expect(
                try await api.moveOrder(c, #"{"to":"rejected","reason_code":"suspected_fraud"}"#, token: producer.token).status
                    == .ok)
            #expect(try await api.deliveryRecord(producer.id) == (0, 2))
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let bare = try await api.post("/v1/orders/\(c)/rejection-confirmation", "{}", token: supervisor)
            #expect(bare.fields == ["reason"])
            #expect(try await api.deliveryRecord(producer.id) == (0, 2))
            let byStaff = try await api.post(
                "/v1/orders/\(c)/rejection-confirmation", #"{"reason":"payment card reported stolen"}"#, token: supervisor)
            #expect(byStaff.status == .ok)
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))

            // A cancellation is the buyer's decision and does not count.
            _ = try await api.orderThrough(["cancelled"], producer: producer, product: cake, partner: partner)
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))
        }
    }

    /// A buyer cannot hold a delivery out of the record by disputing it forever: the province's
    /// supervisor (or an admin) settles it, for the producer or against it.
    @Test func staffSettleADisputeForOrAgainstTheProducer() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(province: "IR-00", stock: 10)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let upheld = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: producer, product: cake, partner: partner)
            #expect(
                try await api.moveOrder(upheld, #"{"to":"disputed","reason":"half the cakes mouldy"}"#, token: partner).status
                    == .ok)

            // Only staff settle against the producer, and only a dispute.
            let byBuyer = try await api.moveOrder(upheld, #"{"to":"dispute_upheld","reason":"mine"}"#, token: partner)
            #expect(byBuyer.status == .forbidden)
            #expect(
                try await api.moveOrder(upheld, #"{"to":"dispute_upheld","reason":"no"}"#, token: producer.token).status
                    == .forbidden)
            let elsewhere = try await api.token(.supervisor, province: "IR-23")
            #expect(
                try await api.moveOrder(upheld, #"{"to":"dispute_upheld","reason":"x"}"#, token: elsewhere).status == .notFound)
            let noReason = try await api.moveOrder(upheld, #"{"to":"dispute_upheld"}"#, token: supervisor)
            #expect(noReason.fields == ["reason"])
            #expect(try await api.status(ofOrder: upheld) == "disputed")
            #expect(try await api.deliveryRecord(producer.id) == (0, 0))

            let settled = try await api.moveOrder(
                upheld, #"{"to":"dispute_upheld","reason":"photos and the courier's report confirm the damage"}"#,
                token: supervisor)
            #expect(settled.status == .ok, "\(settled.text)")
            #expect(settled.string("status") == "dispute_upheld")
            let last = try #require((settled.json["history"] as? [[String: Any]])?.last)
            #expect(last["actor_role"] as? String == "supervisor")
            #expect(last["from"] as? String == "disputed")
            // Staff decided against the producer: a failure. The goods were shipped: no stock back.
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))
            #expect(try await api.stock(cake) == 9)
            #expect(
                try await api.db.rows(
                    """
                    SELECT 1 FROM audit_events WHERE action = 'order.dispute_resolved' AND entity_id = \(upheld)
                      AND actor_role = 'supervisor' AND from_status = 'disputed' AND to_status = 'dispute_upheld'
                    """
                ).count == 1)
            // Final.
            #expect(try await api.moveOrder(upheld, #"{"to":"delivered"}"#, token: partner).code == "invalid_transition")
            #expect(try await api.moveOrder(upheld, #"{"to":"delivered","reason":"x"}"#, token: supervisor).status == .forbidden)
            #expect(try await api.deliveryRecord(producer.id) == (0, 1))

            // Settled for the producer: counts as a delivery.
            let forProducer = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: producer, product: cake, partner: partner)
            #expect(
                try await api.moveOrder(forProducer, #"{"to":"disputed","reason":"never arrived"}"#, token: partner).status == .ok
            )
            let admin = try await api.token(.admin)
            let delivered = try await api.moveOrder(
                forProducer, #"{"to":"delivered","reason":"courier's signed receipt shows full delivery"}"#, token: admin)
            #expect(delivered.status == .ok, "\(delivered.text)")
            #expect(delivered.string("status") == "delivered")
            #expect(try await api.deliveryRecord(producer.id) == (1, 1))

            // Staff do nothing else to an order: not confirm a shipped one, nor accept or cancel.
            let shipped = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: producer, product: cake, partner: partner)
            #expect(try await api.moveOrder(shipped, #"{"to":"delivered","reason":"x"}"#, token: supervisor).status == .forbidden)
            #expect(try await api.moveOrder(shipped, #"{"to":"dispute_upheld","reason":"x"}"#, token: admin).status == .forbidden)
            let placed = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            #expect(try await api.moveOrder(placed, #"{"to":"accepted"}"#, token: supervisor).status == .forbidden)
            #expect(try await api.moveOrder(placed, #"{"to":"cancelled","reason":"x"}"#, token: admin).status == .forbidden)
            #expect(try await api.status(ofOrder: shipped) == "shipped")
            #expect(try await api.status(ofOrder: placed) == "placed")
            #expect(try await api.deliveryRecord(producer.id) == (1, 1))
            await expectSQLState("23514") {
                try await api.db.client.query("UPDATE orders SET status = 'dispute_upheld' WHERE id = \(shipped)")
            }
        }
    }

    /// Two instances confirming at once must not deadlock on the delivery-record rows: a batch
    /// takes them in producer order, whatever the order ids. Here another transaction holds the
    /// lower producer's row and then asks for the higher one, which a batch visiting the orders in
    /// id order (the higher producer's order first) would already hold.
    @Test func autoConfirmationTakesDeliveryRecordsInProducerOrder() async throws {
        try await withApp { api in
            let low = try await api.producer(status: .verified)
            let high = try await api.producer(status: .verified)
            #expect(low.id < high.id)
            let lowCake = try await api.product(low, stock: 10)
            let highCake = try await api.product(high, stock: 10)
            let partner = try await api.token(.partner)
            let first = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: high, product: highCake, partner: partner)
            let second = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: low, product: lowCake, partner: partner)
            #expect(first < second)
            try await api.db.client.query(
                "INSERT INTO producer_order_stats (producer_id, delivered, failed) VALUES (\(low.id), 0, 0), (\(high.id), 0, 0)")
            try await api.makeDue(first, "confirm_by")
            try await api.makeDue(second, "confirm_by")

            let sweeping = try await api.db.transaction { other -> Task<(expired: Int, confirmed: Int), any Error> in
                try await other.query(
                    "SELECT 1 FROM producer_order_stats WHERE producer_id = \(low.id) FOR UPDATE", logger: api.db.logger)
                let sweeping = Task { try await api.sweep() }
                // Wait until the sweep is blocked behind this transaction.
                while try await api.db.rows(
                    """
                    SELECT 1 FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                    """
                ).isEmpty {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await other.query(
                    "SELECT 1 FROM producer_order_stats WHERE producer_id = \(high.id) FOR UPDATE", logger: api.db.logger)
                return sweeping
            }
            #expect(try await sweeping.value == (0, 2))
            #expect(try await api.deliveryRecord(low.id) == (1, 0))
            #expect(try await api.deliveryRecord(high.id) == (1, 0))
        }
    }

    /// Several instances sweep at once: each due order is expired exactly once.
    @Test func concurrentSweepsSplitTheWorkAndReleaseStockOnce() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let cake = try await api.product(producer, stock: 100)
            let jam = try await api.product(producer, title: "مربا", category: "food.jams_syrups", stock: 100)
            let partner = try await api.token(.partner)
            var ids: [Int64] = []
            for i in 0..<23 {
                let lines = i % 2 == 0 ? [(cake, 2), (jam, 1)] : [(jam, 3)]
                ids.append(try #require(try await api.order(partner, producer: producer.id, lines: lines).int("id")))
            }
            let keep = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 5)]).int("id"))
            try await api.db.client.query("UPDATE orders SET expires_at = now() - interval '1 hour' WHERE id = ANY(\(ids))")
            let small = OrderSettings(batchSize: 4)
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await api.sweep(small).expired } }
                return try await group.reduce(0, +)
            }
            #expect(results == 23)
            #expect(try await api.stock(cake) == 95)
            #expect(try await api.stock(jam) == 100)
            #expect(try await api.status(ofOrder: keep) == "placed")
            #expect(
                try await api.db.rows(
                    "SELECT count(*)::int FROM order_events WHERE to_status = 'expired'")[0].decode(Int.self) == 23)
            #expect(
                try await api.db.rows(
                    "SELECT count(*)::int FROM audit_events WHERE action = 'order.expired'")[0].decode(Int.self) == 23)
        }
    }

    /// The lifecycle trigger refuses what the API refuses, whoever writes.
    @Test func theSchemaRefusesMovesOutsideTheLifecycle() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let accepted = try await api.orderThrough(["accepted"], producer: producer, product: cake, partner: partner)
            await expectSQLState("23514") {
                try await api.db.client.query("UPDATE orders SET status = 'expired' WHERE id = \(accepted)")
            }
            let delivered = try await api.orderThrough(
                ["accepted", "packed", "shipped", "delivered"], producer: producer, product: cake, partner: partner)
            await expectSQLState("23514") {
                try await api.db.client.query("UPDATE orders SET status = 'disputed' WHERE id = \(delivered)")
            }
        }
    }
}
