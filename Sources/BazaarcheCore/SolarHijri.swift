import Foundation

/// The Solar Hijri (Jalali) calendar as used for plan years and report periods, in Asia/Tehran.
public enum SolarHijri {
    public static let tehran = TimeZone(identifier: "Asia/Tehran")!

    static var calendar: Calendar {
        var calendar = Calendar(identifier: .persian)
        calendar.timeZone = tehran
        return calendar
    }

    /// The Gregorian calendar in Tehran's time zone: calendar dates in the API are Tehran days.
    public static var gregorianInTehran: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tehran
        return calendar
    }

    /// Today's (Gregorian) date in Tehran.
    public static func today() -> CalendarDate {
        let c = gregorianInTehran.dateComponents([.year, .month, .day], from: Date())
        return CalendarDate(String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!))!
    }

    /// The Solar Hijri year a moment falls in, in Tehran.
    public static func year(of date: Date) -> Int {
        calendar.component(.year, from: date)
    }

    /// The half-open range of instants [1 Farvardin `year`, 1 Farvardin `year + 1`) in Tehran.
    public static func yearBounds(_ year: Int) -> (start: Date, end: Date) {
        let cal = calendar
        let start = cal.date(from: DateComponents(year: year, month: 1, day: 1))!
        let end = cal.date(from: DateComponents(year: year + 1, month: 1, day: 1))!
        return (start, end)
    }

    /// The half-open range of instants of quarter `quarter` (1…4: months 1–3, 4–6, 7–9, 10–12) of `year`.
    public static func quarterBounds(_ year: Int, _ quarter: Int) -> (start: Date, end: Date) {
        precondition((1...4).contains(quarter))
        let cal = calendar
        let start = cal.date(from: DateComponents(year: year, month: (quarter - 1) * 3 + 1, day: 1))!
        let end =
            quarter == 4
            ? cal.date(from: DateComponents(year: year + 1, month: 1, day: 1))!
            : cal.date(from: DateComponents(year: year, month: quarter * 3 + 1, day: 1))!
        return (start, end)
    }

    /// The (Gregorian) calendar date in Tehran of an instant.
    public static func tehranDate(of instant: Date) -> CalendarDate {
        let c = gregorianInTehran.dateComponents([.year, .month, .day], from: instant)
        return CalendarDate(String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!))!
    }

    /// Gregorian date (y, m, d) → Solar Hijri (y, m, d).
    public static func fromGregorian(year: Int, month: Int, day: Int) -> (year: Int, month: Int, day: Int) {
        let date = gregorianInTehran.date(from: DateComponents(year: year, month: month, day: day, hour: 12))!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return (c.year!, c.month!, c.day!)
    }
}

/// Report months as keys yyyymm in either calendar (140507 is Mehr 1405; 202610 is October 2026),
/// and the Gregorian date each begins on. The SQL twins are report_month and report_month_start
/// (sql/0008_exports.sql); a test checks the two calendars agree.
public enum ReportMonths {
    public static func key(jalali: Bool, _ date: CalendarDate) -> Int {
        if !jalali { return date.year * 100 + date.month }
        let j = SolarHijri.fromGregorian(year: date.year, month: date.month, day: date.day)
        return j.year * 100 + j.month
    }

    public static func start(jalali: Bool, _ key: Int) -> CalendarDate {
        guard jalali else { return CalendarDate(String(format: "%04d-%02d-01", key / 100, key % 100))! }
        let instant = SolarHijri.calendar.date(from: DateComponents(year: key / 100, month: key % 100, day: 1, hour: 12))!
        let g = SolarHijri.gregorianInTehran.dateComponents([.year, .month, .day], from: instant)
        return CalendarDate(String(format: "%04d-%02d-%02d", g.year!, g.month!, g.day!))!
    }

    public static func next(_ key: Int) -> Int { key % 100 == 12 ? (key / 100 + 1) * 100 + 1 : key + 1 }
    public static func previous(_ key: Int) -> Int { key % 100 == 1 ? (key / 100 - 1) * 100 + 12 : key - 1 }
}

extension CalendarDate {
    /// The date `days` later (or earlier).
    public func adding(days: Int) -> CalendarDate {
        let cal = SolarHijri.gregorianInTehran
        let instant = cal.date(from: DateComponents(year: year, month: month, day: day, hour: 12))!
        let g = cal.dateComponents([.year, .month, .day], from: cal.date(byAdding: .day, value: days, to: instant)!)
        return CalendarDate(String(format: "%04d-%02d-%02d", g.year!, g.month!, g.day!))!
    }
}
