import Foundation

/// Digits typed on Persian or Arabic keyboards are accepted and stored as ASCII.
public enum Digits {
    public static func ascii(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { scalar in
                    switch scalar.value {
                    case 0x06F0...0x06F9: return Unicode.Scalar(scalar.value - 0x06F0 + 0x30)!
                    case 0x0660...0x0669: return Unicode.Scalar(scalar.value - 0x0660 + 0x30)!
                    default: return scalar
                    }
                }))
    }
}

/// ISO 3166-2:IR province codes (IR-00 … IR-30); whether one exists is the provinces table's say.
public enum ProvinceCode {
    public static func isWellFormed(_ code: String) -> Bool {
        code.count == 5 && code.hasPrefix("IR-") && code.dropFirst(3).allSatisfy { $0.isASCII && $0.isNumber }
    }
}

/// Iranian landline or mobile numbers: 11 digits starting with 0, after dropping spaces and dashes.
public enum Phone {
    public static func normalize(_ text: String) -> String {
        Digits.ascii(text).filter { $0 != " " && $0 != "-" }
    }

    public static func isValid(_ phone: String) -> Bool {
        phone.count == 11 && phone.hasPrefix("0") && phone.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

/// FNV-1a: a hash that is stable across runs and processes, unlike `hashValue`.
public enum StableHash {
    public static func fnv1a(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 36)
    }
}

/// Versions as entity tags, and `If-Match` checked by strong comparison (RFC 9110 §13.1.1):
/// a weak tag W/"…" never matches; `*` matches anything.
public enum EntityTag {
    public static func of(_ version: Int) -> String { "\"\(version)\"" }

    /// Throws 412 `stale_version` when `ifMatch` is present and names neither `*` nor the current version.
    public static func check(_ ifMatch: String?, version: Int, entity: String, extra: [String: String] = [:]) throws {
        guard let ifMatch else { return }
        let tags = ifMatch.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if tags.contains("*") || tags.contains(of(version)) { return }
        throw APIError(
            .preconditionFailed, code: "stale_version", title: "The \(entity) has changed",
            detail: "If-Match does not match the current version \(of(version)); read it again and retry.",
            extra: extra.merging(["current_etag": of(version)]) { a, _ in a })
    }
}
