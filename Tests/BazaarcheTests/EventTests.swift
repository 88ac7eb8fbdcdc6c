import BazaarcheCore
import Foundation
import Integrations
import Testing

/// The event log is written with the change: what committed has its event, what failed has none,
/// and each caller's feed holds exactly the events that concern it.
@Suite struct EventTests {
    static func feed(_ api: API, _ token: String, _ query: String = "") async throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        var cursor: String? = nil
        repeat {
            let path = "/v1/events?limit=2" + query + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try await api.must(.get, path, token: token)
            all += page.items
            cursor = page.json["next_cursor"] as? String
        } while cursor != nil
        return all
    }

    static func types(_ events: [[String: Any]]) -> [String] { events.compactMap { $0["type"] as? String } }

    @Test func anOrderPlacedIsInTheBuyersProducersAndProvincesFeedsOnly() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(province: "IR-00", price: 1_000_000, stock: 10)
            let (otherProducer, _, otherPartner) = try await api.orderParties(province: "IR-23", stock: 5)
            let placed = try await api.order(partner, producer: producer.id, lines: [(cake, 3)])
            let orderID = try #require(placed.int("id"))
            try await api.must(.post, "/v1/orders/\(orderID)/transitions", json: #"{"to":"accepted"}"#, token: producer.token)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let otherSupervisor = try await api.token(.supervisor, province: "IR-23")
            for token in [partner, producer.token, supervisor] {
                let events = try await Self.feed(api, token, "&type=order.*")
                #expect(Self.types(events) == ["order.placed", "order.accepted"], "\(events)")
                let first = try #require(events.first)
                #expect((first["subject"] as? [String: Any])?["id"] as? Int64 == orderID)
                let data = try #require(first["data"] as? [String: Any])
                #expect(data["status"] as? String == "placed")
                #expect(data["total_rials"] as? Int64 == 3_000_000)
                #expect((first["id"] as? String)?.hasPrefix("evt_") == true)
            }
            for token in [otherPartner, otherProducer.token, otherSupervisor] {
                #expect(try await Self.feed(api, token, "&type=order.*").isEmpty)
            }
            // The admin sees every event; an export officer has no feed.
            #expect(Self.types(try await Self.feed(api, try await api.token(.admin), "&type=order.placed")) == ["order.placed"])
            #expect(try await api.get("/v1/events", token: try await api.token(.exportOfficer)).status == .forbidden)
        }
    }

    @Test func aChangeThatFailsWritesNoEvent() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 2)
            let before = try await api.db.rows("SELECT count(*)::int FROM events")[0].decode(Int.self)
            let oversold = try await api.order(partner, producer: producer.id, lines: [(cake, 3)])
            #expect(oversold.status == .conflict)
            let wrongMove = try await api.post("/v1/orders/999999/transitions", #"{"to":"accepted"}"#, token: producer.token)
            #expect(wrongMove.status == .notFound)
            #expect(try await api.db.rows("SELECT count(*)::int FROM events")[0].decode(Int.self) == before)
        }
    }

    @Test func sweptOrdersProgrammeDecisionsAndInvitationsAreEventsToo() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let placed = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            try await api.makeDue(placed, "expires_at")
            #expect(try await api.sweep() == (1, 0))
            let expired = try await Self.feed(api, producer.token, "&type=order.expired")
            #expect(expired.count == 1)
            #expect((expired.first?["data"] as? [String: Any])?["status"] as? String == "expired")
            // The producer was verified on a proposal: its feed says so.
            #expect(
                Self.types(try await Self.feed(api, producer.token, "&type=producer.*")) == [
                    "producer.screened", "producer.verified",
                ])
            // An invitation reaches the invited producer and the inviting company.
            let demand = try await api.demand(partner, #""category_code":"food","quantity":5,"max_unit_price_rials":2000000"#)
            try await api.must(
                .post, "/v1/demands/\(demand)/invitations",
                json: """
                    {"producer_id":\(producer.id),"product_id":\(cake),"quantity":2,"unit_price_rials":900000,
                     "delivery":{"province_code":"IR-23","city":"تهران","address":"خیابان آزادی","recipient":"انبار",
                     "phone":"02166554433"}}
                    """, token: partner, status: .created)
            for token in [partner, producer.token] {
                #expect(Self.types(try await Self.feed(api, token, "&type=invitation.created")) == ["invitation.created"])
            }
        }
    }

    @Test func unknownTypesAre422() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            for bad in ["order.teleported", "nothing.*", "x"] {
                let reply = try await api.get("/v1/events?type=\(bad)", token: admin)
                #expect(reply.status == .unprocessableContent && reply.fields == ["type"], "\(bad): \(reply.text)")
            }
            #expect(try await api.get("/v1/events").status == .unauthorized)
        }
    }
}

@Suite struct EventRetentionTests {
    @Test func eventsOlderThanTheRetentionAreDeletedAndNewerOnesKept() async throws {
        try await withApp { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            _ = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            let recent = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            // Everything before the recent order's event is past the retention period.
            let cutoff = try await api.db.rows(
                "SELECT occurred_at FROM events WHERE type = 'order.placed' AND subject_id = \(recent)"
            )[0].decode(Date.self)
            let older = try await api.db.rows("SELECT count(*)::int FROM events WHERE occurred_at < \(cutoff)")[0]
                .decode(Int.self)
            #expect(older >= 3)  // the producer's screening and verification, the first order
            #expect(try await EventRetention(db: api.db, days: 30).prune(before: cutoff) == older)
            let left = try await api.db.rows(
                "SELECT subject_id FROM events ORDER BY id"
            ).map { try $0.decode(Int64.self) }
            #expect(left == [recent])
            #expect(try await EventRetention(db: api.db, days: 30).prune(before: cutoff) == 0)
            // With the real clock, nothing this young goes.
            #expect(try await EventRetention(db: api.db, days: 30).prune() == 0)
        }
    }
}
