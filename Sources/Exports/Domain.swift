import BazaarcheCore
import Foundation

public enum ShipmentStatus: String, APIEnum {
    case declared, cleared, shipped

    /// declared → cleared → shipped.
    public func canMove(to target: ShipmentStatus) -> Bool {
        (self, target) == (.declared, .cleared) || (self, target) == (.cleared, .shipped)
    }

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

    public static func string(cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

public enum ReportCalendar: String, APIEnum { case jalali, gregorian }
public enum ReportPeriod: String, APIEnum { case month, quarter, year }
public enum ReportScope: String, APIEnum { case nonOil = "non_oil", all }

/// The dimensions figures can be grouped by; the raw value is the bit in export_rollups.dims.
public enum ReportDimension: String, APIEnum {
    case province, hsChapter = "hs_chapter", destination, category

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

/// RFC 4180 fields: quoted when they hold a comma, quote or line break.
public enum CSV {
    public static func field(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\r\n" }
}
