import BazaarcheCore
import Foundation

/// GET /v1/export-figures: non-oil (or all) export figures by Solar Hijri or Gregorian period,
/// grouped by up to four dimensions (HS at 2, 4 or 6 digits among them), filtered, optionally
/// compared with an earlier period and folded to the top N; from rollups kept in each shipment's
/// transaction. JSON, CSV or XLSX.
public struct Figures: Sendable {
    /// Where figures are computed: a read replica when there is one.
    let db: Database
    /// Where the version every request checks is read: always the primary, so a clearance it
    /// acknowledged is in the next answer even while the replica has not replayed it yet.
    let primary: Database
    /// This instance's responses, validated against the database on every request.
    let cache: FiguresCache

    /// Whether `db` is a read replica (figures then survive an unreachable primary, uncached).
    let replica: Bool

    public init(db: Database, primary: Database? = nil) {
        self.db = db
        self.primary = primary ?? db
        self.replica = primary != nil
        self.cache = FiguresCache()
    }

    struct Query {
        var from: CalendarDate
        var to: CalendarDate
        var calendar: ReportCalendar
        var period: ReportPeriod
        var groupBy: [ReportDimension]
        var scope: ReportScope
        /// Filters: nil reads all.
        var provinces: [String]? = nil
        var hs: [String]? = nil
        var destinations: [String]? = nil
        var categories: [String]? = nil
        var offices: [String]? = nil
        var compare: ReportComparison? = nil
        var top: Int? = nil
        /// The calendar `from`/`to` were written in (whole months of the base are judged in it).
        var inputJalali: Bool? = nil
        /// Today in Tehran: `to` is capped at it, and a period that holds it is still running.
        var today: CalendarDate = SolarHijri.today()
        /// One bucket for the whole range (its label is `from/to`): the comparison when the range
        /// and its base are not made of whole periods that pair up.
        var wholeRange = false

        var jalali: Bool { calendar == .jalali }
        var base: (from: CalendarDate, to: CalendarDate)? { compare?.base(from: from, to: to, jalali: inputJalali ?? jalali) }
        /// The range still grows: it reaches today.
        var partial: Bool { to >= today }

        /// Whether a period (a key of `period`) is still running.
        func isPartial(_ key: Int) -> Bool {
            partial && (wholeRange || key == ReportPeriods.key(month: ReportMonths.key(jalali: jalali, today), period))
        }

        /// A period's label; the one bucket of a whole range is `from/to` in the calendar.
        func label(_ key: Int) -> String {
            guard wholeRange else { return ReportPeriods.label(key: key, period: period) }
            func day(_ d: CalendarDate) -> String {
                guard jalali else { return d.description }
                let j = SolarHijri.fromGregorian(year: d.year, month: d.month, day: d.day)
                return String(format: "%04d-%02d-%02d", j.year, j.month, j.day)
            }
            return day(from) + "/" + day(to)
        }
    }

    struct Key: Hashable {
        var code: String?
        var nameFa: String?
        var nameEn: String?
    }

    struct Row {
        var period: Int
        var keys: [Key]
        var shipments: Int64
        /// Sums as exact decimal text: cents as digits, kilograms and quantities with three decimals.
        var cents: String
        var weight: String
        var quantity: String?
        var unit: String?
        var previousCents: String? = nil
        var share: Decimal? = nil
        var codes: [String?] { keys.map(\.code) }
    }

    static let maxDimensions = 4
    /// The code of the row `top` folds the rest into.
    static let otherCode = "other"
    static let maxTop = 1000

    // MARK: parsing

    static func list(_ q: Parameters, _ name: String) -> [String]? {
        guard let raw = q.get(name) else { return nil }
        let items = Digits.ascii(String(raw)).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        return items.isEmpty ? nil : Array(Set(items)).sorted()
    }

    static func parse(_ request: Request, principal: Principal) throws -> Query {
        try principal.require(.admin, .exportOfficer, .supervisor)
        let q = request.uri.queryParameters
        var v = Validator()
        let calendar = try ReportCalendar.query(q.get("calendar").map { String($0) }, field: "calendar") ?? .jalali
        let period = try ReportPeriod.query(q.get("period").map { String($0) }, field: "period") ?? .month
        let scope = try ReportScope.query(q.get("scope").map { String($0) }, field: "scope") ?? .nonOil
        let compare = try ReportComparison.query(q.get("compare").map { String($0) }, field: "compare")
        var groupBy: [ReportDimension] = []
        let groups = (q.get("group_by").map { String($0) } ?? "").split(separator: ",").map { String($0) }
        let names = ReportDimension.allCases.map(\.rawValue).joined(separator: ", ")
        for (i, name) in groups.enumerated() {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let dim = ReportDimension(rawValue: trimmed) else {
                v.add("group_by[\(i)]", "must be one of: \(names)")
                continue
            }
            // hs_chapter and hs2 are one dimension.
            if !groupBy.contains(where: { $0 == dim || ($0.hsLevel == 2 && dim.hsLevel == 2) }) { groupBy.append(dim) }
        }
        v.check(groupBy.count <= maxDimensions, "group_by", "must name at most \(maxDimensions) dimensions")
        var top: Int?
        if let raw = q.get("top") {
            if let n = Int(Digits.ascii(String(raw))), (1...maxTop).contains(n) {
                top = n
            } else {
                v.add("top", "must be a whole number from 1 to \(maxTop)")
            }
        }
        // Dotted codes as tariff books write them (0802.51) are the same digits.
        let hs = list(q, "hs")?.map { $0.replacingOccurrences(of: ".", with: "") }
        for (i, prefix) in (hs ?? []).enumerated()
        where ![2, 4, 6].contains(prefix.count) || !prefix.allSatisfy({ $0.isASCII && $0.isNumber }) {
            v.add("hs[\(i)]", "must be an HS code prefix of 2, 4 or 6 digits")
        }
        let destinations = list(q, "destination")?.map { $0.uppercased() }
        for (i, code) in (destinations ?? []).enumerated()
        where code.count != 2 || !code.allSatisfy({ $0.isASCII && $0.isLetter }) {
            v.add("destination[\(i)]", "must be an ISO 3166-1 alpha-2 code")
        }

        let today = SolarHijri.today()
        var to = today
        if let text = q.get("to") {
            if let date = ReportDate.parse(String(text), .to) {
                // Figures end today: a month or quarter still running is counted up to today
                // (echoed as `to`), and its base is the same partial stretch.
                to = min(date, today)
            } else {
                v.add("to", "must be a date (YYYY-MM-DD), a Solar Hijri month (1405-07) or quarter (1405-Q2)")
            }
        }
        var from = CalendarDate(String(format: "%04d-01-01", to.year))!
        if let text = q.get("from") {
            if let date = ReportDate.parse(String(text), .from) {
                from = date
            } else {
                v.add("from", "must be a date (YYYY-MM-DD), a Solar Hijri month (1405-07) or quarter (1405-Q2)")
            }
        } else if calendar == .jalali {
            // Default: from 1 Farvardin of the Solar Hijri year `to` falls in.
            from = ReportMonths.start(jalali: true, ReportMonths.key(jalali: true, to) / 100 * 100 + 1)
        }
        if from > today {
            v.add("from", "must not be in the future")
        } else {
            v.check(from <= to, "from", "must not be after to")
        }
        v.check(from.year >= 1950 && to.year <= 2100, "from", "must be a date from 1950 to 2100")
        var provinces = list(q, "province_code")
        if let own = try principal.access(.provinceRecord).provinceFilter() {
            let list = own.joined(separator: ", ")
            if let asked = provinces, !asked.allSatisfy(own.contains) {
                throw APIError.forbidden("This account reads the figures of its own provinces only (\(list)).")
            }
            if provinces == nil { provinces = own.sorted() }
        }
        try v.throwIfInvalid()
        // Whole months are judged in the calendar the input was written in (the first that says).
        let inputJalali = [q.get("from"), q.get("to")].compactMap { $0.flatMap { ReportDate.writtenInSolarHijri(String($0)) } }
            .first
        if let base = compare?.base(from: from, to: to, jalali: inputJalali ?? (calendar == .jalali)), base.from.year < 1950 {
            throw APIError.validation(field: "compare", "needs a base period from 1950 on")
        }
        return Query(
            from: from, to: to, calendar: calendar, period: period, groupBy: groupBy, scope: scope, provinces: provinces, hs: hs,
            destinations: destinations, categories: list(q, "category_code"), offices: list(q, "customs_office"),
            compare: compare, top: top, inputJalali: inputJalali, today: today)
    }

    // MARK: SQL

    /// The finest HS level the grouping or the `hs` filter needs.
    static func hsLevel(_ q: Query) -> Int? {
        (q.groupBy.compactMap(\.hsLevel) + (q.hs ?? []).map(\.count)).max()
    }

    /// The non-HS dimensions the rollup must hold: grouped by or filtered on.
    static func needed(_ q: Query) -> Set<ReportDimension> {
        var needed = Set(q.groupBy.filter { $0.hsLevel == nil })
        if q.provinces != nil { needed.insert(.province) }
        if q.destinations != nil { needed.insert(.destination) }
        if q.categories != nil { needed.insert(.category) }
        if q.offices != nil { needed.insert(.customsOffice) }
        return needed
    }

    /// The rows of the figures for [from, to]: the sources (`f`) summed per period and grouping
    /// (`g`), then named.
    static func query(_ q: Query, from: CalendarDate? = nil, to: CalendarDate? = nil) -> SQL {
        let range = (from ?? q.from, to ?? q.to)
        let columns = q.groupBy.indices.map { "c\($0)" }
        let list = columns.map { ", \($0)" }.joined()
        let unitsAgree = "min(quantity_unit) = max(quantity_unit) AND min(quantity_unit) <> ''"
        return """
            WITH f AS (\(sources(q, range).joined(separator: "\nUNION ALL\n"))),
            g AS (SELECT \(unescaped: q.wholeRange ? "0" : periodKey(q.period)) AS period\(unescaped: list),
                    sum(shipments)::bigint AS shipments, sum(fob_cents) AS fob_cents, sum(net_weight_kg) AS net_weight_kg,
                    CASE WHEN \(unescaped: unitsAgree) THEN sum(quantity) END AS quantity,
                    CASE WHEN \(unescaped: unitsAgree) THEN min(quantity_unit) END AS quantity_unit
                  FROM f AS f(month\(unescaped: list), shipments, fob_cents, net_weight_kg, quantity_unit, quantity)
                  GROUP BY 1\(unescaped: list) HAVING sum(shipments) > 0)
            \(named(q))
            """
    }

    /// The selects whose rows `f` unions: per month, one column per grouped dimension and the sums.
    /// Whole months come from the rollups; days of partial months at either edge (or groupings the
    /// rollups do not hold) from the shipments themselves.
    static func sources(_ q: Query, _ range: (from: CalendarDate, to: CalendarDate)) -> [SQL] {
        let oil: SQL = q.scope == .nonOil ? " AND NOT is_oil" : ""
        let rawSelect = shipments(q, filters: oil + filters(q, raw: true))
        let level = hsLevel(q)
        let needed = needed(q)
        let (lo, hi) = wholeMonths(q, range)
        guard ReportDimension.rolledUp(needed, hsLevel: level) && lo <= hi else {
            return ["\(rawSelect) AND export_date BETWEEN \(range.from.description)::date AND \(range.to.description)::date"]
        }
        let mask = needed.reduce(0) { $0 | $1.bit } | (level.map(ReportDimension.hsBit) ?? 0)
        var parts: [SQL] = [
            """
            SELECT month\(dimensions(q, raw: false)), shipments, fob_cents, net_weight_kg, quantity_unit, quantity
            FROM export_figure_rollups
            WHERE calendar = \(q.calendar.rawValue) AND dims = \(mask) AND month BETWEEN \(lo) AND \(hi)\(oil)\(filters(q, raw: false))
            """
        ]
        let beforeLo = ReportMonths.start(jalali: q.jalali, lo).adding(days: -1)
        let afterHi = ReportMonths.start(jalali: q.jalali, ReportMonths.next(hi))
        if range.from <= beforeLo {
            parts.append("\(rawSelect) AND export_date BETWEEN \(range.from.description)::date AND \(beforeLo.description)::date")
        }
        if afterHi <= range.to {
            parts.append("\(rawSelect) AND export_date BETWEEN \(afterHi.description)::date AND \(range.to.description)::date")
        }
        return parts
    }

    /// The first and last month wholly inside the range (`lo > hi` when there is none).
    static func wholeMonths(_ q: Query, _ range: (from: CalendarDate, to: CalendarDate)) -> (lo: Int, hi: Int) {
        let jalali = q.jalali
        let first = ReportMonths.key(jalali: jalali, range.from)
        let last = ReportMonths.key(jalali: jalali, range.to)
        let lo = ReportMonths.start(jalali: jalali, first) == range.from ? first : ReportMonths.next(first)
        let hi =
            ReportMonths.start(jalali: jalali, ReportMonths.next(last)) == range.to.adding(days: 1)
            ? last : ReportMonths.previous(last)
        return (lo, hi)
    }

    /// The filters, on the rollups' columns or the shipments'.
    static func filters(_ q: Query, raw: Bool) -> SQL {
        var sql: SQL = ""
        if let p = q.provinces { sql += " AND province_code = ANY(\(p))" }
        if let h = q.hs { sql += " AND hs_code LIKE ANY(\(h.map { $0 + "%" }))" }
        if let d = q.destinations { sql += raw ? " AND destination_country::text = ANY(\(d))" : " AND destination = ANY(\(d))" }
        if let c = q.categories { sql += raw ? " AND category_code = ANY(\(c))" : " AND category_code = ANY(\(c))" }
        if let o = q.offices { sql += raw ? " AND customs_office_code = ANY(\(o))" : " AND customs_office = ANY(\(o))" }
        return sql
    }

    /// The counted shipments as rows shaped like the rollups'; the caller adds the dates.
    static func shipments(_ q: Query, filters: SQL) -> SQL {
        let monthColumn: SQL = q.jalali ? "jalali_month" : "gregorian_month"
        return """
            SELECT \(monthColumn) AS month\(dimensions(q, raw: true)),
              1::bigint AS shipments, fob_cents, net_weight_kg, coalesce(quantity_unit, '') AS quantity_unit,
              coalesce(quantity, 0) AS quantity
            FROM export_shipments WHERE status IN ('cleared', 'shipped')\(filters)
            """
    }

    /// One column per grouped dimension (each preceded by ", "); `raw` for the shipments' columns.
    static func dimensions(_ q: Query, raw: Bool) -> SQL {
        q.groupBy.map { d -> SQL in
            if let level = d.hsLevel { return ", substr(hs_code, 1, \(literal: level))" }
            switch d {
            case .province: return ", province_code"
            case .destination: return raw ? ", destination_country::text" : ", destination"
            case .category: return raw ? ", coalesce(category_code, '')" : ", category_code"
            default: return raw ? ", customs_office_code" : ", customs_office"
            }
        }.joined()
    }

    /// The period of a month key (yyyymm): itself, its quarter (yyyy × 10 + q) or its year.
    static func periodKey(_ period: ReportPeriod) -> String {
        switch period {
        case .month: "month"
        case .quarter: "(month / 100) * 10 + (month % 100 - 1) / 3 + 1"
        case .year: "month / 100"
        }
    }

    /// The table that names a dimension's codes, its key column and its Persian and English names.
    static func names(_ d: ReportDimension) -> (table: String, key: String, fa: String, en: String) {
        if d.hsLevel != nil { return ("hs_codes", "code", "title_fa", "title_en") }
        switch d {
        case .province: return ("provinces", "code", "name_fa", "name_en")
        case .destination: return ("countries", "alpha2", "name_fa", "name_en")
        case .category: return ("categories", "code", "name_fa", "name_en")
        default: return ("customs_offices", "code", "name_fa", "name_en")
        }
    }

    /// The grouped rows `g` with the names of their codes, in report order.
    static func named(_ q: Query) -> SQL {
        var select = "SELECT g.period"
        var joins = ""
        for (i, d) in q.groupBy.enumerated() {
            let n = names(d)
            select += ", nullif(g.c\(i), ''), j\(i).\(n.fa), j\(i).\(n.en)"
            joins += "\nLEFT JOIN \(n.table) j\(i) ON j\(i).\(n.key) = g.c\(i)"
        }
        select +=
            ", g.shipments, g.fob_cents::text, round(g.net_weight_kg, 3)::text, round(g.quantity, 3)::text, g.quantity_unit\nFROM g"
        let order = (["1"] + q.groupBy.indices.map { "g.c\($0)" }).joined(separator: ", ")
        return SQL(stringLiteral: select + joins + "\nORDER BY " + order)
    }

    func rows(_ q: Query, on connection: PostgresConnection, from: CalendarDate? = nil, to: CalendarDate? = nil) async throws
        -> [Row]
    {
        var result: [Row] = []
        let n = q.groupBy.count
        for row in try await connection.query(Self.query(q, from: from, to: to).query, logger: db.logger).collect() {
            let r = row.makeRandomAccess()
            var keys: [Key] = []
            for i in 0..<n {
                keys.append(
                    Key(
                        code: try r[1 + i * 3].decode(String?.self), nameFa: try r[2 + i * 3].decode(String?.self),
                        nameEn: try r[3 + i * 3].decode(String?.self)))
            }
            let s = 1 + n * 3
            result.append(
                Row(
                    period: try r[0].decode(Int.self), keys: keys, shipments: try r[s].decode(Int64.self),
                    cents: try r[s + 1].decode(String.self), weight: try r[s + 2].decode(String.self),
                    quantity: try r[s + 3].decode(String?.self), unit: try r[s + 4].decode(String?.self)))
        }
        return result
    }

    // MARK: comparison, top N, shares

    /// Which current period each base period is compared with, or nil when they do not pair up
    /// (then the whole range is one bucket). `previous_period` pairs by position, and only when
    /// the range and its base are both whole periods of the calendar, as many of each;
    /// `previous_year` pairs a period with the one a year later, when every base period has one.
    /// Either way every base row finds its period: the totals' base is all of compare_from…compare_to.
    static func pairing(_ q: Query, base: (from: CalendarDate, to: CalendarDate)) -> [Int: Int]? {
        let keys = ReportPeriods.keys(from: q.from, to: q.to, jalali: q.jalali, q.period)
        let baseKeys = ReportPeriods.keys(from: base.from, to: base.to, jalali: q.jalali, q.period)
        switch q.compare {
        case .previousPeriod?:
            guard keys.count == baseKeys.count, ReportPeriods.whole(from: q.from, to: q.to, jalali: q.jalali, q.period),
                ReportPeriods.whole(from: base.from, to: base.to, jalali: q.jalali, q.period)
            else { return nil }
            return Dictionary(uniqueKeysWithValues: zip(baseKeys, keys))
        case .previousYear?:
            let current = Set(keys)
            let pairs = baseKeys.map { ($0, ReportPeriods.shifted(key: $0, years: 1, q.period)) }
            return pairs.allSatisfy { current.contains($0.1) } ? Dictionary(uniqueKeysWithValues: pairs) : nil
        case nil: return nil
        }
    }

    /// Adds the base value to each row (`previousCents`), the base periods paired as `pairing`
    /// says (a whole-range bucket is key 0 on both sides). A row whose keys had no shipments in a
    /// base period that had some gets "0"; a base period with no shipments at all leaves it nil
    /// (missing). Rows only in the base appear with zero current sums.
    static func compare(_ q: Query, current: [Row], base: [Row], pairs: [Int: Int]) -> [Row] {
        struct ID: Hashable {
            var period: Int
            var codes: [String?]
        }
        var baseRows: [ID: Row] = [:]
        var periodsWithBase = Set<Int>()
        for row in base {
            let period = pairs[row.period] ?? row.period
            baseRows[ID(period: period, codes: row.codes)] = row
            periodsWithBase.insert(period)
        }
        var out: [Row] = []
        var seen = Set<ID>()
        for var row in current {
            let id = ID(period: row.period, codes: row.codes)
            seen.insert(id)
            row.previousCents = baseRows[id]?.cents ?? (periodsWithBase.contains(row.period) ? "0" : nil)
            out.append(row)
        }
        for (id, b) in baseRows where !seen.contains(id) {
            out.append(
                Row(
                    period: id.period, keys: b.keys, shipments: 0, cents: "0", weight: "0.000", quantity: nil, unit: nil,
                    previousCents: b.cents))
        }
        return out.sorted { a, b in
            a.period != b.period ? a.period < b.period : a.codes.lexicographicallyPrecedes(b.codes) { ($0 ?? "") < ($1 ?? "") }
        }
    }

    /// Whether a digit string is the larger number.
    static func greater(_ a: String, _ b: String) -> Bool { a.count != b.count ? a.count > b.count : a > b }

    /// Keeps the `n` key combinations of largest value over the whole range and folds the rest, per
    /// period, into one row whose codes are `other`; then orders each period by value.
    static func top(_ n: Int, _ rows: [Row], dimensions: Int) -> [Row] {
        guard dimensions > 0 else { return rows }
        var value: [[String?]: String] = [:]
        for row in rows { value[row.codes] = ExactSum.add(value[row.codes] ?? "0", row.cents) }
        let ranked = value.sorted { a, b in
            a.value != b.value ? greater(a.value, b.value) : a.key.lexicographicallyPrecedes(b.key) { ($0 ?? "") < ($1 ?? "") }
        }
        let kept = Set(ranked.prefix(n).map(\.key))
        var out: [Row] = []
        var other: [Int: Row] = [:]
        var units: [Int: Set<String?>] = [:]
        var otherPeriods: [Int] = []
        for row in rows {
            if kept.contains(row.codes) {
                out.append(row)
                continue
            }
            let key = Key(code: otherCode, nameFa: "سایر", nameEn: "Other")
            var o =
                other[row.period]
                ?? Row(
                    period: row.period, keys: Array(repeating: key, count: dimensions), shipments: 0, cents: "0", weight: "0.000",
                    quantity: "0.000", unit: nil, previousCents: nil)
            if other[row.period] == nil { otherPeriods.append(row.period) }
            o.shipments += row.shipments
            o.cents = ExactSum.add(o.cents, row.cents)
            o.weight = kilograms(grams: ExactSum.add(grams(o.weight), grams(row.weight)))
            if row.shipments > 0 {
                units[row.period, default: []].insert(row.quantity == nil ? nil : row.unit)
                o.quantity = kilograms(grams: ExactSum.add(grams(o.quantity ?? "0"), grams(row.quantity ?? "0")))
            }
            if let p = row.previousCents { o.previousCents = ExactSum.add(o.previousCents ?? "0", p) }
            other[row.period] = o
        }
        for period in otherPeriods {
            var o = other[period]!
            let u = units[period] ?? []
            if u.count == 1, let only = u.first, let unit = only {
                o.unit = unit
            } else {
                (o.quantity, o.unit) = (nil, nil)
            }
            out.append(o)
        }
        // Each period: largest first, `other` last.
        return out.enumerated().sorted { x, y in
            let (a, b) = (x.element, y.element)
            if a.period != b.period { return a.period < b.period }
            let (ao, bo) = (
                a.keys.first?.code == otherCode && !kept.contains(a.codes),
                b.keys.first?.code == otherCode && !kept.contains(b.codes)
            )
            if ao != bo { return bo }
            if a.cents != b.cents { return greater(a.cents, b.cents) }
            return x.offset < y.offset
        }.map(\.element)
    }

    /// Each row's share of its period's total value, in percent with two decimals.
    static func shares(_ rows: [Row]) -> [Row] {
        var totals: [Int: String] = [:]
        for row in rows { totals[row.period] = ExactSum.add(totals[row.period] ?? "0", row.cents) }
        return rows.map { row in
            var row = row
            if let total = totals[row.period], total != "0", let t = Decimal(string: total), let c = Decimal(string: row.cents) {
                row.share = rounded(c * 100 / t)
            }
            return row
        }
    }

    static func rounded(_ value: Decimal) -> Decimal {
        var input = value
        var result = Decimal()
        NSDecimalRound(&result, &input, 2, .plain)
        return result
    }

    /// Growth from the base value to the current one in percent (two decimals); nil when the base
    /// is missing or zero.
    static func growth(current: String, previous: String?) -> Decimal? {
        guard let previous, previous != "0", let p = Decimal(string: previous), let c = Decimal(string: current) else {
            return nil
        }
        return rounded((c - p) * 100 / p)
    }

    /// The figures as asked: the rows, compared, folded and with shares; and the query as
    /// answered (one bucket for the whole range when the periods do not pair with the base's).
    func figures(_ asked: Query, on connection: PostgresConnection) async throws -> (Query, [Row]) {
        var q = asked
        var pairs: [Int: Int] = [:]
        if let base = q.base {
            if let p = Self.pairing(q, base: base) { pairs = p } else { q.wholeRange = true }
        }
        var rows = try await rows(q, on: connection)
        if let base = q.base {
            rows = Self.compare(
                q, current: rows, base: try await self.rows(q, on: connection, from: base.from, to: base.to), pairs: pairs)
        }
        if let n = q.top { rows = Self.top(n, rows, dimensions: q.groupBy.count) }
        return (q, Self.shares(rows))
    }

    // MARK: cache

    /// What the figures of a request have read: the sum of the versions of the Gregorian months
    /// its dates fall in (range and base) and of row 0 (sql/0030_export_figures_cache.sql).
    enum Version: StatementSQL {
        static let sql =
            "SELECT coalesce(sum(version), 0)::bigint FROM export_figure_versions WHERE month = 0 OR month BETWEEN $1 AND $2"
    }

    /// The Gregorian months (yyyymm) from the first to the last day the request reads.
    static func versionMonths(_ q: Query) -> (Int, Int) {
        let first = min(q.from, q.base?.from ?? q.from)
        let last = max(q.to, q.base?.to ?? q.to)
        return (first.year * 100 + first.month, last.year * 100 + last.month)
    }

    /// Everything the response depends on besides the data: the request as resolved (the period
    /// with `to` capped at today, and today itself, which decides what is partial), the caller's
    /// province scope, the format and the heading language.
    static func cacheKey(_ q: Query, format: Format, persian: Bool, scope: [String]?) -> String {
        func list(_ l: [String]?) -> String { l.map { $0.joined(separator: ",") } ?? "*" }
        return [
            format.rawValue, persian ? "fa" : "en", "scope=" + list(scope), q.calendar.rawValue, q.period.rawValue,
            q.scope.rawValue, "\(q.from)", "\(q.to)", "\(q.today)", q.groupBy.map(\.rawValue).joined(separator: ","),
            list(q.provinces), list(q.hs), list(q.destinations), list(q.categories), list(q.offices), q.compare?.rawValue ?? "-",
            q.top.map { String($0) } ?? "-", q.inputJalali.map { $0 ? "j" : "g" } ?? "-",
        ].joined(separator: "|")
    }

    static func etag(key: String, version: Int64) -> String { "W/\"\(version)-\(FiguresCache.hash(key))\"" }

    /// The version and the figures from one REPEATABLE READ snapshot: a clearance committing in
    /// between cannot make an older body look current.
    func computed(_ asked: Query, months: (Int, Int), on db: Database) async throws -> (Int64, Query, [Row]) {
        try await db.withConnection { connection in
            let logger = db.logger
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            do {
                let version = try await connection.run(Prepared<Version>(months.0, months.1), logger: logger)[0].decode(
                    Int64.self)
                let (q, rows) = try await figures(asked, on: connection)
                try await connection.query("COMMIT", logger: logger)
                return (version, q, rows)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// The response's headers (without the entity tag) and body.
    static func render(_ q: Query, _ rows: [Row], format: Format, persian: Bool) throws -> (HTTPFields, ByteBuffer) {
        let name = "export-figures-\(q.from)-\(q.to)"
        switch format {
        case .json:
            return ([.contentType: "application/json; charset=utf-8"], ByteBuffer(string: try json(q, rows)))
        case .csv:
            var headers: HTTPFields = [
                .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(name).csv\"",
            ]
            if persian { headers[.contentLanguage] = "fa" }
            return (headers, ByteBuffer(string: csv(q, rows, persian: persian)))
        case .xlsx:
            let sheet = XLSX.Sheet(
                name: persian ? "آمار صادرات" : "Export figures", rightToLeft: persian,
                header: header(q, persian: persian),
                rows: rows.map { cells(q, $0) } + [totalCells(q, rows, persian: persian)])
            return (
                [.contentType: xlsxType, .contentDisposition: "attachment; filename=\"\(name).xlsx\""],
                ByteBuffer(bytes: try XLSX.workbook(sheet))
            )
        }
    }

    // MARK: output

    /// Column names per dimension, shared by JSON, CSV and XLSX so they always agree.
    static func columns(_ d: ReportDimension) -> [String] {
        switch d {
        case .province: ["province_code", "province_name_fa", "province_name_en"]
        case .hsChapter: ["hs_chapter", "hs_chapter_name_fa", "hs_chapter_name_en", "hs_chapter_title_en"]
        case .hs2, .hs4, .hs6: [d.rawValue, "\(d.rawValue)_name_fa", "\(d.rawValue)_name_en"]
        case .destination: ["destination_country", "destination_name_fa", "destination_name_en"]
        case .category: ["category_code", "category_name_fa", "category_name_en"]
        case .customsOffice: ["customs_office_code", "customs_office_name_fa", "customs_office_name_en"]
        }
    }

    static func values(_ d: ReportDimension, _ k: Key) -> [String?] {
        d == .hsChapter ? [k.code, k.nameFa, k.nameEn, k.nameEn] : [k.code, k.nameFa, k.nameEn]
    }

    /// Persian column headings for CSV and XLSX (`Accept-Language: fa`).
    static func persian(_ column: String) -> String {
        let dimensions: [(String, String)] = [
            ("province_code", "استان"), ("hs_chapter", "فصل HS"), ("hs2", "فصل HS"), ("hs4", "سرفصل HS"), ("hs6", "زیرسرفصل HS"),
            ("destination_country", "کشور مقصد"), ("destination", "کشور مقصد"), ("category_code", "گروه کالا"),
            ("category", "گروه کالا"), ("customs_office_code", "گمرک"), ("customs_office", "گمرک"), ("province", "استان"),
        ]
        let fixed: [String: String] = [
            "period": "دوره", "shipment_count": "تعداد محموله", "fob_value_usd": "ارزش فوب (دلار)",
            "net_weight_kg": "وزن خالص (کیلوگرم)", "quantity": "مقدار", "quantity_unit": "واحد مقدار",
            "share_percent": "سهم (درصد)",
            "previous_fob_usd": "ارزش فوب دوره پایه (دلار)", "growth_percent": "رشد (درصد)",
        ]
        if let f = fixed[column] { return f }
        for (prefix, label) in dimensions {
            if column == prefix { return "کد " + label }
            if column == prefix + "_name_fa" { return label + " (فارسی)" }
            if column == prefix + "_name_en" { return label + " (انگلیسی)" }
            // hs_chapter's older duplicate of its English name.
            if column == prefix + "_title_en" { return "عنوان انگلیسی " + label }
        }
        return column
    }

    /// Weights and quantities arrive as numeric text with three decimals; totals are summed in
    /// thousandths, exactly, as digit strings (no Int64 to overflow).
    static func grams(_ text: String) -> String {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = parts.count > 1 ? String(parts[1].prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0) : "000"
        return ExactSum.add(String(parts[0]) + fraction, "0")
    }

    static func kilograms(grams digits: String) -> String {
        let padded = String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        return "\(padded.dropLast(3)).\(padded.suffix(3))"
    }

    struct Totals {
        var shipments: Int64
        var cents: String
        var weight: String
        var quantity: String?
        var unit: String?
        var previousCents: String?
    }

    static func totals(_ rows: [Row], compare: Bool) -> Totals {
        let counted = rows.filter { $0.shipments > 0 }
        let units = Set(counted.map { $0.quantity == nil ? nil : $0.unit })
        let unit = units.count == 1 ? units.first! : nil
        let previous = rows.compactMap(\.previousCents)
        return Totals(
            shipments: rows.reduce(0) { $0 + $1.shipments }, cents: rows.reduce("0") { ExactSum.add($0, $1.cents) },
            weight: kilograms(grams: rows.reduce("0") { ExactSum.add($0, grams($1.weight)) }),
            quantity: unit == nil ? nil : kilograms(grams: counted.reduce("0") { ExactSum.add($0, grams($1.quantity ?? "0")) }),
            unit: unit, previousCents: compare && !previous.isEmpty ? previous.reduce("0", ExactSum.add) : nil)
    }

    /// The sum columns after the dimensions, in order.
    static func sumColumns(_ q: Query) -> [String] {
        ["shipment_count", "fob_value_usd", "net_weight_kg", "quantity", "quantity_unit", "share_percent"]
            + (q.compare == nil ? [] : ["previous_fob_usd", "growth_percent"])
    }

    /// A row as cells (text, or numbers as their exact decimal text), for CSV and XLSX.
    static func cells(_ q: Query, _ row: Row) -> [Cell] {
        var out: [Cell] = [.code(q.label(row.period))]
        for (d, k) in zip(q.groupBy, row.keys) {
            let v = values(d, k)
            // HS codes keep their leading zeros (0802) as text.
            out += v.enumerated().map { i, value in i == 0 && d.hsLevel != nil ? .code(value ?? "") : .text(value ?? "") }
        }
        out += [
            .number(String(row.shipments)), .number(USD.string(centsDigits: row.cents)), .number(row.weight),
            row.quantity.map(Cell.number) ?? .text(""), .text(row.unit ?? ""), row.share.map { .number("\($0)") } ?? .text(""),
        ]
        if q.compare != nil {
            out += [
                row.previousCents.map { .number(USD.string(centsDigits: $0)) } ?? .text(""),
                growth(current: row.cents, previous: row.previousCents).map { .number("\($0)") } ?? .text(""),
            ]
        }
        return out
    }

    static func totalCells(_ q: Query, _ rows: [Row], persian: Bool) -> [Cell] {
        let t = totals(rows, compare: q.compare != nil)
        var out: [Cell] = [.text(persian ? "جمع" : "total")] + q.groupBy.flatMap { columns($0).map { _ in Cell.text("") } }
        out += [
            .number(String(t.shipments)), .number(USD.string(centsDigits: t.cents)), .number(t.weight),
            t.quantity.map(Cell.number) ?? .text(""), .text(t.unit ?? ""), .number(t.cents == "0" ? "0" : "100"),
        ]
        if q.compare != nil {
            out += [
                t.previousCents.map { .number(USD.string(centsDigits: $0)) } ?? .text(""),
                growth(current: t.cents, previous: t.previousCents).map { .number("\($0)") } ?? .text(""),
            ]
        }
        return out
    }

    static func header(_ q: Query, persian: Bool) -> [String] {
        let names = ["period"] + q.groupBy.flatMap(columns) + sumColumns(q)
        return persian ? names.map(Self.persian) : names
    }

    /// The figures as JSON (`JSONResponse.encode`; keys sorted). Weights and quantities are JSON
    /// numbers written from their exact decimal text (`Decimal`, never a binary floating point).
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
            try c.encode(query.provinces?.joined(separator: ","), forKey: JSONKey("province_code"))
            try c.encode(query.hs, forKey: JSONKey("hs"))
            try c.encode(query.destinations, forKey: JSONKey("destination"))
            try c.encode(query.categories, forKey: JSONKey("category_code"))
            try c.encode(query.offices, forKey: JSONKey("customs_office"))
            try c.encode(query.groupBy.map(\.rawValue), forKey: JSONKey("group_by"))
            try c.encode(query.compare?.rawValue, forKey: JSONKey("compare"))
            try c.encode(query.base.map { "\($0.from)" }, forKey: JSONKey("compare_from"))
            try c.encode(query.base.map { "\($0.to)" }, forKey: JSONKey("compare_to"))
            try c.encode(query.top, forKey: JSONKey("top"))
            try c.encode(query.partial, forKey: JSONKey("partial"))
            var list = c.nestedUnkeyedContainer(forKey: JSONKey("rows"))
            for row in rows {
                var r = list.nestedContainer(keyedBy: JSONKey.self)
                try r.encode(query.label(row.period), forKey: JSONKey("period"))
                try r.encode(query.isPartial(row.period), forKey: JSONKey("partial"))
                for (d, k) in zip(query.groupBy, row.keys) {
                    for (name, value) in zip(columns(d), values(d, k)) { try r.encode(value, forKey: JSONKey(name)) }
                }
                try Figures.encodeSums(
                    into: &r, shipments: row.shipments, cents: row.cents, weight: row.weight, quantity: row.quantity,
                    unit: row.unit)
                try r.encode(row.share, forKey: JSONKey("share_percent"))
                if query.compare != nil {
                    try r.encode(row.previousCents.map { USD.string(centsDigits: $0) }, forKey: JSONKey("previous_fob_usd"))
                    try r.encode(growth(current: row.cents, previous: row.previousCents), forKey: JSONKey("growth_percent"))
                }
            }
            let t = totals(rows, compare: query.compare != nil)
            var totals = c.nestedContainer(keyedBy: JSONKey.self, forKey: JSONKey("totals"))
            try Figures.encodeSums(
                into: &totals, shipments: t.shipments, cents: t.cents, weight: t.weight, quantity: t.quantity, unit: t.unit)
            if query.compare != nil {
                try totals.encode(t.previousCents.map { USD.string(centsDigits: $0) }, forKey: JSONKey("previous_fob_usd"))
                try totals.encode(growth(current: t.cents, previous: t.previousCents), forKey: JSONKey("growth_percent"))
            }
        }
    }

    static func decimal(_ text: String, _ c: KeyedEncodingContainer<JSONKey>) throws -> Decimal {
        guard let value = Decimal(string: text) else {
            throw EncodingError.invalidValue(text, .init(codingPath: c.codingPath, debugDescription: "not a decimal"))
        }
        return value
    }

    static func encodeSums(
        into c: inout KeyedEncodingContainer<JSONKey>, shipments: Int64, cents: String, weight: String, quantity: String?,
        unit: String?
    ) throws {
        try c.encode(shipments, forKey: JSONKey("shipment_count"))
        try c.encode(USD.string(centsDigits: cents), forKey: JSONKey("fob_value_usd"))
        try c.encode(try decimal(weight, c), forKey: JSONKey("net_weight_kg"))
        try c.encode(try quantity.map { try decimal($0, c) }, forKey: JSONKey("quantity"))
        try c.encode(quantity == nil ? nil : unit, forKey: JSONKey("quantity_unit"))
    }

    static func json(_ q: Query, _ rows: [Row]) throws -> String {
        try JSONResponse.encode(Document(query: q, rows: rows))
    }

    /// The same rows as CSV (UTF-8 with a byte order mark, CRLF, numbers unformatted), and a last
    /// row "total" ("جمع" with Persian headings).
    static func csv(_ q: Query, _ rows: [Row], persian: Bool = false) -> String {
        var out = CSV.byteOrderMark + CSV.line(header(q, persian: persian))
        for row in rows.map({ cells(q, $0) }) + [totalCells(q, rows, persian: persian)] {
            out += row.map(\.csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    enum Format: String { case json, csv, xlsx }

    static let xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    /// `format=json|csv|xlsx`, else the Accept header (text/csv or the XLSX type without JSON).
    static func format(_ request: Request) throws -> Format {
        if let raw = request.uri.queryParameters.get("format") {
            guard let f = Format(rawValue: String(raw)) else {
                throw APIError.validation(field: "format", "must be one of: json, csv, xlsx")
            }
            return f
        }
        let accept = request.headers[.accept]?.lowercased() ?? ""
        if accept.contains("application/json") { return .json }
        if accept.contains("text/csv") { return .csv }
        if accept.contains(xlsxType) { return .xlsx }
        return .json
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/export-figures") { request, context in
            let principal = try context.requirePrincipal()
            let asked = try Self.parse(request, principal: principal)
            let format = try Self.format(request)
            let persian = CSV.persian(request)
            let scope = try principal.access(.provinceRecord).provinceFilter().map { $0.sorted() }
            let key = Self.cacheKey(asked, format: format, persian: persian, scope: scope)
            let months = Self.versionMonths(asked)
            // One prepared read of a tiny table decides whether anything this request reads changed.
            let version: Int64
            do {
                version = try await primary.prepared(Prepared<Version>(months.0, months.1))[0].decode(Int64.self)
            } catch let error as APIError where replica && error.code == APIError.unavailable.code {
                // The primary cannot be reached but the replica can: its figures, as fresh as it
                // is, neither cached nor tagged (nothing to validate them against).
                let (_, q, rows) = try await computed(asked, months: months, on: db)
                let (headers, body) = try Self.render(q, rows, format: format, persian: persian)
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
            }
            let tag = Self.etag(key: key, version: version)
            if FiguresCache.matches(request.headers[.ifNoneMatch], tag) {
                return Response(status: .notModified, headers: [.eTag: tag])
            }
            let entry = try await cache.entry(key, version: version) {
                var (read, q, rows) = try await computed(asked, months: months, on: db)
                if read < version {
                    // The replica is behind what the primary has acknowledged: answer from the primary.
                    (read, q, rows) = try await computed(asked, months: months, on: primary)
                }
                let (headers, body) = try Self.render(q, rows, format: format, persian: persian)
                return FiguresCache.Entry(version: read, headers: headers, body: body)
            }
            var headers = entry.headers
            headers[.eTag] = Self.etag(key: key, version: entry.version)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: entry.body))
        }
    }
}

/// A spreadsheet cell: text, a number written from its exact decimal text, or a code the server
/// generated (an HS code, a period label) that must stay text.
enum Cell {
    case text(String)
    case number(String)
    case code(String)

    var text: String {
        switch self {
        case .text(let t), .number(let t), .code(let t): t
        }
    }

    /// Whether a code may be written as the formula `="…"`: only digits, Q, dashes and a slash
    /// (an HS code, `1405-07`, `2026-Q4`, `1405-02-02/1405-02-31`), never user text.
    static func isCode(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 47 || $0 == 81 }
    }

    /// The CSV field. Excel drops an HS code's leading zeros (0802 → 802) and reads 2026-10 as a
    /// date; `="0802"` keeps either as text. Everything else goes through the formula guard.
    var csvField: String {
        if case .code(let t) = self, Self.isCode(t) { return "\"=\"\"\(t)\"\"\"" }
        return CSV.field(text)
    }
}
