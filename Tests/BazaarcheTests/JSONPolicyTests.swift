import BazaarcheCore
import Foundation
import Testing

/// The JSON policy (docs/architecture.md): entity JSON from PostgreSQL with timestamps written
/// in UTC whatever the session's time zone; documents composed in Swift through one encoder; one
/// splice for pages of PostgreSQL-built JSON.
@Suite struct JSONPolicyTests {
    /// Every string in a document that reads as a date-time, with the path it was found at.
    static func timestamps(_ value: Any, path: String = "") -> [(path: String, value: String)] {
        switch value {
        case let object as [String: Any]:
            return object.flatMap { timestamps($0.value, path: path + "." + $0.key) }
        case let array as [Any]:
            return array.enumerated().flatMap { timestamps($0.element, path: path + "[\($0.offset)]") }
        case let text as String where text.wholeMatch(of: /\d{4}-\d\d-\d\dT.*/) != nil:
            return [(path, text)]
        default:
            return []
        }
    }

    @Test func timestampsAreUTCWhateverTheSessionsTimeZone() async throws {
        try await withApp(sessionTimeZone: "Asia/Tehran") { api in
            // The sessions really are in Tehran's zone: a timestamptz written as json_build_object
            // writes it by default would carry +03:30.
            let plain = try await api.db.rows("SELECT json_build_object('t', now())::text")[0].decode(String.self)
            #expect(plain.contains("+03:30"), "\(plain)")

            let admin = try await api.token(.admin)
            let producer = try await api.producer(status: .verified)
            let product = try await api.product(producer)
            let partner = try await api.token(.partner)
            let order = try await api.order(partner, producer: producer.id, lines: [(product, 1)])
            #expect(order.status == .created, "\(order.text)")
            let orderID = try #require(order.int("id"))
            let exporter = try await api.exporterToken()
            let shipment = try await api.shipment(exporter, producer: producer.id, on: "2026-10-01", status: "cleared")
            let login = "json.\(Fixtures.next())"
            _ = try await api.accounts.create(
                role: .supervisor, login: login, password: API.password, provinceCode: "IR-00", partnerID: nil, actor: nil)
            let documents = [
                order,
                try await api.must(
                    .post, "/v1/auth/tokens", json: #"{"login":"\#(login)","password":"\#(API.password)"}"#, status: .created),
                try await api.must(.get, "/v1/producers/\(producer.id)", token: admin),
                try await api.must(.get, "/v1/products/\(product)", token: admin),
                try await api.must(.get, "/v1/products?category_code=food", token: partner),
                try await api.must(.get, "/v1/orders/\(orderID)", token: partner),
                try await api.must(.get, "/v1/export-shipments/\(shipment)", token: exporter),
                try await api.must(.get, "/v1/audit-events?entity_type=product", token: admin),
                try await api.must(.get, "/v1/accounts", token: admin),
            ]
            var seen: [String] = []
            for document in documents {
                for (path, value) in Self.timestamps(document.json) {
                    seen.append(path)
                    #expect(value.hasSuffix("+00:00"), "\(path): \(value)")
                }
            }
            // The walk found the timestamps of each kind of document, so the check above ran.
            let kinds = [
                ".created_at", ".listed_at", ".verified_at", ".expires_at", ".at", ".occurred_at", ".producer_confirmed_at",
            ]
            for expected in kinds {
                #expect(seen.contains { $0.hasSuffix(expected) }, "no \(expected) among \(seen)")
            }
        }
    }

    @Test func aPageSplicesEntityJSONAndQuotesItsCursor() throws {
        let text = JSONResponse.page(items: [#"{"id":1,"t":"a/b"}"#, #"{"id":2}"#], nextCursor: "a\"b\\c")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((object["items"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [1, 2])
        #expect(object["next_cursor"] as? String == "a\"b\\c")
        #expect(JSONResponse.page(items: [], nextCursor: nil) == #"{"items":[],"next_cursor":null}"#)
        #expect(JSONResponse.page(items: [], nextCursor: "azE_-") == #"{"items":[],"next_cursor":"azE_-"}"#)
    }

    @Test func problemDocumentsGoThroughTheSharedEncoder() throws {
        let problem = APIError(
            .conflict, code: "invalid_transition", title: "Status \"x\" / y", detail: nil,
            errors: [FieldError("to", "must be one of: a, b")], extra: ["current_status": "listed"])
        let text = problem.body(instance: "/v1/products/1/transitions")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "https://bazaarche.ir/problems/invalid-transition")
        #expect(object["title"] as? String == "Status \"x\" / y")
        #expect(object["status"] as? Int == 409)
        #expect(object["current_status"] as? String == "listed")
        #expect(object.keys.contains("detail") == false)
        #expect((object["errors"] as? [[String: String]])?.first == ["field": "to", "message": "must be one of: a, b"])
        // Keys sorted, slashes not escaped: the shared configuration.
        #expect(text.hasPrefix(#"{"code":"invalid_transition","current_status":"listed","errors":"#))
        #expect(text.contains(#""instance":"/v1/products/1/transitions""#))
    }
}
