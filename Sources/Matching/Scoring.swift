import Catalog
import Foundation

/// The matching score: six criteria, each worth `weight × s` with s in [0, 1], so the score is in
/// [0, 1] and the breakdown parts add up to it. docs/matching.md explains each one. A demand that
/// prefers the provinces' priority activities adds a seventh, `province_priority`, and the six
/// give up a tenth of their weight to it (`withPriority`), so the weights still sum to 1.
public enum MatchWeights {
    public static let price = 0.25
    public static let capacity = 0.25
    public static let province = 0.10
    public static let deliveryRecord = 0.15
    public static let certificates = 0.10
    public static let keywords = 0.15

    /// Valid certificate kinds beyond the required ones that earn the whole certificates part.
    public static let extraCertificatesForFull = 2
    /// A producer without finished orders is neither rewarded nor penalised.
    public static let deliveryRecordWithoutHistory = 0.5

    /// The weights a demand's matches use: the six above, or, when the demand prefers priority
    /// activities, each nine tenths of it plus 0.10 for `province_priority`.
    public static func of(preferPriority: Bool) -> Table { preferPriority ? withPriority : standard }

    public static let standard = Table(
        price: price, capacity: capacity, province: province, deliveryRecord: deliveryRecord, certificates: certificates,
        keywords: keywords, provincePriority: 0)
    public static let withPriority = Table(
        price: 0.225, capacity: 0.225, province: 0.09, deliveryRecord: 0.135, certificates: 0.09, keywords: 0.135,
        provincePriority: 0.10)

    /// One set of weights, as every matches response returns it (`weights`).
    public struct Table: Equatable, Sendable, Encodable {
        public var price: Double
        public var capacity: Double
        public var province: Double
        public var deliveryRecord: Double
        public var certificates: Double
        public var keywords: Double
        public var provincePriority: Double
    }
}

/// The parts of one candidate's score, rounded to four decimals; `score` is their exact sum.
public struct ScoreBreakdown: Equatable, Sendable, Encodable {
    public var price: Double
    public var capacity: Double
    public var province: Double
    public var deliveryRecord: Double
    public var certificates: Double
    public var keywords: Double
    /// The producer's province prioritises the product's activity in its approved study (only
    /// when the demand asks for it; else 0).
    public var provincePriority: Double

    /// Builds the parts from raw weighted values, each rounded to 1/10,000.
    public init(
        price: Double, capacity: Double, province: Double, deliveryRecord: Double, certificates: Double, keywords: Double,
        provincePriority: Double = 0
    ) {
        self.price = Self.round(price)
        self.capacity = Self.round(capacity)
        self.province = Self.round(province)
        self.deliveryRecord = Self.round(deliveryRecord)
        self.certificates = Self.round(certificates)
        self.keywords = Self.round(keywords)
        self.provincePriority = Self.round(provincePriority)
    }

    static func round(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
    static func units(_ x: Double) -> Int { Int((x * 10_000).rounded()) }

    /// Summed in whole ten-thousandths so the score prints as exactly the sum of the parts.
    public var scoreUnits: Int {
        [price, capacity, province, deliveryRecord, certificates, keywords, provincePriority].reduce(0) { $0 + Self.units($1) }
    }
    public var score: Double { Double(scoreUnits) / 10_000 }
}

/// Demand keywords as matching uses them: normalised like catalog search (Arabic letter forms,
/// digits, ZWNJ, case), split into distinct words.
public enum MatchKeywords {
    public static let maxWords = 10

    public static func words(_ keywords: String?) -> [String] {
        var seen = Set<String>()
        return PersianText.normalize(keywords ?? "").split(separator: " ").map(String.init)
            .filter { $0.count >= 2 && seen.insert($0).inserted }
            .prefix(maxWords).map { $0 }
    }
}

/// Several candidates that together cover a quantity no single one can.
public struct Pool: Equatable, Sendable {
    public struct Candidate: Equatable, Sendable {
        public var productID: Int64
        public var producerID: Int64
        public var supply: Int
        public var scoreUnits: Int
        public init(productID: Int64, producerID: Int64, supply: Int, scoreUnits: Int) {
            self.productID = productID
            self.producerID = producerID
            self.supply = supply
            self.scoreUnits = scoreUnits
        }
    }

    public struct Member: Equatable, Sendable {
        public var candidate: Candidate
        public var quantity: Int
    }

    public var members: [Member]
    public var shortfall: Int
    public var covered: Int { members.reduce(0) { $0 + $1.quantity } }

    /// Picks as few candidates as can cover `quantity` (no smaller set could), and among such sets
    /// prefers higher scores: each step takes the best-scoring candidate that still leaves the
    /// quantity coverable with the fewest members. Each member supplies what it can, the last one
    /// the remainder. When all of them together fall short, every candidate is a member (up to
    /// `maxMembers`, largest supply first) and `shortfall` says by how much.
    public static func select(quantity: Int, candidates: [Candidate], maxMembers: Int = 100) -> Pool {
        let usable = candidates.filter { $0.supply > 0 }
        let total = usable.reduce(0) { $0 + $1.supply }
        if total < quantity {
            let bySupply = usable.sorted { ($0.supply, $0.scoreUnits, -$0.productID) > ($1.supply, $1.scoreUnits, -$1.productID) }
            let members = bySupply.prefix(maxMembers).map { Member(candidate: $0, quantity: $0.supply) }
            return Pool(members: members, shortfall: quantity - total)
        }
        var remaining = quantity
        // Largest supply first, for "how many members are still needed"; best score first, for choosing.
        var bySupply = usable.sorted { ($0.supply, -$0.productID) > ($1.supply, -$1.productID) }
        let byScore = usable.sorted { ($0.scoreUnits, -$0.productID) > ($1.scoreUnits, -$1.productID) }
        var used = Set<Int64>()
        var members: [Member] = []
        while remaining > 0 && members.count < maxMembers {
            // Fewest further members m that can still cover what remains.
            var sum = 0
            var needed = 0
            for c in bySupply where sum < remaining {
                sum += c.supply
                needed += 1
            }
            // The (needed-1) largest others must make up what this one does not.
            let largest = bySupply.prefix(needed).reduce(0) { $0 + $1.supply }
            let pick =
                byScore.first { c in
                    guard !used.contains(c.productID) else { return false }
                    let inTop = bySupply.prefix(needed).contains { $0.productID == c.productID }
                    let others = inTop ? largest - c.supply : largest - bySupply[needed - 1].supply
                    return c.supply + others >= remaining
                } ?? bySupply[0]  // never nil: the largest supply always qualifies
            let take = min(pick.supply, remaining)
            members.append(Member(candidate: pick, quantity: take))
            remaining -= take
            used.insert(pick.productID)
            bySupply.removeAll { $0.productID == pick.productID }
        }
        return Pool(members: members, shortfall: max(remaining, 0))
    }
}
