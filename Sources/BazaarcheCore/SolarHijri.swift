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

    /// Gregorian date (y, m, d) → Solar Hijri (y, m, d).
    public static func fromGregorian(year: Int, month: Int, day: Int) -> (year: Int, month: Int, day: Int) {
        let date = gregorianInTehran.date(from: DateComponents(year: year, month: month, day: day, hour: 12))!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return (c.year!, c.month!, c.day!)
    }
}
