import BazaarcheCore
import Foundation
import Testing

// Test fixtures of the exports features, shared by the suites that need them.

extension API {
    /// A partner account of an exporter company.
    func exporterToken() async throws -> String {
        let name = "exporter.\(Fixtures.next())"
        let company = try await partnerCompany(kind: "exporter")
        _ = try await accounts.create(
            role: .partner, login: name, password: API.password, provinceCode: nil, partnerID: company, actor: nil)
        return try await login(name)
    }

    /// Records a shipment and moves it to `status` (an export officer clears it, `officer` or a
    /// fresh one; the recorder ships it); returns its id.
    @discardableResult
    func shipment(
        _ token: String, producer: Int64, hs: String = "570110", to country: String = "DE", fob: String = "100.00",
        kg: String = "1", on date: String, status: String = "cleared", declaration: String? = nil, office: String = "bazargan",
        officer: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int64 {
        let number = declaration ?? "D-\(Fixtures.next())"
        let reply = try await call(
            .post, "/v1/export-shipments",
            json: """
                {"producer_id":\(producer),"hs_code":"\(hs)","destination_country":"\(country)",
                "customs_declaration_no":"\(number)",
                 "fob_value_usd":"\(fob)","net_weight_kg":\(kg),"export_date":"\(date)","customs_office_code":"\(office)"}
                """, token: token, headers: [.idempotencyKey: number], sourceLocation: sourceLocation)
        #expect(reply.status == .created, "shipment: \(reply.text)", sourceLocation: sourceLocation)
        let id = try #require(reply.int("id"), sourceLocation: sourceLocation)
        let path: [String] = status == "declared" ? [] : status == "cleared" ? ["cleared"] : ["cleared", "shipped"]
        var verifier = officer ?? ""
        if !path.isEmpty && officer == nil { verifier = try await self.token(.exportOfficer) }
        if !path.isEmpty {  // confirmed by its producer, as an exporter's shipment must be before it is cleared
            _ = try await db.rows(
                "UPDATE export_shipments SET producer_confirmed_at = now() WHERE id = \(id) AND producer_confirmed_at IS NULL")
        }
        for step in path {
            // The officer clears the version it checked (If-Match).
            let moved = try await call(
                .post, "/v1/export-shipments/\(id)/transitions", json: #"{"to":"\#(step)"}"#,
                token: step == "cleared" ? verifier : token,
                headers: [.ifMatch: try await shipmentETag(id)])
            #expect(moved.status == .ok, "\(step): \(moved.text)", sourceLocation: sourceLocation)
        }
        return id
    }

    /// The shipment's current ETag, read straight from the database (whoever asks).
    func shipmentETag(_ id: Int64) async throws -> String {
        "\"\(try await db.rows("SELECT version FROM export_shipments WHERE id = \(id)")[0].decode(Int.self))\""
    }

    func figures(_ query: String, token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any]
    {
        let reply = try await get("/v1/export-figures?" + query, token: token, sourceLocation: sourceLocation)
        #expect(reply.status == .ok, "figures \(query): \(reply.text)", sourceLocation: sourceLocation)
        return reply.json
    }
}

extension API {
    /// Posts a shipment body (the valid default with `fields` merged in) and returns the reply.
    func recordShipment(
        _ token: String, producer: Int64, _ fields: String = "", key: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        var body: [String: Any] = [
            "producer_id": producer, "hs_code": "570110", "destination_country": "DE",
            "customs_declaration_no": "T-\(Fixtures.next())",
            "fob_value_usd": "100.00", "net_weight_kg": 1, "export_date": "2026-10-01", "customs_office_code": "bazargan",
        ]
        let changes = try JSONSerialization.jsonObject(with: Data("{\(fields)}".utf8)) as! [String: Any]
        body.merge(changes) { $1 }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        return try await call(
            .post, "/v1/export-shipments", json: json, token: token, headers: [.idempotencyKey: key ?? "k-\(Fixtures.next())"],
            sourceLocation: sourceLocation)
    }

    func move(
        _ id: Int64, _ body: String, token: String, ifMatch: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    )
        async throws -> Reply
    {
        try await call(
            .post, "/v1/export-shipments/\(id)/transitions", json: body, token: token,
            headers: ifMatch.map { [.ifMatch: $0] } ?? [:], sourceLocation: sourceLocation)
    }

    /// A bulk clearance body: each shipment at its current version (or at `versions[id]`).
    func clearanceItems(_ ids: [Int64], versions: [Int64: Int] = [:]) async throws -> String {
        var items: [String] = []
        for id in ids {
            let current = try await db.rows("SELECT coalesce(max(version), 1) FROM export_shipments WHERE id = \(id)")[0].decode(
                Int.self)
            items.append(#"{"id":\#(id),"version":\#(versions[id] ?? current)}"#)
        }
        return #"{"items":[\#(items.joined(separator: ","))]}"#
    }

    /// Clears at the shipment's current version, as an officer does who has just checked it.
    func clear(_ id: Int64, token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Reply {
        try await move(
            id, #"{"to":"cleared"}"#, token: token, ifMatch: try await shipmentETag(id), sourceLocation: sourceLocation)
    }
}
