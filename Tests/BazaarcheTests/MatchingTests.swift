import BazaarcheCore
import Foundation
import Testing

@testable import Matching

func matchedProducts(_ response: [String: Any]) -> [Int64] {
    (response["matches"] as? [[String: Any]] ?? []).compactMap { ($0["product_id"] as? NSNumber)?.int64Value }
}

/// Ten-thousandths, so sums compare exactly.
func units(_ value: Any?) -> Int { Int((((value as? NSNumber)?.doubleValue ?? .nan) * 10_000).rounded()) }

@Suite struct MatchingTests {
    static let delivery =
        #"""
        {"province_code":"IR-23","city":"تهران","address":"خیابان آزادی، پلاک ۱","recipient":"انبار مرکزی","phone":"02112345678"}
        """#

    @Test func eachHardFilterExcludesWhatItShould() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let ok = try await api.producer(status: .verified)
            let good = try await api.product(ok, category: "food.bakery")
            try await api.approvedPackaging(good, "retail", token: ok.token)
            try await api.grantedCertificate(good, ok.token, kind: "health_license")
            // Expired licence.
            let stale = try await api.product(ok, title: "کیک کهنه", category: "food.bakery")
            try await api.approvedPackaging(stale, "retail", token: ok.token)
            try await api.grantedCertificate(stale, ok.token, kind: "health_license", expires: "2021-01-01")
            // Basic packaging, below the minimum.
            let plain = try await api.product(ok, title: "کیک ساده", category: "food.bakery")
            try await api.approvedPackaging(plain, "basic", token: ok.token)
            try await api.grantedCertificate(plain, ok.token, kind: "health_license")
            // Paused product.
            let paused = try await api.product(ok, title: "کیک موقت", category: "food.bakery")
            try await api.approvedPackaging(paused, "export", token: ok.token)
            try await api.grantedCertificate(paused, ok.token, kind: "health_license")
            #expect(try await api.post("/v1/products/\(paused)/transitions", #"{"to":"paused"}"#, token: ok.token).status == .ok)
            // Other category.
            let bowl = try await api.product(ok, title: "کاسه سفالی", category: "pottery.earthenware")
            try await api.approvedPackaging(bowl, "retail", token: ok.token)
            try await api.grantedCertificate(bowl, ok.token, kind: "health_license")
            // Suspended producer.
            let gone = try await api.producer(status: .verified)
            let goneProduct = try await api.product(gone, category: "food.bakery")
            try await api.approvedPackaging(goneProduct, "retail", token: gone.token)
            try await api.grantedCertificate(goneProduct, gone.token, kind: "health_license")
            let demand = try await api.demand(
                partner,
                #"""
                "category_code":"food","quantity":5,"max_unit_price_rials":2000000,"required_certificates":["health_license"],\#
                "min_packaging_level":"retail"
                """#
            )
            #expect(matchedProducts(try await api.matches(demand, token: partner)) == [good, goneProduct].sorted())
            let admin = try await api.token(.admin)
            #expect(
                try await api.post("/v1/producers/\(gone.id)/transitions", #"{"to":"suspended","reason":"audit"}"#, token: admin)
                    .status == .ok)
            let after = try await api.matches(demand, token: partner)
            #expect(matchedProducts(after) == [good])
            #expect((after["candidate_count"] as? NSNumber)?.intValue == 1)
            // Only the demand's partner company (and admins) see its matches.
            #expect(try await api.get("/v1/demands/\(demand)/matches", token: try await api.token(.partner)).status == .notFound)
            #expect(try await api.get("/v1/demands/\(demand)/matches", token: ok.token).status == .forbidden)
            #expect(try await api.get("/v1/demands/\(demand)/matches", token: admin).status == .ok)
            #expect(try await api.get("/v1/demands/\(demand)/matches?limit=0", token: partner).fields == ["limit"])
        }
    }

    /// The weights of docs/matching.md on two candidates worked out by hand.
    @Test func rankingFollowsTheDocumentedWeights() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            // A: in the preferred province, half the maximum price, covers the quantity, both keywords.
            let a = try await api.producer(province: "IR-23", status: .verified)
            let productA = try await api.product(a, title: "کیک خانگی شکلاتی", price: 1_000_000, stock: 50, capacity: 100)
            // B: elsewhere, a quarter of the maximum, half the quantity, one keyword, one extra
            // certificate, and a perfect delivery record.
            let b = try await api.producer(province: "IR-00", status: .verified)
            let productB = try await api.product(b, title: "کیک زعفرانی", price: 500_000, stock: 10, capacity: 40)
            try await api.grantedCertificate(productB, b.token, kind: "halal")
            let other = try await api.product(b, title: "کاسه سفالی", category: "pottery.earthenware", price: 100_000, stock: 5)
            let buyer = try await api.token(.partner)
            _ = try await api.orderThrough(
                ["accepted", "packed", "shipped", "delivered"], producer: b, product: other, partner: buyer)
            // A buyer's cancellation is not the producer's failure: B's record stays perfect.
            _ = try await api.orderThrough(["cancelled"], producer: b, product: other, partner: buyer)

            let demand = try await api.demand(
                partner,
                #"""
                "category_code":"food","keywords":"كيك شکلاتی","quantity":100,"max_unit_price_rials":2000000,\#
                "preferred_provinces":["IR-23"]
                """#
            )
            let response = try await api.matches(demand, token: partner)
            let matches = try #require(response["matches"] as? [[String: Any]])
            #expect(matches.count == 2)
            let first = try #require(matches.first)
            let second = try #require(matches.last)
            #expect((first["product_id"] as? NSNumber)?.int64Value == productA)
            #expect((second["product_id"] as? NSNumber)?.int64Value == productB)
            let partsA = try #require(first["breakdown"] as? [String: Any])
            #expect(units(partsA["price"]) == 1250)  // 0.25 × (1 − 1,000,000 / 2,000,000)
            #expect(units(partsA["capacity"]) == 2500)  // 0.25 × min(1, (50 + 100) / 100)
            #expect(units(partsA["province"]) == 1000)
            #expect(units(partsA["delivery_record"]) == 750)  // no finished orders: 0.15 × 0.5
            #expect(units(partsA["certificates"]) == 0)
            #expect(units(partsA["keywords"]) == 1500)  // «كيك» with an Arabic kaf still matches
            #expect(units(first["score"]) == 7000)
            let partsB = try #require(second["breakdown"] as? [String: Any])
            #expect(units(partsB["price"]) == 1875)  // 0.25 × 0.75
            #expect(units(partsB["capacity"]) == 1250)  // 0.25 × (10 + 40) / 100
            #expect(units(partsB["province"]) == 0)
            #expect(units(partsB["delivery_record"]) == 1500)  // 1 of 1 delivered
            #expect(units(partsB["certificates"]) == 500)  // 0.10 × 1 / 2
            #expect(units(partsB["keywords"]) == 750)  // one of two words
            #expect(units(second["score"]) == 5875)
            for match in matches {
                let parts = try #require(match["breakdown"] as? [String: Any])
                #expect(parts.values.map(units).reduce(0, +) == units(match["score"]))
            }
            #expect(first["can_supply_alone"] as? Bool == true)
            #expect(response["pool"] is NSNull)
        }
    }

    /// Several required kinds are each a filter of their own; candidates with equal scores come in
    /// product id order, on the page and in the breakdowns recomputed for it; a product with volume
    /// tiers is scored at its tier price beside products without.
    @Test func everyRequiredKindFiltersAndEqualScoresGoByID() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let p = try await api.producer(status: .verified)
            // Two identical candidates (equal scores), each with both kinds and one extra.
            var twins: [Int64] = []
            for _ in 0..<2 {
                let twin = try await api.product(p, price: 1_000_000, stock: 50, capacity: 0)
                for kind in ["halal", "organic", "inso"] { try await api.grantedCertificate(twin, p.token, kind: kind) }
                twins.append(twin)
            }
            // Organic expired, or missing: filtered out.
            let expired = try await api.product(p, price: 1_000_000, stock: 50, capacity: 0)
            try await api.grantedCertificate(expired, p.token, kind: "halal")
            try await api.grantedCertificate(expired, p.token, kind: "organic", expires: "2021-01-01")
            let halalOnly = try await api.product(p, price: 1_000_000, stock: 50, capacity: 0)
            try await api.grantedCertificate(halalOnly, p.token, kind: "halal")
            // Tiered: 500,000 from 10 units, so cheaper than the twins for this demand's 20.
            let tiered = try await api.product(
                p, price: 1_000_000, stock: 50, capacity: 0,
                extra: #","price_tiers":[{"min_quantity":10,"unit_price_rials":500000}]"#)
            for kind in ["halal", "organic"] { try await api.grantedCertificate(tiered, p.token, kind: kind) }
            let demand = try await api.demand(
                partner,
                #"""
                "category_code":"food","quantity":20,"max_unit_price_rials":2000000,"required_certificates":["organic","halal"]
                """#
            )
            let response = try await api.matches(demand, token: partner)
            #expect(matchedProducts(response) == [tiered] + twins.sorted())
            #expect((response["candidate_count"] as? NSNumber)?.intValue == 3)
            let matches = try #require(response["matches"] as? [[String: Any]])
            let tieredMatch = try #require(matches.first)
            #expect((tieredMatch["unit_price_rials"] as? NSNumber)?.intValue == 500_000)
            let tieredParts = try #require(tieredMatch["breakdown"] as? [String: Any])
            #expect(units(tieredParts["price"]) == 1875)  // 0.25 × (1 − 500,000 / 2,000,000)
            #expect(units(tieredParts["certificates"]) == 0)  // nothing beyond the required kinds
            for twin in matches.dropFirst() {
                let parts = try #require(twin["breakdown"] as? [String: Any])
                #expect(units(parts["price"]) == 1250)
                #expect(units(parts["certificates"]) == 500)  // inso beyond the required: 0.10 × 1 / 2
                #expect(units(twin["score"]) == units(matches[1]["score"]))
            }
        }
    }

    @Test func poolingCoversWhatNoSingleProducerCanAndReportsShortfalls() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            var products: [String: Int64] = [:]
            // Supplies 200, 100, 90, 60 (stock only); price sets the order of scores: Y > W > X = Z.
            for (name, stock, price) in [("X", 200, 900_000), ("Y", 100, 200_000), ("Z", 90, 500_000), ("W", 60, 100_000)] {
                let producer = try await api.producer(status: .verified)
                products[name] = try await api.product(
                    producer, title: "مربای \(name)", category: "food.jams_syrups", price: Int64(price), stock: stock, capacity: 0
                )
            }
            let demand = try await api.demand(partner, #""category_code":"food","quantity":250,"max_unit_price_rials":1000000"#)
            let response = try await api.matches(demand, token: partner)
            #expect(units(response["best_single_supply"]) == 200 * 10_000)
            let pool = try #require(response["pool"] as? [String: Any])
            #expect(pool["covers_quantity"] as? Bool == true)
            #expect(units(pool["shortfall"]) == 0)
            let members = try #require(pool["members"] as? [[String: Any]])
            // Two producers is the fewest that can cover 250; of those pairs, Y (best score) with X.
            #expect(members.compactMap { ($0["product_id"] as? NSNumber)?.int64Value } == [products["Y"]!, products["X"]!])
            #expect(members.compactMap { ($0["quantity"] as? NSNumber)?.intValue } == [100, 150])
            #expect(members.map { units($0["share"]) } == [4000, 6000])

            let huge = try await api.demand(partner, #""category_code":"food","quantity":10000,"max_unit_price_rials":1000000"#)
            let short = try #require(try await api.matches(huge, token: partner)["pool"] as? [String: Any])
            #expect(short["covers_quantity"] as? Bool == false)
            #expect((short["shortfall"] as? NSNumber)?.intValue == 10000 - 450)
            #expect((short["pooled_quantity"] as? NSNumber)?.intValue == 450)
            #expect((short["members"] as? [Any])?.count == 4)

            let nothing = try await api.demand(partner, #""category_code":"carpets","quantity":5,"max_unit_price_rials":1000000"#)
            let empty = try await api.matches(nothing, token: partner)
            #expect(matchedProducts(empty).isEmpty)
            #expect(((empty["pool"] as? [String: Any])?["shortfall"] as? NSNumber)?.intValue == 5)
        }
    }

    @Test func anAcceptedInvitationBecomesAnOrderAndReservesStock() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let maker = try await api.producer(status: .verified)
            let cake = try await api.product(maker, price: 1_500_000, stock: 30)
            let bowl = try await api.product(maker, title: "کاسه سفالی", category: "pottery.earthenware")
            let demand = try await api.demand(partner, #""category_code":"food","quantity":20,"max_unit_price_rials":1000000"#)
            let invite = { (product: Int64, quantity: Int, price: Int) in
                try await api.post(
                    "/v1/demands/\(demand)/invitations",
                    #"""
                    {"producer_id":\#(maker.id),"product_id":\#(product),"quantity":\#(quantity),"unit_price_rials":\#(price),\#
                    "delivery":\#(Self.delivery)}
                    """#,
                    token: partner)
            }
            #expect(try await invite(bowl, 5, 900_000).fields == ["product_id"])
            #expect(try await invite(cake, 5, 1_200_000).fields == ["unit_price_rials"])
            let created = try await invite(cake, 20, 900_000)
            #expect(created.status == .created)
            #expect(created.string("status") == "pending")
            #expect(try await invite(cake, 20, 900_000).status == .conflict)  // one open offer per product
            let id = try #require(created.int("id"))

            // The producer sees it; another producer and the partner cannot answer it.
            #expect(try await api.get("/v1/invitations", token: maker.token).items.count == 1)
            let stranger = try await api.producer(status: .verified)
            #expect(try await api.get("/v1/invitations", token: stranger.token).items.isEmpty)
            #expect(try await api.post("/v1/invitations/\(id)/accept", "{}", token: stranger.token).status == .notFound)
            #expect(try await api.post("/v1/invitations/\(id)/accept", "{}", token: partner).status == .forbidden)

            let accepted = try await api.post("/v1/invitations/\(id)/accept", "{}", token: maker.token)
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect(accepted.string("status") == "accepted")
            let order = try #require(accepted.int("order_id"))
            #expect(accepted.headers[.location] == "/v1/orders/\(order)")
            let placed = try await api.get("/v1/orders/\(order)", token: partner)
            #expect(placed.status == .ok)  // the inviting account is the buyer
            // The response is the invitation as GET returns it, with the order as GET returns it under `order`.
            var invitation = accepted.json
            let embedded = try #require(invitation.removeValue(forKey: "order") as? [String: Any])
            #expect(NSDictionary(dictionary: embedded).isEqual(to: placed.json))
            #expect((embedded["history"] as? [[String: Any]])?.map { $0["to"] as? String } == ["placed"])
            let read = try await api.get("/v1/invitations/\(id)", token: partner)
            #expect(NSDictionary(dictionary: invitation).isEqual(to: read.json))
            #expect(placed.string("status") == "placed")
            #expect(placed.int("total_rials") == 18_000_000)  // the invitation's price, not the list price
            let stock = try await api.db.rows("SELECT stock FROM products WHERE id = \(cake)")[0].decode(Int.self)
            #expect(stock == 10)
            #expect(try await api.post("/v1/invitations/\(id)/accept", "{}", token: maker.token).status == .conflict)

            // More than is left: refused like an order, nothing reserved, the invitation still open.
            let tooMany = try #require(try await invite(cake, 15, 900_000).int("id"))
            let refused = try await api.post("/v1/invitations/\(tooMany)/accept", "{}", token: maker.token)
            #expect(refused.status == .conflict)
            #expect(refused.code == "insufficient_stock")
            #expect(try await api.get("/v1/invitations/\(tooMany)", token: partner).string("status") == "pending")
            #expect(try await api.db.rows("SELECT stock FROM products WHERE id = \(cake)")[0].decode(Int.self) == 10)
            let declined = try await api.post(
                "/v1/invitations/\(tooMany)/decline", #"{"reason":"ظرفیت نداریم"}"#, token: maker.token)
            #expect(declined.string("status") == "declined")
            #expect(declined.string("decline_reason") == "ظرفیت نداریم")

            // A product that stopped meeting the demand (paused) cannot be accepted.
            let late = try #require(try await invite(cake, 2, 900_000).int("id"))
            #expect(try await api.post("/v1/products/\(cake)/transitions", #"{"to":"paused"}"#, token: maker.token).status == .ok)
            let refusedLate = try await api.post("/v1/invitations/\(late)/accept", "{}", token: maker.token)
            #expect(refusedLate.status == .conflict)
            #expect(refusedLate.code == "no_longer_matches")
            #expect(try await api.post("/v1/products/\(cake)/transitions", #"{"to":"listed"}"#, token: maker.token).status == .ok)
            #expect(try await api.post("/v1/invitations/\(late)/decline", #"{"reason":"x"}"#, token: maker.token).status == .ok)

            // Closing the demand withdraws what is still pending.
            let last = try #require(try await invite(cake, 5, 900_000).int("id"))
            #expect(try await api.post("/v1/demands/\(demand)/transitions", #"{"to":"closed"}"#, token: partner).status == .ok)
            #expect(try await api.get("/v1/invitations/\(last)", token: maker.token).string("status") == "withdrawn")
            #expect(try await api.post("/v1/invitations/\(last)/accept", "{}", token: maker.token).status == .conflict)
            let actions = try await api.db.rows(
                "SELECT action FROM audit_events WHERE entity_type = 'invitation' ORDER BY id"
            ).map { try $0.decode(String.self) }
            #expect(
                actions == [
                    "invitation.created", "invitation.accepted", "invitation.created", "invitation.declined",
                    "invitation.created",
                    "invitation.declined", "invitation.created", "invitation.withdrawn",
                ])
        }
    }
}

@Suite struct PoolUnitTests {
    func c(_ id: Int64, supply: Int, score: Int) -> Pool.Candidate {
        Pool.Candidate(productID: id, producerID: id, supply: supply, scoreUnits: score)
    }

    @Test func fewestMembersThenBestScores() {
        let pool = Pool.select(
            quantity: 250,
            candidates: [
                c(1, supply: 200, score: 10), c(2, supply: 100, score: 30), c(3, supply: 90, score: 10),
                c(4, supply: 60, score: 29),
            ])
        #expect(pool.members.map(\.candidate.productID) == [2, 1])
        #expect(pool.members.map(\.quantity) == [100, 150])
        #expect(pool.shortfall == 0)
        // With W able to join X, the best-scoring W goes first when it still leaves two enough.
        let second = Pool.select(quantity: 250, candidates: [c(1, supply: 200, score: 10), c(4, supply: 60, score: 29)])
        #expect(second.members.map(\.candidate.productID) == [4, 1])
        #expect(second.members.map(\.quantity) == [60, 190])
    }

    @Test func shortfallListsEveryoneLargestFirst() {
        let pool = Pool.select(
            quantity: 1000, candidates: [c(1, supply: 10, score: 50), c(2, supply: 300, score: 1), c(3, supply: 0, score: 99)])
        #expect(pool.members.map(\.candidate.productID) == [2, 1])
        #expect(pool.shortfall == 690)
    }

    @Test func keywordsAreNormalisedDistinctWords() {
        #expect(MatchKeywords.words("  كيك  کیک ۱۲ a شکلاتی ") == ["کیک", "12", "شکلاتی"])
        #expect(MatchKeywords.words(nil) == [])
    }

    @Test func breakdownSumsExactly() {
        let b = ScoreBreakdown(
            price: 0.1, capacity: 0.2, province: 0.1, deliveryRecord: 0.075, certificates: 0.05, keywords: 0.07499999)
        #expect(b.scoreUnits == 6000)
        #expect(b.score == 0.6)
    }
}
