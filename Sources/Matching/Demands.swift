import BazaarcheCore
import Catalog
import Foundation

public enum DemandStatus: String, APIEnum { case open, closed, cancelled }

struct DemandRequest: Decodable {
    var categoryCode: String
    var keywords: String?
    var quantity: Int
    var unit: ProductUnit
    var maxUnitPriceRials: Int64
    var requiredCertificates: [CertificateKind]?
    var minPackagingLevel: PackagingLevel?
    var preferredProvinces: [String]?
    var neededBy: CalendarDate
    /// Raise producers whose province's approved study prioritises the product's activity.
    var preferPriorityActivities: Bool?
}

/// Partners' sourcing requests (the input of matching).
public struct Demands: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let json = """
        json_build_object('id', d.id, 'partner_id', d.partner_id, 'category_code', d.category_code, 'keywords', d.keywords,
          'quantity', d.quantity, 'unit', d.unit, 'max_unit_price_rials', d.max_unit_price_rials,
          'required_certificates', to_json(d.required_certificates),
          'min_packaging_level', (ARRAY['none','basic','retail','export'])[d.min_packaging_level + 1],
          'preferred_provinces', to_json(d.preferred_provinces), 'needed_by', d.needed_by,
          'prefer_priority_activities', d.prefer_priority_activities, 'status', d.status,
          'created_at', api_time(d.created_at), 'updated_at', api_time(d.updated_at))
        """

    /// Whether `producer` has a product passing the demand's hard filters (demand alias `d`).
    static func producerMatches(_ producer: Int64) -> SQL {
        "EXISTS (SELECT 1 FROM products p WHERE p.producer_id = \(producer) AND \(unescaped: Matches.hardFilters()))"
    }

    func create(_ body: DemandRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.requireBuyer()
        guard principal.role == .partner, let partner = principal.partnerID else {
            throw APIError.forbidden("Demands are posted by partner accounts.")
        }
        var v = Validator()
        let keywords = v.optionalText(body.keywords, "keywords", max: 500)
        v.check((1...1_000_000_000).contains(body.quantity), "quantity", "must be from 1 to 1000000000")
        v.check(
            body.maxUnitPriceRials > 0 && body.maxUnitPriceRials <= 1_000_000_000_000, "max_unit_price_rials",
            "must be a whole number of rials above 0")
        let provinces = Array(Set(body.preferredProvinces ?? [])).sorted()
        v.check(provinces.count <= 31, "preferred_provinces", "must list at most 31 provinces")
        v.check(body.neededBy >= SolarHijri.today(), "needed_by", "must not be in the past")
        try v.throwIfInvalid()
        let certificates = Array(Set((body.requiredCertificates ?? []).map(\.rawValue))).sorted()
        return try await db.transaction { connection in
            var refs = Validator()
            let category = try await connection.query(
                "SELECT 1 FROM categories WHERE code = \(body.categoryCode)", logger: db.logger
            ).collect()
            refs.check(!category.isEmpty, "category_code", "is not a category of the taxonomy (see /v1/categories)")
            let known = try await connection.query(
                "SELECT count(*)::int FROM provinces WHERE code = ANY(\(provinces))", logger: db.logger
            ).collect()[0].decode(Int.self)
            refs.check(known == provinces.count, "preferred_provinces", "must be known province codes")
            try refs.throwIfInvalid()
            let (id, json) = try await connection.query(
                """
                INSERT INTO demands AS d (partner_id, account_id, category_code, keywords, quantity, unit, max_unit_price_rials,
                  required_certificates, min_packaging_level, preferred_provinces, needed_by, prefer_priority_activities)
                VALUES (\(partner), \(principal.accountID), \(body.categoryCode), \(keywords), \(body.quantity),
                  \(body.unit.rawValue),
                  \(body.maxUnitPriceRials), \(certificates), \((body.minPackagingLevel ?? PackagingLevel.none).rank),
                    \(provinces),
                  \(body.neededBy.description)::date, \(body.preferPriorityActivities ?? false))
                RETURNING d.id, \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "demand", entityID: id, provinceCode: nil,
                action: "demand.created", from: nil, to: "open")
            return (id, json)
        }
    }

    /// Who sees a demand (alias `d`), `Access`'s rule: its partner company, admins, and producers
    /// it would match (while open); whether a producer could supply it is Matching's to phrase.
    func visibility(_ principal: Principal) -> SQL {
        principal.access(.demand).condition(alias: "d", suppliable: Self.producerMatches(principal.producerID ?? -1))
    }

    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .partner, .producer)
        let page = try Page(request: request)
        let status = try DemandStatus.query(request.uri.queryParameters.get("status"), field: "status")
        return try await page.read(
            "SELECT d.id, \(unescaped: Self.json)::text FROM demands d", key: "d.id",
            where: [visibility(principal), status.map { "d.status = \($0.rawValue)" }], from: db)
    }

    func get(_ id: Int64, principal: Principal) async throws -> String {
        try principal.require(.admin, .partner, .producer)
        let query: SQL = "SELECT \(unescaped: Self.json)::text FROM demands d WHERE d.id = \(id) AND \(visibility(principal))"
        return try await db.json(query.query, notFound: "Demand \(id)")
    }

    func transition(_ id: Int64, to target: DemandStatus, reason: String?, by principal: Principal) async throws -> String {
        try principal.require(.admin, .partner)
        try principal.requireBuyer()
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if target == .open { v.add("to", "a demand cannot be reopened; post a new one") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let owners = principal.access(.demand, to: .own)
            let locked: SQL = "SELECT d.status FROM demands d WHERE d.id = \(id) AND \(owners.condition(alias: "d")) FOR UPDATE"
            guard let row = try await connection.query(locked.query, logger: db.logger).collect().first else {
                throw APIError.notFound("Demand \(id)")
            }
            let status = try row.decode(String.self)
            guard status == "open" else { throw APIError.invalidTransition(entity: "demand", from: status, to: target.rawValue) }
            let json = try await connection.query(
                """
                UPDATE demands d SET status = \(target.rawValue), updated_at = now() WHERE d.id = \(id)
                RETURNING \(unescaped: Self.json)::text
                """,
                logger: db.logger
            ).collect()[0].decode(String.self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "demand", entityID: id, provinceCode: nil,
                action: "demand.status_changed", from: status, to: target.rawValue, reason: reason)
            try await Invitations.withdrawPending(demand: id, by: principal, on: connection, logger: db.logger)
            try await Quotes.expireOpen(demand: id, by: principal, db: db, on: connection)
            return json
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/demands", for: .partner, decoding: DemandRequest.self) { try await create($0, by: $1) }
        routes.reads(
            "/v1/demands", what: "Demand", list: { try await list(request: $0, principal: $1) },
            one: { try await get($0, principal: $1) })
        routes.post("/v1/demands/{id}/transitions") { request, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Demand")
            let body = try await JSONBody.decode(StatusChange<DemandStatus>.self, from: request, context: context)
            return JSONResponse.raw(try await transition(id, to: body.to, reason: body.reason, by: principal))
        }
        routes.get("/v1/demands/{id}/matches") { request, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Demand")
            return JSONResponse.raw(try await Matches(db: db).matches(id, request: request, principal: principal))
        }
    }
}
