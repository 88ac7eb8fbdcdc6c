import BazaarcheCore
import Foundation

struct ClearancesRequest: Decodable {
    /// The shipments with the versions the officer checked.
    var items: [ClearanceItem]?
    /// The previous version's bare ids: refused, they name no version.
    var ids: [Int64]?
}

struct ClearanceItem: Decodable {
    var id: Int64
    var version: Int
}

struct PlausibilityRequest: Decodable {
    var maxShipmentFobUsd: String
    var minUsdPerKg: String
    var maxUsdPerKg: String
}

struct CustomsOfficeRequest: Decodable {
    var code: String
    var nameFa: String
    var nameEn: String?
    var active: Bool?
}

struct CustomsOfficePatch: Decodable {
    var nameFa: String?
    var nameEn: String?
    var active: Bool?
}

/// Verification: the producer's confirmation, the officers' queue and bulk clearance, the
/// plausibility settings, and the customs offices shipments are declared at.
extension Shipments {
    static let maxClearances = 100

    /// The producer confirms a shipment an exporter recorded for it without an order between them.
    func confirm(_ id: Int64, by principal: Principal) async throws -> (String, Int) {
        try await db.transaction { connection in
            let logger = db.logger
            let locked: SQL = """
                SELECT s.status, s.producer_id, s.province_code, s.producer_confirmed_at IS NOT NULL
                FROM export_shipments s WHERE s.id = \(id) AND \(Self.visibility(principal)) FOR UPDATE
                """
            let rows = try await connection.query(locked.query, logger: logger).collect()
            guard let row = rows.first else { throw APIError.notFound("Export shipment \(id)") }
            let (status, producer, province, confirmed) = try row.decode((String, Int64, String, Bool).self)
            // Visible to the caller (else 404 above); only its producer confirms.
            guard principal.role == .producer && principal.access(.shipment).allows(Access.Owner(producer: producer)) else {
                throw APIError.forbidden("Only the shipment's producer confirms it.")
            }
            if !confirmed {
                guard status == ShipmentStatus.declared.rawValue else {
                    throw APIError.conflict(
                        code: "not_confirmable", "Export shipment \(id) is \(status); only declared shipments are confirmed.",
                        extra: ["current_status": status])
                }
                try await connection.query(
                    "UPDATE export_shipments SET producer_confirmed_at = now(), updated_at = now() WHERE id = \(id)",
                    logger: logger)
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id,
                    provinceCode: province,
                    action: "export_shipment.producer_confirmed", from: nil, to: nil)
            }
            return try await connection.query(
                "SELECT \(unescaped: Self.json)::text, s.version FROM export_shipments s WHERE s.id = \(id)", logger: logger
            ).collect()[0].decode((String, Int).self)
        }
    }

    /// Declared shipments their producer has confirmed (the ones an officer can clear), oldest
    /// first; the cursor is the last shipment's id, the order (created_at, id).
    func queue(request: Request, principal: Principal) async throws -> String {
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        var query: SQL = """
            SELECT s.id, \(unescaped: Self.json)::text FROM export_shipments s
            WHERE s.status = 'declared' AND s.producer_confirmed_at IS NOT NULL
            """
        if let after = page.after {
            query += " AND (s.created_at, s.id) > (SELECT c.created_at, c.id FROM export_shipments c WHERE c.id = \(after))"
        }
        if let province = q.get("province_code") { query += " AND s.province_code = \(String(province))" }
        if let office = q.get("customs_office_code") { query += " AND s.customs_office_code = \(String(office).lowercased())" }
        query += " ORDER BY s.created_at, s.id LIMIT \(literal: page.limit + 1)"
        return try page.body(rows: try await db.rows(query.query))
    }

    /// Clears each listed shipment that can be cleared, at the version the officer checked, in one
    /// transaction: one that cannot (unknown, not declared, changed since, unconfirmed) is reported
    /// and does not stop the others.
    func clear(_ body: ClearancesRequest, by principal: Principal) async throws -> String {
        if body.ids != nil {
            throw APIError.validation(
                field: "ids", "is replaced by items: [{\"id\": …, \"version\": …}], each with the version you checked")
        }
        let items = body.items ?? []
        var v = Validator()
        v.check((1...Self.maxClearances).contains(items.count), "items", "must list 1 to \(Self.maxClearances) shipments")
        v.check(items.allSatisfy { $0.id > 0 }, "items", "must have positive ids")
        v.check(items.allSatisfy { $0.version > 0 }, "items", "must have positive versions (a shipment's `version`, its ETag)")
        v.check(Set(items.map(\.id)).count == items.count, "items", "must not repeat an id")
        try v.throwIfInvalid()
        let ids = items.map(\.id)
        let checked = Dictionary(uniqueKeysWithValues: items.map { ($0.id, $0.version) })
        return try await db.transaction { connection in
            let logger = db.logger
            var found: [Int64: (status: String, province: String, confirmed: Bool, version: Int)] = [:]
            for row in try await connection.query(
                """
                SELECT id, status, province_code, producer_confirmed_at IS NOT NULL, version FROM export_shipments
                WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE
                """, logger: logger
            ).collect() {
                let (id, status, province, confirmed, version) = try row.decode((Int64, String, String, Bool, Int).self)
                found[id] = (status, province, confirmed, version)
            }
            var results: [Int64: ClearanceResult] = [:]
            func result(_ id: Int64, _ outcome: String, status: String?, reason: String?, version: Int?) -> ClearanceResult {
                ClearanceResult(id: id, outcome: outcome, status: status, reason: reason, version: version)
            }
            var cleared = 0
            for id in ids.sorted() {  // rows are changed in id order, as they were locked
                guard let s = found[id] else {
                    results[id] = result(id, "not_found", status: nil, reason: nil, version: nil)
                    continue
                }
                if s.status != ShipmentStatus.declared.rawValue {
                    results[id] = result(id, "not_clearable", status: s.status, reason: "not_declared", version: s.version)
                } else if s.version != checked[id] {
                    // The recorder corrected it (or its producer's confirmation changed) after the officer checked it.
                    results[id] = result(id, "not_clearable", status: s.status, reason: "stale_version", version: s.version)
                } else if !s.confirmed {
                    results[id] = result(
                        id, "not_clearable", status: s.status, reason: "producer_confirmation_required", version: s.version)
                } else {
                    let version = try await connection.query(
                        """
                        UPDATE export_shipments SET status = 'cleared', verified_by = \(principal.accountID), verified_at = now(),
                          updated_at = now()
                        WHERE id = \(id)
                        RETURNING version
                        """, logger: logger
                    ).collect()[0].decode(Int.self)
                    try await Audit.record(
                        on: connection, logger: logger, actor: principal, entityType: "export_shipment", entityID: id,
                        provinceCode: s.province, action: "export_shipment.status_changed", from: "declared", to: "cleared",
                        reason: "bulk clearance")
                    results[id] = result(id, "cleared", status: "cleared", reason: nil, version: version)
                    cleared += 1
                }
            }
            let clearedIDs = ids.filter { results[$0]?.outcome == "cleared" }
            if !clearedIDs.isEmpty {
                try await EventLog.record(
                    .exportShipmentCleared, subject: "export_shipment", from: Shipments.eventSource(clearedIDs), on: connection,
                    logger: logger)
            }
            return try JSONResponse.encode(Clearances(cleared: cleared, results: ids.map { results[$0]! }))
        }
    }

    /// The answer to a bulk clearance, one result per listed id in the order given.
    struct Clearances: Encodable {
        let cleared: Int
        let results: [ClearanceResult]
    }

    /// `status`, `reason` and `version` are always present, null when they do not apply.
    struct ClearanceResult: Encodable {
        let id: Int64
        let outcome: String
        let status: String?
        let reason: String?
        let version: Int?

        enum CodingKeys: CodingKey { case id, outcome, status, reason, version }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(outcome, forKey: .outcome)
            try c.encode(status, forKey: .status)
            try c.encode(reason, forKey: .reason)
            try c.encode(version, forKey: .version)
        }
    }

    // MARK: plausibility settings

    static let plausibilityJSON = """
        json_build_object('max_shipment_fob_usd', (max_shipment_fob_cents / 100)::text || '.' || lpad((max_shipment_fob_cents %
          100)::text, 2, '0'),
          'min_usd_per_kg', min_usd_per_kg::text, 'max_usd_per_kg', max_usd_per_kg::text, 'updated_at', api_time(updated_at))
        """

    func plausibility() async throws -> String {
        try await db.text("SELECT \(unescaped: Self.plausibilityJSON)::text FROM export_settings") ?? "{}"
    }

    /// A dollar amount that may be zero (a floor of US$ 0 per kg flags nothing).
    static func centsOrZero(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if ["0", "0.0", "0.00"].contains(t) { return 0 }
        return USD.cents(t)
    }

    func setPlausibility(_ body: PlausibilityRequest, by principal: Principal) async throws -> String {
        var v = Validator()
        let ceiling = USD.cents(body.maxShipmentFobUsd.trimmingCharacters(in: .whitespaces))
        v.check(
            ceiling != nil && ceiling! >= 100, "max_shipment_fob_usd",
            "must be a decimal string from 1.00 to 1000000000000 with at most two decimals")
        let low = Self.centsOrZero(body.minUsdPerKg)
        let high = Self.centsOrZero(body.maxUsdPerKg)
        v.check(low != nil, "min_usd_per_kg", "must be a decimal string of at least 0 with at most two decimals")
        v.check(high != nil && high! > 0, "max_usd_per_kg", "must be a decimal string above 0 with at most two decimals")
        if let low, let high { v.check(high > low, "max_usd_per_kg", "must be above min_usd_per_kg") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let old = try await connection.query(
                "SELECT \(unescaped: Self.plausibilityJSON)::text FROM export_settings FOR UPDATE", logger: logger
            ).collect()[0].decode(String.self)
            let json = try await connection.query(
                """
                UPDATE export_settings SET max_shipment_fob_cents = \(ceiling!), min_usd_per_kg = \(low!)::numeric / 100,
                  max_usd_per_kg = \(high!)::numeric / 100, updated_at = now(), updated_by = \(principal.accountID)
                RETURNING \(unescaped: Self.plausibilityJSON)::text
                """, logger: logger
            ).collect()[0].decode(String.self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "export_settings", entityID: 1, provinceCode: nil,
                action: "export_settings.plausibility_changed", from: old, to: json)
            return json
        }
    }

    // MARK: customs offices

    static let officeJSON = """
        json_build_object('code', o.code, 'name_fa', o.name_fa, 'name_en', o.name_en, 'active', o.active)
        """

    static func validOfficeCode(_ code: String) -> Bool {
        let scalars = Array(code.unicodeScalars)
        return (2...40).contains(scalars.count) && ("a"..."z").contains(scalars[0])
            && scalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    func createOffice(_ body: CustomsOfficeRequest, by principal: Principal) async throws -> String {
        var v = Validator()
        let code = body.code.trimmingCharacters(in: .whitespaces).lowercased()
        v.check(
            Self.validOfficeCode(code), "code",
            "must be 2 to 40 characters: a letter, then letters a-z, digits and hyphens (our own identifier, e.g. \"bazargan\")")
        let nameFa = v.text(body.nameFa, "name_fa", max: 200)
        let nameEn = v.optionalText(body.nameEn, "name_en", max: 200)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let rows = try await connection.query(
                """
                INSERT INTO customs_offices AS o (code, name_fa, name_en, active, created_by)
                VALUES (\(code), \(nameFa), \(nameEn), \(body.active ?? true), \(principal.accountID))
                ON CONFLICT DO NOTHING
                RETURNING o.id, \(unescaped: Self.officeJSON)::text
                """, logger: logger
            ).collect()
            guard let row = rows.first else {
                let taken = try await connection.query(
                    "SELECT EXISTS (SELECT 1 FROM customs_offices WHERE code = \(code))", logger: logger
                ).collect()[0].decode(Bool.self)
                let field = taken ? "code" : "name_fa"
                throw APIError.conflict(
                    code: "already_exists", "A customs office with this \(field) already exists.", field: field)
            }
            let (id, json) = try row.decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "customs_office", entityID: id, provinceCode: nil,
                action: "customs_office.created", from: nil, to: code)
            return json
        }
    }

    func updateOffice(_ code: String, _ patch: CustomsOfficePatch, by principal: Principal) async throws -> String {
        var v = Validator()
        let nameFa = patch.nameFa.map { v.text($0, "name_fa", max: 200) }
        let nameEn = v.optionalText(patch.nameEn, "name_en", max: 200)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let rows = try await connection.query(
                """
                UPDATE customs_offices o SET name_fa = coalesce(\(nameFa), name_fa), name_en = coalesce(\(nameEn), name_en),
                  active = coalesce(\(patch.active), active)
                WHERE code = \(code.lowercased())
                RETURNING o.id, o.active, \(unescaped: Self.officeJSON)::text
                """, logger: logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Customs office \(code)") }
            let (id, active, json) = try row.decode((Int64, Bool, String).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "customs_office", entityID: id, provinceCode: nil,
                action: "customs_office.updated", from: nil, to: active ? "active" : "inactive")
            return json
        }
    }

    func addOfficeRoutes(to routes: inout Routes) {
        routes.get("/v1/customs-offices") { _, _ in
            let json =
                try await db.text(
                    """
                    SELECT json_build_object('items', coalesce(json_agg(\(unescaped: Self.officeJSON)
                      ORDER BY o.code), '[]'))::text
                    FROM customs_offices o
                    """) ?? "{\"items\":[]}"
            return JSONResponse.raw(json)
        }
        routes.post("/v1/customs-offices") { request, context in
            let principal = try context.require(.admin)
            let body = try await JSONBody.decode(CustomsOfficeRequest.self, from: request, context: context)
            return JSONResponse.raw(try await createOffice(body, by: principal), status: .created)
        }
        routes.patch("/v1/customs-offices/{code}") { request, context in
            let principal = try context.require(.admin)
            let code = context.parameters.get("code") ?? ""
            let patch = try await JSONBody.decode(CustomsOfficePatch.self, from: request, context: context)
            return JSONResponse.raw(try await updateOffice(code, patch, by: principal))
        }
    }
}
