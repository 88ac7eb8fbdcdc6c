import BazaarcheCore
import Foundation

struct QuotaRequest: Decodable {
    var quota: Int
}

/// Province quotas, the funnel report and the audit trail: what supervisors and admins watch.
public struct Programme: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let validYears = 1390...1500

    func setQuota(year: Int, province: String, quota: Int, by principal: Principal) async throws -> String {
        try principal.require(.admin)
        var v = Validator()
        v.check(Self.validYears.contains(year), "year", "must be a Solar Hijri year from 1390 to 1500")
        v.check((0...10_000_000).contains(quota), "quota", "must be an integer from 0 to 10000000")
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let known = try await connection.query("SELECT 1 FROM provinces WHERE code = \(province)", logger: db.logger)
                .collect()
            if known.isEmpty { throw APIError.notFound("Province \(province)") }
            let previous = try await connection.query(
                "SELECT quota FROM plan_quotas WHERE year = \(year) AND province_code = \(province) FOR UPDATE",
                logger: db.logger
            ).collect().first.map { try $0.decode(Int.self) }
            let rows = try await connection.query(
                """
                INSERT INTO plan_quotas AS q (year, province_code, quota) VALUES (\(year), \(province), \(quota))
                ON CONFLICT (year, province_code) DO UPDATE SET quota = excluded.quota, updated_at = now()
                RETURNING json_build_object('year', q.year, 'province_code', q.province_code, 'quota', q.quota,
                  'updated_at', api_time(q.updated_at))::text
                """, logger: db.logger
            ).collect()
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "quota", entityID: Int64(year),
                provinceCode: province, action: "quota.set", from: previous.map(String.init), to: String(quota))
            return try rows[0].decode(String.self)
        }
    }

    func listQuotas(year: Int?, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        if let year, !Self.validYears.contains(year) {
            throw APIError.validation(field: "year", "must be a Solar Hijri year from 1390 to 1500")
        }
        let province = try principal.access(.provinceRecord).provinceFilter()
        return try await db.text(
            """
            SELECT json_build_object('items', coalesce(json_agg(json_build_object('year', q.year,
              'province_code', q.province_code, 'quota', q.quota, 'updated_at', api_time(q.updated_at))
              ORDER BY q.year, q.province_code), '[]'))::text
            FROM plan_quotas q
            WHERE (\(year)::int IS NULL OR q.year = \(year)) AND (\(province)::text IS NULL OR q.province_code = \(province))
            """) ?? "{\"items\":[]}"
    }

    /// One row per province: the programme funnel for applicants of plan year `year`.
    /// Counts are cumulative stages: "screened" is everyone who ever reached screening, and so on.
    func funnel(year: Int, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        guard Self.validYears.contains(year) else {
            throw APIError.validation(field: "year", "must be a Solar Hijri year from 1390 to 1500")
        }
        let (start, end) = SolarHijri.yearBounds(year)
        let province = try principal.access(.provinceRecord).provinceFilter()
        return try await db.text(
            """
            WITH rows AS (
              SELECT v.code AS province_code, v.name_fa, v.name_en, q.quota,
                count(p.id) AS applied,
                count(p.id) FILTER (WHERE p.screened_at IS NOT NULL) AS screened,
                count(p.id) FILTER (WHERE p.verified_at IS NOT NULL) AS verified,
                count(p.id) FILTER (WHERE p.status = 'rejected') AS rejected,
                count(p.id) FILTER (WHERE EXISTS (
                  SELECT 1 FROM enrollments e WHERE e.producer_id = p.id AND e.completed_at IS NOT NULL)) AS trained,
                count(p.id) FILTER (WHERE EXISTS (
                  SELECT 1 FROM orders o WHERE o.producer_id = p.id AND o.status = 'delivered')) AS connected,
                count(p.id) FILTER (WHERE EXISTS (
                  SELECT 1 FROM export_shipments s WHERE s.producer_id = p.id
                    AND s.status IN ('cleared', 'shipped'))) AS exporting
              FROM provinces v
              LEFT JOIN plan_quotas q ON q.province_code = v.code AND q.year = \(year)
              LEFT JOIN producers p ON p.province_code = v.code AND p.applied_at >= \(start) AND p.applied_at < \(end)
              WHERE \(province)::text IS NULL OR v.code = \(province)
              GROUP BY v.code, q.quota)
            SELECT json_build_object(
              'year', \(year)::int,
              'rows', coalesce((SELECT json_agg(json_build_object('province_code', province_code, 'name_fa', name_fa,
                 'name_en', name_en, 'quota', quota, 'applied', applied, 'screened', screened, 'verified', verified,
                 'rejected', rejected, 'trained', trained, 'connected', connected, 'exporting', exporting,
                 'percent_of_quota', CASE WHEN quota > 0 THEN round(verified * 100.0 / quota, 1) END)
                 ORDER BY province_code) FROM rows), '[]'),
              'totals', (SELECT json_build_object('quota', sum(quota), 'applied', sum(applied), 'screened', sum(screened),
                 'verified', sum(verified), 'rejected', sum(rejected), 'trained', sum(trained), 'connected', sum(connected),
                 'exporting', sum(exporting),
                 'percent_of_quota', CASE WHEN sum(quota) > 0 THEN round(sum(verified) * 100.0 / sum(quota), 1) END)
                 FROM rows))::text
            """) ?? "{}"
    }

    func auditEvents(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        let entityType = q.get("entity_type").map { String($0) }
        var entityID: Int64? = nil
        if let text = q.get("entity_id") {
            guard let value = Int64(text) else { throw APIError.validation(field: "entity_id", "must be an integer") }
            entityID = value
        }
        let province = try principal.access(.provinceRecord).provinceFilter()
        let rows = try await db.rows(
            """
            SELECT a.id, json_build_object('id', a.id, 'occurred_at', api_time(a.occurred_at), 'actor_account_id',
              a.actor_account_id,
              'actor_role', a.actor_role, 'entity_type', a.entity_type, 'entity_id', a.entity_id,
              'province_code', a.province_code, 'action', a.action, 'from', a.from_status, 'to', a.to_status,
              'reason', a.reason)::text
            FROM audit_events a
            WHERE a.id > \(page.after ?? 0)
              AND (\(entityType)::text IS NULL OR a.entity_type = \(entityType))
              AND (\(entityID)::bigint IS NULL OR a.entity_id = \(entityID))
              AND (\(province)::text IS NULL OR a.province_code = \(province))
            ORDER BY a.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.put("/v1/quotas/{year}/{province_code}") { request, context in
            let principal = try context.require(.admin)
            guard let year = context.parameters.get("year").flatMap({ Int($0) }) else {
                throw APIError.validation(field: "year", "must be a Solar Hijri year from 1390 to 1500")
            }
            let province = context.parameters.get("province_code") ?? ""
            let body = try await JSONBody.decode(QuotaRequest.self, from: request, context: context)
            return JSONResponse.raw(try await setQuota(year: year, province: province, quota: body.quota, by: principal))
        }
        routes.get("/v1/quotas") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await listQuotas(year: try request.intQuery("year"), principal: principal))
        }
        routes.get("/v1/reports/funnel") { request, context in
            let principal = try context.requirePrincipal()
            let year = try request.intQuery("year") ?? SolarHijri.year(of: Date())
            return JSONResponse.raw(try await funnel(year: year, principal: principal))
        }
        routes.get("/v1/audit-events") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await auditEvents(request: request, principal: principal))
        }
    }
}
