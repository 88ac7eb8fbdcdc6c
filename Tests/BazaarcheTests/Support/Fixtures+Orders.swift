import BazaarcheCore
import Foundation
import Orders
import Testing

// Test fixtures of the orders features, shared by the suites that need them.

extension API {
    func order(
        _ partner: String, producer: Int64, lines: [(Int64, Int)], key: String = UUID().uuidString,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let linesJSON = lines.map { #"{"product_id":\#($0.0),"quantity":\#($0.1)}"# }.joined(separator: ",")
        return try await call(
            .post, "/v1/orders",
            json: """
                {"producer_id":\(producer),"lines":[\(linesJSON)],
                 "delivery":{"province_code":"IR-23","city":"تهران","address":"خیابان انقلاب، پلاک ۱۲","recipient":"انبار مرکزی",
                 "phone":"02166554433"}}
                """,
            token: partner, headers: [.idempotencyKey: key], sourceLocation: sourceLocation)
    }

    func stock(_ product: Int64) async throws -> Int {
        try await db.rows("SELECT stock FROM products WHERE id = \(product)")[0].decode(Int.self)
    }
}

extension API {
    func moveOrder(
        _ order: Int64, _ body: String, token: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        try await post("/v1/orders/\(order)/transitions", body, token: token, sourceLocation: sourceLocation)
    }

    /// Places one line and moves the order along `path` (each move as the role that makes it).
    func orderThrough(
        _ path: [String], producer: (id: Int64, token: String), product: Int64, partner: String, quantity: Int = 1,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int64 {
        let id = try #require(try await order(partner, producer: producer.id, lines: [(product, quantity)]).int("id"))
        for step in path {
            let body = step == "shipped" ? #"{"to":"shipped","tracking_code":"TRK-1"}"# : #"{"to":"\#(step)"}"#
            let token = ["delivered", "cancelled", "disputed"].contains(step) ? partner : producer.token
            let moved = try await moveOrder(id, body, token: token, sourceLocation: sourceLocation)
            #expect(moved.status == .ok, "\(step): \(moved.text)", sourceLocation: sourceLocation)
        }
        return id
    }

    /// (delivered, failed) of the producer's delivery record; (0, 0) when it has none.
    func deliveryRecord(_ producer: Int64) async throws -> (Int, Int) {
        let rows = try await db.rows("SELECT delivered, failed FROM producer_order_stats WHERE producer_id = \(producer)")
        return try rows.first?.decode((Int, Int).self) ?? (0, 0)
    }

    func status(ofOrder id: Int64) async throws -> String {
        try await db.rows("SELECT status FROM orders WHERE id = \(id)")[0].decode(String.self)
    }

    /// What the sweeper will find due: the deadline moved into the past.
    func makeDue(_ order: Int64, _ column: String) async throws {
        try await db.client.query("UPDATE orders SET \(unescaped: column) = now() - interval '1 minute' WHERE id = \(order)")
    }

    func sweep(_ settings: OrderSettings = OrderSettings()) async throws -> (expired: Int, confirmed: Int) {
        try await Orders(db: db, settings: settings).sweep()
    }
}

extension API {
    /// Where most order tests start: a verified producer, one listed product of theirs with
    /// `stock`, and a partner account to buy it.
    func orderParties(province: String = "IR-00", price: Int64 = 1_500_000, stock: Int) async throws
        -> (producer: (id: Int64, token: String), product: Int64, partner: String)
    {
        let seller = try await self.producer(province: province, status: .verified)
        let product = try await self.product(seller, price: price, stock: stock)
        return (seller, product, try await token(.partner))
    }
}
