import BazaarcheCore
import Catalog
import Foundation
import Testing

/// Wholesale terms on products (issue 16): volume price tiers, order increment, lead time and a
/// suggested retail price, and how orders apply them.
@Suite struct WholesaleTermsTests {
    static let tiers =
        #""price_tiers":[{"min_quantity":10,"unit_price_rials":900000},{"min_quantity":50,"unit_price_rials":800000}]"#

    static func lines(_ reply: Reply) -> [[String: Any]] { reply.json["lines"] as? [[String: Any]] ?? [] }

    @Test func ordersArePricedAtTheTierForTheLineQuantity() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, price: 1_000_000, stock: 500, extra: ",\(Self.tiers)")
            let partner = try await api.token(.partner)
            // quantity → (unit price charged, source): 1 and 9 below every tier, 10 and 49 the first, 50 the second.
            let expected: [(Int, Int64, String)] = [
                (1, 1_000_000, "list"), (9, 1_000_000, "list"), (10, 900_000, "tier"), (49, 900_000, "tier"),
                (50, 800_000, "tier"),
            ]
            var taken = 0
            for (quantity, unitPrice, source) in expected {
                let placed = try await api.order(partner, producer: seller.id, lines: [(product, quantity)])
                #expect(placed.status == .created, "\(placed.text)")
                #expect(placed.int("total_rials") == Int64(quantity) * unitPrice, "quantity \(quantity)")
                let line = try #require(Self.lines(placed).first)
                #expect((line["unit_price_rials"] as? NSNumber)?.int64Value == unitPrice)
                #expect((line["list_price_rials"] as? NSNumber)?.int64Value == 1_000_000)
                #expect(line["price_source"] as? String == source)
                #expect((line["line_total_rials"] as? NSNumber)?.int64Value == Int64(quantity) * unitPrice)
                taken += quantity
            }
            // Totals written out: 1×1,000,000; 10×900,000; 50×800,000.
            let one = try await api.order(partner, producer: seller.id, lines: [(product, 1)])
            #expect(one.int("total_rials") == 1_000_000)
            let ten = try await api.order(partner, producer: seller.id, lines: [(product, 10)])
            #expect(ten.int("total_rials") == 9_000_000)
            let fifty = try await api.order(partner, producer: seller.id, lines: [(product, 50)])
            #expect(fifty.int("total_rials") == 40_000_000)
            taken += 61
            #expect(try await api.stock(product) == 500 - taken)

            // Two lines of one order are each priced at their own quantity's tier.
            let other = try await api.product(seller, title: "نان محلی", price: 200_000, stock: 100)
            let mixed = try await api.order(partner, producer: seller.id, lines: [(product, 12), (other, 3)])
            let mixedTotal: Int64 = 12 * 900_000 + 3 * 200_000
            #expect(mixed.status == .created, "\(mixed.text)")
            #expect(mixed.int("total_rials") == mixedTotal)
        }
    }

    @Test func aQuantityOffTheIncrementIsRefusedAndTakesNoStock() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(
                seller, price: 500_000, stock: 100, extra: #","order_increment":6,"min_order_qty":6"#)
            let partner = try await api.token(.partner)
            let orders = {
                try await api.db.rows("SELECT count(*) FROM orders WHERE producer_id = \(seller.id)")[0].decode(Int.self)
            }

            let refused = try await api.order(partner, producer: seller.id, lines: [(product, 8)])
            #expect(refused.status == .unprocessableContent, "\(refused.text)")
            #expect(refused.fields == ["lines[0].quantity"])
            let message = (refused.json["errors"] as? [[String: Any]])?.first?["message"] as? String ?? ""
            #expect(message.contains("order increment 6"), "\(message)")
            #expect(try await api.stock(product) == 100)
            #expect(try await orders() == 0)

            // Six and twelve are packs; they go through.
            #expect(try await api.order(partner, producer: seller.id, lines: [(product, 12)]).status == .created)
            #expect(try await api.stock(product) == 88)
            #expect(try await orders() == 1)
        }
    }

    @Test func badTiersAreRefusedWithFieldErrorsAndChangeNothing() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let count = {
                try await api.db.rows("SELECT count(*) FROM products WHERE producer_id = \(seller.id)")[0].decode(Int.self)
            }
            let create = { (terms: String) in
                try await api.post(
                    "/v1/products",
                    #"{"title_fa":"عسل کوهستان","category_code":"food.bakery","unit":"jar","price_rials":1000000,"stock":5,\#(terms)}"#,
                    token: seller.token)
            }
            let cases: [(String, [String])] = [
                // Rising price.
                (
                    #""price_tiers":[{"min_quantity":10,"unit_price_rials":800000},{"min_quantity":20,"unit_price_rials":900000}]"#,
                    ["price_tiers[1].unit_price_rials"]
                ),
                // Unsorted quantities.
                (
                    #""price_tiers":[{"min_quantity":20,"unit_price_rials":900000},{"min_quantity":10,"unit_price_rials":800000}]"#,
                    ["price_tiers[1].min_quantity"]
                ),
                // A tier above the base price.
                (#""price_tiers":[{"min_quantity":10,"unit_price_rials":1200000}]"#, ["price_tiers[0].unit_price_rials"]),
                // A quantity that is not a multiple of the increment.
                (
                    #""order_increment":4,"min_order_qty":4,"price_tiers":[{"min_quantity":10,"unit_price_rials":900000}]"#,
                    ["price_tiers[0].min_quantity"]
                ),
                // A tier not above the minimum order quantity.
                (
                    #""min_order_qty":10,"price_tiers":[{"min_quantity":10,"unit_price_rials":900000}]"#,
                    ["price_tiers[0].min_quantity"]
                ),
                // The minimum order not a multiple of the increment.
                (#""order_increment":4,"min_order_qty":6"#, ["min_order_qty"]),
                (#""order_increment":0"#, ["order_increment"]),
                (#""lead_time_days":400"#, ["lead_time_days"]),
                // Suggested retail below the wholesale price.
                (#""suggested_retail_price_rials":900000"#, ["suggested_retail_price_rials"]),
            ]
            for (terms, fields) in cases {
                let reply = try await create(terms)
                #expect(reply.status == .unprocessableContent, "\(terms): \(reply.text)")
                #expect(reply.fields == fields, "\(terms): \(reply.text)")
            }
            #expect(try await count() == 0)

            // The same rules on a PATCH leave the product as it was.
            let made = try await create(Self.tiers)
            #expect(made.status == .created, "\(made.text)")
            let id = try #require(made.int("id"))
            let before = try await api.get("/v1/products/\(id)", token: seller.token)
            for (terms, fields) in cases.prefix(3) {
                let patched = try await api.call(.patch, "/v1/products/\(id)", json: "{\(terms)}", token: seller.token)
                #expect(patched.status == .unprocessableContent, "\(terms): \(patched.text)")
                #expect(patched.fields == fields)
            }
            let after = try await api.get("/v1/products/\(id)", token: seller.token)
            #expect(NSDictionary(dictionary: before.json).isEqual(to: after.json))
            #expect(try await count() == 1)
        }
    }

    @Test func aPatchMustKeepTheStoredTiersValid() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, price: 1_000_000, stock: 10, extra: ",\(Self.tiers)")
            let patch = { (body: String) in
                try await api.call(.patch, "/v1/products/\(product)", json: body, token: seller.token)
            }
            let stored = {
                try await api.db.rows("SELECT price_rials, order_increment, min_order_qty FROM products WHERE id = \(product)")[0]
                    .decode((Int64, Int, Int).self)
            }
            // A price at or below a tier's price: the tier would be dearer than the list price.
            let lower = try await patch(#"{"price_rials":900000}"#)
            #expect(lower.status == .unprocessableContent, "\(lower.text)")
            #expect(lower.fields == ["price_rials"])
            // An increment that does not divide the tiers' quantities; a minimum order reaching a tier.
            #expect(try await patch(#"{"order_increment":3,"min_order_qty":3}"#).fields == ["order_increment"])
            #expect(try await patch(#"{"order_increment":3}"#).fields == ["min_order_qty"])  // 1 is not a pack of 3
            #expect(try await patch(#"{"min_order_qty":10}"#).fields == ["min_order_qty"])
            #expect(try await stored() == (1_000_000, 1, 1))

            // With the tiers changed in the same request it goes through.
            let both = try await patch(
                #"{"price_rials":850000,"price_tiers":[{"min_quantity":10,"unit_price_rials":800000}]}"#)
            #expect(both.status == .ok, "\(both.text)")
            #expect(try await stored() == (850_000, 1, 1))
            // Removing the tiers is an empty list; the terms themselves cannot be removed.
            #expect(try await patch(#"{"price_tiers":null}"#).fields == ["price_tiers"])
            #expect(try await patch(#"{"order_increment":null}"#).fields == ["order_increment"])
            let cleared = try await patch(#"{"price_tiers":[],"order_increment":5,"min_order_qty":5}"#)
            #expect(cleared.status == .ok, "\(cleared.text)")
            #expect((cleared.json["price_tiers"] as? [Any])?.isEmpty == true)
            #expect(try await stored() == (850_000, 5, 5))
        }
    }

    @Test func productJSONShowsTheTerms() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(
                seller, title: "گلاب قمصر", price: 1_000_000, stock: 10,
                extra: #","order_increment":5,"min_order_qty":5,"lead_time_days":7,"suggested_retail_price_rials":1400000,"#
                    + Self.tiers)
            let read = try await api.get("/v1/products/\(product)")  // anonymous: a listed product
            #expect(read.status == .ok)
            #expect(read.int("order_increment") == 5)
            #expect(read.int("lead_time_days") == 7)
            #expect(read.int("suggested_retail_price_rials") == 1_400_000)
            let tiers = try #require(read.json["price_tiers"] as? [[String: Any]])
            #expect(tiers.map { ($0["min_quantity"] as? NSNumber)?.intValue } == [10, 50])
            #expect(tiers.map { ($0["unit_price_rials"] as? NSNumber)?.intValue } == [900_000, 800_000])
            // Search results carry the same JSON.
            let found = try await api.get("/v1/products?producer_id=\(seller.id)")
            let item = try #require(found.items.first { ($0["id"] as? NSNumber)?.int64Value == product })
            #expect((item["price_tiers"] as? [Any])?.count == 2)
            #expect((item["order_increment"] as? NSNumber)?.intValue == 5)

            // A product without terms: no tiers, increment 1, nothing else.
            let plain = try await api.product(seller, title: "مربای هویج", price: 300_000, stock: 3)
            let bare = try await api.get("/v1/products/\(plain)")
            #expect((bare.json["price_tiers"] as? [Any])?.isEmpty == true)
            #expect(bare.int("order_increment") == 1)
            #expect(bare.json["lead_time_days"] is NSNull)
            #expect(bare.json["suggested_retail_price_rials"] is NSNull)
        }
    }

    @Test func anAcceptedInvitationKeepsTheAgreedPriceNotTheTier() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let maker = try await api.producer(status: .verified)
            let cake = try await api.product(maker, price: 1_000_000, stock: 40, extra: ",\(Self.tiers)")
            let neededBy = try await api.tehranDate(plus: 30)
            let demand = try #require(
                try await api.post(
                    "/v1/demands",
                    #"{"unit":"piece","needed_by":"\#(neededBy)","category_code":"food","quantity":20,"max_unit_price_rials":1000000}"#,
                    token: partner
                ).int("id"))
            let invited = try await api.post(
                "/v1/demands/\(demand)/invitations",
                #"""
                {"producer_id":\#(maker.id),"product_id":\#(cake),"quantity":20,"unit_price_rials":700000,"delivery":\#
                {"province_code":"IR-23","city":"تهران","address":"خیابان آزادی، پلاک ۱","recipient":"انبار مرکزی","phone":"02112345678"}}
                """#,
                token: partner)
            #expect(invited.status == .created, "\(invited.text)")
            let accepted = try await api.post(
                "/v1/invitations/\(try #require(invited.int("id")))/accept", "{}", token: maker.token)
            #expect(accepted.status == .ok, "\(accepted.text)")
            let order = try await api.get("/v1/orders/\(try #require(accepted.int("order_id")))", token: partner)
            // 20 × 700,000 agreed; the tier would have charged 20 × 900,000 = 18,000,000.
            #expect(order.int("total_rials") == 14_000_000)
            let line = try #require(Self.lines(order).first)
            #expect((line["unit_price_rials"] as? NSNumber)?.int64Value == 700_000)
            #expect((line["list_price_rials"] as? NSNumber)?.int64Value == 1_000_000)
            #expect(line["price_source"] as? String == "agreed")
            #expect(try await api.stock(cake) == 20)
        }
    }

    /// `tier_unit_price` and `price_tiers_valid` (SQL) agree with `PriceTiers` (Swift) on many
    /// tier sets and quantities, well formed and not.
    @Test func theSQLFunctionsAgreeWithTheSwiftTwins() async throws {
        try await withApp { api in
            var seed: UInt64 = 0x5EED
            func next(_ bound: Int) -> Int {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int((seed >> 33) % UInt64(bound))
            }
            var checkedPrices = 0
            var valid = 0
            for _ in 0..<60 {
                let base = Int64(100_000 + next(1_000_000))
                let increment = [1, 1, 2, 5, 12][next(5)]
                let minOrder = increment * (1 + next(3))
                var tiers: [PriceTier] = []
                var q = minOrder
                var p = base
                for _ in 0..<next(5) {
                    // Mostly well formed steps, sometimes a broken one.
                    q += increment * (1 + next(10)) - (next(8) == 0 ? increment * 12 : 0)
                    p -= Int64(1 + next(50_000)) - (next(8) == 0 ? 200_000 : 0)
                    tiers.append(PriceTier(minQuantity: q, unitPriceRials: max(p, 1)))
                }
                let json = PriceTiers.jsonText(tiers)
                let swiftValid = PriceTiers.problems(tiers, base: base, increment: increment, minOrder: minOrder).isEmpty
                let sqlValid = try await api.db.rows(
                    "SELECT price_tiers_valid(\(json)::jsonb, \(base), \(increment)::int, \(minOrder)::int)"
                )[0].decode(Bool.self)
                #expect(sqlValid == swiftValid, "\(json) base \(base) increment \(increment) min \(minOrder)")
                if swiftValid { valid += 1 }
                let rows = try await api.db.rows(
                    "SELECT q, tier_unit_price(\(base), \(json)::jsonb, q) FROM generate_series(0, 160) q")
                for row in rows {
                    let (quantity, price) = try row.decode((Int, Int64).self)
                    #expect(price == PriceTiers.unitPrice(base: base, tiers: tiers, quantity: quantity), "\(json) × \(quantity)")
                    checkedPrices += 1
                }
            }
            #expect(checkedPrices == 60 * 161)
            #expect(valid > 10 && valid < 60, "both kinds were compared (\(valid) valid)")
        }
    }
}
