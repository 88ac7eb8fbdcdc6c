import BazaarcheCore
import Foundation

public enum ShipmentStatus: String, APIEnum {
    case declared, cleared, shipped, rejected

    /// declared → cleared → shipped, or declared → rejected (terminal).
    public func canMove(to target: ShipmentStatus) -> Bool {
        (self, target) == (.declared, .cleared) || (self, target) == (.cleared, .shipped)
            || (self, target) == (.declared, .rejected)
    }

    /// Whether shipments in this status count in the export figures.
    public var counts: Bool { self == .cleared || self == .shipped }
}

/// US dollars as exact cents: a decimal string with at most two decimals, never a float.
public enum USD {
    public static let maxCents: Int64 = 100_000_000_000_000  // a trillion dollars

    public static func cents(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = parts.first, (1...13).contains(whole.count),
            whole.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : "00"
        guard (1...2).contains(fraction.count), fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if fraction.count == 1 { fraction += "0" }
        guard let w = Int64(whole), let f = Int64(fraction) else { return nil }
        let cents = w * 100 + f
        return cents > 0 && cents <= maxCents ? cents : nil
    }

    /// A non-negative whole number of cents of any size (a sum, as decimal digits) as dollars.
    public static func string(centsDigits digits: String) -> String {
        let padded = String(repeating: "0", count: max(0, 3 - digits.count)) + digits
        return "\(padded.dropLast(2)).\(padded.suffix(2))"
    }

    public static func string(cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

public enum ReportCalendar: String, APIEnum { case jalali, gregorian }
public enum ReportPeriod: String, APIEnum { case month, quarter, year }
public enum ReportScope: String, APIEnum {
    case nonOil = "non_oil"
    case all
}

/// The dimensions figures can be grouped by. `hs_chapter` is the older name of `hs2`.
public enum ReportDimension: String, APIEnum {
    case province
    case hsChapter = "hs_chapter"
    case hs2, hs4, hs6
    case destination, category
    case customsOffice = "customs_office"

    /// Digits of an HS dimension (2, 4 or 6), nil for the others.
    public var hsLevel: Int? {
        switch self {
        case .hsChapter, .hs2: 2
        case .hs4: 4
        case .hs6: 6
        default: nil
        }
    }

    /// The bit of export_rollups.dims (sql/0027_export_figures.sql) for a dimension other than HS.
    public var bit: Int {
        switch self {
        case .province: 1
        case .destination: 4
        case .category: 8
        case .customsOffice: 16
        default: Self.hsBit(hsLevel ?? 2)
        }
    }

    public static func hsBit(_ level: Int) -> Int { level == 2 ? 2 : level == 4 ? 32 : 64 }

    /// Rollups hold every grouping of at most two dimensions, counting the HS levels as one (an
    /// HS-4 rollup serves HS 2 and 4): `dims` are the non-HS dimensions and `hsLevel` the finest
    /// HS level needed, if any.
    public static func rolledUp(_ dims: Set<ReportDimension>, hsLevel: Int?) -> Bool {
        dims.filter { $0.hsLevel == nil }.count + (hsLevel == nil ? 0 : 1) <= 2
    }
}

/// `from` and `to` as people say them: a date (`2026-10-22`), a Solar Hijri month (`1405-07`) or
/// quarter (`1405-Q2`), or a Gregorian month or quarter (`2026-10`, `2026-Q4`; years from 1900 are
/// Gregorian, years up to 1500 Solar Hijri), Persian or Arabic-Indic digits allowed. A month or
/// quarter starts on its first day as `from` and ends on its last as `to`.
public enum ReportDate {
    public enum Bound: Sendable { case from, to }

    public static func parse(_ raw: String, _ bound: Bound) -> CalendarDate? {
        let text = Digits.ascii(raw).trimmingCharacters(in: .whitespaces).uppercased()
        if text.count == 10 {
            // A Solar Hijri day (1405-06-31) or a Gregorian one.
            let p = text.split(separator: "-")
            if p.count == 3, let y = Int(p[0]), (1329...1479).contains(y), p[1].count == 2, p[2].count == 2,
                let m = Int(p[1]), let d = Int(p[2]), (1...12).contains(m), d >= 1
            {
                let start = ReportMonths.start(jalali: true, y * 100 + m)
                let length = ReportDate.days(start, ReportMonths.start(jalali: true, ReportMonths.next(y * 100 + m)))
                return d <= length ? start.adding(days: d - 1) : nil
            }
            return CalendarDate(text)
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, let year = Int(parts[0]), parts[0].allSatisfy(\.isASCII) else { return nil }
        let jalali: Bool
        switch year {
        case 1329...1479: jalali = true  // 1950-2100 in Solar Hijri years
        case 1950...2100: jalali = false
        default: return nil
        }
        let (first, last): (Int, Int)
        let part = parts[1]
        if part.count == 2, part.allSatisfy({ $0.isASCII && $0.isNumber }), let m = Int(part), (1...12).contains(m) {
            (first, last) = (m, m)
        } else if part.count == 2, part.first == "Q", let q = Int(part.dropFirst()), (1...4).contains(q) {
            (first, last) = ((q - 1) * 3 + 1, q * 3)
        } else {
            return nil
        }
        switch bound {
        case .from: return ReportMonths.start(jalali: jalali, year * 100 + first)
        case .to: return ReportMonths.start(jalali: jalali, ReportMonths.next(year * 100 + last)).adding(days: -1)
        }
    }

    /// The calendar an input is written in: true for Solar Hijri (a day, month or quarter of years
    /// 1329–1479), false for a Gregorian month or quarter, nil for a Gregorian day (which names no
    /// month of its own). `previous_period` judges "whole months" in this calendar.
    public static func writtenInSolarHijri(_ raw: String) -> Bool? {
        let text = Digits.ascii(raw).trimmingCharacters(in: .whitespaces)
        guard text.count >= 4, let year = Int(text.prefix(4)) else { return nil }
        if (1329...1479).contains(year) { return true }
        return text.count == 7 ? false : nil
    }

    /// Days from `a` to `b` (b - a).
    public static func days(_ a: CalendarDate, _ b: CalendarDate) -> Int {
        let cal = SolarHijri.gregorianInTehran
        func noon(_ d: CalendarDate) -> Date {
            cal.date(from: DateComponents(year: d.year, month: d.month, day: d.day, hour: 12))!
        }
        return cal.dateComponents([.day], from: noon(a), to: noon(b)).day!
    }

    /// Whether `date` is the last day of its month in the calendar.
    public static func isMonthEnd(_ date: CalendarDate, jalali: Bool) -> Bool {
        ReportMonths.key(jalali: jalali, date) != ReportMonths.key(jalali: jalali, date.adding(days: 1))
    }

    /// The same calendar date a year earlier: the last day of a month stays the last day (30 Esfand
    /// 1403 → 29 Esfand 1402, 29 Esfand 1404 → 30 Esfand 1403; 29 February → 28 February); other
    /// days are kept (clamped to the month's length).
    public static func yearEarlier(_ date: CalendarDate, jalali: Bool) -> CalendarDate {
        let key = ReportMonths.key(jalali: jalali, date)
        let start = ReportMonths.start(jalali: jalali, key)
        let day = days(start, date) + 1
        let earlierKey = key - 100
        let earlierStart = ReportMonths.start(jalali: jalali, earlierKey)
        let earlierEnd = ReportMonths.start(jalali: jalali, ReportMonths.next(earlierKey)).adding(days: -1)
        if isMonthEnd(date, jalali: jalali) { return earlierEnd }
        return min(earlierStart.adding(days: day - 1), earlierEnd)
    }
}

/// What rows are compared with: the period just before, or the same dates a year earlier.
public enum ReportComparison: String, APIEnum {
    case previousPeriod = "previous_period"
    case previousYear = "previous_year"

    /// The base range of [from, to]. A range of whole months (in the calendar the input was written
    /// in) is compared with as many whole months just before it; any other range with as many days
    /// just before it.
    public func base(from: CalendarDate, to: CalendarDate, jalali: Bool) -> (from: CalendarDate, to: CalendarDate) {
        switch self {
        case .previousYear:
            return (ReportDate.yearEarlier(from, jalali: jalali), ReportDate.yearEarlier(to, jalali: jalali))
        case .previousPeriod:
            let first = ReportMonths.key(jalali: jalali, from)
            let last = ReportMonths.key(jalali: jalali, to)
            if ReportMonths.start(jalali: jalali, first) == from && ReportDate.isMonthEnd(to, jalali: jalali) {
                var months = 1
                var k = first
                while k != last {
                    k = ReportMonths.next(k)
                    months += 1
                }
                var start = first
                for _ in 0..<months { start = ReportMonths.previous(start) }
                return (ReportMonths.start(jalali: jalali, start), from.adding(days: -1))
            }
            let length = ReportDate.days(from, to) + 1
            return (from.adding(days: -length), from.adding(days: -1))
        }
    }
}

/// Period labels from keys: months are yyyymm in either calendar, quarters yyyy × 10 + q, years yyyy.
public enum ReportPeriods {
    public static func label(key: Int, period: ReportPeriod) -> String {
        switch period {
        case .month: String(format: "%04d-%02d", key / 100, key % 100)
        case .quarter: String(format: "%04d-Q%d", key / 10, key % 10)
        case .year: String(format: "%04d", key)
        }
    }

    /// The period key of a month key (yyyymm): itself, yyyy × 10 + quarter, or yyyy.
    public static func key(month: Int, _ period: ReportPeriod) -> Int {
        switch period {
        case .month: month
        case .quarter: (month / 100) * 10 + (month % 100 - 1) / 3 + 1
        case .year: month / 100
        }
    }

    /// Whether [from, to] is made of whole periods of the calendar (no period cut at either edge).
    public static func whole(from: CalendarDate, to: CalendarDate, jalali: Bool, _ period: ReportPeriod) -> Bool {
        let first = ReportMonths.key(jalali: jalali, from)
        let after = ReportMonths.key(jalali: jalali, to.adding(days: 1))
        return ReportMonths.start(jalali: jalali, first) == from
            && ReportMonths.start(jalali: jalali, after) == to.adding(days: 1)
            && key(month: first, period) != key(month: ReportMonths.previous(first), period)
            && key(month: after, period) != key(month: ReportMonths.previous(after), period)
    }

    /// The key `years` later (earlier when negative): a month key moves by 100 a year, a quarter's
    /// by 10, a year's by 1.
    public static func shifted(key: Int, years: Int, _ period: ReportPeriod) -> Int {
        switch period {
        case .month: key + 100 * years
        case .quarter: key + 10 * years
        case .year: key + years
        }
    }

    /// The period keys a range touches, in order.
    public static func keys(from: CalendarDate, to: CalendarDate, jalali: Bool, _ period: ReportPeriod) -> [Int] {
        var month = ReportMonths.key(jalali: jalali, from)
        let last = ReportMonths.key(jalali: jalali, to)
        var keys: [Int] = []
        while month <= last {
            let k = key(month: month, period)
            if keys.last != k { keys.append(k) }
            month = ReportMonths.next(month)
        }
        return keys
    }
}

/// Exact sums of non-negative whole numbers written as decimal digits (cents, grams): totals of
/// any number of rows, so they cannot overflow the way an Int64 would.
public enum ExactSum {
    public static func add(_ a: String, _ b: String) -> String {
        let x = Array(a.utf8.reversed())
        let y = Array(b.utf8.reversed())
        var out: [UInt8] = []
        var carry: UInt8 = 0
        for i in 0..<max(x.count, y.count) {
            let d = (i < x.count ? x[i] - 48 : 0) + (i < y.count ? y[i] - 48 : 0) + carry
            out.append(d % 10 + 48)
            carry = d / 10
        }
        if carry > 0 { out.append(carry + 48) }
        while out.count > 1 && out.last == 48 { out.removeLast() }
        return String(decoding: out.reversed(), as: UTF8.self)
    }

    /// Digits only (no sign, no point), at least one.
    public static func isDigits(_ text: String) -> Bool { !text.isEmpty && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
}
