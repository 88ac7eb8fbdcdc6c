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
    var customsOfficeCode: String
    /// Quantity in the supplementary unit, both or neither (absent ones stay out of the
    /// idempotency fingerprint, so older requests replay unchanged).
    var quantity: Double?
    var quantityUnit: String?
}

/// A correction of a declared shipment: any of the declared facts (the producer, order and
/// product links stay as recorded).
struct ShipmentPatch: Decodable {
    var hsCode: String?
    var destinationCountry: String?
    var customsDeclarationNo: String?
    var fobValueUsd: String?
    var netWeightKg: Double?
    var exportDate: CalendarDate?
    var customsOfficeCode: String?
    var quantity: Double?
    var quantityUnit: String?
}

struct OilPrefixesRequest: Decodable {
    var prefixes: [String]
}

/// Export shipments (recorded by exporter partners, or by producers for their own goods; cleared
/// or rejected only by export officers) and the oil classification that decides what is non-oil.
public struct Shipments: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// Event rows for shipments `ids`: seen by the producer, its province and the recording exporter.
    static func eventSource(_ ids: [Int64]) -> SQL {
        """
        SELECT s.id, \(unescaped: json), s.province_code, s.producer_id, s.recorded_by_partner_id
        FROM export_shipments s WHERE s.id = ANY(\(ids))
        """
    }

    static let json = """
        json_build_object('id', s.id, 'producer_id', s.producer_id, 'order_id', s.order_id, 'product_id', s.product_id,
          'recorded_by_partner_id', s.recorded_by_partner_id, 'hs_code', s.hs_code, 'hs_chapter', lpad(s.hs_chapter::text, 2,
            '0'),
          'destination_country', s.destination_country, 'customs_declaration_no', s.customs_declaration_no,
          'fob_value_usd', (s.fob_cents / 100)::text || '.' || lpad((s.fob_cents % 100)::text, 2, '0'),
          'net_weight_kg', s.net_weight_kg, 'quantity', s.quantity, 'quantity_unit', s.quantity_unit,
          'export_date', s.export_date, 'customs_office_code', s.customs_office_code,
          'customs_office_name_fa', (SELECT o.name_fa FROM customs_offices o WHERE o.code = s.customs_office_code),
          'status', s.status, 'province_code', s.province_code, 'category_code', s.category_code, 'is_oil', s.is_oil,
          'producer_confirmed_at', api_time(s.producer_confirmed_at), 'verified_by', s.verified_by, 'verified_at',
            api_time(s.verified_at),
          'rejection_reason', s.rejection_reason, 'version', s.version,
          'plausibility_flags', to_json(export_plausibility_flags(s.fob_cents, s.net_weight_kg)),
          'created_at', api_time(s.created_at), 'updated_at', api_time(s.updated_at))
        """

    /// Who sees a shipment (alias `s`), `Access`'s rule: staff by scope, the producer its own, the
    /// recording partner company its own. Every read and every lock of a shipment puts it in the WHERE clause.
    static func visibility(_ principal: Principal) -> SQL { principal.access(.shipment).condition(alias: "s") }

    /// Supplementary units (WCO): kilograms, pieces, pairs, square metres, litres.
    static let quantityUnits = ["kg", "number", "pair", "m2", "litre"]

    /// A quantity and its unit, both or neither: pieces and pairs are counted in whole numbers.
    /// Returns the quantity as exact decimal text for the numeric column.
    static func validateQuantity(_ body: inout ShipmentRequest, into v: inout Validator) -> String? {
        body.quantityUnit = body.quantityUnit.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let quantity = body.quantity, let unit = body.quantityUnit else {
            if body.quantity != nil { v.add("quantity_unit", "is required with quantity (one of: kg, number, pair, m2, litre)") }
            if body.quantityUnit != nil { v.add("quantity", "is required with quantity_unit") }
            return nil
        }
        v.check(Self.quantityUnits.contains(unit), "quantity_unit", "must be one of: kg, number, pair, m2, litre")
        let thousandths = (quantity * 1000).rounded()
        guard quantity > 0 && quantity <= 1_000_000_000 && abs(quantity * 1000 - thousandths) < 1e-6 else {
            v.add("quantity", "must be above 0 with at most three decimals")
            return nil
        }
        if unit == "number" || unit == "pair" {
            v.check(quantity == quantity.rounded(), "quantity", "must be a whole number of pieces or pairs")
        }
        return String(format: "%.3f", thousandths / 1000)
    }

    static func validate(_ body: ShipmentRequest) throws -> (ShipmentRequest, cents: Int64, weight: String) {
        var v = Validator()
        var body = body
        body.hsCode = Digits.ascii(body.hsCode.trimmingCharacters(in: .whitespaces))
        v.check(
            body.hsCode.count >= 6 && body.hsCode.count <= 10 && body.hsCode.allSatisfy { $0.isASCII && $0.isNumber },
            "hs_code", "must be 6 to 10 digits")
        body.destinationCountry = body.destinationCountry.uppercased()
        v.check(
            body.destinationCountry.count == 2 && body.destinationCountry.allSatisfy { $0.isASCII && $0.isLetter },
            "destination_country", "must be an ISO 3166-1 alpha-2 code")
        v.check(body.destinationCountry != "IR", "destination_country", "must be a country other than Iran")
        body.customsDeclarationNo = v.text(body.customsDeclarationNo, "customs_declaration_no", max: 50)
        body.customsOfficeCode = v.text(body.customsOfficeCode, "customs_office_code", max: 40).lowercased()
        let cents = USD.cents(body.fobValueUsd.trimmingCharacters(in: .whitespaces))
        v.check(cents != nil, "fob_value_usd", "must be a decimal string above 0 with at most two decimals, e.g. \"1250.50\"")
        let grams = (body.netWeightKg * 1000).rounded()
        v.check(
            body.netWeightKg > 0 && body.netWeightKg <= 1_000_000_000 && abs(body.netWeightKg * 1000 - grams) < 1e-6,
            "net_weight_kg", "must be above 0 with at most three decimals")
        let today = SolarHijri.today()
        v.check(
            body.exportDate.year >= 2000 && body.exportDate <= today, "export_date",
            "must be a date from 2000 up to today in Tehran (\(today)); a shipment is recorded after it left")
        _ = validateQuantity(&body, into: &v)
        try v.throwIfInvalid()
        body.fobValueUsd = USD.string(cents: cents!)  // "10.5" and "10.50" are the same request
        return (body, cents!, String(format: "%.3f", grams / 1000))
    }

    /// The checks against the data shared by recording and correcting: the producer, the HS code
    /// (a real HS2022 subheading, in the product's chapter), the country, the customs office, the
    /// linked order and product, and the per-shipment ceiling. Returns whether the linked order is
    /// one the producer accepted from whoever records (which stands for the producer's confirmation).
    static func checkData(
        _ body: ShipmentRequest, cents: Int64, exporter: Int64?, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        var refs = Validator()
        let checks = try await connection.query(
            """
            SELECT (SELECT status FROM producers WHERE id = \(body.producerId)),
              EXISTS (SELECT 1 FROM hs_codes WHERE code = \(String(body.hsCode.prefix(6))) AND level = 6),
              EXISTS (SELECT 1 FROM countries WHERE alpha2 = \(body.destinationCountry)),
              (SELECT o.producer_id FROM orders o JOIN accounts a ON a.id = o.partner_account_id
               WHERE o.id = \(body.orderId) AND (\(exporter)::bigint IS NULL OR a.partner_id = \(exporter))),
              (SELECT o.status FROM orders o WHERE o.id = \(body.orderId)),
              (SELECT producer_id FROM products WHERE id = \(body.productId)),
              (SELECT hs_code FROM products WHERE id = \(body.productId)),
              (SELECT active FROM customs_offices WHERE code = \(body.customsOfficeCode)),
              (SELECT max_shipment_fob_cents FROM export_settings),
              (SELECT bool_or(l.product_id = \(body.productId)) FROM order_lines l WHERE l.order_id = \(body.orderId)),
              (SELECT string_agg(DISTINCT left(p.hs_code, 2), ',' ORDER BY left(p.hs_code, 2)) FROM order_lines l
               JOIN products p ON p.id = l.product_id WHERE l.order_id = \(body.orderId) AND p.hs_code IS NOT NULL)
            """, logger: logger
        ).collect()[0].decode((String?, Bool, Bool, Int64?, String?, Int64?, String?, Bool?, Int64, Bool?, String?).self)
        refs.check(checks.0 == "verified" || checks.0 == "suspended", "producer_id", "is not a verified producer")
        refs.check(checks.1, "hs_code", "must start with an HS2022 subheading (six digits; see the HS nomenclature)")
        refs.check(checks.2, "destination_country", "is not an ISO 3166-1 country (see /v1/countries)")
        refs.check(checks.7 == true, "customs_office_code", "is not an active customs office (see /v1/customs-offices)")
        refs.check(
            cents <= checks.8, "fob_value_usd",
            """
            is above the ceiling of US$ \(USD.string(cents: checks.8)) per shipment; a larger consignment is declared in several\
             shipments
            """
        )
        // An exporter links only orders its own company bought; a producer only its own orders.
        if body.orderId != nil {
            refs.check(
                checks.3 == body.producerId, "order_id", "is not an order of producer \(body.producerId) bought by your company")
        }
        if body.productId != nil {
            refs.check(checks.5 == body.producerId, "product_id", "is not a product of producer \(body.producerId)")
        }
        if let productCode = checks.6, checks.5 == body.producerId, productCode.prefix(2) != body.hsCode.prefix(2) {
            refs.add(
                "hs_code",
                "must be in the product's HS chapter \(productCode.prefix(2)) (the product's hs_code is \(productCode))")
        }
        // With an order linked, the product shipped is one the order bought; without a product,
        // the code must be in the chapter of one of the order's products (those that have a code).
        if body.orderId != nil && checks.3 == body.producerId {
            if body.productId != nil && checks.5 == body.producerId {
                refs.check(checks.9 == true, "product_id", "is not on order \(body.orderId ?? 0)")
            } else if body.productId == nil, let chapters = checks.10,
                !chapters.split(separator: ",").contains(Substring(body.hsCode.prefix(2)))
            {
                refs.add("hs_code", "must be in the HS chapter of a product on the order (chapters \(chapters))")
            }
        }
        try refs.throwIfInvalid()
        return body.orderId != nil && checks.4.map(Self.acceptedOrderStatuses.contains) == true
    }

    /// Order statuses that mean the producer accepted the order (sql/0011_packaging_orders.sql):
    /// only such an order stands for the producer's confirmation. A placed order is the buyer's
    /// word alone, and an expired, cancelled or rejected one was never the producer's.
    static func quantityText(_ quantity: Double?) -> String? { quantity.map { String(format: "%.3f", $0) } }

    static let acceptedOrderStatuses: Set<String> = ["accepted", "packed", "shipped", "delivered", "disputed"]

    static func etag(_ version: Int) -> String { EntityTag.of(version) }

    /// A recorded shipment: its id, version (the ETag) and JSON; the route decides the response.
    struct Recorded: Sendable {
        var id: Int64
        var version: Int
        var json: String
    }

    func create(_ body: ShipmentRequest, cents: Int64, weight: String, by principal: Principal, on connection: PostgresConnection)
        async throws -> Recorded
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
            guard kind == "exporter" else {
                throw APIError.forbidden("Export shipments are recorded by exporter partners and producers.")
            }
            exporter = principal.partnerID
        default:
            throw APIError.forbidden("Export shipments are recorded by exporter partners and producers.")
        }
        let linked = try await Self.checkData(body, cents: cents, exporter: exporter, on: connection, logger: logger)
        // The producer recording its own goods, or an order between the two it accepted, stands for its confirmation.
        let confirmed = exporter == nil || linked
        let (id, json, province, version) = try await connection.query(
            """
            INSERT INTO export_shipments AS s (producer_id, order_id, product_id, recorded_by, recorded_by_partner_id, hs_code,
              destination_country, customs_declaration_no, fob_cents, net_weight_kg, export_date, customs_office_code,
              producer_confirmed_at, quantity, quantity_unit)
            VALUES (\(body.producerId), \(body.orderId), \(body.productId), \(principal.accountID), \(exporter), \(body.hsCode),
              \(body.destinationCountry), \(body.customsDeclarationNo), \(cents), \(weight)::numeric,
                \(body.exportDate.description)::date,
              \(body.customsOfficeCode), CASE WHEN \(confirmed) THEN now() END, \(Self.quantityText(body.quantity))::numeric,
              \(body.quantityUnit))
            RETURNING s.id, \(unescaped: Self.json)::text, s.province_code, s.version
            """, logger: logger
        ).collect()[0].decode((Int64, String, String, Int).self)
        try await Audit.record(
            on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id, provinceCode: province,
            action: "export_shipment.declared", from: nil, to: "declared")
        return Recorded(id: id, version: version, json: json)
    }

    func list(request: Request, principal: Principal) async throws -> String {
        let page = try Page(request: request)
        return try page.body(rows: try await db.rows(Self.listQuery(request, page: page, principal: principal).query))
    }

    /// The list's SQL: what the caller may see, then each filter given (apart so tests can read it).
    static func listQuery(_ request: Request, page: Page, principal: Principal) throws -> SQL {
        let q = request.uri.queryParameters
        var query: SQL = "SELECT s.id, \(unescaped: Self.json)::text FROM export_shipments s WHERE \(Self.visibility(principal))"
        query += " AND s.id > \(page.after ?? 0)"
        if let status = try ShipmentStatus.query(q.get("status"), field: "status") {
            query += " AND s.status = \(status.rawValue)"
        }
        if let producer = try request.intQuery("producer_id") { query += " AND s.producer_id = \(Int64(producer))" }
        if let province = q.get("province_code") { query += " AND s.province_code = \(String(province))" }
        if let country = q.get("destination_country") { query += " AND s.destination_country = \(String(country).uppercased())" }
        if let chapter = try request.intQuery("hs_chapter") { query += " AND s.hs_chapter = \(chapter)" }
        if let office = q.get("customs_office_code") { query += " AND s.customs_office_code = \(String(office).lowercased())" }
        for (name, op) in [("from", ">=" as SQL), ("to", "<=")] {
            guard let text = q.get(name) else { continue }
            guard let date = CalendarDate(String(text)) else {
                throw APIError.validation(field: name, "must be a date (YYYY-MM-DD)")
            }
            query += " AND s.export_date \(op) \(date.description)::date"
        }
        query += " ORDER BY s.id LIMIT \(literal: page.limit + 1)"
        return query
    }

    func get(_ id: Int64, principal: Principal) async throws -> (String, Int) {
        let query: SQL =
            """
            SELECT \(unescaped: Self.json)::text, s.version FROM export_shipments s WHERE s.id = \(id)
            AND \(Self.visibility(principal))
            """
        guard let row = try await db.rows(query.query).first else { throw APIError.notFound("Export shipment \(id)") }
        return try row.decode((String, Int).self)
    }

    /// Whether `principal` recorded the shipment: its exporter company, or the producer when it recorded it itself.
    static func isRecorder(_ principal: Principal, producer: Int64, partner: Int64?) -> Bool {
        principal.access(.shipment, to: .own).allows(Access.Owner(producer: producer, partner: partner))
    }

    /// Moves a shipment along. Only export officers clear (after checking the customs declaration)
    /// or reject (with a reason); the officer or whoever recorded it marks a cleared one shipped.
    /// Clearing needs `If-Match` naming the version the officer checked; other moves honour it when sent.
    func transition(_ id: Int64, to target: ShipmentStatus, reason: String?, ifMatch: String?, by principal: Principal)
        async throws -> (String, Int)
    {
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if target == .rejected {
            v.check(reason != nil, "reason", "is required to reject a shipment (what does not match the declaration)")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            // Not visible: 404; visible but not the caller's to move: 403 below.
            let locked: SQL = """
                SELECT s.status, s.producer_id, s.recorded_by_partner_id, s.province_code, s.producer_confirmed_at
                  IS NOT NULL, s.version
                FROM export_shipments s WHERE s.id = \(id) AND \(Self.visibility(principal)) FOR UPDATE
                """
            let rows = try await connection.query(locked.query, logger: logger).collect()
            guard let row = rows.first else { throw APIError.notFound("Export shipment \(id)") }
            let (status, producer, partner, province, confirmed, version) = try row.decode(
                (String, Int64, Int64?, String, Bool, Int).self)
            let officer = principal.role == .exportOfficer
            let mayAct = officer || (target == .shipped && Self.isRecorder(principal, producer: producer, partner: partner))
            guard mayAct else {
                throw APIError.forbidden(
                    target == .shipped
                        ? "Only whoever recorded the shipment, or an export officer, marks it shipped."
                        : "Only an export officer clears or rejects a shipment, after checking its customs declaration.")
            }
            if target == .cleared {
                try Self.requireVersion(ifMatch, version: version, status: status)
            } else {
                try EntityTag.check(ifMatch, version: version, entity: "export shipment", extra: ["current_status": status])
            }
            guard ShipmentStatus(rawValue: status)!.canMove(to: target) else {
                throw APIError.invalidTransition(entity: "export shipment", from: status, to: target.rawValue)
            }
            if target == .cleared && !confirmed { throw Self.confirmationRequired(id) }
            let verifies = target == .cleared || target == .rejected
            let result = try await connection.query(
                """
                UPDATE export_shipments s SET status = \(target.rawValue), updated_at = now(),
                  verified_by = CASE WHEN \(verifies) THEN \(principal.accountID) ELSE verified_by END,
                  verified_at = CASE WHEN \(verifies) THEN now() ELSE verified_at END,
                  rejection_reason = CASE WHEN \(target == .rejected) THEN \(reason) ELSE rejection_reason END
                WHERE s.id = \(id)
                RETURNING \(unescaped: Self.json)::text, s.version
                """, logger: logger
            ).collect()[0].decode((String, Int).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id,
                provinceCode: province,
                action: "export_shipment.status_changed", from: status, to: target.rawValue, reason: reason)
            if let type = EventType.move("export_shipment", to: target.rawValue) {
                try await EventLog.record(
                    type, subject: "export_shipment", from: Self.eventSource([id]), on: connection, logger: logger)
            }
            return result
        }
    }

    /// An officer clears the version it checked: `If-Match` must name it (`*` names none, 428
    /// `if_match_required`); another version is 412 `stale_version`.
    static func requireVersion(_ ifMatch: String?, version: Int, status: String) throws {
        let tags = (ifMatch ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && $0 != "*"
        }
        guard !tags.isEmpty else {
            throw APIError(
                .preconditionRequired, code: "if_match_required", title: "If-Match is required to clear a shipment",
                detail: "Send If-Match with the ETag of the shipment as you checked it against the customs declaration "
                    + "(GET /v1/export-shipments/{id} or the verification queue's version); `*` names no version.")
        }
        try EntityTag.check(
            tags.joined(separator: ", "), version: version, entity: "export shipment", extra: ["current_status": status])
    }

    static func confirmationRequired(_ id: Int64) -> APIError {
        .conflict(
            code: "producer_confirmation_required",
            "Export shipment \(id) was recorded by an exporter without an order between them; its producer must confirm it "
                + "(POST /v1/export-shipments/\(id)/confirmation) before it can be cleared.")
    }

    /// The recorder corrects a declared shipment. A partner's correction of a shipment no order
    /// links to the producer withdraws the producer's confirmation: it confirmed other facts.
    func correct(_ id: Int64, _ patch: ShipmentPatch, ifMatch: String?, by principal: Principal) async throws -> (String, Int) {
        try await db.transaction { connection in
            let logger = db.logger
            let locked: SQL = """
                SELECT status, producer_id, recorded_by_partner_id, province_code, order_id, product_id, hs_code,
                  destination_country::text,
                  customs_declaration_no, (fob_cents / 100)::text || '.' || lpad((fob_cents % 100)::text, 2, '0'),
                    net_weight_kg::float8,
                  export_date::text, customs_office_code, version
                FROM export_shipments s WHERE s.id = \(id) AND \(Self.visibility(principal)) FOR UPDATE
                """
            let rows = try await connection.query(locked.query, logger: logger).collect()
            guard let row = rows.first else { throw APIError.notFound("Export shipment \(id)") }
            let r = try row.decode(
                (String, Int64, Int64?, String, Int64?, Int64?, String, String, String, String, Double, String, String, Int).self)
            guard Self.isRecorder(principal, producer: r.1, partner: r.2) else {
                throw APIError.forbidden("Only whoever recorded the shipment corrects it.")
            }
            try EntityTag.check(ifMatch, version: r.13, entity: "export shipment", extra: ["current_status": r.0])
            guard r.0 == ShipmentStatus.declared.rawValue else {
                throw APIError.conflict(
                    code: "not_correctable", "Export shipment \(id) is \(r.0); only declared shipments are corrected.",
                    extra: ["current_status": r.0])
            }
            let (oldQuantity, oldUnit) = try await connection.query(
                "SELECT quantity::float8, quantity_unit FROM export_shipments WHERE id = \(id)", logger: logger
            ).collect()[0].decode((Double?, String?).self)
            let current = ShipmentRequest(
                producerId: r.1, orderId: r.4, productId: r.5, hsCode: r.6, destinationCountry: r.7, customsDeclarationNo: r.8,
                fobValueUsd: r.9, netWeightKg: r.10, exportDate: CalendarDate(r.11)!, customsOfficeCode: r.12,
                quantity: oldQuantity, quantityUnit: oldUnit)
            var merged = current
            if let x = patch.hsCode { merged.hsCode = x }
            if let x = patch.destinationCountry { merged.destinationCountry = x }
            if let x = patch.customsDeclarationNo { merged.customsDeclarationNo = x }
            if let x = patch.fobValueUsd { merged.fobValueUsd = x }
            if let x = patch.netWeightKg { merged.netWeightKg = x }
            if let x = patch.exportDate { merged.exportDate = x }
            if let x = patch.customsOfficeCode { merged.customsOfficeCode = x }
            if let x = patch.quantity { merged.quantity = x }
            if let x = patch.quantityUnit { merged.quantityUnit = x }
            let (body, cents, weight) = try Self.validate(merged)
            let linked = try await Self.checkData(body, cents: cents, exporter: r.2, on: connection, logger: logger)
            let unchanged =
                body.hsCode == r.6 && body.destinationCountry == r.7 && body.customsDeclarationNo == r.8
                && cents == USD.cents(r.9) && weight == String(format: "%.3f", r.10) && body.exportDate.description == r.11
                && body.customsOfficeCode == r.12 && Self.quantityText(body.quantity) == Self.quantityText(oldQuantity)
                && body.quantityUnit == oldUnit
            let keepConfirmation = r.2 == nil || linked || unchanged
            let result = try await connection.query(
                """
                UPDATE export_shipments s SET hs_code = \(body.hsCode), destination_country = \(body.destinationCountry),
                  customs_declaration_no = \(body.customsDeclarationNo), fob_cents = \(cents), net_weight_kg = \(weight)::numeric,
                  export_date = \(body.exportDate.description)::date, customs_office_code = \(body.customsOfficeCode),
                  quantity = \(Self.quantityText(body.quantity))::numeric, quantity_unit = \(body.quantityUnit),
                  producer_confirmed_at = CASE WHEN \(keepConfirmation) THEN producer_confirmed_at END, updated_at = now()
                WHERE s.id = \(id)
                RETURNING \(unescaped: Self.json)::text, s.version
                """, logger: logger
            ).collect()[0].decode((String, Int).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id, provinceCode: r.3,
                action: "export_shipment.corrected", from: nil, to: nil)
            return result
        }
    }

    // MARK: oil classification

    static let settingsJSON = """
        json_build_object('prefixes', to_json(oil_hs_prefixes), 'updated_at', api_time(updated_at))
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
            v.check(
                (2...10).contains(p.count) && p.allSatisfy { $0.isASCII && $0.isNumber }, "prefixes[\(i)]",
                "must be 2 to 10 digits")
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
                "UPDATE export_shipments SET is_oil = is_oil_hs_code(hs_code) WHERE is_oil <> is_oil_hs_code(hs_code)",
                logger: logger)
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
            try principal.requireBuyer()
            // The fingerprint is the normalised request, not the derived cents and weight.
            return try await Idempotency.post(
                request, context: context, db: db, by: principal, operation: "POST /v1/export-shipments",
                decoding: ShipmentRequest.self, validate: Self.validate, fingerprint: { $0.0 }
            ) { valid, connection in
                try await create(valid.0, cents: valid.cents, weight: valid.weight, by: principal, on: connection)
            } reply: { recorded in
                Idempotency.Reply(
                    status: .created, json: recorded.json,
                    headers: [.location: "/v1/export-shipments/\(recorded.id)", .eTag: Self.etag(recorded.version)])
            }
        }
        routes.get("/v1/export-shipments") { request, context in
            JSONResponse.raw(try await list(request: request, principal: try context.requirePrincipal()))
        }
        routes.get("/v1/export-shipments/{id}") { _, context in
            let (json, version) = try await get(
                try context.id(what: "Export shipment"), principal: try context.requirePrincipal())
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.patch("/v1/export-shipments/{id}") { request, context in
            let principal = try context.require(.partner, .producer)
            try principal.requireBuyer()
            let id = try context.id(what: "Export shipment")
            let patch = try await JSONBody.decode(ShipmentPatch.self, from: request, context: context)
            let (json, version) = try await correct(id, patch, ifMatch: request.headers[.ifMatch], by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.post("/v1/export-shipments/{id}/confirmation") { _, context in
            let principal = try context.requirePrincipal()
            try principal.requireBuyer()
            let (json, version) = try await confirm(try context.id(what: "Export shipment"), by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.get("/v1/export-shipments/verification-queue") { request, context in
            let principal = try context.require(.exportOfficer)
            return JSONResponse.raw(try await queue(request: request, principal: principal))
        }
        routes.post("/v1/export-shipments/clearances") { request, context in
            let principal = try context.require(.exportOfficer)
            let body = try await JSONBody.decode(ClearancesRequest.self, from: request, context: context)
            return JSONResponse.raw(try await clear(body, by: principal))
        }
        addSettingRoutes(
            "/v1/export-settings/plausibility", decoding: PlausibilityRequest.self, read: { try await plausibility() },
            write: { try await setPlausibility($0, by: $1) }, to: &routes)
        addOfficeRoutes(to: &routes)
        routes.post("/v1/export-shipments/{id}/transitions") { request, context in
            let principal = try context.requirePrincipal()
            try principal.requireBuyer()
            let id = try context.id(what: "Export shipment")
            let body = try await JSONBody.decode(StatusChange<ShipmentStatus>.self, from: request, context: context)
            let (json, version) = try await transition(
                id, to: body.to, reason: body.reason, ifMatch: request.headers[.ifMatch], by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        addSettingRoutes(
            "/v1/export-settings/oil-hs-prefixes", decoding: OilPrefixesRequest.self, read: { try await oilPrefixes() },
            write: { try await setOilPrefixes($0, by: $1) }, to: &routes)
    }

    /// An export setting: admins read it (`GET path`) and replace it (`PUT path`).
    private func addSettingRoutes<Body: Decodable & Sendable>(
        _ path: String, decoding: Body.Type, read: @escaping @Sendable () async throws -> String,
        write: @escaping @Sendable (Body, Principal) async throws -> String, to routes: inout Routes
    ) {
        routes.get(path) { _, context in
            _ = try context.require(.admin)
            return JSONResponse.raw(try await read())
        }
        routes.put(path) { request, context in
            let principal = try context.require(.admin)
            let body = try await JSONBody.decode(Body.self, from: request, context: context)
            return JSONResponse.raw(try await write(body, principal))
        }
    }
}
