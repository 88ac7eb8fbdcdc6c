import BazaarcheCore
import Foundation

struct ShipmentRequest: Codable {
    var producerId: Int64
    var orderId: Int64?
    var productId: Int64?
    var hsCode: String
    var destinationCountry: String
    var customsDeclarationNo: String
    var fobValueUsd: String
    var netWeightKg: Double
    var exportDate: CalendarDate
    var customsOffice: String
}

struct ShipmentTransitionRequest: Decodable {
    var to: ShipmentStatus
    var reason: String?
}

struct OilPrefixesRequest: Decodable {
    var prefixes: [String]
}

/// Export shipments (recorded by exporter partners, or by producers for their own goods) and the
/// oil classification that decides what counts as non-oil.
public struct Shipments: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let json = """
        json_build_object('id', s.id, 'producer_id', s.producer_id, 'order_id', s.order_id, 'product_id', s.product_id,
          'recorded_by_partner_id', s.recorded_by_partner_id, 'hs_code', s.hs_code, 'hs_chapter', lpad(s.hs_chapter::text, 2, '0'),
          'destination_country', s.destination_country, 'customs_declaration_no', s.customs_declaration_no,
          'fob_value_usd', (s.fob_cents / 100)::text || '.' || lpad((s.fob_cents % 100)::text, 2, '0'),
          'net_weight_kg', s.net_weight_kg, 'export_date', s.export_date, 'customs_office', s.customs_office,
          'status', s.status, 'province_code', s.province_code, 'category_code', s.category_code, 'is_oil', s.is_oil,
          'created_at', s.created_at, 'updated_at', s.updated_at)
        """

    /// Who sees a shipment (alias `s`): staff by scope, the producer its own, the recording partner company its own.
    static func visibility(_ principal: Principal, binds b: inout SQLBuilder) -> String {
        switch principal.role {
        case .admin, .exportOfficer: "true"
        case .supervisor: "s.province_code = \(b.bind(principal.provinceCode ?? ""))"
        case .producer: "s.producer_id = \(b.bind(principal.producerID ?? -1))"
        case .partner: "s.recorded_by_partner_id = \(b.bind(principal.partnerID ?? -1))"
        }
    }

    static func validate(_ body: ShipmentRequest) throws -> (ShipmentRequest, cents: Int64, weight: String) {
        var v = Validator()
        var body = body
        body.hsCode = Digits.ascii(body.hsCode.trimmingCharacters(in: .whitespaces))
        v.check(body.hsCode.count >= 6 && body.hsCode.count <= 10 && body.hsCode.allSatisfy { $0.isASCII && $0.isNumber },
            "hs_code", "must be 6 to 10 digits")
        body.destinationCountry = body.destinationCountry.uppercased()
        v.check(body.destinationCountry.count == 2 && body.destinationCountry.allSatisfy { $0.isASCII && $0.isLetter },
            "destination_country", "must be an ISO 3166-1 alpha-2 code")
        v.check(body.destinationCountry != "IR", "destination_country", "must be a country other than Iran")
        body.customsDeclarationNo = v.text(body.customsDeclarationNo, "customs_declaration_no", max: 50)
        body.customsOffice = v.text(body.customsOffice, "customs_office", max: 200)
        let cents = USD.cents(body.fobValueUsd.trimmingCharacters(in: .whitespaces))
        v.check(cents != nil, "fob_value_usd", "must be a decimal string above 0 with at most two decimals, e.g. \"1250.50\"")
        let grams = (body.netWeightKg * 1000).rounded()
        v.check(body.netWeightKg > 0 && body.netWeightKg <= 1_000_000_000 && abs(body.netWeightKg * 1000 - grams) < 1e-6,
            "net_weight_kg", "must be above 0 with at most three decimals")
        v.check((2000...SolarHijri.today().year + 1).contains(body.exportDate.year), "export_date",
            "must be a date from 2000 to next year")
        try v.throwIfInvalid()
        body.fobValueUsd = USD.string(cents: cents!)  // "10.5" and "10.50" are the same request
        return (body, cents!, String(format: "%.3f", grams / 1000))
    }

    func create(_ body: ShipmentRequest, cents: Int64, weight: String, by principal: Principal, on connection: PostgresConnection)
        async throws -> Idempotency.Outcome
    {
        let logger = db.logger
        var exporter: Int64? = nil
        switch principal.role {
        case .producer:
            guard body.producerId == principal.producerID else {
                throw APIError.validation(field: "producer_id", "must be your own producer id (\(principal.producerID ?? 0))")
            }
        case .partner:
            let kind = try await connection.query(
                "SELECT kind FROM partners WHERE id = \(principal.partnerID ?? -1)", logger: logger
            ).collect().first?.decode(String.self)
            guard kind == "exporter" else { throw APIError.forbidden("Export shipments are recorded by exporter partners and producers.") }
            exporter = principal.partnerID
        default:
            throw APIError.forbidden("Export shipments are recorded by exporter partners and producers.")
        }
        var refs = Validator()
        let checks = try await connection.query(
            """
            SELECT (SELECT status FROM producers WHERE id = \(body.producerId)),
              (SELECT NOT reserved FROM hs_chapters WHERE chapter = \(Int(body.hsCode.prefix(2)) ?? 0)),
              EXISTS (SELECT 1 FROM countries WHERE alpha2 = \(body.destinationCountry)),
              (SELECT o.producer_id FROM orders o JOIN accounts a ON a.id = o.partner_account_id
               WHERE o.id = \(body.orderId) AND (\(exporter)::bigint IS NULL OR a.partner_id = \(exporter))),
              (SELECT producer_id FROM products WHERE id = \(body.productId))
            """, logger: logger
        ).collect()[0].decode((String?, Bool?, Bool, Int64?, Int64?).self)
        refs.check(checks.0 == "verified" || checks.0 == "suspended", "producer_id", "is not a verified producer")
        refs.check(checks.1 == true, "hs_code", "must start with an HS chapter in use (see /v1/hs-chapters)")
        refs.check(checks.2, "destination_country", "is not an ISO 3166-1 country (see /v1/countries)")
        // An exporter links only orders its own company bought; a producer only its own orders.
        if body.orderId != nil {
            refs.check(checks.3 == body.producerId, "order_id", "is not an order of producer \(body.producerId) bought by your company")
        }
        if body.productId != nil { refs.check(checks.4 == body.producerId, "product_id", "is not a product of producer \(body.producerId)") }
        try refs.throwIfInvalid()
        let (id, json, province) = try await connection.query(
            """
            INSERT INTO export_shipments AS s (producer_id, order_id, product_id, recorded_by, recorded_by_partner_id, hs_code,
              destination_country, customs_declaration_no, fob_cents, net_weight_kg, export_date, customs_office)
            VALUES (\(body.producerId), \(body.orderId), \(body.productId), \(principal.accountID), \(exporter), \(body.hsCode),
              \(body.destinationCountry), \(body.customsDeclarationNo), \(cents), \(weight)::numeric, \(body.exportDate.description)::date,
              \(body.customsOffice))
            RETURNING s.id, \(unescaped: Self.json)::text, s.province_code
            """, logger: logger
        ).collect()[0].decode((Int64, String, String).self)
        try await Audit.record(
            on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id, provinceCode: province,
            action: "export_shipment.declared", from: nil, to: "declared")
        return Idempotency.Outcome(status: .created, json: json, headers: [.location: "/v1/export-shipments/\(id)"], createdID: id)
    }

    func list(request: Request, principal: Principal) async throws -> String {
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        var b = SQLBuilder()
        b.append("SELECT s.id, \(Self.json)::text FROM export_shipments s WHERE \(Self.visibility(principal, binds: &b))")
        b.append(" AND s.id > \(b.bind(page.after ?? 0))")
        if let status = try ShipmentStatus.query(q.get("status"), field: "status") { b.append(" AND s.status = \(b.bind(status.rawValue))") }
        if let producer = try request.intQuery("producer_id") { b.append(" AND s.producer_id = \(b.bind(Int64(producer)))") }
        if let province = q.get("province_code") { b.append(" AND s.province_code = \(b.bind(String(province)))") }
        if let country = q.get("destination_country") { b.append(" AND s.destination_country = \(b.bind(String(country).uppercased()))") }
        if let chapter = try request.intQuery("hs_chapter") { b.append(" AND s.hs_chapter = \(b.bind(chapter))") }
        for (name, op) in [("from", ">="), ("to", "<=")] {
            guard let text = q.get(name) else { continue }
            guard let date = CalendarDate(String(text)) else { throw APIError.validation(field: name, "must be a date (YYYY-MM-DD)") }
            b.append(" AND s.export_date \(op) \(b.bind(date.description))::date")
        }
        b.append(" ORDER BY s.id LIMIT \(page.limit + 1)")
        return try page.body(rows: try await db.rows(b.query))
    }

    func get(_ id: Int64, principal: Principal) async throws -> String {
        var b = SQLBuilder()
        b.append("SELECT \(Self.json)::text FROM export_shipments s WHERE s.id = \(b.bind(id)) AND \(Self.visibility(principal, binds: &b))")
        guard let json = try await db.text(b.query) else { throw APIError.notFound("Export shipment \(id)") }
        return json
    }

    /// The recorder (its partner company, or the producer) and admins move a shipment along.
    func transition(_ id: Int64, to target: ShipmentStatus, reason: String?, by principal: Principal) async throws -> String {
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let rows = try await connection.query(
                "SELECT status, producer_id, recorded_by_partner_id, province_code FROM export_shipments WHERE id = \(id) FOR UPDATE",
                logger: logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Export shipment \(id)") }
            let (status, producer, partner, province) = try row.decode((String, Int64, Int64?, String).self)
            let mayAct =
                switch principal.role {
                case .admin: true
                case .producer: partner == nil && principal.producerID == producer
                case .partner: partner != nil && principal.partnerID == partner
                default: false
                }
            guard mayAct else {
                var b = SQLBuilder()
                b.append("SELECT 1 FROM export_shipments s WHERE s.id = \(b.bind(id)) AND \(Self.visibility(principal, binds: &b))")
                if try await connection.query(b.query, logger: logger).collect().isEmpty { throw APIError.notFound("Export shipment \(id)") }
                throw APIError.forbidden("Only whoever recorded the shipment (or an admin) moves it along.")
            }
            guard ShipmentStatus(rawValue: status)!.canMove(to: target) else {
                throw APIError.invalidTransition(entity: "export shipment", from: status, to: target.rawValue)
            }
            let json = try await connection.query(
                """
                UPDATE export_shipments s SET status = \(target.rawValue), updated_at = now() WHERE s.id = \(id)
                RETURNING \(unescaped: Self.json)::text
                """, logger: logger
            ).collect()[0].decode(String.self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id, provinceCode: province,
                action: "export_shipment.status_changed", from: status, to: target.rawValue, reason: reason)
            return json
        }
    }

    // MARK: oil classification

    static let settingsJSON = """
        json_build_object('prefixes', to_json(oil_hs_prefixes), 'updated_at', updated_at)
        """

    func oilPrefixes() async throws -> String {
        try await db.text("SELECT \(unescaped: Self.settingsJSON)::text FROM export_settings") ?? "{}"
    }

    /// Changing the list reclassifies every shipment and rebuilds the figures in one transaction.
    func setOilPrefixes(_ body: OilPrefixesRequest, by principal: Principal) async throws -> String {
        var v = Validator()
        let prefixes = Array(Set(body.prefixes.map { Digits.ascii($0.trimmingCharacters(in: .whitespaces)) })).sorted()
        v.check(prefixes.count <= 50, "prefixes", "must list at most 50 prefixes")
        for (i, p) in prefixes.enumerated() {
            v.check((2...10).contains(p.count) && p.allSatisfy { $0.isASCII && $0.isNumber }, "prefixes[\(i)]", "must be 2 to 10 digits")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            // Writers wait (readers do not) until the reclassified figures commit.
            try await connection.query("LOCK TABLE export_shipments IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            let old = try await connection.query(
                "SELECT array_to_string(oil_hs_prefixes, ',') FROM export_settings FOR UPDATE", logger: logger
            ).collect()[0].decode(String.self)
            let json = try await connection.query(
                """
                UPDATE export_settings SET oil_hs_prefixes = \(prefixes), updated_at = now(), updated_by = \(principal.accountID)
                RETURNING \(unescaped: Self.settingsJSON)::text
                """, logger: logger
            ).collect()[0].decode(String.self)
            try await connection.query("SET LOCAL bazaarche.bulk_load = 'on'", logger: logger)
            try await connection.query(
                "UPDATE export_shipments SET is_oil = is_oil_hs_code(hs_code) WHERE is_oil <> is_oil_hs_code(hs_code)", logger: logger)
            try await connection.query("SELECT export_rollups_rebuild()", logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "export_settings", entityID: 1, provinceCode: nil,
                action: "export_settings.oil_hs_prefixes_changed", from: old, to: prefixes.joined(separator: ","))
            return json
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/export-shipments") { request, context in
            let principal = try context.require(.partner, .producer)
            let key = try Idempotency.key(from: request)
            let (body, cents, weight) = try Self.validate(try await JSONBody.decode(ShipmentRequest.self, from: request, context: context))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let fingerprint = String(decoding: try encoder.encode(body), as: UTF8.self)
            return try await Idempotency.run(
                db: db, accountID: principal.accountID, key: key, operation: "POST /v1/export-shipments", fingerprint: fingerprint,
                path: request.uri.path
            ) { connection in
                try await create(body, cents: cents, weight: weight, by: principal, on: connection)
            }
        }
        routes.get("/v1/export-shipments") { request, context in
            JSONResponse.raw(try await list(request: request, principal: try context.requirePrincipal()))
        }
        routes.get("/v1/export-shipments/{id}") { _, context in
            JSONResponse.raw(try await get(try context.id(what: "Export shipment"), principal: try context.requirePrincipal()))
        }
        routes.post("/v1/export-shipments/{id}/transitions") { request, context in
            let principal = try context.requirePrincipal()
            let id = try context.id(what: "Export shipment")
            let body = try await JSONBody.decode(ShipmentTransitionRequest.self, from: request, context: context)
            return JSONResponse.raw(try await transition(id, to: body.to, reason: body.reason, by: principal))
        }
        routes.get("/v1/export-settings/oil-hs-prefixes") { _, context in
            _ = try context.require(.admin)
            return JSONResponse.raw(try await oilPrefixes())
        }
        routes.put("/v1/export-settings/oil-hs-prefixes") { request, context in
            let principal = try context.require(.admin)
            let body = try await JSONBody.decode(OilPrefixesRequest.self, from: request, context: context)
            return JSONResponse.raw(try await setOilPrefixes(body, by: principal))
        }
    }
}
