import BazaarcheCore
import Foundation
import Hummingbird
import Matching
import Orders
import Testing

@testable import Integrations

extension API {
    static let quoteDelivery = """
        "delivery":{"province_code":"IR-23","city":"تهران","address":"خیابان انقلاب، پلاک ۱۲","recipient":"انبار مرکزی",\
        "phone":"02166554433"}
        """

    func quote(
        _ demand: Int64, _ producer: String, _ fields: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        try await post("/v1/demands/\(demand)/quotes", "{\(fields)}", token: producer, sourceLocation: sourceLocation)
    }

    /// A quote that must be created; its id.
    func quoteID(
        _ demand: Int64, _ producer: String, _ fields: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int64 {
        let reply = try await quote(demand, producer, fields, sourceLocation: sourceLocation)
        #expect(reply.status == .created, "quote: \(reply.text)", sourceLocation: sourceLocation)
        return try #require(reply.int("id"), sourceLocation: sourceLocation)
    }

    /// Accepts `quote` naming `ifMatch`; nil names the quote's current version (as a buyer who
    /// just read it), "" sends no If-Match.
    func acceptQuote(
        _ quote: Int64, token: String, extra: String = "", key: String = UUID().uuidString, ifMatch: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        var headers: HTTPFields = [.idempotencyKey: key]
        var tag = ifMatch ?? ""
        if ifMatch == nil {
            tag = "\"\(try await count("SELECT coalesce((SELECT version FROM quotes WHERE id = \(quote)), 1)"))\""
        }
        if !tag.isEmpty { headers[.ifMatch] = tag }
        return try await call(
            .post, "/v1/quotes/\(quote)/accept", json: "{\(API.quoteDelivery)\(extra)}", token: token,
            headers: headers, sourceLocation: sourceLocation)
    }

    func count(_ sql: String) async throws -> Int {
        try await db.rows("SELECT (\(unescaped: sql))::int")[0].decode(Int.self)
    }

    func quotes(of demand: Int64, token: String) async throws -> [String: Any] {
        let reply = try await get("/v1/demands/\(demand)/quotes", token: token)
        #expect(reply.status == .ok, "quotes: \(reply.text)")
        return reply.json
    }
}

private func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }

@Suite struct QuotesTests {
    static let demandFields = #""category_code":"food","quantity":100,"max_unit_price_rials":2000000"#

    @Test func twoProducersQuoteAndThePartnerComparesAndAcceptsOne() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let a = try await api.producer(status: .verified)
            let productA = try await api.product(a, price: 1_500_000, stock: 150, capacity: 100)
            let b = try await api.producer(status: .verified)
            let productB = try await api.product(b, price: 1_800_000, stock: 200, capacity: 100)
            let quoteA = try await api.quoteID(
                demand, a.token, #""product_id":\#(productA),"quantity":100,"unit_price_rials":1200000,"lead_time_days":5"#)
            let quoteB = try await api.quoteID(
                demand, b.token,
                #""product_id":\#(productB),"quantity":100,"unit_price_rials":1000000,"note":"ارسال با بسته‌بندی""#)

            let compared = try await api.quotes(of: demand, token: partner)
            let quotes = try #require(compared["quotes"] as? [[String: Any]])
            // B's lower quoted price ranks it first; the price part is at the quoted price, not the listed one.
            #expect(quotes.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [quoteB, quoteA])
            let priceA = number((quotes[1]["breakdown"] as? [String: Any])?["price"])
            let priceB = number((quotes[0]["breakdown"] as? [String: Any])?["price"])
            #expect(priceA == 0.1)  // 0.25 × (1 − 1,200,000 / 2,000,000)
            #expect(priceB == 0.125)  // 0.25 × (1 − 1,000,000 / 2,000,000)
            #expect(number(quotes[0]["score"]) == 0.7)
            #expect(number(quotes[1]["score"]) == 0.675)
            #expect(quotes.allSatisfy { $0["meets_requirements"] as? Bool == true })
            #expect(compared["remaining_quantity"] as? Int == 100)
            let pool = try #require(compared["pool"] as? [String: Any])
            #expect((pool["members"] as? [[String: Any]])?.count == 1)

            let accepted = try await api.acceptQuote(quoteB, token: partner)
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect(accepted.string("status") == "accepted")
            let order = try #require(accepted.json["order"] as? [String: Any])
            let orderID = try #require((order["id"] as? NSNumber)?.int64Value)
            #expect(accepted.headers[.location] == "/v1/orders/\(orderID)")
            let line = try #require((order["lines"] as? [[String: Any]])?.first)
            #expect(number(line["unit_price_rials"]) == 1_000_000)
            #expect(line["quantity"] as? Int == 100)
            #expect(try await api.stock(productB) == 100)
            #expect(try await api.stock(productA) == 150)
            #expect(try await api.get("/v1/orders/\(orderID)", token: partner).status == .ok)
            // The other quote stays open; the demand is covered now, so no pool.
            #expect(try await api.get("/v1/quotes/\(quoteA)", token: partner).string("status") == "open")
            let after = try await api.quotes(of: demand, token: partner)
            #expect(after["remaining_quantity"] as? Int == 0)
            #expect(after["pool"] is NSNull)
            #expect(
                try await api.count("SELECT count(*) FROM events WHERE type = 'quote.accepted' AND subject_id = \(quoteB)") == 1)
            #expect(
                try await api.count(
                    "SELECT count(*) FROM audit_events WHERE entity_type = 'quote' AND action = 'quote.accepted'") == 1)
            // The producer hears of it in its inbox.
            let inbox = try await api.get("/v1/notifications", token: b.token)
            #expect(inbox.items.contains { $0["kind"] as? String == "quote_answered" })
        }
    }

    @Test func answeredQuotesCannotBeAcceptedAndNothingChanges() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100, capacity: 100)
            let other = try await api.product(seller, title: "کیک زعفرانی", stock: 100, capacity: 100)
            let third = try await api.product(seller, title: "کیک گردویی", stock: 100, capacity: 100)

            // Withdrawn.
            let withdrawn = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":10"#)
            #expect(
                try await api.post("/v1/quotes/\(withdrawn)/withdraw", "{}", token: seller.token).string("status") == "withdrawn")
            let w = try await api.acceptQuote(withdrawn, token: partner)
            #expect(w.status == .conflict)
            #expect(w.string("current_status") == "withdrawn")

            // Past valid_until before the sweep ran: expired all the same.
            let expired = try await api.quoteID(demand, seller.token, #""product_id":\#(other),"quantity":10"#)
            try await api.db.client.query("UPDATE quotes SET valid_until = now() - interval '1 minute' WHERE id = \(expired)")
            #expect(try await api.get("/v1/quotes/\(expired)", token: partner).string("status") == "expired")
            let e = try await api.acceptQuote(expired, token: partner)
            #expect(e.status == .conflict)
            #expect(e.code == "quote_expired")
            let swept = try await Quotes(db: api.db, orders: Orders(db: api.db)).sweep()
            #expect(swept.expired == 1)
            #expect(try await api.count("SELECT count(*) FROM quotes WHERE id = \(expired) AND status = 'expired'") == 1)
            #expect(try await api.acceptQuote(expired, token: partner).status == .conflict)

            // Already accepted: a second acceptance (a new key) changes nothing.
            let taken = try await api.quoteID(demand, seller.token, #""product_id":\#(third),"quantity":10"#)
            #expect(try await api.acceptQuote(taken, token: partner).status == .ok)
            let again = try await api.acceptQuote(taken, token: partner)
            #expect(again.status == .conflict)
            #expect(again.string("current_status") == "accepted")

            #expect(try await api.count("SELECT count(*) FROM orders") == 1)
            #expect(try await api.stock(product) == 100)
            #expect(try await api.stock(other) == 100)
            #expect(try await api.stock(third) == 90)
            // Declining an answered quote is refused too.
            let d = try await api.post("/v1/quotes/\(taken)/decline", #"{"reason":"دیر شد"}"#, token: partner)
            #expect(d.status == .conflict)
        }
    }

    @Test func theSameKeyReplaysTheAcceptance() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100, capacity: 100)
            let quote = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":20"#)
            let first = try await api.acceptQuote(quote, token: partner, key: "accept-1")
            let retry = try await api.acceptQuote(quote, token: partner, key: "accept-1")
            #expect(first.status == .ok)
            #expect(retry.status == .ok)
            #expect(retry.headers[.idempotentReplayed] == "true")
            #expect(retry.text == first.text)
            #expect(try await api.stock(product) == 80)
            #expect(try await api.count("SELECT count(*) FROM orders") == 1)
        }
    }

    @Test func racingBuyersNeverOversellTheLastUnits() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 2, capacity: 100)
            let buyers = [try await api.token(.partner), try await api.token(.partner), try await api.token(.partner)]
            var placed = 0
            for round in 1...6 {
                try await api.db.client.query("UPDATE products SET stock = 2 WHERE id = \(product)")
                var quotes: [(Int64, String)] = []
                for buyer in buyers {
                    let demand = try await api.demand(
                        buyer, #""category_code":"food","quantity":1,"max_unit_price_rials":2000000"#)
                    quotes.append((try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":1"#), buyer))
                }
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for (quote, buyer) in quotes {
                        group.addTask { Int(try await api.acceptQuote(quote, token: buyer).status.code) }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.sorted() == [200, 200, 409], "round \(round): \(statuses)")
                #expect(try await api.stock(product) == 0)
                placed += 2
                #expect(try await api.count("SELECT count(*) FROM orders WHERE producer_id = \(seller.id)") == placed)
                #expect(try await api.count("SELECT count(*) FROM quotes WHERE status = 'accepted'") == placed)
            }
        }
    }

    @Test func aProductFailingAHardFilterCannotBeQuoted() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(
                partner,
                #""category_code":"food","quantity":100,"max_unit_price_rials":2000000,"required_certificates":["health_license"]"#
            )
            // The seller sees the demand (its certified cake passes); its other products do not pass.
            let seller = try await api.producer(status: .verified)
            let certified = try await api.product(seller, title: "کیک گردویی", stock: 100)
            try await api.grantedCertificate(certified, seller.token, kind: "health_license")
            let uncertified = try await api.product(seller, stock: 100)
            let pottery = try await api.product(seller, title: "کاسه سفالی", category: "pottery.earthenware", stock: 100)
            let missing = try await api.quote(demand, seller.token, #""product_id":\#(uncertified),"quantity":10"#)
            #expect(missing.status == .unprocessableContent)
            #expect(missing.fields == ["product_id"])
            let wrongCategory = try await api.quote(demand, seller.token, #""product_id":\#(pottery),"quantity":10"#)
            #expect(wrongCategory.status == .unprocessableContent)
            #expect(wrongCategory.fields == ["product_id"])
            // A product that passes: the terms themselves are checked.
            let tooDear = try await api.quote(
                demand, seller.token, #""product_id":\#(certified),"quantity":10,"unit_price_rials":2500000"#)
            #expect(tooDear.fields == ["unit_price_rials"])
            let tooMany = try await api.quote(demand, seller.token, #""product_id":\#(certified),"quantity":150"#)
            #expect(tooMany.fields.contains("quantity"))
            let late = try await api.quote(
                demand, seller.token, #""product_id":\#(certified),"quantity":10,"lead_time_days":90"#)
            #expect(late.fields == ["lead_time_days"])
            #expect(try await api.count("SELECT count(*) FROM quotes") == 0)
            // A partner cannot quote; a producer with no product passing never sees the demand.
            #expect(try await api.quote(demand, partner, #""product_id":\#(certified),"quantity":10"#).status == .forbidden)
            let stranger = try await api.producer(status: .verified)
            let strangerProduct = try await api.product(stranger, stock: 100)
            #expect(
                try await api.quote(demand, stranger.token, #""product_id":\#(strangerProduct),"quantity":10"#).status
                    == .notFound)
            let ok = try await api.quote(demand, seller.token, #""product_id":\#(certified),"quantity":10"#)
            #expect(ok.status == .created, "\(ok.text)")
            // Left out, the price is the product's (tier) price for the quantity.
            #expect(ok.int("unit_price_rials") == 1_500_000)
            #expect(try await api.count("SELECT count(*) FROM quotes") == 1)
        }
    }

    @Test func revisingKeepsTheOldVersionAndOneOpenQuotePerProduct() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100, capacity: 100)
            let quote = try await api.quoteID(
                demand, seller.token, #""product_id":\#(product),"quantity":50,"unit_price_rials":1400000"#)
            let second = try await api.quote(demand, seller.token, #""product_id":\#(product),"quantity":60"#)
            #expect(second.status == .conflict)
            #expect(second.code == "quote_exists")
            let revised = try await api.post(
                "/v1/quotes/\(quote)/revisions", #"{"unit_price_rials":1300000,"note":"تخفیف"}"#, token: seller.token)
            #expect(revised.status == .ok, "\(revised.text)")
            #expect(revised.int("version") == 2)
            #expect(revised.int("unit_price_rials") == 1_300_000)
            #expect(revised.int("quantity") == 50)
            let versions = try #require(revised.json["versions"] as? [[String: Any]])
            #expect(versions.compactMap { number($0["unit_price_rials"]) } == [1_400_000, 1_300_000])
            // Accepting the version one saw, after a revision, is refused.
            let stale = try await api.acceptQuote(quote, token: partner, ifMatch: #""1""#)
            #expect(stale.status == .preconditionFailed)
            #expect(stale.code == "stale_version")
            #expect(stale.string("current_etag") == #""2""#)
            #expect(try await api.count("SELECT count(*) FROM orders") == 0)
            // Another producer cannot revise or withdraw it.
            let rival = try await api.producer(status: .verified)
            #expect(try await api.post("/v1/quotes/\(quote)/withdraw", "{}", token: rival.token).status == .notFound)
            // Withdrawn, the producer may quote again.
            #expect(try await api.post("/v1/quotes/\(quote)/withdraw", "{}", token: seller.token).status == .ok)
            #expect(
                try await api.post("/v1/quotes/\(quote)/revisions", #"{"quantity":40}"#, token: seller.token).status == .conflict)
            #expect(try await api.quote(demand, seller.token, #""product_id":\#(product),"quantity":60"#).status == .created)
        }
    }

    @Test func aPooledDemandAcceptsQuotesUntilItsQuantityIsCovered() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            var quotes: [Int64] = []
            var products: [Int64] = []
            for quantity in [60, 40, 30] {
                let seller = try await api.producer(status: .verified)
                let product = try await api.product(seller, stock: 100, capacity: 0)
                products.append(product)
                quotes.append(try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":\#(quantity)"#))
            }
            let pool = try #require(try await api.quotes(of: demand, token: partner)["pool"] as? [String: Any])
            #expect(pool["covers_quantity"] as? Bool == true)
            #expect(pool["pooled_quantity"] as? Int == 100)
            #expect(try await api.acceptQuote(quotes[0], token: partner).status == .ok)
            // 40 remain: the 30 alone fits, but take the 40 first.
            #expect(try await api.acceptQuote(quotes[1], token: partner).status == .ok)
            let over = try await api.acceptQuote(quotes[2], token: partner)
            #expect(over.status == .conflict)
            #expect(over.code == "demand_quantity_covered")
            #expect(over.string("remaining_quantity") == "0")
            #expect(try await api.count("SELECT count(*) FROM orders") == 2)
            #expect(try await api.stock(products[2]) == 100)
            #expect(try await api.get("/v1/quotes/\(quotes[2])", token: partner).string("status") == "open")
            // Declined with a reason.
            let declined = try await api.post("/v1/quotes/\(quotes[2])/decline", #"{"reason":"سفارش تکمیل شد"}"#, token: partner)
            #expect(declined.string("status") == "declined")
            #expect(declined.string("decline_reason") == "سفارش تکمیل شد")
        }
    }

    @Test func aPartialAcceptanceTakesWhatRemains() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let a = try await api.producer(status: .verified)
            let productA = try await api.product(a, stock: 100, capacity: 0)
            let b = try await api.producer(status: .verified)
            let productB = try await api.product(b, stock: 100, capacity: 0)
            let quoteA = try await api.quoteID(demand, a.token, #""product_id":\#(productA),"quantity":70"#)
            let quoteB = try await api.quoteID(demand, b.token, #""product_id":\#(productB),"quantity":70"#)
            #expect(try await api.acceptQuote(quoteA, token: partner).status == .ok)
            let whole = try await api.acceptQuote(quoteB, token: partner)
            #expect(whole.code == "demand_quantity_covered")
            #expect(whole.string("remaining_quantity") == "30")
            let part = try await api.acceptQuote(quoteB, token: partner, extra: #","quantity":30"#)
            #expect(part.status == .ok, "\(part.text)")
            #expect(part.int("accepted_quantity") == 30)
            #expect(try await api.stock(productB) == 70)
        }
    }

    @Test func aViewerReadsQuotesButCannotAnswerThem() async throws {
        try await withApp { api in
            let buyer = try await api.partnerToken(role: .buyer)
            let viewer = try await api.partnerToken(company: buyer.partnerID, role: .viewer)
            let demand = try await api.demand(buyer.token, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100, capacity: 100)
            let quote = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":10"#)
            #expect((try await api.quotes(of: demand, token: viewer.token)["quotes"] as? [Any])?.count == 1)
            let accept = try await api.acceptQuote(quote, token: viewer.token)
            #expect(accept.status == .forbidden)
            #expect(accept.code == "company_role")
            let decline = try await api.post("/v1/quotes/\(quote)/decline", #"{"reason":"نه"}"#, token: viewer.token)
            #expect(decline.status == .forbidden)
            #expect(try await api.count("SELECT count(*) FROM orders") == 0)
            #expect(try await api.stock(product) == 100)
            #expect(try await api.get("/v1/quotes/\(quote)", token: viewer.token).string("status") == "open")
        }
    }

    @Test func othersCannotSeeAQuote() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100)
            let quote = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":10"#)
            let rivalProducer = try await api.producer(province: "IR-23", status: .verified)
            _ = try await api.product(rivalProducer, stock: 100)
            #expect(try await api.get("/v1/quotes/\(quote)", token: rivalProducer.token).status == .notFound)
            #expect(try await api.get("/v1/quotes", token: rivalProducer.token).items.isEmpty)
            #expect(try await api.get("/v1/demands/\(demand)/quotes", token: rivalProducer.token).status == .forbidden)
            let rivalPartner = try await api.token(.partner)
            #expect(try await api.get("/v1/quotes/\(quote)", token: rivalPartner).status == .notFound)
            #expect(try await api.get("/v1/demands/\(demand)/quotes", token: rivalPartner).status == .notFound)
            #expect(try await api.acceptQuote(quote, token: rivalPartner).status == .notFound)
            #expect(try await api.get("/v1/quotes", token: seller.token).items.count == 1)
            #expect(try await api.get("/v1/quotes?demand_id=\(demand)", token: partner).items.count == 1)
        }
    }

    @Test func closingTheDemandExpiresItsQuotesAndTheSweepAnnouncesLapsingOnes() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100)
            let quote = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":10"#)
            try await api.db.client.query("UPDATE quotes SET valid_until = now() + interval '10 hours' WHERE id = \(quote)")
            let quotes = Quotes(db: api.db, orders: Orders(db: api.db))
            #expect(try await quotes.sweep().expiring == 1)
            #expect(try await quotes.sweep().expiring == 0)
            #expect(try await api.count("SELECT count(*) FROM events WHERE type = 'quote.expiring'") == 1)
            let inbox = try await api.get("/v1/notifications", token: seller.token)
            #expect(inbox.items.contains { $0["kind"] as? String == "quote_expiring" })
            #expect(try await api.post("/v1/demands/\(demand)/transitions", #"{"to":"closed"}"#, token: partner).status == .ok)
            #expect(try await api.get("/v1/quotes/\(quote)", token: seller.token).string("status") == "expired")
            #expect(
                try await api.count("SELECT count(*) FROM events WHERE type = 'quote.expired' AND subject_id = \(quote)") == 1)
        }
    }

    @Test func partnersExportQuotesAsCSV() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100)
            _ = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":10,"note":"قیمت، با بسته‌بندی""#)
            let csv = try await api.call(
                .get, "/v1/demands/\(demand)/quotes?format=csv", token: partner, headers: [.acceptLanguage: "fa"])
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.text.hasPrefix("\u{FEFF}شناسه پیشنهاد,"))
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.count == 2)
            #expect(lines[1].contains("\"قیمت، با بسته‌بندی\"") || lines[1].contains("قیمت، با بسته‌بندی"))
            let all = try await api.call(.get, "/v1/quotes", token: partner, headers: [.accept: "text/csv"])
            #expect(all.text.hasPrefix("\u{FEFF}quote_id,demand_id,"))
            #expect(all.text.split(separator: "\r\n").count == 2)
        }
    }

    @Test func matchesUseTheTierPriceForTheDemandsQuantity() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            _ = try await api.product(
                seller, price: 1_500_000, stock: 200,
                extra: #","price_tiers":[{"min_quantity":50,"unit_price_rials":1000000}]"#)
            let match = try #require((try await api.matches(demand, token: partner)["matches"] as? [[String: Any]])?.first)
            #expect(number(match["unit_price_rials"]) == 1_000_000)
            #expect(number((match["breakdown"] as? [String: Any])?["price"]) == 0.125)
        }
    }

    @Test func acceptingNamesTheVersionReadWithIfMatch() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100, capacity: 100)
            let quote = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":20"#)
            let read = try await api.get("/v1/quotes/\(quote)", token: partner)
            #expect(read.headers[.eTag] == #""1""#)
            // No If-Match, or one naming no version: 428, nothing placed.
            let missing = try await api.acceptQuote(quote, token: partner, ifMatch: "")
            #expect(missing.status == .preconditionRequired)
            #expect(missing.code == "if_match_required")
            #expect(try await api.acceptQuote(quote, token: partner, ifMatch: "*").status == .preconditionRequired)
            // Revised after the buyer read it: the old ETag is stale.
            #expect(
                try await api.post("/v1/quotes/\(quote)/revisions", #"{"unit_price_rials":1900000}"#, token: seller.token)
                    .status == .ok)
            let stale = try await api.acceptQuote(quote, token: partner, ifMatch: read.headers[.eTag])
            #expect(stale.status == .preconditionFailed)
            #expect(try await api.count("SELECT count(*) FROM orders") == 0)
            #expect(try await api.stock(product) == 100)
            #expect(try await api.get("/v1/quotes/\(quote)", token: partner).string("status") == "open")
            let current = try await api.get("/v1/quotes/\(quote)", token: partner).headers[.eTag]
            #expect(current == #""2""#)
            let accepted = try await api.acceptQuote(quote, token: partner, ifMatch: current)
            #expect(accepted.status == .ok, "\(accepted.text)")
            #expect(try await api.stock(product) == 80)
        }
    }

    @Test func aRejectedOrderGivesItsQuantityBackToTheDemand() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            // An accepted invitation covers part of the demand.
            let invited = try await api.producer(status: .verified)
            let cake = try await api.product(invited, price: 1_500_000, stock: 100)
            let invitation = try await api.post(
                "/v1/demands/\(demand)/invitations",
                #"{"producer_id":\#(invited.id),"product_id":\#(cake),"quantity":30,"unit_price_rials":1200000,\#(API.quoteDelivery)}"#,
                token: partner)
            #expect(invitation.status == .created, "\(invitation.text)")
            let invitationID = try #require(invitation.int("id"))
            #expect(try await api.post("/v1/invitations/\(invitationID)/accept", "{}", token: invited.token).status == .ok)
            #expect(try await api.quotes(of: demand, token: partner)["remaining_quantity"] as? Int == 70)

            let a = try await api.producer(status: .verified)
            let productA = try await api.product(a, stock: 100, capacity: 0)
            let b = try await api.producer(status: .verified)
            let productB = try await api.product(b, stock: 100, capacity: 0)
            let quoteA = try await api.quoteID(demand, a.token, #""product_id":\#(productA),"quantity":70"#)
            let quoteB = try await api.quoteID(demand, b.token, #""product_id":\#(productB),"quantity":70"#)
            let accepted = try await api.acceptQuote(quoteA, token: partner)
            #expect(accepted.status == .ok, "\(accepted.text)")
            let order = try #require((accepted.json["order"] as? [String: Any])?["id"] as? NSNumber).int64Value
            #expect(try await api.acceptQuote(quoteB, token: partner).code == "demand_quantity_covered")
            #expect(try await api.quotes(of: demand, token: partner)["remaining_quantity"] as? Int == 0)

            // The producer rejects the order: its 70 are uncovered again and another quote fits.
            let rejected = try await api.moveOrder(
                order, #"{"to":"rejected","reason_code":"out_of_stock","reason":"مواد اولیه نرسید"}"#, token: a.token)
            #expect(rejected.status == .ok, "\(rejected.text)")
            let after = try await api.quotes(of: demand, token: partner)
            #expect(after["remaining_quantity"] as? Int == 70)
            #expect(after["accepted_quantity"] as? Int == 30)
            let second = try await api.acceptQuote(quoteB, token: partner)
            #expect(second.status == .ok, "\(second.text)")
            #expect(try await api.stock(productB) == 30)
            #expect(try await api.quotes(of: demand, token: partner)["remaining_quantity"] as? Int == 0)
        }
    }

    @Test func aQuoteOffersOnlyStockThatAcceptanceCanReserve() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            // 50 in stock and 300 a month: capacity is not yet something a quote can promise.
            let product = try await api.product(seller, stock: 50, capacity: 300)
            let over = try await api.quote(demand, seller.token, #""product_id":\#(product),"quantity":80"#)
            #expect(over.status == .unprocessableContent)
            #expect(over.fields == ["quantity"])
            let quote = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":50"#)
            // Stock sold elsewhere since: acceptance is a 409 and changes nothing.
            try await api.db.client.query("UPDATE products SET stock = 10 WHERE id = \(product)")
            let short = try await api.acceptQuote(quote, token: partner)
            #expect(short.status == .conflict)
            #expect(short.code == "insufficient_stock")
            #expect(try await api.count("SELECT count(*) FROM orders") == 0)
            #expect(try await api.stock(product) == 10)
            #expect(try await api.get("/v1/quotes/\(quote)", token: partner).string("status") == "open")
        }
    }

    @Test func theQuotesCSVRefusesRatherThanTruncates() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let demand = try await api.demand(partner, Self.demandFields)
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, stock: 100)
            _ = try await api.quoteID(demand, seller.token, #""product_id":\#(product),"quantity":10"#)
            try await api.db.client.query(
                """
                INSERT INTO quotes (demand_id, partner_id, producer_id, product_id, unit_price_rials, quantity, valid_until,
                  status, decline_reason)
                SELECT demand_id, partner_id, producer_id, product_id, unit_price_rials, quantity, valid_until, 'declined', 'x'
                FROM quotes, generate_series(1, 10000)
                """)
            let csv = try await api.call(.get, "/v1/quotes?format=csv", token: partner)
            #expect(csv.status == .unprocessableContent)
            #expect(csv.code == "export_too_large")
            let narrower = try await api.call(.get, "/v1/quotes?format=csv&status=open", token: partner)
            #expect(narrower.status == .ok)
            #expect(narrower.text.split(separator: "\r\n").count == 2)
        }
    }

    @Test func apiKeysAnswerQuotesUnderTheirScopes() {
        #expect(APIKeys.requirement(method: .get, route: "/v1/quotes") == .scope(.supplyRead))
        #expect(APIKeys.requirement(method: .get, route: "/v1/quotes/{id}") == .scope(.supplyRead))
        #expect(APIKeys.requirement(method: .get, route: "/v1/demands/{id}/quotes") == .scope(.supplyRead))
        #expect(APIKeys.requirement(method: .post, route: "/v1/quotes/{id}/accept") == .scope(.orders))
        #expect(APIKeys.requirement(method: .post, route: "/v1/quotes/{id}/decline") == .scope(.demands))
        #expect(APIKeys.requirement(method: .post, route: "/v1/quotes/{id}/withdraw") == .denied)
    }
}
