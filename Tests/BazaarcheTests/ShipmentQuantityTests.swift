import BazaarcheCore
import Foundation
import Testing

/// Quantities in the supplementary unit on export shipments (`quantity`, `quantity_unit`), frozen
/// once counted like the other declared facts; and the data-quality rules a shipment's HS code and
/// links must meet.
@Suite struct ShipmentQuantityTests {
    func count(_ api: API) async throws -> Int {
        try await api.db.rows("SELECT count(*)::int FROM export_shipments")[0].decode(Int.self)
    }

    @Test func aQuantityIsRecordedWithItsUnitAndValidated() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let recorded = try await api.recordShipment(
                maker.token, producer: maker.id, #""quantity":12.5,"quantity_unit":" M2 ""#)
            #expect(recorded.status == .created, "\(recorded.text)")
            #expect(recorded.json["quantity"] as? Double == 12.5 && recorded.string("quantity_unit") == "m2")
            let id = try #require(recorded.int("id"))
            let read = try await api.get("/v1/export-shipments/\(id)", token: maker.token)
            #expect(read.json["quantity"] as? Double == 12.5 && read.string("quantity_unit") == "m2")
            // Without a quantity both are null.
            let bare = try await api.recordShipment(maker.token, producer: maker.id)
            #expect(bare.json["quantity"] is NSNull && bare.json["quantity_unit"] is NSNull)
            let before = try await count(api)
            for (fields, field) in [
                (#""quantity":3"#, "quantity_unit"), (#""quantity_unit":"kg""#, "quantity"),
                (#""quantity":3,"quantity_unit":"tonne""#, "quantity_unit"), (#""quantity":0,"quantity_unit":"kg""#, "quantity"),
                (#""quantity":-2,"quantity_unit":"litre""#, "quantity"), (#""quantity":1.0005,"quantity_unit":"kg""#, "quantity"),
                (#""quantity":2.5,"quantity_unit":"pair""#, "quantity"),
                (#""quantity":7.25,"quantity_unit":"number""#, "quantity"),
                (#""quantity":2000000000,"quantity_unit":"kg""#, "quantity"),
            ] {
                let reply = try await api.recordShipment(maker.token, producer: maker.id, fields)
                #expect(reply.status == .unprocessableContent && reply.fields == [field], "\(fields): \(reply.text)")
            }
            #expect(try await count(api) == before, "a refused shipment is not recorded")
            // Whole pieces and pairs, decimals of the other units.
            for (fields, unit) in [
                (#""quantity":40,"quantity_unit":"number""#, "number"), (#""quantity":6,"quantity_unit":"pair""#, "pair"),
                (#""quantity":0.75,"quantity_unit":"litre""#, "litre"), (#""quantity":1.125,"quantity_unit":"kg""#, "kg"),
            ] {
                let reply = try await api.recordShipment(maker.token, producer: maker.id, fields)
                #expect(reply.status == .created && reply.string("quantity_unit") == unit, "\(fields): \(reply.text)")
            }
            // The database keeps the pair together whatever writes.
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET quantity_unit = NULL WHERE id = \(id)")
            }
        }
    }

    @Test func aQuantityIsCorrectedWhileDeclaredAndFrozenOnceCleared() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let officer = try await api.token(.exportOfficer)
            let id = try #require(
                try await api.recordShipment(maker.token, producer: maker.id, #""quantity":10,"quantity_unit":"number""#)
                    .int("id"))
            let v1 = try await api.shipmentETag(id)
            // A correction of the quantity alone is a new version: the officer's old ETag is stale.
            let corrected = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"quantity":12}"#, token: maker.token, headers: [.ifMatch: v1])
            #expect(corrected.status == .ok && corrected.json["quantity"] as? Double == 12, "\(corrected.text)")
            #expect(corrected.string("quantity_unit") == "number")
            let v2 = try #require(corrected.headers[.eTag])
            #expect(v2 != v1 && corrected.int("version") == 2)
            let stale = try await api.move(id, #"{"to":"cleared"}"#, token: officer, ifMatch: v1)
            #expect(stale.status == .preconditionFailed && stale.code == "stale_version")
            // Changing the unit to one that needs whole numbers is checked against the kept quantity.
            let half = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"quantity":12.5}"#, token: maker.token)
            #expect(half.status == .unprocessableContent && half.fields == ["quantity"])
            let inKg = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"quantity":12.5,"quantity_unit":"kg"}"#, token: maker.token)
            #expect(inKg.status == .ok && inKg.string("quantity_unit") == "kg" && inKg.int("version") == 3)
            // The same quantity again is no new version.
            let same = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"quantity":12.5}"#, token: maker.token)
            #expect(same.status == .ok && same.int("version") == 3)
            // Cleared: the quantity stays what the officer checked, through the API and in the database.
            #expect(try await api.clear(id, token: officer).status == .ok)
            let late = try await api.call(
                .patch, "/v1/export-shipments/\(id)", json: #"{"quantity":99}"#, token: maker.token)
            #expect(late.status == .conflict && late.code == "not_correctable")
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET quantity = 99 WHERE id = \(id)")
            }
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET quantity = NULL, quantity_unit = NULL WHERE id = \(id)")
            }
            let now = try await api.get("/v1/export-shipments/\(id)", token: officer)
            #expect(now.json["quantity"] as? Double == 12.5 && now.string("quantity_unit") == "kg")
            // A counted shipment recorded without a quantity cannot gain one afterwards either.
            let bare = try await api.shipment(maker.token, producer: maker.id, on: "2026-10-02")
            await expectSQLState("23514") {
                _ = try await api.db.rows("UPDATE export_shipments SET quantity = 1, quantity_unit = 'kg' WHERE id = \(bare)")
            }
        }
    }

    @Test func aLinkedOrderDecidesTheProductAndTheChapter() async throws {
        try await withApp { api in
            let maker = try await api.producer(status: .verified)
            let buyer = try await api.token(.partner)
            let rug = try await api.product(
                maker, title: "گلیم دستباف", category: "carpets.kilim", extra: #","hs_code":"570210""#)
            let saffron = try await api.product(
                maker, title: "زعفران سرگل", category: "food.spices", extra: #","hs_code":"091020""#)
            let order = try #require(try await api.order(buyer, producer: maker.id, lines: [(rug, 1)]).int("id"))
            // The product shipped must be on the linked order.
            let other = try await api.recordShipment(
                maker.token, producer: maker.id, #""order_id":\#(order),"product_id":\#(saffron),"hs_code":"091020""#)
            #expect(other.status == .unprocessableContent && other.fields == ["product_id"], "\(other.text)")
            // Without a product, the code must be in the chapter of a product on the order.
            let wrongChapter = try await api.recordShipment(
                maker.token, producer: maker.id, #""order_id":\#(order),"hs_code":"091020""#)
            #expect(wrongChapter.status == .unprocessableContent && wrongChapter.fields == ["hs_code"], "\(wrongChapter.text)")
            let before = try await count(api)
            #expect(before == 0)
            let right = try await api.recordShipment(maker.token, producer: maker.id, #""order_id":\#(order),"hs_code":"570299""#)
            #expect(right.status == .created, "\(right.text)")
            let onOrder = try await api.recordShipment(
                maker.token, producer: maker.id, #""order_id":\#(order),"product_id":\#(rug),"hs_code":"570210""#)
            #expect(onOrder.status == .created, "\(onOrder.text)")
            // The product's own chapter still rules a shipment without an order.
            let mismatch = try await api.recordShipment(
                maker.token, producer: maker.id, #""product_id":\#(saffron),"hs_code":"570210""#)
            #expect(mismatch.status == .unprocessableContent && mismatch.fields == ["hs_code"])
            #expect(try await count(api) == 2)
        }
    }
}
