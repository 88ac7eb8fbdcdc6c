import BazaarcheCore
import Catalog
import Foundation
import Testing

// Test fixtures of the catalog features, shared by the suites that need them.

/// A query-string value, percent-encoded.
func encoded(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
}

extension API {
    /// Creates a product as `producer` and, unless `list` is false, lists it.
    func product(
        _ producer: (id: Int64, token: String), title: String = "کیک خانگی شکلاتی", category: String = "food.bakery",
        price: Int64 = 1_500_000, stock: Int = 10, capacity: Int = 100, extra: String = "", list: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int64 {
        let reply = try await post(
            "/v1/products",
            """
            {"title_fa":"\(title)","category_code":"\(category)","unit":"piece","price_rials":\(price),
             "stock":\(stock),"monthly_capacity":\(capacity)\(extra)}
            """, token: producer.token, sourceLocation: sourceLocation)
        #expect(reply.status == .created, "create product: \(reply.text)", sourceLocation: sourceLocation)
        let id = reply.int("id") ?? 0
        if list {
            let listed = try await post("/v1/products/\(id)/transitions", #"{"to":"listed"}"#, token: producer.token)
            #expect(listed.status == .ok, "list product: \(listed.text)", sourceLocation: sourceLocation)
        }
        return id
    }

    func searchIDs(_ query: String, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> [Int64]
    {
        let reply = try await get("/v1/products?" + query, token: token, sourceLocation: sourceLocation)
        #expect(reply.status == .ok, "\(query): \(reply.text)", sourceLocation: sourceLocation)
        return reply.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
    }
}

extension API {
    /// Declares `level` as the product's owner (`token`) and has an admin approve it: the level
    /// search, matching and the product's `packaging_level` then read.
    @discardableResult
    func approvedPackaging(
        _ product: Int64, _ level: String, token: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let declared = try await call(
            .put, "/v1/products/\(product)/packaging", json: #"{"level":"\#(level)"}"#, token: token,
            sourceLocation: sourceLocation)
        #expect(declared.status == .ok, "\(declared.text)", sourceLocation: sourceLocation)
        let approved = try await post(
            "/v1/products/\(product)/packaging/review", #"{"decision":"approve","level":"\#(level)"}"#,
            token: try await self.token(.admin),
            sourceLocation: sourceLocation)
        #expect(approved.string("approved_level") == level, "\(approved.text)", sourceLocation: sourceLocation)
        return approved
    }

    func review(_ product: Int64, _ body: String, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> Reply
    {
        try await post("/v1/products/\(product)/packaging/review", body, token: token, sourceLocation: sourceLocation)
    }
}
