import Foundation

/// Collects field errors so a client learns every problem of a request at once.
public struct Validator: Sendable {
    public private(set) var errors: [FieldError] = []
    public init() {}

    public mutating func add(_ field: String, _ message: String) {
        errors.append(FieldError(field, message))
    }

    public mutating func check(_ condition: Bool, _ field: String, _ message: @autoclosure () -> String) {
        if !condition { add(field, message()) }
    }

    /// Trims and checks a required text: not blank, at most `max` characters.
    public mutating func text(_ value: String, _ field: String, max: Int = 200) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        // Counted in code points, as PostgreSQL's length() does (ZWNJ and diacritics count).
        if trimmed.isEmpty {
            add(field, "must not be empty")
        } else if trimmed.unicodeScalars.count > max {
            add(field, "must be at most \(max) characters")
        }
        return trimmed
    }

    /// Trims an optional text; blank becomes nil.
    public mutating func optionalText(_ value: String?, _ field: String, max: Int = 2000) -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return nil }
        if trimmed.unicodeScalars.count > max { add(field, "must be at most \(max) characters") }
        return trimmed
    }

    public func throwIfInvalid() throws {
        if !errors.isEmpty { throw APIError.validation(errors) }
    }
}

/// A calendar date without time (`YYYY-MM-DD`), as used for held_on, issued_on and the like.
public struct CalendarDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
            (1900...2200).contains(y), (1...12).contains(m), d >= 1, d <= CalendarDate.daysIn(month: m, year: y)
        else { return nil }
        (year, month, day) = (y, m, d)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = CalendarDate(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "must be a date YYYY-MM-DD"))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String {
        String(format: "%04d-%02d-%02d", year, month, day)
    }

    public static func < (a: CalendarDate, b: CalendarDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
