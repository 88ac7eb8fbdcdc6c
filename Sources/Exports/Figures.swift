import BazaarcheCore
import Foundation

/// GET /v1/export-figures: non-oil (or all) export figures by Solar Hijri or Gregorian period,
/// grouped by up to four dimensions, from rollups kept in each shipment's transaction.
public struct Figures: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    struct Query {
        var from: CalendarDate
        var to: CalendarDate
        var calendar: ReportCalendar
        var period: ReportPeriod
        var groupBy: [ReportDimension]
        var scope: ReportScope
        var province: String?
    }

    struct Row {
        var period: String
        var keys: [ReportDimension: (code: String?, nameFa: String?, nameEn: String?)]
        var shipments: Int64
        /// Sums as exact decimal text: cents as digits, kilograms with three decimals.
        var cents: String
        var weight: String
    }

    static func parse(_ request: Request, principal: Principal) throws -> Query {
        try principal.require(.admin, .exportOfficer, .supervisor)
        let q = request.uri.queryParameters
        var v = Validator()
        let calendar = try ReportCalendar.query(q.get("calendar"), field: "calendar") ?? .jalali
        let period = try ReportPeriod.query(q.get("period"), field: "period") ?? .month
        let scope = try ReportScope.query(q.get("scope"), field: "scope") ?? .nonOil
        var groupBy: [ReportDimension] = []
        let groups = (q.get("group_by").map { String($0) } ?? "").split(separator: ",").map { String($0) }
        for (i, name) in groups.enumerated() {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let dim = ReportDimension(rawValue: trimmed) else {
                v.add("group_by[\(i)]", "must be one of province, hs_chapter, destination, category")
                continue
            }
            if !groupBy.contains(dim) { groupBy.append(dim) }
        }
        let today = SolarHijri.today()
        let to = q.get("to").flatMap { CalendarDate(String($0)) } ?? today
        if q.get("to") != nil && CalendarDate(String(q.get("to")!)) == nil { v.add("to", "must be a date (YYYY-MM-DD)") }
        var from = CalendarDate(String(format: "%04d-01-01", to.year))!
        if let text = q.get("from") {
            if let date = CalendarDate(String(text)) { from = date } else { v.add("from", "must be a date (YYYY-MM-DD)") }
        } else if calendar == .jalali {
            // Default: from 1 Farvardin of the Solar Hijri year `to` falls in.
            let j = SolarHijri.fromGregorian(year: to.year, month: to.month, day: to.day)
            let start = SolarHijri.gregorianInTehran.dateComponents(
                [.year, .month, .day], from: SolarHijri.yearBounds(j.year).start)
            from = CalendarDate(String(format: "%04d-%02d-%02d", start.year!, start.month!, start.day!))!
        }
        v.check(from <= to, "from", "must not be after to")
        v.check(from.year >= 1950 && to.year <= 2100, "from", "must be a date from 1950 to 2100")
        var province = q.get("province_code").map { String($0) }
        if let own = try principal.access(.provinceRecord).provinceFilter() {
            let list = own.joined(separator: ", ")
            if let province, !own.contains(province) {
                throw APIError.forbidden("This account reads the figures of its own provinces only (\(list)).")
            }
            if province == nil {
                guard own.count == 1 else {
                    throw APIError.validation(field: "province_code", "name one of your provinces (\(list))")
                }
                province = own[0]
            }
        }
        try v.throwIfInvalid()
        return Query(from: from, to: to, calendar: calendar, period: period, groupBy: groupBy, scope: scope, province: province)
    }

    /// The rows of the figures: the sources (`f`) summed per period and grouping (`g`), then named.
    static func query(_ q: Query) -> SQL {
        """
        WITH f AS (\(sources(q).joined(separator: "\nUNION ALL\n"))),
        g AS (SELECT \(periodKey(q.period)) AS period, province_code, hs_chapter, destination, category_code,
                sum(shipments)::bigint AS shipments, sum(fob_cents) AS fob_cents, sum(net_weight_kg) AS net_weight_kg
              FROM f AS f(month, province_code, hs_chapter, destination, category_code, shipments, fob_cents, net_weight_kg)
              GROUP BY 1, 2, 3, 4, 5 HAVING sum(shipments) > 0)
        \(named)
        """
    }

    /// The selects whose rows `f` unions: per month, the four dimensions ('' where not grouped by)
    /// and the sums. Whole months come from the rollups; days of partial months at either edge (or
    /// groupings of three or more dimensions) from the shipments themselves.
    static func sources(_ q: Query) -> [SQL] {
        var needed = Set(q.groupBy)
        if q.province != nil { needed.insert(.province) }
        let oil: SQL = q.scope == .nonOil ? " AND NOT is_oil" : ""
        // One fragment for both selects, so the province is bound once.
        let province: SQL = q.province.map { " AND province_code = \($0)" } ?? ""
        let rawSelect = shipments(q, filters: oil + province)
        // Without rollups for the grouping (or a whole month in the range), everything from the shipments.
        let jalali = q.calendar == .jalali
        let (lo, hi) = wholeMonths(q)
        guard ReportDimension.rolledUp(needed) && lo <= hi else {
            return ["\(rawSelect) AND export_date BETWEEN \(q.from.description)::date AND \(q.to.description)::date"]
        }
        let mask = needed.reduce(0) { $0 | $1.bit }
        var parts: [SQL] = [
            """
            SELECT month, \(dimensions(q, raw: false)), shipments, fob_cents, net_weight_kg
            FROM export_rollups
            WHERE calendar = \(q.calendar.rawValue) AND dims = \(mask) AND month BETWEEN \(lo) AND \(hi)\(oil)\(province)
            """
        ]
        let beforeLo = ReportMonths.start(jalali: jalali, lo).adding(days: -1)
        let afterHi = ReportMonths.start(jalali: jalali, ReportMonths.next(hi))
        if q.from <= beforeLo {
            parts.append("\(rawSelect) AND export_date BETWEEN \(q.from.description)::date AND \(beforeLo.description)::date")
        }
        if afterHi <= q.to {
            parts.append("\(rawSelect) AND export_date BETWEEN \(afterHi.description)::date AND \(q.to.description)::date")
        }
        return parts
    }

    /// The first and last month wholly inside the range (`lo > hi` when there is none).
    static func wholeMonths(_ q: Query) -> (lo: Int, hi: Int) {
        let jalali = q.calendar == .jalali
        let first = ReportMonths.key(jalali: jalali, q.from)
        let last = ReportMonths.key(jalali: jalali, q.to)
        let lo = ReportMonths.start(jalali: jalali, first) == q.from ? first : ReportMonths.next(first)
        let hi =
            ReportMonths.start(jalali: jalali, ReportMonths.next(last)) == q.to.adding(days: 1)
            ? last : ReportMonths.previous(last)
        return (lo, hi)
    }

    /// The shipments counted in figures, as rows shaped like the rollups'; the caller adds the dates.
    static func shipments(_ q: Query, filters: SQL) -> SQL {
        let monthColumn: SQL = q.calendar == .jalali ? "jalali_month" : "gregorian_month"
        return """
            SELECT \(monthColumn) AS month, \(dimensions(q, raw: true)),
              1::bigint AS shipments, fob_cents, net_weight_kg
            FROM export_shipments WHERE status IN ('cleared', 'shipped')\(filters)
            """
    }

    /// The four dimension columns in a fixed order, '' for those not grouped by; `raw` for the
    /// shipments' columns, else the rollups'.
    static func dimensions(_ q: Query, raw: Bool) -> SQL {
        let all: [ReportDimension] = [.province, .hsChapter, .destination, .category]
        return all.map { d -> SQL in
            guard q.groupBy.contains(d) else { return "''" }
            switch d {
            case .province: return "province_code"
            case .hsChapter: return raw ? "lpad(hs_chapter::text, 2, '0')" : "hs_chapter"
            case .destination: return raw ? "destination_country::text" : "destination"
            case .category: return raw ? "coalesce(category_code, '')" : "category_code"
            }
        }.joined(separator: ", ")
    }

    /// The period of a month key (yyyymm): itself, its quarter (yyyy × 10 + q) or its year.
    static func periodKey(_ period: ReportPeriod) -> SQL {
        switch period {
        case .month: "month"
        case .quarter: "(month / 100) * 10 + (month % 100 - 1) / 3 + 1"
        case .year: "month / 100"
        }
    }

    /// The grouped rows `g` with the names of their codes, in report order.
    static let named: SQL = """
        SELECT g.period, nullif(g.province_code, ''), p.name_fa, p.name_en, nullif(g.hs_chapter, ''), h.title_en,
          nullif(g.destination, ''), c.name_fa, c.name_en, nullif(g.category_code, ''), k.name_fa, k.name_en,
          g.shipments, g.fob_cents::text, round(g.net_weight_kg, 3)::text
        FROM g
        LEFT JOIN provinces p ON p.code = g.province_code
        LEFT JOIN hs_chapters h ON lpad(h.chapter::text, 2, '0') = g.hs_chapter
        LEFT JOIN countries c ON c.alpha2 = g.destination
        LEFT JOIN categories k ON k.code = g.category_code
        ORDER BY 1, 2, 5, 7, 10
        """

    func rows(_ q: Query) async throws -> [Row] {
        var result: [Row] = []
        for row in try await db.rows(Self.query(q).query) {
            let r = try row.decode(
                (
                    Int, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?, String?, Int64,
                    String,
                    String
                ).self)
            var keys: [ReportDimension: (code: String?, nameFa: String?, nameEn: String?)] = [:]
            keys[.province] = (r.1, r.2, r.3)
            keys[.hsChapter] = (r.4, nil, r.5)
            keys[.destination] = (r.6, r.7, r.8)
            keys[.category] = (r.9, r.10, r.11)
            result.append(
                Row(
                    period: ReportPeriods.label(key: r.0, period: q.period), keys: keys, shipments: r.12, cents: r.13,
                    weight: r.14))
        }
        return result
    }

    // MARK: output

    /// Column names per dimension, shared by JSON and CSV so the two always agree.
    static func columns(_ d: ReportDimension) -> [String] {
        switch d {
        case .province: ["province_code", "province_name_fa", "province_name_en"]
        case .hsChapter: ["hs_chapter", "hs_chapter_title_en"]
        case .destination: ["destination_country", "destination_name_fa", "destination_name_en"]
        case .category: ["category_code", "category_name_fa", "category_name_en"]
        }
    }

    static func values(_ d: ReportDimension, _ row: Row) -> [String?] {
        let k = row.keys[d]!
        return d == .hsChapter ? [k.code, k.nameEn] : [k.code, k.nameFa, k.nameEn]
    }

    /// Weights arrive as numeric text with three decimals; totals are summed in grams, exactly,
    /// as digit strings (no Int64 to overflow).
    static func grams(_ text: String) -> String {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = parts.count > 1 ? String(parts[1].prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0) : "000"
        return ExactSum.add(String(parts[0]) + fraction, "0")
    }

    static func kilograms(grams digits: String) -> String {
        let padded = String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        return "\(padded.dropLast(3)).\(padded.suffix(3))"
    }

    static func totals(_ rows: [Row]) -> (shipments: Int64, cents: String, weight: String) {
        (
            rows.reduce(0) { $0 + $1.shipments }, rows.reduce("0") { ExactSum.add($0, $1.cents) },
            kilograms(grams: rows.reduce("0") { ExactSum.add($0, grams($1.weight)) })
        )
    }

    /// The figures as JSON (`JSONResponse.encode`; keys sorted). Weights are JSON numbers written
    /// from their exact decimal text (`Decimal`, never a binary floating point).
    struct Document: Encodable {
        let query: Query
        let rows: [Row]

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: JSONKey.self)
            try c.encode(query.calendar.rawValue, forKey: JSONKey("calendar"))
            try c.encode(query.period.rawValue, forKey: JSONKey("period"))
            try c.encode(query.scope.rawValue, forKey: JSONKey("scope"))
            try c.encode("\(query.from)", forKey: JSONKey("from"))
            try c.encode("\(query.to)", forKey: JSONKey("to"))
            try c.encode(query.province, forKey: JSONKey("province_code"))
            try c.encode(query.groupBy.map(\.rawValue), forKey: JSONKey("group_by"))
            var list = c.nestedUnkeyedContainer(forKey: JSONKey("rows"))
            for row in rows {
                var r = list.nestedContainer(keyedBy: JSONKey.self)
                try r.encode(row.period, forKey: JSONKey("period"))
                for d in query.groupBy {
                    for (name, value) in zip(columns(d), values(d, row)) { try r.encode(value, forKey: JSONKey(name)) }
                }
                try Figures.encodeSums(into: &r, shipments: row.shipments, cents: row.cents, weight: row.weight)
            }
            let t = totals(rows)
            var totals = c.nestedContainer(keyedBy: JSONKey.self, forKey: JSONKey("totals"))
            try Figures.encodeSums(into: &totals, shipments: t.shipments, cents: t.cents, weight: t.weight)
        }
    }

    static func encodeSums(
        into c: inout KeyedEncodingContainer<JSONKey>, shipments: Int64, cents: String, weight: String
    ) throws {
        try c.encode(shipments, forKey: JSONKey("shipment_count"))
        try c.encode(USD.string(centsDigits: cents), forKey: JSONKey("fob_value_usd"))
        guard let kilograms = Decimal(string: weight) else {
            throw EncodingError.invalidValue(weight, .init(codingPath: c.codingPath, debugDescription: "not a decimal"))
        }
        try c.encode(kilograms, forKey: JSONKey("net_weight_kg"))
    }

    static func json(_ q: Query, _ rows: [Row]) throws -> String {
        try JSONResponse.encode(Document(query: q, rows: rows))
    }

    /// The same rows as CSV (UTF-8 with a header line), and a last row "total".
    static func csv(_ q: Query, _ rows: [Row]) -> String {
        var out = CSV.line(["period"] + q.groupBy.flatMap(columns) + ["shipment_count", "fob_value_usd", "net_weight_kg"])
        for row in rows {
            out += CSV.line(
                [row.period] + q.groupBy.flatMap { values($0, row).map { $0 ?? "" } }
                    + [String(row.shipments), USD.string(centsDigits: row.cents), row.weight])
        }
        let t = totals(rows)
        out += CSV.line(
            ["total"] + q.groupBy.flatMap { columns($0).map { _ in "" } } + [
                String(t.shipments), USD.string(centsDigits: t.cents), t.weight,
            ])
        return out
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/export-figures") { request, context in
            let q = try Self.parse(request, principal: try context.requirePrincipal())
            let rows = try await rows(q)
            let accept = request.headers[.accept]?.lowercased() ?? ""
            if accept.contains("text/csv") && !accept.contains("application/json") {
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: "text/csv; charset=utf-8",
                        .contentDisposition: "attachment; filename=\"export-figures-\(q.from)-\(q.to).csv\"",
                    ],
                    body: .init(byteBuffer: ByteBuffer(string: Self.csv(q, rows))))
            }
            return JSONResponse.raw(try Self.json(q, rows))
        }
    }
}
