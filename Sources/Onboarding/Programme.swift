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
        try principal.require(.admin, .supervisor, .implementer)
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
            WHERE (\(year)::int IS NULL OR q.year = \(year)) AND (\(province)::text[] IS NULL OR q.province_code = ANY(\(province)))
            """) ?? "{\"items\":[]}"
    }

    /// One row per province: the programme funnel for applicants of plan year `year`.
    /// Counts are cumulative stages: "screened" is everyone who ever reached screening, and so on.
    func funnel(year: Int, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer, .exportOfficer)
        guard Self.validYears.contains(year) else {
            throw APIError.validation(field: "year", "must be a Solar Hijri year from 1390 to 1500")
        }
        let (start, end) = SolarHijri.yearBounds(year)
        let provinces = try principal.access(.provinceRecord).provinceFilter()
        let query: SQL = """
            WITH rows AS (\(Self.funnelRows(year: year, start: start, end: end, provinces: provinces, only: nil)))
            SELECT json_build_object(
              'year', \(year)::int,
              'rows', coalesce((SELECT json_agg(json_build_object('province_code', province_code, 'name_fa', name_fa,
                 'name_en', name_en, 'quota', quota, 'applied', applied, 'screened', screened, 'verified', verified,
                 'rejected', rejected, 'trained', trained, 'connected', connected, 'exporting', exporting,
                 'loan_seeking', loan_seeking, 'loan_granted', loan_granted, 'first_sale_without_loan', first_sale_without_loan,
                 'percent_of_quota', CASE WHEN quota > 0 THEN round(verified * 100.0 / quota, 1) END)
                 ORDER BY province_code) FROM rows), '[]'),
              'totals', (SELECT json_build_object('quota', sum(quota), 'applied', sum(applied), 'screened', sum(screened),
                 'verified', sum(verified), 'rejected', sum(rejected), 'trained', sum(trained), 'connected', sum(connected),
                 'exporting', sum(exporting), 'loan_seeking', sum(loan_seeking), 'loan_granted', sum(loan_granted),
                 'first_sale_without_loan', sum(first_sale_without_loan),
                 'percent_of_quota', CASE WHEN sum(quota) > 0 THEN round(sum(verified) * 100.0 / sum(quota), 1) END)
                 FROM rows))::text
            """
        return try await db.text(query.query) ?? "{}"
    }

    /// The funnel of the producers who applied in [start, end), one row per province reached.
    /// A producer "reached a first sale without a loan" when it was verified (ever: a later
    /// suspension does not undo it), has a delivered order, and had no loan referral granted on or
    /// before the Tehran day its first order was delivered (a grant after that day does not count).
    /// The first delivery is when its earliest delivered order became delivered (order history;
    /// the order's last update for rows without history).
    static func funnelRows(year: Int, start: Date, end: Date, provinces: [String]?, only: String?) -> SQL {
        """
        SELECT v.code AS province_code, v.name_fa, v.name_en, q.quota,
          count(p.id) AS applied,
          count(p.id) FILTER (WHERE p.screened_at IS NOT NULL) AS screened,
          count(p.id) FILTER (WHERE p.verified_at IS NOT NULL) AS verified,
          count(p.id) FILTER (WHERE p.status = 'rejected') AS rejected,
          count(p.id) FILTER (WHERE EXISTS (
            SELECT 1 FROM enrollments e WHERE e.producer_id = p.id AND e.completed_at IS NOT NULL)) AS trained,
          count(p.id) FILTER (WHERE d.first_delivery IS NOT NULL) AS connected,
          count(p.id) FILTER (WHERE EXISTS (
            SELECT 1 FROM export_shipments s WHERE s.producer_id = p.id
              AND s.status IN ('cleared', 'shipped'))) AS exporting,
          count(p.id) FILTER (WHERE EXISTS (
            SELECT 1 FROM loan_referrals l WHERE l.producer_id = p.id AND l.seeking)) AS loan_seeking,
          count(p.id) FILTER (WHERE EXISTS (
            SELECT 1 FROM loan_referrals l WHERE l.producer_id = p.id AND l.status = 'granted')) AS loan_granted,
          count(p.id) FILTER (WHERE p.verified_at IS NOT NULL AND d.first_delivery IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM loan_referrals l WHERE l.producer_id = p.id AND l.status = 'granted'
              AND l.decided_on <= (d.first_delivery AT TIME ZONE 'Asia/Tehran')::date)) AS first_sale_without_loan
        FROM provinces v
        LEFT JOIN plan_quotas q ON q.province_code = v.code AND q.year = \(year)
        LEFT JOIN producers p ON p.province_code = v.code AND p.applied_at >= \(start) AND p.applied_at < \(end)
        LEFT JOIN LATERAL (
          SELECT min(coalesce((SELECT min(e.occurred_at) FROM order_events e WHERE e.order_id = o.id
            AND e.to_status = 'delivered'), o.updated_at)) AS first_delivery
          FROM orders o WHERE o.producer_id = p.id AND o.status = 'delivered') d ON true
        WHERE (\(provinces)::text[] IS NULL OR v.code = ANY(\(provinces))) AND (\(only)::text IS NULL OR v.code = \(only))
        GROUP BY v.code, q.quota
        """
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
              AND (\(province)::text[] IS NULL OR a.province_code = ANY(\(province)))
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
        addReportRoutes(to: &routes)
        routes.get("/v1/audit-events") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await auditEvents(request: request, principal: principal))
        }
    }
}

/// A programme report period: a Solar Hijri year ("1405") or one of its quarters ("1405-Q2").
public struct ProgrammePeriod: Sendable, Equatable {
    public let year: Int
    public let quarter: Int?

    public init(year: Int, quarter: Int?) {
        (self.year, self.quarter) = (year, quarter)
    }

    public var label: String { quarter.map { "\(year)-Q\($0)" } ?? String(year) }

    /// Persian or Arabic-Indic digits are accepted; "q2" as well as "Q2".
    public static func parse(_ text: String) -> ProgrammePeriod? {
        let t = Digits.ascii(text.trimmingCharacters(in: .whitespaces)).uppercased()
        let parts = t.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].count == 4, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
            let year = Int(parts[0]), Programme.validYears.contains(year)
        else { return nil }
        guard parts.count == 2 else { return ProgrammePeriod(year: year, quarter: nil) }
        let q = parts[1]
        guard q.count == 2, q.first == "Q", let quarter = Int(q.dropFirst()), (1...4).contains(quarter) else { return nil }
        return ProgrammePeriod(year: year, quarter: quarter)
    }

    /// [start, end) as instants in Tehran.
    public var bounds: (start: Date, end: Date) {
        quarter.map { SolarHijri.quarterBounds(year, $0) } ?? SolarHijri.yearBounds(year)
    }
}

/// GET /v1/reports/programme: per province, the funnel of the period's applicants and what the
/// programme did in the period (docs/programme.md, "Programme reports and the supervisor's page").
extension Programme {
    enum Cell {
        case int(Int64?)
        /// An exact decimal rendered as a JSON number.
        case decimal(String?)
        /// A JSON string (money: exact, as in the export figures).
        case text(String?)

        var json: String {
            switch self {
            case .int(let v): return v.map(String.init) ?? "null"
            case .decimal(let v): return v ?? "null"
            case .text(let v): return v.map(Self.quote) ?? "null"
            }
        }
        var csv: String {
            switch self {
            case .int(let v): return v.map(String.init) ?? ""
            case .decimal(let v), .text(let v): return v ?? ""
            }
        }
        static func quote(_ s: String) -> String {
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        out += String(format: "\\u%04x", scalar.value)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        }
    }

    /// Fixed-point text with `places` decimals of `units` (an integer count of 10^-places).
    static func fixed(_ units: Int64, places: Int) -> String {
        let scale = Int64(pow(10.0, Double(places)))
        let sign = units < 0 ? "-" : ""
        let a = abs(units)
        return sign + String(a / scale) + "." + String(format: "%0\(places)lld", a % scale)
    }

    /// Round-half-up division of non-negative integers.
    static func divide(_ a: Int64, _ b: Int64) -> Int64 { (2 * a + b) / (2 * b) }

    /// The numbers of one province (or the totals) in the order of `columns`.
    struct Figures {
        var quota: Int64?
        var applied = Int64(0), screened = Int64(0), verified = Int64(0), rejected = Int64(0), trained = Int64(0)
        var connected = Int64(0), exporting = Int64(0), loanSeeking = Int64(0), loanGranted = Int64(0)
        var firstSaleWithoutLoan = Int64(0)
        var assessments = Int64(0)
        /// Sum of completed assessments' mean scores, in hundredths.
        var scoreHundredths = Int64(0)
        var moduleMinutes = Int64(0), plainCourseHours = Int64(0), completions = Int64(0)
        var counselling: [Int64] = Array(repeating: 0, count: CounselingTopic.allCases.count)
        var certificates = Int64(0), packaging = Int64(0), delivering = Int64(0), exportingInPeriod = Int64(0)
        var shipments = Int64(0), fobCents = Int64(0)
        var loansRegistered = Int64(0), loansGranted = Int64(0), loansDeclined = Int64(0)

        static func + (a: Figures, b: Figures) -> Figures {
            var s = a
            s.quota = a.quota == nil && b.quota == nil ? nil : (a.quota ?? 0) + (b.quota ?? 0)
            s.applied += b.applied
            s.screened += b.screened
            s.verified += b.verified
            s.rejected += b.rejected
            s.trained += b.trained
            s.connected += b.connected
            s.exporting += b.exporting
            s.loanSeeking += b.loanSeeking
            s.loanGranted += b.loanGranted
            s.firstSaleWithoutLoan += b.firstSaleWithoutLoan
            s.assessments += b.assessments
            s.scoreHundredths += b.scoreHundredths
            s.moduleMinutes += b.moduleMinutes
            s.plainCourseHours += b.plainCourseHours
            s.completions += b.completions
            s.counselling = zip(a.counselling, b.counselling).map { $0 + $1 }
            s.certificates += b.certificates
            s.packaging += b.packaging
            s.delivering += b.delivering
            s.exportingInPeriod += b.exportingInPeriod
            s.shipments += b.shipments
            s.fobCents += b.fobCents
            s.loansRegistered += b.loansRegistered
            s.loansGranted += b.loansGranted
            s.loansDeclined += b.loansDeclined
            return s
        }

        /// (key, value) in report order; counselling as `counselling_<topic>` (nested in JSON).
        var cells: [(String, Cell)] {
            let percent: String? = quota.flatMap { $0 > 0 ? fixed(divide(verified * 1000, $0), places: 1) : nil }
            let mean: String? = assessments > 0 ? fixed(divide(scoreHundredths, assessments), places: 2) : nil
            // Hours in hundredths: whole course hours, plus module minutes / 60 rounded half up.
            let hours = plainCourseHours * 100 + divide(moduleMinutes * 100, 60)
            var out: [(String, Cell)] = [
                ("quota", .int(quota)), ("applied", .int(applied)), ("screened", .int(screened)),
                ("verified", .int(verified)), ("rejected", .int(rejected)), ("trained", .int(trained)),
                ("connected", .int(connected)), ("exporting", .int(exporting)), ("loan_seeking", .int(loanSeeking)),
                ("loan_granted", .int(loanGranted)), ("first_sale_without_loan", .int(firstSaleWithoutLoan)),
                ("percent_of_quota", .decimal(percent)), ("assessments_completed", .int(assessments)),
                ("assessment_mean_score", .decimal(mean)), ("training_hours", .decimal(fixed(hours, places: 2))),
                ("course_completions", .int(completions)), ("counselling_sessions", .int(counselling.reduce(0, +))),
            ]
            for (topic, n) in zip(CounselingTopic.allCases, counselling) {
                out.append(("counselling_" + topic.rawValue, .int(n)))
            }
            out += [
                ("certificates_granted", .int(certificates)), ("packaging_approvals", .int(packaging)),
                ("producers_delivering", .int(delivering)), ("producers_exporting", .int(exportingInPeriod)),
                ("non_oil_export_shipments", .int(shipments)), ("non_oil_export_fob_usd", .text(fixed(fobCents, places: 2))),
                ("loans_registered", .int(loansRegistered)), ("loans_granted", .int(loansGranted)),
                ("loans_declined", .int(loansDeclined)),
            ]
            return out
        }
    }

    /// Persian column headings for the CSV (`Accept-Language: fa`).
    static let persianHeadings: [String: String] = [
        "province_code": "کد استان", "province": "استان", "quota": "سهمیه", "applied": "ثبت‌نام", "screened": "غربال‌شده",
        "verified": "تأییدشده", "rejected": "ردشده", "trained": "آموزش‌دیده", "connected": "متصل به بازار",
        "exporting": "صادرکننده", "loan_seeking": "متقاضی تسهیلات", "loan_granted": "دریافت‌کننده تسهیلات",
        "first_sale_without_loan": "نخستین فروش بدون تسهیلات", "percent_of_quota": "درصد تحقق سهمیه",
        "assessments_completed": "ارزیابی‌های تکمیل‌شده", "assessment_mean_score": "میانگین امتیاز ارزیابی",
        "training_hours": "ساعت آموزش ارائه‌شده", "course_completions": "پایان دوره", "counselling_sessions": "جلسات مشاوره",
        "counselling_quality": "مشاوره کیفیت", "counselling_packaging": "مشاوره بسته‌بندی",
        "counselling_branding": "مشاوره برندسازی", "counselling_export": "مشاوره صادرات",
        "counselling_marketing": "مشاوره بازاریابی", "counselling_finance": "مشاوره مالی",
        "counselling_standards": "مشاوره استاندارد و گواهی", "certificates_granted": "گواهی‌های اعطاشده",
        "packaging_approvals": "تأیید بسته‌بندی", "producers_delivering": "تولیدکنندگان با سفارش تحویل‌شده",
        "producers_exporting": "تولیدکنندگان صادرکننده در دوره", "non_oil_export_shipments": "محموله‌های صادراتی غیرنفتی",
        "non_oil_export_fob_usd": "ارزش فوب صادرات غیرنفتی (دلار)", "loans_registered": "ثبت در سامانه تسهیلات",
        "loans_granted": "تسهیلات اعطاشده", "loans_declined": "تسهیلات ردشده", "total": "جمع",
    ]

    struct ProgrammeReport {
        var period: ProgrammePeriod
        var from: CalendarDate
        var to: CalendarDate
        var rows: [(code: String, nameFa: String, nameEn: String, figures: Figures)]
        var totals: Figures

        func json() -> String {
            func object(_ cells: [(String, Cell)]) -> String {
                var parts: [String] = []
                var topics: [String] = []
                for (key, cell) in cells {
                    if key.hasPrefix("counselling_") && key != "counselling_sessions" {
                        topics.append(Cell.quote(String(key.dropFirst("counselling_".count))) + ":" + cell.json)
                    } else {
                        parts.append(Cell.quote(key) + ":" + cell.json)
                    }
                }
                parts.append("\"counselling_by_topic\":{" + topics.joined(separator: ",") + "}")
                return parts.joined(separator: ",")
            }
            let rowsJSON = rows.map {
                "{\"province_code\":\(Cell.quote($0.code)),\"name_fa\":\(Cell.quote($0.nameFa)),"
                    + "\"name_en\":\(Cell.quote($0.nameEn))," + object($0.figures.cells) + "}"
            }
            return "{\"period\":\(Cell.quote(period.label)),\"year\":\(period.year),"
                + "\"quarter\":\(period.quarter.map(String.init) ?? "null"),"
                + "\"from\":\"\(from)\",\"to\":\"\(to)\",\"rows\":[" + rowsJSON.joined(separator: ",") + "],"
                + "\"totals\":{" + object(totals.cells) + "}}"
        }

        /// UTF-8 with a byte-order mark so Excel reads Persian right; CRLF lines; a last row of totals.
        func csv(persian: Bool) -> String {
            func heading(_ key: String) -> String { persian ? Programme.persianHeadings[key] ?? key : key }
            let keys = totals.cells.map(\.0)
            let lines = rows.map { [$0.code, persian ? $0.nameFa : $0.nameEn] + $0.figures.cells.map(\.1.csv) }
            return CSV.document(
                header: [heading("province_code"), heading("province")] + keys.map(heading),
                rows: lines + [["", heading("total")] + totals.cells.map(\.1.csv)])
        }
    }

    func programmeReport(period: ProgrammePeriod, province only: String?, principal: Principal) async throws
        -> ProgrammeReport
    {
        try principal.require(.admin, .supervisor, .implementer, .exportOfficer)
        let provinces = try principal.access(.provinceRecord).provinceFilter()
        if let only {
            guard only.wholeMatch(of: /IR-[0-9]{2}/) != nil else {
                throw APIError.validation(field: "province_code", "must be an ISO 3166-2:IR code such as IR-00")
            }
            if let provinces, !provinces.contains(only) {
                throw APIError.forbidden("Province \(only) is not among this account's provinces.")
            }
        }
        let (start, end) = period.bounds
        let from = SolarHijri.tehranDate(of: start)
        let until = SolarHijri.tehranDate(of: end)
        let fromText = from.description
        let untilText = until.description
        let topics = CounselingTopic.allCases.map(\.rawValue)
        let query: SQL = """
            WITH f AS (\(Self.funnelRows(year: period.year, start: start, end: end, provinces: provinces, only: only))),
            a AS (
              SELECT p.province_code, count(*) AS n, sum(a.mean_score * 100)::bigint AS score
              FROM assessments a JOIN producers p ON p.id = a.producer_id
              WHERE a.status = 'completed' AND a.completed_at >= \(start) AND a.completed_at < \(end) GROUP BY 1),
            m AS (
              SELECT p.province_code, sum(cm.minutes)::bigint AS minutes
              FROM module_progress mp JOIN course_modules cm ON cm.id = mp.module_id
              JOIN enrollments e ON e.id = mp.enrollment_id JOIN producers p ON p.id = e.producer_id
              WHERE mp.completed_at >= \(start) AND mp.completed_at < \(end) GROUP BY 1),
            c AS (
              SELECT p.province_code, count(*) AS completions,
                coalesce(sum(k.hours) FILTER (WHERE NOT EXISTS (SELECT 1 FROM course_modules cm WHERE cm.course_id = k.id)),
                  0)::bigint AS plain_hours
              FROM enrollments e JOIN courses k ON k.id = e.course_id JOIN producers p ON p.id = e.producer_id
              WHERE e.completed_at >= \(start) AND e.completed_at < \(end) GROUP BY 1),
            s AS (
              SELECT p.province_code, s.topic, count(*) AS n
              FROM counseling_sessions s JOIN producers p ON p.id = s.producer_id
              WHERE s.held_on >= \(fromText)::date AND s.held_on < \(untilText)::date GROUP BY 1, 2),
            d AS (
              SELECT a.province_code,
                count(DISTINCT a.entity_id) FILTER (WHERE a.entity_type = 'certificate') AS certificates,
                count(*) FILTER (WHERE a.entity_type = 'packaging') AS packaging
              FROM audit_events a
              WHERE a.occurred_at >= \(start) AND a.occurred_at < \(end)
                AND ((a.entity_type = 'certificate' AND a.to_status = 'granted')
                  OR (a.entity_type = 'packaging' AND a.action = 'packaging.approved'))
              GROUP BY 1),
            o AS (
              SELECT o.province_code, count(DISTINCT o.producer_id) AS producers FROM orders o
              WHERE o.status = 'delivered' AND EXISTS (
                SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'delivered'
                  AND e.occurred_at >= \(start) AND e.occurred_at < \(end))
              GROUP BY 1),
            x AS (
              SELECT s.province_code, count(DISTINCT s.producer_id) AS producers, count(*) AS shipments,
                sum(s.fob_cents)::bigint AS cents
              FROM export_shipments s
              WHERE s.status IN ('cleared', 'shipped') AND NOT s.is_oil
                AND s.export_date >= \(fromText)::date AND s.export_date < \(untilText)::date
              GROUP BY 1),
            l AS (
              SELECT p.province_code,
                count(*) FILTER (WHERE l.seeking AND l.registered_on >= \(fromText)::date
                  AND l.registered_on < \(untilText)::date) AS registered,
                count(*) FILTER (WHERE l.status = 'granted' AND l.decided_on >= \(fromText)::date
                  AND l.decided_on < \(untilText)::date) AS granted,
                count(*) FILTER (WHERE l.status = 'declined' AND l.decided_on >= \(fromText)::date
                  AND l.decided_on < \(untilText)::date) AS declined
              FROM loan_referrals l JOIN producers p ON p.id = l.producer_id GROUP BY 1)
            SELECT f.province_code, f.name_fa, f.name_en, f.quota::bigint AS quota, f.applied, f.screened, f.verified,
              f.rejected, f.trained, f.connected, f.exporting, f.loan_seeking, f.loan_granted, f.first_sale_without_loan,
              coalesce(a.n, 0) AS assessments, coalesce(a.score, 0) AS score, coalesce(m.minutes, 0) AS minutes,
              coalesce(c.completions, 0) AS completions, coalesce(c.plain_hours, 0) AS plain_hours,
              (SELECT array_agg(coalesce(s.n, 0) ORDER BY t.ord) FROM unnest(\(topics)::text[]) WITH ORDINALITY t(topic, ord)
                LEFT JOIN s ON s.province_code = f.province_code AND s.topic = t.topic) AS counselling,
              coalesce(d.certificates, 0) AS certificates, coalesce(d.packaging, 0) AS packaging,
              coalesce(o.producers, 0) AS delivering, coalesce(x.producers, 0) AS exporting_in_period,
              coalesce(x.shipments, 0) AS shipments, coalesce(x.cents, 0) AS cents,
              coalesce(l.registered, 0) AS loans_registered, coalesce(l.granted, 0) AS loans_granted,
              coalesce(l.declined, 0) AS loans_declined
            FROM f
            LEFT JOIN a ON a.province_code = f.province_code LEFT JOIN m ON m.province_code = f.province_code
            LEFT JOIN c ON c.province_code = f.province_code LEFT JOIN d ON d.province_code = f.province_code
            LEFT JOIN o ON o.province_code = f.province_code LEFT JOIN x ON x.province_code = f.province_code
            LEFT JOIN l ON l.province_code = f.province_code
            ORDER BY f.province_code
            """
        let rows = try await db.rows(query.query)
        if let only, rows.isEmpty { throw APIError.notFound("Province \(only)") }
        var report = ProgrammeReport(period: period, from: from, to: until.adding(days: -1), rows: [], totals: Figures())
        for row in rows {
            let r = row.makeRandomAccess()
            func n(_ column: String) throws -> Int64 { try r[column].decode(Int64.self) }
            var f = Figures()
            f.quota = try r["quota"].decode(Int64?.self)
            (f.applied, f.screened, f.verified, f.rejected) = (
                try n("applied"), try n("screened"), try n("verified"), try n("rejected")
            )
            (f.trained, f.connected, f.exporting) = (try n("trained"), try n("connected"), try n("exporting"))
            (f.loanSeeking, f.loanGranted, f.firstSaleWithoutLoan) =
                (try n("loan_seeking"), try n("loan_granted"), try n("first_sale_without_loan"))
            (f.assessments, f.scoreHundredths) = (try n("assessments"), try n("score"))
            (f.moduleMinutes, f.completions, f.plainCourseHours) = (try n("minutes"), try n("completions"), try n("plain_hours"))
            f.counselling = try r["counselling"].decode([Int64].self)
            (f.certificates, f.packaging, f.delivering) = (try n("certificates"), try n("packaging"), try n("delivering"))
            (f.exportingInPeriod, f.shipments, f.fobCents) = (try n("exporting_in_period"), try n("shipments"), try n("cents"))
            (f.loansRegistered, f.loansGranted, f.loansDeclined) =
                (try n("loans_registered"), try n("loans_granted"), try n("loans_declined"))
            report.rows.append(
                (
                    try r["province_code"].decode(String.self), try r["name_fa"].decode(String.self),
                    try r["name_en"].decode(String.self), f
                ))
            report.totals = report.totals + f
        }
        return report
    }

    func addReportRoutes(to routes: inout Routes) {
        routes.get("/v1/reports/programme") { request, context in
            let principal = try context.requirePrincipal()
            let q = request.uri.queryParameters
            let period: ProgrammePeriod
            if let text = q.get("period") {
                guard let parsed = ProgrammePeriod.parse(String(text)) else {
                    throw APIError.validation(
                        field: "period", "must be a Solar Hijri year (1405) or quarter (1405-Q2), years 1390 to 1500")
                }
                period = parsed
            } else {
                period = ProgrammePeriod(year: SolarHijri.year(of: Date()), quarter: nil)
            }
            let csv = try CSV.requested(request)
            let report = try await programmeReport(
                period: period, province: q.get("province_code").map { String($0) }, principal: principal)
            guard csv else { return JSONResponse.raw(report.json()) }
            let persian = CSV.persian(request)
            return CSV.response(
                report.csv(persian: persian), filename: "programme-\(period.label).csv", language: persian ? "fa" : "en")
        }
    }
}
