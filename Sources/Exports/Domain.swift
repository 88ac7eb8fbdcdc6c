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

/// The dimensions figures can be grouped by; the raw value is the bit in export_rollups.dims.
public enum ReportDimension: String, APIEnum {
    case province
    case hsChapter = "hs_chapter"
    case destination, category

    public var bit: Int {
        switch self {
        case .province: 1
        case .hsChapter: 2
        case .destination: 4
        case .category: 8
        }
    }

    /// Rollups exist for every grouping of at most two dimensions (sql/0008_exports.sql).
    public static func rolledUp(_ dims: Set<ReportDimension>) -> Bool { dims.count <= 2 }
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

/// RFC 4180 fields: quoted when they hold a comma, quote or line break.
public enum CSV {
    public static func field(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\r\n" }
}
