import BazaarcheCore
import Foundation

/// Search normalisation for Persian (and Latin) text; the SQL twin is `fa_normalize` in
/// sql/0003_catalog.sql, and a test checks the two agree.
public enum PersianText {
    static let letters: [Unicode.Scalar: Unicode.Scalar] = [
        "ي": "ی", "ى": "ی", "ك": "ک", "ۀ": "ه", "ة": "ه", "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ؤ": "و", "ئ": "ی",
    ]

    public static func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var lastWasSpace = true
        for scalar in text.unicodeScalars {
            var s = letters[scalar] ?? scalar
            switch s.value {
            case 0x06F0...0x06F9: s = Unicode.Scalar(s.value - 0x06F0 + 0x30)!
            case 0x0660...0x0669: s = Unicode.Scalar(s.value - 0x0660 + 0x30)!
            case 0x064B...0x065F, 0x0670, 0x0640, 0x200C, 0x200D: continue  // diacritics, tatweel, ZWNJ/ZWJ
            default: break
            }
            if s.properties.isWhitespace {
                if !lastWasSpace { out.append(" ") }
                lastWasSpace = true
                continue
            }
            lastWasSpace = false
            for lowered in String(Character(s)).lowercased().unicodeScalars { out.append(lowered) }
        }
        if out.last == " " { out.removeLast() }
        return String(out)
    }

    /// Without spaces: «کتاب ها», «کتاب‌ها» and «کتابها» become the same string.
    public static func compact(_ text: String) -> String {
        normalize(text).replacingOccurrences(of: " ", with: "")
    }
}

/// GTIN-13 (EAN-13): twelve digits and a check digit (weights 1, 3 alternating, mod 10).
public enum GTIN {
    public static func isValid(_ code: String) -> Bool {
        let digits = code.compactMap { $0.isASCII ? $0.wholeNumberValue : nil }
        guard code.count == 13, digits.count == 13 else { return false }
        let sum = (0..<12).reduce(0) { $0 + digits[$1] * ($1 % 2 == 0 ? 1 : 3) }
        return digits[12] == (10 - sum % 10) % 10
    }
}

public enum ProductStatus: String, APIEnum {
    case draft, listed, paused, archived

    /// draft → listed; listed ⇄ paused; any (but archived) → archived.
    public func canMove(to target: ProductStatus) -> Bool {
        switch (self, target) {
        case (.draft, .listed), (.listed, .paused), (.paused, .listed): return true
        case (.draft, .archived), (.listed, .archived), (.paused, .archived): return true
        default: return false
        }
    }
}

public enum PackagingLevel: String, APIEnum, Comparable {
    case none, basic, retail, export
    public var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// A packaging declaration's review: every declaration waits for a supervisor's (or admin's)
/// decision; only an approval changes the level search and matching read.
public enum PackagingReviewStatus: String, APIEnum {
    case pendingReview = "pending_review"
    case approved, rejected
}

public enum PackagingDecision: String, APIEnum { case approve, reject }

public enum CertificateKind: String, APIEnum {
    case inso
    case healthLicense = "health_license"
    case halal, iso22000
    case handicraftSeal = "handicraft_seal"
    case organic, other
}

public enum CertificateStatus: String, APIEnum {
    case applied
    case underReview = "under_review"
    case granted, rejected, revoked

    /// applied → under_review → granted | rejected; granted → revoked.
    public func canMove(to target: CertificateStatus) -> Bool {
        switch (self, target) {
        case (.applied, .underReview), (.underReview, .granted), (.underReview, .rejected), (.granted, .revoked): return true
        default: return false
        }
    }
}

public enum ProductUnit: String, APIEnum {
    case piece, kg, g, liter, ml, box, pack, jar, bottle, meter
    case squareMeter = "square_meter"
    case set, dozen, pair
}

public enum Slug {
    public static func isValid(_ slug: String) -> Bool {
        guard (1...60).contains(slug.count), !slug.hasPrefix("-"), !slug.hasSuffix("-"), !slug.contains("--") else {
            return false
        }
        return slug.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}

public enum HSCode {
    /// 6 to 10 digits; whether its chapter exists is checked against hs_chapters.
    public static func isWellFormed(_ code: String) -> Bool {
        (6...10).contains(code.count) && code.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

/// Optional URL fields: http(s) only, so stored links are safe to render.
public enum WebURL {
    public static func isValid(_ text: String) -> Bool {
        guard text.count <= 500, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), url.host?.isEmpty == false
        else { return false }
        return true
    }
}

/// One volume price break: from `minQuantity` units on, each unit costs `unitPriceRials`.
public struct PriceTier: Codable, Sendable, Equatable, Hashable {
    public var minQuantity: Int
    public var unitPriceRials: Int64

    public init(minQuantity: Int, unitPriceRials: Int64) {
        self.minQuantity = minQuantity
        self.unitPriceRials = unitPriceRials
    }
}

/// Wholesale volume pricing. The SQL twin of `unitPrice` is `tier_unit_price` and of `problems`
/// is `price_tiers_valid` (sql/0024_wholesale_terms.sql); tests compare them.
public enum PriceTiers {
    public static let maxTiers = 10

    /// The unit price for `quantity`: the tier with the highest `minQuantity` not above it, else `base`.
    public static func unitPrice(base: Int64, tiers: [PriceTier], quantity: Int) -> Int64 {
        tiers.filter { $0.minQuantity <= quantity }.max { $0.minQuantity < $1.minQuantity }?.unitPriceRials ?? base
    }

    /// The stored form (jsonb), with the API's field names.
    public static func jsonText(_ tiers: [PriceTier]) -> String {
        "["
            + tiers.map { "{\"min_quantity\":\($0.minQuantity),\"unit_price_rials\":\($0.unitPriceRials)}" }
            .joined(separator: ",") + "]"
    }

    /// Tiers from their stored form.
    public static func decode(_ json: String) throws -> [PriceTier] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode([PriceTier].self, from: Data(json.utf8))
    }

    /// The tier that applies to `quantity`, if any.
    public static func tier(for quantity: Int, in tiers: [PriceTier]) -> PriceTier? {
        tiers.filter { $0.minQuantity <= quantity }.max { $0.minQuantity < $1.minQuantity }
    }

    /// Field errors (field suffix relative to `price_tiers`, message) of tiers against a product's
    /// base price, order increment and minimum order; empty when they are well formed.
    public static func problems(_ tiers: [PriceTier], base: Int64, increment: Int, minOrder: Int) -> [(
        field: String, message: String
    )] {
        var out: [(String, String)] = []
        if tiers.count > maxTiers { out.append(("price_tiers", "must have at most \(maxTiers) tiers")) }
        var lastQuantity = minOrder
        var lastPrice = base
        for (i, tier) in tiers.enumerated() {
            let at = "price_tiers[\(i)]"
            if tier.minQuantity <= lastQuantity {
                out.append(
                    i == 0
                        ? ("\(at).min_quantity", "must be above min_order_qty (\(minOrder))")
                        : ("\(at).min_quantity", "must be above the previous tier's min_quantity (\(lastQuantity))"))
            } else if tier.minQuantity > 1_000_000_000 {
                out.append(("\(at).min_quantity", "must be at most 1000000000"))
            } else if increment > 0 && tier.minQuantity % increment != 0 {
                out.append(("\(at).min_quantity", "must be a multiple of order_increment (\(increment))"))
            }
            if tier.unitPriceRials <= 0 {
                out.append(("\(at).unit_price_rials", "must be a whole number of rials above 0"))
            } else if tier.unitPriceRials >= lastPrice {
                out.append(
                    i == 0
                        ? ("\(at).unit_price_rials", "must be below price_rials (\(base))")
                        : ("\(at).unit_price_rials", "must be below the previous tier's unit_price_rials (\(lastPrice))"))
            }
            lastQuantity = max(lastQuantity, tier.minQuantity)
            lastPrice = min(lastPrice, tier.unitPriceRials)
        }
        return out
    }
}
