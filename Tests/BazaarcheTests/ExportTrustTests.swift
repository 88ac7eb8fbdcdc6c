import BazaarcheCore
import Foundation
import Testing

@testable import Exports

@Suite struct ExportTrustTests {
    let october = "from=2026-10-01&to=2026-10-31&scope=all"

    @Test func recordersCannotClearTheirOwnShipmentsAndFiguresStayUnchanged() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let admin = try await api.token(.admin)
            // The trillion-dollar shipment of the issue is refused when recorded: it is over the ceiling.
            let huge = try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"1000000000000""#)
            #expect(huge.status == .unprocessableContent && huge.fields == ["fob_value_usd"])
            let own = try #require(
                try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"500.00""#).int("id"))
            let theirs = try #require(
                try await api.recordShipment(exporter, producer: maker.id, #""fob_value_usd":"700.00""#).int("id"))
            #expect(try await api.post("/v1/export-shipments/\(theirs)/confirmation", "", token: maker.token).status == .ok)
            // Neither recorder, nor the producer of the partner's shipment, nor an admin clears.
            for (id, token) in [(own, maker.token), (theirs, exporter), (theirs, maker.token), (own, admin), (theirs, admin)] {
                let reply = try await api.clear(id, token: token)
                #expect(reply.status == .forbidden, "\(reply.text)")
            }
            #expect(try await api.move(own, #"{"to":"rejected","reason":"x"}"#, token: maker.token).status == .forbidden)
            let statuses = try await api.db.rows("SELECT string_agg(status, ',' ORDER BY id) FROM export_shipments")[0].decode(
                String.self)
            #expect(statuses == "declared,declared")
            #expect(totals(try await api.figures(october, token: officer)) == "0 0.00 0.000")
            // The officer clears; the shipment counts from then on and the audit names the officer.
            let cleared = try await api.clear(own, token: officer)
            #expect(cleared.status == .ok && cleared.string("status") == "cleared")
            #expect(cleared.json["verified_by"] as? NSNumber != nil)
            #expect(totals(try await api.figures(october, token: officer)) == "1 500.00 1.000")
            let actor = try await api.db.rows(
                """
                SELECT a.actor_role FROM audit_events a WHERE a.entity_type = 'export_shipment' AND a.entity_id = \(own)
                  AND a.to_status = 'cleared'
                """)[0].decode(String.self)
            #expect(actor == "export_officer")
            // Shipping: the recorder (or an officer), not the producer of a partner's shipment.
            #expect(try await api.move(own, #"{"to":"shipped"}"#, token: maker.token).status == .ok)
            #expect(try await api.clear(theirs, token: officer).status == .ok)
            #expect(try await api.move(theirs, #"{"to":"shipped"}"#, token: maker.token).status == .forbidden)
            #expect(try await api.move(theirs, #"{"to":"shipped"}"#, token: officer).status == .ok)
            #expect(totals(try await api.figures(october, token: officer)) == "2 1200.00 2.000")
        }
    }

    @Test func aRejectionNeedsAReasonIsFinalAndNeverCounts() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let officer = try await api.token(.exportOfficer)
            let id = try #require(try await api.recordShipment(maker.token, producer: maker.id).int("id"))
            try await api.shipment(maker.token, producer: maker.id, fob: "1.00", on: "2026-10-02", status: "declared")
            #expect(try await api.move(id, #"{"to":"rejected"}"#, token: officer).fields == ["reason"])
            #expect(try await api.move(id, #"{"to":"rejected","reason":"  "}"#, token: officer).fields == ["reason"])
            #expect(try await api.get("/v1/export-shipments/\(id)", token: officer).string("status") == "declared")
            let rejected = try await api.move(
                id, #"{"to":"rejected","reason":"Declaration 123 names another exporter"}"#, token: officer)
            #expect(rejected.status == .ok)
            #expect(rejected.string("status") == "rejected")
            #expect(rejected.string("rejection_reason") == "Declaration 123 names another exporter")
            let again = try await api.clear(id, token: officer)
            #expect(again.status == .conflict && again.code == "invalid_transition")
            // The database refuses it too.
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET status = 'cleared' WHERE id = \(id)")
            }
            // A rejected and a declared shipment: nothing in the figures, nor in the producer's record.
            #expect(totals(try await api.figures(october, token: officer)) == "0 0.00 0.000")
            let corrected = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"fob_value_usd":"2.00"}"#, token: maker.token)
            #expect(corrected.status == .conflict && corrected.code == "not_correctable")
        }
    }

    @Test func aPartnersShipmentWithoutAnOrderWaitsForTheProducersConfirmation() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let stranger = try await api.producer(status: .verified)
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let recorded = try await api.recordShipment(exporter, producer: maker.id)
            let id = try #require(recorded.int("id"))
            #expect(recorded.json["producer_confirmed_at"] is NSNull)
            let refused = try await api.clear(id, token: officer)
            #expect(refused.status == .conflict && refused.code == "producer_confirmation_required")
            #expect(try await api.get("/v1/export-shipments/verification-queue", token: officer).items.isEmpty)
            let bulk = try await api.post("/v1/export-shipments/clearances", try await api.clearanceItems([id]), token: officer)
            #expect((bulk.json["results"] as? [[String: Any]])?.first?["reason"] as? String == "producer_confirmation_required")
            // Only the producer confirms.
            #expect(try await api.post("/v1/export-shipments/\(id)/confirmation", "", token: stranger.token).status == .notFound)
            #expect(try await api.post("/v1/export-shipments/\(id)/confirmation", "", token: exporter).status == .forbidden)
            #expect(try await api.post("/v1/export-shipments/\(id)/confirmation", "", token: officer).status == .forbidden)
            #expect(try await api.get("/v1/export-shipments/\(id)", token: officer).string("status") == "declared")
            #expect(totals(try await api.figures(october, token: officer)) == "0 0.00 0.000")
            let confirmed = try await api.post("/v1/export-shipments/\(id)/confirmation", "", token: maker.token)
            #expect(confirmed.status == .ok && confirmed.json["producer_confirmed_at"] is String)
            // A correction by the partner withdraws it: the producer confirmed other facts.
            let corrected = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"fob_value_usd":"150.00"}"#, token: exporter)
            #expect(corrected.status == .ok && corrected.string("fob_value_usd") == "150.00")
            #expect(corrected.json["producer_confirmed_at"] is NSNull)
            #expect(try await api.call(.patch, "/v1/export-shipments/\(id)", json: "{}", token: maker.token).status == .forbidden)
            #expect(
                try await api.call(.patch, "/v1/export-shipments/\(id)", json: "{}", token: stranger.token).status == .notFound)
            #expect(try await api.post("/v1/export-shipments/\(id)/confirmation", "", token: maker.token).status == .ok)
            let queue = try await api.get("/v1/export-shipments/verification-queue", token: officer).items
            #expect(queue.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [id])
            #expect(try await api.clear(id, token: officer).status == .ok)
            #expect(totals(try await api.figures(october, token: officer)) == "1 150.00 1.000")
        }
    }

    /// An exporter places an order, lets it expire or cancels it (or the producer never answers),
    /// then records shipments against it: none of that is the producer's word. Only an order the
    /// producer accepted stands for its confirmation.
    @Test func onlyAnOrderTheProducerAcceptedStandsForItsConfirmation() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let product = try await api.product(maker, stock: 10)
            func order() async throws -> Int64 {
                try #require(try await api.order(exporter, producer: maker.id, lines: [(product, 1)]).int("id"))
            }
            func orderMove(_ id: Int64, _ body: String, _ token: String) async throws {
                let reply = try await api.moveOrder(id, body, token: token)
                #expect(reply.status == .ok, "\(reply.text)")
            }
            let placed = try await order()
            let expired = try await order()
            _ = try await api.db.rows("UPDATE orders SET status = 'expired' WHERE id = \(expired)")  // as the sweeper does
            let cancelled = try await order()
            try await orderMove(cancelled, #"{"to":"cancelled","reason":"changed our mind"}"#, exporter)
            let declined = try await order()
            try await orderMove(declined, #"{"to":"rejected","reason_code":"out_of_stock"}"#, maker.token)
            let accepted = try await order()
            try await orderMove(accepted, #"{"to":"accepted"}"#, maker.token)
            #expect(
                try await api.db.rows("SELECT string_agg(status, ',' ORDER BY id) FROM orders")[0].decode(String.self)
                    == "placed,expired,cancelled,rejected,accepted")

            var unconfirmed: [Int64] = []
            for id in [placed, expired, cancelled, declined] {
                let recorded = try await api.recordShipment(exporter, producer: maker.id, #""order_id":\#(id)"#)
                #expect(
                    recorded.status == .created && recorded.json["producer_confirmed_at"] is NSNull,
                    "order \(id): \(recorded.text)")
                let shipment = try #require(recorded.int("id"))
                unconfirmed.append(shipment)
                let refused = try await api.clear(shipment, token: officer)
                #expect(refused.status == .conflict && refused.code == "producer_confirmation_required")
            }
            // Not in the queue, not clearable in bulk, not in the figures.
            #expect(try await api.get("/v1/export-shipments/verification-queue", token: officer).items.isEmpty)
            let bulk = try await api.post(
                "/v1/export-shipments/clearances", try await api.clearanceItems(unconfirmed), token: officer)
            #expect(bulk.int("cleared") == 0)
            #expect(totals(try await api.figures(october, token: officer)) == "0 0.00 0.000")
            // A correction does not turn the old link into a confirmation either.
            let corrected = try await api.call(
                .patch, "/v1/export-shipments/\(unconfirmed[0])", json: #"{"net_weight_kg":2}"#, token: exporter)
            #expect(corrected.status == .ok && corrected.json["producer_confirmed_at"] is NSNull)
            // The accepted order is the producer's word: confirmed at once, and the officer clears it.
            let linked = try await api.recordShipment(exporter, producer: maker.id, #""order_id":\#(accepted)"#)
            #expect(linked.status == .created && linked.json["producer_confirmed_at"] is String)
            #expect(try await api.clear(try #require(linked.int("id")), token: officer).status == .ok)
            #expect(totals(try await api.figures(october, token: officer)) == "1 100.00 1.000")
            // The producer can still confirm one of the others itself.
            #expect(
                try await api.post("/v1/export-shipments/\(unconfirmed[1])/confirmation", "", token: maker.token).status == .ok)
            #expect(try await api.clear(unconfirmed[1], token: officer).status == .ok)
        }
    }

    /// Between the officer's check and the click the recorder corrects the shipment: the officer's
    /// clearance names the version it checked and is refused; nothing stale reaches the figures.
    @Test func anOfficerClearsOnlyTheVersionItChecked() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let officer = try await api.token(.exportOfficer)
            let recorded = try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"100.00""#)
            #expect(recorded.headers[.eTag] == #""1""# && recorded.int("version") == 1)
            let id = try #require(recorded.int("id"))
            let checked = try await api.get("/v1/export-shipments/\(id)", token: officer)
            #expect(checked.headers[.eTag] == #""1""# && checked.int("version") == 1)
            // Clearing names a version: none, or `*`, is 428.
            for tag in [nil, "*"] as [String?] {
                let bare = try await api.move(id, #"{"to":"cleared"}"#, token: officer, ifMatch: tag)
                #expect(bare.status == .preconditionRequired && bare.code == "if_match_required", "\(bare.text)")
            }
            // The producer corrects the value after the officer looked.
            let patched = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"fob_value_usd":"9000000.00"}"#, token: maker.token)
            #expect(patched.status == .ok && patched.headers[.eTag] == #""2""# && patched.int("version") == 2)
            let stale = try await api.move(id, #"{"to":"cleared"}"#, token: officer, ifMatch: #""1""#)
            #expect(stale.status == .preconditionFailed && stale.code == "stale_version")
            #expect(stale.json["current_etag"] as? String == #""2""#)
            let staleReject = try await api.move(id, #"{"to":"rejected","reason":"x"}"#, token: officer, ifMatch: #""1""#)
            #expect(staleReject.status == .preconditionFailed && staleReject.code == "stale_version")
            #expect(try await api.get("/v1/export-shipments/\(id)", token: officer).string("status") == "declared")
            #expect(totals(try await api.figures(october, token: officer)) == "0 0.00 0.000")
            // The recorder's own edits honour If-Match too; a correction that changes nothing keeps the version.
            let stalePatch = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"fob_value_usd":"1.00"}"#, token: maker.token,
                headers: [.ifMatch: #""1""#])
            #expect(stalePatch.status == .preconditionFailed)
            #expect(
                try await api.call(.patch, "/v1/export-shipments/\(id)", json: "{}", token: maker.token).headers[.eTag] == #""2""#
            )
            // Checked again, cleared at version 2: the figures hold what the officer saw.
            let cleared = try await api.move(id, #"{"to":"cleared"}"#, token: officer, ifMatch: #""7", "2""#)
            #expect(cleared.status == .ok && cleared.headers[.eTag] == #""3""# && cleared.int("version") == 3)
            #expect(totals(try await api.figures(october, token: officer)) == "1 9000000.00 1.000")
            // Shipping needs no If-Match; a stale one is refused.
            #expect(
                try await api.move(id, #"{"to":"shipped"}"#, token: maker.token, ifMatch: #""2""#).status == .preconditionFailed)
            #expect(try await api.move(id, #"{"to":"shipped"}"#, token: maker.token).status == .ok)
            // The database refuses a counted or rejected shipment without its verifier, whatever the code path.
            let other = try #require(try await api.recordShipment(maker.token, producer: maker.id).int("id"))
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET status = 'cleared' WHERE id = \(other)")
            }
            await expectSQLState("23514") {
                _ = try await api.db.rows(
                    "UPDATE export_shipments SET status = 'rejected', rejection_reason = 'x' WHERE id = \(other)")
            }
            await expectSQLState("23514") {
                _ = try await api.db.rows(
                    """
                    UPDATE export_shipments SET status = 'rejected', verified_by = (SELECT min(id) FROM accounts), verified_at =\
                     now() WHERE id = \(other)
                    """
                )
            }
        }
    }

    @Test func bulkClearanceClearsOnlyTheVersionsChecked() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let kept = try #require(
                try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"10.00""#).int("id"))
            let changed = try #require(
                try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"20.00""#).int("id"))
            let theirs = try #require(
                try await api.recordShipment(exporter, producer: maker.id, #""fob_value_usd":"30.00""#).int("id"))
            let checked = try await api.clearanceItems([kept, changed])  // version 1 each
            // The producer corrects one, and confirms the exporter's shipment (a new version too).
            #expect(
                try await api.call(
                    .patch, "/v1/export-shipments/\(changed)", json: #"{"fob_value_usd":"2000.00"}"#, token: maker.token
                )
                .status == .ok)
            let confirmed = try await api.post("/v1/export-shipments/\(theirs)/confirmation", "", token: maker.token)
            #expect(confirmed.headers[.eTag] == #""2""#)
            let reply = try await api.post("/v1/export-shipments/clearances", checked, token: officer)
            let results = (reply.json["results"] as? [[String: Any]] ?? []).map {
                "\($0["id"]!) \($0["outcome"]!) \($0["reason"] as? String ?? "-") \($0["version"] as? Int ?? 0)"
            }
            #expect(results == ["\(kept) cleared - 2", "\(changed) not_clearable stale_version 2"])
            let unconfirmedVersion = try await api.post(
                "/v1/export-shipments/clearances", try await api.clearanceItems([theirs], versions: [theirs: 1]), token: officer)
            #expect((unconfirmedVersion.json["results"] as? [[String: Any]])?.first?["reason"] as? String == "stale_version")
            #expect(totals(try await api.figures(october, token: officer)) == "1 10.00 1.000")
            // The previous shape (bare ids) and items without a version are refused.
            #expect(
                try await api.post("/v1/export-shipments/clearances", #"{"ids":[\#(changed)]}"#, token: officer).fields == ["ids"]
            )
            #expect(
                try await api.post("/v1/export-shipments/clearances", #"{"items":[{"id":\#(changed)}]}"#, token: officer).fields
                    == ["items[0].version"])
            #expect(try await api.get("/v1/export-shipments/\(changed)", token: officer).string("status") == "declared")
        }
    }

    @Test func anExportDateAfterTodayInTehranIsRefused() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let (today, tomorrow) = try await api.db.rows("SELECT tehran_today()::text, (tehran_today() + 1)::text")[0].decode(
                (String, String).self)
            #expect(today == SolarHijri.today().description)
            let future = try await api.recordShipment(maker.token, producer: maker.id, #""export_date":"\#(tomorrow)""#)
            #expect(future.status == .unprocessableContent && future.fields == ["export_date"])
            #expect(
                try await api.recordShipment(maker.token, producer: maker.id, #""export_date":"2031-01-01""#).fields == [
                    "export_date"
                ])
            #expect(try await api.db.rows("SELECT count(*)::int FROM export_shipments")[0].decode(Int.self) == 0)
            let recorded = try await api.recordShipment(maker.token, producer: maker.id, #""export_date":"\#(today)""#)
            #expect(recorded.status == .created)
            let id = try #require(recorded.int("id"))
            let moved = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"export_date":"\#(tomorrow)"}"#, token: maker.token)
            #expect(moved.status == .unprocessableContent && moved.fields == ["export_date"])
            #expect(try await api.get("/v1/export-shipments/\(id)", token: maker.token).string("export_date") == today)
        }
    }

    @Test func theQueueIsOldestFirstFilteredAndForOfficersOnly() async throws {
        try await withApp { api in
            let tehran = try await api.producer(province: "IR-23", status: .verified)
            let isfahan = try await api.producer(province: "IR-10", status: .verified)
            let officer = try await api.token(.exportOfficer)
            var ids: [Int64] = []
            for (maker, office) in [(tehran, "bazargan"), (isfahan, "mehran"), (tehran, "mehran"), (isfahan, "bazargan")] {
                ids.append(
                    try #require(
                        try await api.recordShipment(
                            maker.token, producer: maker.id, #""customs_office_code":"\#(office)""#
                        ).int("id")))
            }
            // Recorded out of id order: the oldest is the last id.
            for (n, id) in ids.enumerated() {
                _ = try await api.db.rows(
                    "UPDATE export_shipments SET created_at = now() - make_interval(hours => \(n)::int) WHERE id = \(id)")
            }
            // A flagged one: US$ 100,000 for one kilogram.
            _ = try await api.recordShipment(tehran.token, producer: tehran.id, #""fob_value_usd":"100000.00""#)
            func queue(_ query: String) async throws -> [Int64] {
                try await api.get("/v1/export-shipments/verification-queue?" + query, token: officer).items
                    .compactMap { ($0["id"] as? NSNumber)?.int64Value }
            }
            #expect(Array(try await queue("").prefix(4)) == ids.reversed())
            #expect(try await queue("province_code=IR-10") == [ids[3], ids[1]])
            #expect(try await queue("customs_office_code=mehran") == [ids[2], ids[1]])
            let page = try await api.get("/v1/export-shipments/verification-queue?limit=3", token: officer)
            let cursor = try #require(page.json["next_cursor"] as? String)
            let rest = try await queue("limit=3&cursor=\(cursor)")
            #expect(page.items.count == 3 && rest.count == 2)
            let flagged = try #require(
                try await api.get("/v1/export-shipments/verification-queue?cursor=\(cursor)", token: officer).items.last)
            #expect(flagged["plausibility_flags"] as? [String] == ["usd_per_kg_above_max"])
            #expect(page.items.first?["plausibility_flags"] as? [String] == [])
            // Cleared shipments leave the queue.
            #expect(try await api.clear(ids[3], token: officer).status == .ok)
            #expect(try await queue("province_code=IR-10") == [ids[1]])
            for token in [
                tehran.token, try await api.exporterToken(), try await api.token(.supervisor, province: "IR-23"),
                try await api.token(.admin),
            ] {
                #expect(try await api.get("/v1/export-shipments/verification-queue", token: token).status == .forbidden)
            }
        }
    }

    @Test func bulkClearanceReportsEachShipment() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let ready = try #require(
                try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"10.00""#).int("id"))
            let ready2 = try #require(
                try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"20.00""#).int("id"))
            let unconfirmed = try #require(try await api.recordShipment(exporter, producer: maker.id).int("id"))
            let rejected = try #require(try await api.recordShipment(maker.token, producer: maker.id).int("id"))
            #expect(
                try await api.move(rejected, #"{"to":"rejected","reason":"no such declaration"}"#, token: officer).status == .ok)
            #expect(
                try await api.post("/v1/export-shipments/clearances", try await api.clearanceItems([ready]), token: maker.token)
                    .status
                    == .forbidden)
            #expect(try await api.post("/v1/export-shipments/clearances", #"{"items":[]}"#, token: officer).fields == ["items"])
            #expect(
                try await api.post(
                    "/v1/export-shipments/clearances", try await api.clearanceItems([ready, ready]), token: officer
                ).fields
                    == ["items"])
            #expect(
                try await api.post(
                    "/v1/export-shipments/clearances", try await api.clearanceItems(Array(1...101)), token: officer
                ).fields
                    == ["items"])
            #expect(totals(try await api.figures(october, token: officer)) == "0 0.00 0.000")
            let reply = try await api.post(
                "/v1/export-shipments/clearances",
                try await api.clearanceItems([unconfirmed, ready2, 999_999_999, rejected, ready]),
                token: officer)
            #expect(reply.status == .ok)
            #expect(reply.int("cleared") == 2)
            let results = (reply.json["results"] as? [[String: Any]] ?? []).map {
                "\($0["id"]!) \($0["outcome"]!) \($0["reason"] as? String ?? "-")"
            }
            #expect(
                results == [
                    "\(unconfirmed) not_clearable producer_confirmation_required", "\(ready2) cleared -", "999999999 not_found -",
                    "\(rejected) not_clearable not_declared", "\(ready) cleared -",
                ])
            #expect(totals(try await api.figures(october, token: officer)) == "2 30.00 2.000")
            let audited = try await api.db.rows(
                """
                SELECT count(*)::int FROM audit_events WHERE action = 'export_shipment.status_changed' AND to_status = 'cleared'\
                 AND actor_role = 'export_officer'
                """
            )[0].decode(Int.self)
            #expect(audited == 2)
            // Clearing them again changes nothing.
            let again = try await api.post(
                "/v1/export-shipments/clearances", try await api.clearanceItems([ready]), token: officer)
            #expect(again.int("cleared") == 0)
            #expect(totals(try await api.figures(october, token: officer)) == "2 30.00 2.000")
        }
    }

    @Test func theCeilingRefusesAndImplausibleDollarsPerKiloAreFlagged() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let admin = try await api.token(.admin)
            let settings = try await api.get("/v1/export-settings/plausibility", token: admin)
            #expect(settings.string("max_shipment_fob_usd") == "10000000.00")
            #expect(settings.string("min_usd_per_kg") == "0.10" && settings.string("max_usd_per_kg") == "10000.00")
            let over = try await api.recordShipment(
                maker.token, producer: maker.id, #""fob_value_usd":"10000000.01","net_weight_kg":10000"#)
            #expect(over.status == .unprocessableContent && over.fields == ["fob_value_usd"])
            let at = try await api.recordShipment(
                maker.token, producer: maker.id, #""fob_value_usd":"10000000.00","net_weight_kg":10000"#)
            #expect(at.status == .created && at.json["plausibility_flags"] as? [String] == [])
            let dear = try await api.recordShipment(
                maker.token, producer: maker.id, #""fob_value_usd":"20000.00","net_weight_kg":1"#)
            #expect(dear.status == .created && dear.json["plausibility_flags"] as? [String] == ["usd_per_kg_above_max"])
            let cheap = try await api.recordShipment(
                maker.token, producer: maker.id, #""fob_value_usd":"1.00","net_weight_kg":100"#)
            #expect(cheap.status == .created && cheap.json["plausibility_flags"] as? [String] == ["usd_per_kg_below_min"])
            // The admin moves the band and the ceiling; flags follow at once.
            let put = try await api.call(
                .put, "/v1/export-settings/plausibility",
                json: #"{"max_shipment_fob_usd":"1000.00","min_usd_per_kg":"0","max_usd_per_kg":"50000"}"#, token: admin)
            #expect(put.status == .ok && put.string("max_usd_per_kg") == "50000.00")
            let id = try #require(dear.int("id"))
            #expect(
                try await api.get("/v1/export-shipments/\(id)", token: maker.token).json["plausibility_flags"] as? [String] == [])
            #expect(
                try await api.recordShipment(maker.token, producer: maker.id, #""fob_value_usd":"1000.01""#).fields == [
                    "fob_value_usd"
                ])
            let bad = try await api.call(
                .put, "/v1/export-settings/plausibility",
                json: #"{"max_shipment_fob_usd":"0.5","min_usd_per_kg":"-1","max_usd_per_kg":"0"}"#, token: admin)
            #expect(Set(bad.fields) == ["max_shipment_fob_usd", "min_usd_per_kg", "max_usd_per_kg"])
            #expect(
                try await api.call(
                    .put, "/v1/export-settings/plausibility",
                    json: #"{"max_shipment_fob_usd":"1.00","min_usd_per_kg":"0","max_usd_per_kg":"1"}"#,
                    token: try await api.token(.exportOfficer)
                ).status == .forbidden)
            #expect(
                try await api.get("/v1/export-settings/plausibility", token: admin).string("max_shipment_fob_usd") == "1000.00")
        }
    }

    @Test func declarationNumbersAreUniquePerCustomsOffice() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let admin = try await api.token(.admin)
            let offices = try await api.get("/v1/customs-offices")
            #expect(offices.status == .ok)
            #expect(
                Set(offices.items.compactMap { $0["code"] as? String }).isSuperset(of: ["bazargan", "mehran", "shahid-rajaee"]))
            #expect(
                try await api.recordShipment(maker.token, producer: maker.id, #""customs_declaration_no":"D-1""#).status
                    == .created)
            #expect(
                try await api.recordShipment(
                    maker.token, producer: maker.id, #""customs_declaration_no":"D-1","customs_office_code":"mehran""#
                ).status == .created)
            let twice = try await api.recordShipment(
                maker.token, producer: maker.id, #""customs_declaration_no":"D-1","net_weight_kg":2"#)
            #expect(twice.status == .conflict && twice.fields == ["customs_declaration_no"])
            #expect(
                try await api.recordShipment(maker.token, producer: maker.id, #""customs_office_code":"nowhere""#).fields
                    == ["customs_office_code"])
            // Admins add and retire offices; nobody else does.
            let created = try await api.post(
                "/v1/customs-offices", #"{"code":"test-office","name_fa":"گمرک آزمون","name_en":"Test office"}"#, token: admin)
            #expect(created.status == .created && created.string("code") == "test-office")
            #expect(
                try await api.post("/v1/customs-offices", #"{"code":"test-office","name_fa":"دیگر"}"#, token: admin).fields == [
                    "code"
                ])
            #expect(
                try await api.post("/v1/customs-offices", #"{"code":"Bad Code","name_fa":"x"}"#, token: admin).fields == ["code"])
            #expect(
                try await api.post("/v1/customs-offices", #"{"code":"other","name_fa":"x"}"#, token: maker.token).status
                    == .forbidden)
            #expect(
                try await api.recordShipment(maker.token, producer: maker.id, #""customs_office_code":"test-office""#).status
                    == .created)
            let retired = try await api.call(.patch, "/v1/customs-offices/test-office", json: #"{"active":false}"#, token: admin)
            #expect(retired.status == .ok && retired.json["active"] as? Bool == false)
            #expect(
                try await api.recordShipment(maker.token, producer: maker.id, #""customs_office_code":"test-office""#).fields
                    == ["customs_office_code"])
            #expect(
                try await api.call(.patch, "/v1/customs-offices/missing", json: #"{"active":false}"#, token: admin).status
                    == .notFound)
        }
    }

    @Test func hsCodesMustBeRealSubheadingsInTheProductsChapter() async throws {
        try await withApp { api in
            let counts = try await api.db.rows("SELECT level, count(*)::int FROM hs_codes GROUP BY level ORDER BY level").map {
                try $0.decode((Int, Int).self)
            }
            #expect(counts.map { "\($0.0):\($0.1)" } == ["2:97", "4:1229", "6:5613"])
            let maker = try await api.producer(status: .verified)
            // Chapter 57 and heading 5701 exist; subheading 5701.99 does not.
            #expect(try await api.recordShipment(maker.token, producer: maker.id, #""hs_code":"570199""#).fields == ["hs_code"])
            #expect(try await api.db.rows("SELECT count(*)::int FROM export_shipments")[0].decode(Int.self) == 0)
            #expect(try await api.recordShipment(maker.token, producer: maker.id, #""hs_code":"5701109000""#).status == .created)
            let product = try await api.product(maker, extra: #","hs_code":"200799""#)
            let mismatch = try await api.recordShipment(
                maker.token, producer: maker.id, #""hs_code":"570110","product_id":\#(product)"#)
            #expect(mismatch.fields == ["hs_code"])
            let agrees = try await api.recordShipment(
                maker.token, producer: maker.id, #""hs_code":"200710","product_id":\#(product)"#)
            #expect(agrees.status == .created)
            // Corrections are held to the same rules; the database refuses a fake code as well.
            let id = try #require(agrees.int("id"))
            #expect(
                try await api.call(.patch, "/v1/export-shipments/\(id)", json: #"{"hs_code":"570110"}"#, token: maker.token)
                    .fields == ["hs_code"])
            #expect(
                try await api.call(.patch, "/v1/export-shipments/\(id)", json: #"{"hs_code":"200799"}"#, token: maker.token)
                    .string("hs_code") == "200799")
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET hs_code = '200798' WHERE id = \(id)")
            }
        }
    }

    /// 93,000 shipments at US$ 999,999,999,999.99 each (the largest an admin may allow): their sum
    /// in cents is above the largest Int64, and the figures report it exactly, in JSON and CSV.
    @Test func hugeTotalsAreReportedExactly() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let admin = try await api.token(.admin)
            let ceiling = try await api.call(
                .put, "/v1/export-settings/plausibility",
                json: #"{"max_shipment_fob_usd":"1000000000000","min_usd_per_kg":"0","max_usd_per_kg":"100"}"#, token: admin)
            #expect(ceiling.status == .ok)
            let one = try await api.recordShipment(
                maker.token, producer: maker.id, #""fob_value_usd":"999999999999.99","net_weight_kg":1000000000"#)
            #expect(one.status == .created)
            try await api.db.transaction { connection in
                try await connection.query("ALTER TABLE export_shipments DISABLE TRIGGER USER", logger: api.db.logger)
                try await connection.query(
                    """
                    INSERT INTO export_shipments (producer_id, recorded_by, hs_code, destination_country, customs_declaration_no,
                      fob_cents, net_weight_kg, export_date, customs_office_code, status, producer_confirmed_at, verified_by,
                      verified_at,
                      hs_chapter, province_code, is_oil, jalali_month, gregorian_month)
                    SELECT s.producer_id, s.recorded_by, s.hs_code, 'IQ', 'BIG-' || n, s.fob_cents, s.net_weight_kg,
                    s.export_date,
                      s.customs_office_code, 'shipped', now(), s.recorded_by, now(), s.hs_chapter, s.province_code, false,
                      s.jalali_month, s.gregorian_month
                    FROM export_shipments s, generate_series(1, 92999) n
                    """, logger: api.db.logger)
                try await connection.query("ALTER TABLE export_shipments ENABLE TRIGGER USER", logger: api.db.logger)
                try await connection.query("SELECT export_rollups_rebuild()", logger: api.db.logger)
            }
            let officer = try await api.token(.exportOfficer)
            let id = try #require(one.int("id"))
            #expect(try await api.clear(id, token: officer).status == .ok)
            // From the rollups (a whole month) and from the shipments (a partial one): the same sums.
            for query in ["from=2026-10-01&to=2026-10-31&calendar=gregorian", "from=2026-10-01&to=2026-10-05&calendar=gregorian"]
            {
                let json = try await api.figures(query + "&scope=all", token: officer)
                let t = json["totals"] as? [String: Any] ?? [:]
                #expect(t["shipment_count"] as? Int == 93000)
                #expect(t["fob_value_usd"] as? String == "92999999999999070.00")
                let csv = parseCSV(
                    try await api.call(
                        .get, "/v1/export-figures?" + query + "&scope=all", token: officer, headers: [.accept: "text/csv"]
                    ).text)
                #expect(csv.last == ["total", "93000", "92999999999999070.00", "93000000000000.000", "", "", "100"])
                #expect(
                    csv.dropFirst().first == [
                        "=\"2026-10\"", "93000", "92999999999999070.00", "93000000000000.000", "", "", "100",
                    ])
            }
        }
    }

    @Test func exactSumsAddDigitStrings() {
        #expect(ExactSum.add("9223372036854775807", "1") == "9223372036854775808")
        #expect(ExactSum.add("0", "0") == "0")
        #expect(ExactSum.add("0125", "0") == "125")
        #expect(USD.string(centsDigits: "5") == "0.05")
        #expect(USD.string(centsDigits: "9299999999999907000") == "92999999999999070.00")
        #expect(Figures.kilograms(grams: "125") == "0.125")
        #expect(Figures.grams("13.5") == "13500")
    }
}
