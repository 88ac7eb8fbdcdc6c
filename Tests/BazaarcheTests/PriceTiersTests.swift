import Catalog
import Testing

/// Volume price tiers without a database (the SQL twin is compared in WholesaleTermsTests).
@Suite struct PriceTiersTests {
    static let tiers = [
        PriceTier(minQuantity: 10, unitPriceRials: 900_000), PriceTier(minQuantity: 50, unitPriceRials: 800_000),
    ]

    @Test func theHighestTierReachedSetsThePrice() {
        let price = { (q: Int) in PriceTiers.unitPrice(base: 1_000_000, tiers: Self.tiers, quantity: q) }
        #expect(price(1) == 1_000_000)
        #expect(price(9) == 1_000_000)
        #expect(price(10) == 900_000)
        #expect(price(49) == 900_000)
        #expect(price(50) == 800_000)
        #expect(price(1_000_000) == 800_000)
        #expect(PriceTiers.unitPrice(base: 1_000_000, tiers: [], quantity: 500) == 1_000_000)
        // Order of the array does not matter: the highest min_quantity reached wins.
        #expect(PriceTiers.unitPrice(base: 1_000_000, tiers: Self.tiers.reversed(), quantity: 60) == 800_000)
        #expect(PriceTiers.tier(for: 20, in: Self.tiers) == Self.tiers[0])
        #expect(PriceTiers.tier(for: 5, in: Self.tiers) == nil)
    }

    @Test func wellFormedTiersHaveNoProblems() {
        #expect(PriceTiers.problems(Self.tiers, base: 1_000_000, increment: 1, minOrder: 1).isEmpty)
        #expect(PriceTiers.problems(Self.tiers, base: 1_000_000, increment: 5, minOrder: 5).isEmpty)
        #expect(PriceTiers.problems([], base: 1, increment: 1, minOrder: 1).isEmpty)
    }

    @Test func eachBrokenRuleNamesItsField() {
        func fields(_ tiers: [(Int, Int64)], base: Int64 = 1_000_000, increment: Int = 1, minOrder: Int = 1) -> [String] {
            PriceTiers.problems(
                tiers.map { PriceTier(minQuantity: $0.0, unitPriceRials: $0.1) }, base: base, increment: increment,
                minOrder: minOrder
            ).map(\.field)
        }
        // A price rising from one tier to the next.
        #expect(fields([(10, 800_000), (50, 900_000)]) == ["price_tiers[1].unit_price_rials"])
        // Equal prices are not a discount either.
        #expect(fields([(10, 800_000), (50, 800_000)]) == ["price_tiers[1].unit_price_rials"])
        // Unsorted quantities.
        #expect(fields([(50, 900_000), (10, 800_000)]) == ["price_tiers[1].min_quantity"])
        // A tier at or above the base price.
        #expect(fields([(10, 1_000_000)]) == ["price_tiers[0].unit_price_rials"])
        // Not above the minimum order quantity.
        #expect(fields([(10, 900_000)], minOrder: 10) == ["price_tiers[0].min_quantity"])
        // Not a multiple of the increment.
        #expect(fields([(10, 900_000), (25, 800_000)], increment: 5, minOrder: 5) == [])
        #expect(fields([(12, 900_000)], increment: 5, minOrder: 5) == ["price_tiers[0].min_quantity"])
        // A zero price.
        #expect(fields([(10, 0)]) == ["price_tiers[0].unit_price_rials"])
        // At most ten tiers.
        let eleven = (1...11).map { (10 * $0, Int64(1_000_000 - 10_000 * $0)) }
        #expect(fields(eleven) == ["price_tiers"])
        #expect(fields(Array(eleven.prefix(10))) == [])
    }
}
