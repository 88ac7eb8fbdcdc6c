import BazaarcheCore
import Foundation

/// The funnel by activity, against the province study in force: are the applicants the province
/// brings through the ones its study says to push? A producer counts once under each activity it
/// named (rows do not add up to the funnel); applicants who named none are the row without an
/// activity. Priority activities with no applicants yet are listed too — that gap is the point.
public struct ActivityFunnel: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    func report(year: Int, province: String?, priorityOnly: Bool, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        guard Programme.validYears.contains(year) else {
            throw APIError.validation(field: "year", "must be a Solar Hijri year from 1390 to 1500")
        }
        let reach = try principal.access(.provinceRecord).provinceFilter()
        if let province, let reach, !reach.contains(province) {
            throw APIError.forbidden("Staff read the reports of their own provinces only.")
        }
        let (start, end) = SolarHijri.yearBounds(year)
        let query: SQL = """
            WITH scope AS (
              SELECT v.code FROM provinces v
              WHERE (\(reach)::text[] IS NULL OR v.code = ANY(\(reach))) AND (\(province)::text IS NULL OR v.code = \(province))),
            cohort AS (
              SELECT p.id, p.province_code, p.screened_at, p.verified_at, a.code AS activity_code
              FROM producers p JOIN scope ON scope.code = p.province_code
              LEFT JOIN LATERAL unnest(p.activity_codes) AS a(code) ON true
              WHERE p.applied_at >= \(start) AND p.applied_at < \(end)),
            counts AS (
              SELECT c.province_code, c.activity_code, count(*) AS applied,
                count(*) FILTER (WHERE c.screened_at IS NOT NULL) AS screened,
                count(*) FILTER (WHERE c.verified_at IS NOT NULL) AS verified,
                count(*) FILTER (WHERE EXISTS (
                  SELECT 1 FROM enrollments e WHERE e.producer_id = c.id AND e.completed_at IS NOT NULL)) AS trained,
                count(*) FILTER (WHERE EXISTS (
                  SELECT 1 FROM orders o WHERE o.producer_id = c.id AND o.status = 'delivered')) AS connected
              FROM cohort c GROUP BY 1, 2),
            study AS (
              SELECT s.province_code, s.id AS study_id, r.activity_code, r.priority, r.capacity_producers
              FROM province_current_studies s JOIN scope ON scope.code = s.province_code
              JOIN province_study_rows r ON r.study_id = s.id),
            rows AS (
              SELECT coalesce(k.province_code, s.province_code) AS province_code,
                coalesce(k.activity_code, s.activity_code) AS activity_code, s.study_id,
                coalesce(s.priority, false) AS priority, s.capacity_producers,
                coalesce(k.applied, 0) AS applied, coalesce(k.screened, 0) AS screened, coalesce(k.verified, 0) AS verified,
                coalesce(k.trained, 0) AS trained, coalesce(k.connected, 0) AS connected
              FROM counts k FULL JOIN study s ON s.province_code = k.province_code AND s.activity_code = k.activity_code)
            SELECT json_build_object('year', \(year)::int, 'rows', coalesce(json_agg(json_build_object(
                'province_code', r.province_code, 'activity_code', r.activity_code, 'name_fa', a.name_fa,
                'name_en', a.name_en, 'category_code', a.category_code, 'study_id', r.study_id, 'priority', r.priority,
                'capacity_producers', r.capacity_producers, 'applied', r.applied, 'screened', r.screened,
                'verified', r.verified, 'trained', r.trained, 'connected', r.connected,
                'percent_of_capacity', CASE WHEN r.capacity_producers > 0
                  THEN round(r.verified * 100.0 / r.capacity_producers, 1) END)
              ORDER BY r.province_code, r.priority DESC, r.activity_code NULLS LAST), '[]'))::text
            FROM rows r LEFT JOIN activities a ON a.code = r.activity_code
            WHERE NOT \(priorityOnly) OR r.priority
            """
        return try await db.text(query.query) ?? "{}"
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/reports/funnel/activities") { request, context in
            let principal = try context.requirePrincipal()
            let q = request.uri.queryParameters
            let year = try request.intQuery("year") ?? SolarHijri.year(of: Date())
            let priorityOnly: Bool
            switch q.get("priority_only") {
            case nil, "false": priorityOnly = false
            case "true": priorityOnly = true
            default: throw APIError.validation(field: "priority_only", "must be true or false")
            }
            let province = q.get("province_code").map { String($0) }
            return JSONResponse.raw(
                try await report(year: year, province: province, priorityOnly: priorityOnly, principal: principal))
        }
    }
}
