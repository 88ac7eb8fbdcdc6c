import BazaarcheApp
import BazaarcheCore
import Foundation
import Testing

@testable import Integrations

/// API keys for integrations (docs/integrations.md, "API keys"), end to end over HTTP.
@Suite("API keys")
struct APIKeyTests {
    static func behindOneProxy(_ config: inout AppConfig) { config.trustedProxyHops = 1 }
    static func threeAMinute(_ config: inout AppConfig) { config.apiKeyRateLimitPerMinute = 3 }

    /// Creates a key as `token`'s account and returns the key and its id.
    static func key(_ api: API, token: String, scopes: [String], name: String = "ERP") async throws -> (
        key: String, id: Int64
    ) {
        let scopesJSON = scopes.map { "\"\($0)\"" }.joined(separator: ",")
        let reply = try await api.must(
            .post, "/v1/api-keys", json: #"{"name":"\#(name)","scopes":[\#(scopesJSON)]}"#, token: token, status: .created)
        return (try #require(reply.string("key")), try #require(reply.int("id")))
    }

    static func auditCount(_ api: API, key id: Int64, action: String) async throws -> Int {
        try await api.db.rows(
            "SELECT count(*)::int FROM audit_events WHERE entity_type = 'api_key' AND entity_id = \(id) AND action = \(action)"
        )[0].decode(Int.self)
    }

    @Test("a key works on its scopes only, never on account or key routes, and a revoked key gets 401 at once")
    func lifecycle() async throws {
        try await withApp(configure: Self.behindOneProxy) { api in
            let partner = try await api.token(.partner)
            let login = try #require(try await api.get("/v1/me", token: partner).string("login"))
            let created = try await api.post(
                "/v1/api-keys", #"{"name":"انبار مرکزی","scopes":["supply:read","events:read","supply:read"]}"#,
                token: partner)
            #expect(created.status == .created)
            let key = try #require(created.string("key"))
            let id = try #require(created.int("id"))
            #expect(key.hasPrefix("bzk_") && key.count > 40)
            #expect(created.string("prefix") == String(key.prefix(12)))
            #expect(created.json["scopes"] as? [String] == ["supply:read", "events:read"])
            #expect(created.string("status") == "active")
            #expect(created.headers[.location] == "/v1/api-keys/\(id)")
            #expect(try await Self.auditCount(api, key: id, action: "api_key.created") == 1)

            // Allowed routes answer as the company's account would.
            let from: HTTPFields = [.xForwardedFor: "203.0.113.7"]
            let search = try await api.call(.get, "/v1/products", token: key, headers: from)
            #expect(search.status == .ok)
            #expect(search.headers[.rateLimitLimit] == "600")
            #expect(try await api.call(.get, "/v1/events", token: key, headers: from).status == .ok)
            #expect(try await api.call(.get, "/v1/provinces", token: key, headers: from).status == .ok)

            // Outside its scopes: 403 naming the scope, and nothing happens.
            let orders = try await api.call(.get, "/v1/orders", token: key, headers: from)
            #expect(orders.status == .forbidden)
            #expect(orders.code == "insufficient_scope")
            #expect(orders.string("required_scope") == "orders")
            let demand = try await api.call(.post, "/v1/demands", json: "{}", token: key, headers: from)
            #expect(demand.status == .forbidden && demand.string("required_scope") == "demands")

            // Never account, password, token or key routes, whatever the scopes.
            let refused: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/me", nil),
                (.post, "/v1/me/password", #"{"current_password":"\#(API.password)","new_password":"stolen-key-pass"}"#),
                (.delete, "/v1/auth/tokens/current", nil),
                (.delete, "/v1/auth/tokens", nil),
                (.get, "/v1/api-keys", nil),
                (.get, "/v1/api-keys/\(id)", nil),
                (.post, "/v1/api-keys", #"{"name":"second","scopes":["orders"]}"#),
                (.delete, "/v1/api-keys/\(id)", nil),
            ]
            for (method, path, body) in refused {
                let reply = try await api.call(method, path, json: body, token: key, headers: from)
                #expect(reply.status == .forbidden, "\(method) \(path): \(reply.text)")
                #expect(reply.code == "insufficient_scope", "\(method) \(path)")
            }
            // The password is unchanged, the account's token still works, and no second key was made.
            #expect(try await api.login(login).hasPrefix("bz_"))
            #expect(try await api.get("/v1/me", token: partner).status == .ok)
            let listed = try await api.get("/v1/api-keys", token: partner)
            #expect(listed.status == .ok)
            #expect(listed.items.count == 1)

            // The key itself is never shown again: the list and the key's page carry its prefix only.
            let item = try #require(listed.items.first)
            #expect(item["key"] == nil)
            #expect(item["prefix"] as? String == String(key.prefix(12)))
            #expect(!listed.text.contains(String(key.dropFirst(12))))
            let one = try await api.get("/v1/api-keys/\(id)", token: partner)
            #expect(one.json["key"] == nil && !one.text.contains(String(key.dropFirst(12))))
            #expect(item["last_used_address"] as? String == "203.0.113.7")
            #expect(item["last_used_at"] is String)
            // Many requests from one address: one `api_key.used` audit row, not one per request.
            #expect(try await Self.auditCount(api, key: id, action: "api_key.used") == 1)
            // A new address is noted and audited at once.
            _ = try await api.call(.get, "/v1/events", token: key, headers: [.xForwardedFor: "198.51.100.9"])
            #expect(try await Self.auditCount(api, key: id, action: "api_key.used") == 2)
            #expect(try await api.get("/v1/api-keys/\(id)", token: partner).string("last_used_address") == "198.51.100.9")

            // Revoked: the very next request is refused.
            #expect(try await api.call(.delete, "/v1/api-keys/\(id)", token: partner).status == .noContent)
            let after = try await api.get("/v1/events", token: key)
            #expect(after.status == .unauthorized)
            #expect(after.code == "unauthenticated")
            #expect(try await api.get("/v1/provinces", token: key).status == .unauthorized)
            let revoked = try await api.get("/v1/api-keys/\(id)", token: partner)
            #expect(revoked.string("status") == "revoked")
            #expect(revoked.json["revoked_at"] is String)
            // Revoking again changes nothing and audits nothing more.
            #expect(try await api.call(.delete, "/v1/api-keys/\(id)", token: partner).status == .noContent)
            #expect(try await Self.auditCount(api, key: id, action: "api_key.revoked") == 1)
        }
    }

    @Test("a key with the orders scope places and reads orders as the account that made it")
    func ordersScope() async throws {
        try await withApp { api in
            let parties = try await api.orderParties(stock: 10)
            let key = try await Self.key(api, token: parties.partner, scopes: ["orders"])
            let placed = try await api.order(key.key, producer: parties.producer.id, lines: [(parties.product, 2)])
            #expect(placed.status == .created, "\(placed.text)")
            let orderID = try #require(placed.int("id"))
            #expect(try await api.stock(parties.product) == 8)
            // The account sees the order its key placed, and the key sees the account's orders.
            #expect(try await api.get("/v1/orders/\(orderID)", token: parties.partner).status == .ok)
            let listed = try await api.get("/v1/orders", token: key.key)
            #expect(listed.status == .ok)
            #expect(listed.items.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [orderID])
            // Search is another scope.
            let search = try await api.get("/v1/products", token: key.key)
            #expect(search.status == .forbidden && search.string("required_scope") == "supply:read")
        }
    }

    @Test("another company cannot see, list or revoke a company's keys")
    func otherCompany() async throws {
        try await withApp { api in
            let mine = try await api.token(.partner)
            let theirs = try await api.token(.partner)
            let key = try await Self.key(api, token: mine, scopes: ["events:read"])
            #expect(try await api.get("/v1/api-keys/\(key.id)", token: theirs).status == .notFound)
            let revoke = try await api.call(.delete, "/v1/api-keys/\(key.id)", token: theirs)
            #expect(revoke.status == .notFound)
            #expect(revoke.code == "not_found")
            #expect(try await api.get("/v1/api-keys", token: theirs).items.isEmpty)
            // Still working, still active.
            #expect(try await api.get("/v1/events", token: key.key).status == .ok)
            #expect(try await api.get("/v1/api-keys/\(key.id)", token: mine).string("status") == "active")
            #expect(try await Self.auditCount(api, key: key.id, action: "api_key.revoked") == 0)
            // Keys are a partner company's: other roles are refused.
            for role in [Role.admin, .supervisor] {
                let staff = try await api.token(role, province: role == .supervisor ? "IR-00" : nil)
                #expect(try await api.get("/v1/api-keys", token: staff).status == .forbidden)
                #expect(try await api.call(.delete, "/v1/api-keys/\(key.id)", token: staff).status == .forbidden)
            }
        }
    }

    @Test("a disabled account's keys stop working; an expired key is refused")
    func disabledAndExpired() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let me = try await api.get("/v1/me", token: partner)
            let accountID = try #require(me.int("id"))
            let login = try #require(me.string("login"))
            let key = try await Self.key(api, token: partner, scopes: ["events:read"])
            let spare = try await Self.key(api, token: partner, scopes: ["events:read"], name: "spare")
            #expect(try await api.get("/v1/events", token: key.key).status == .ok)
            let admin = try await api.token(.admin)
            try await api.must(.post, "/v1/accounts/\(accountID)/disable", json: #"{"reason":"left the company"}"#, token: admin)
            #expect(try await api.get("/v1/events", token: key.key).status == .unauthorized)

            try await api.must(.post, "/v1/accounts/\(accountID)/enable", json: "{}", token: admin)
            #expect(try await api.get("/v1/events", token: spare.key).status == .ok)
            try await api.db.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = \(spare.id)")
            #expect(try await api.get("/v1/events", token: spare.key).status == .unauthorized)
            let token = try await api.login(login)
            #expect(try await api.get("/v1/api-keys/\(spare.id)", token: token).string("status") == "expired")
            // A key that was never issued, or a malformed one, is a 401 like any bad token.
            #expect(try await api.get("/v1/events", token: "bzk_" + String(repeating: "A", count: 43)).status == .unauthorized)
            #expect(
                try await api.get("/v1/provinces", token: "bzk_" + String(repeating: "A", count: 200)).status == .unauthorized)
        }
    }

    @Test("each key has its own rate limit, apart from its account's")
    func rateLimit() async throws {
        try await withApp(configure: Self.threeAMinute) { api in
            let partner = try await api.token(.partner)
            let key = try await Self.key(api, token: partner, scopes: ["events:read"])
            let other = try await Self.key(api, token: partner, scopes: ["events:read"], name: "other")
            for _ in 0..<3 { #expect(try await api.get("/v1/events", token: key.key).status == .ok) }
            let limited = try await api.get("/v1/events", token: key.key)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "rate_limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(limited.headers[.rateLimitLimit] == "3")
            // Neither the account nor its other key is held back.
            #expect(try await api.get("/v1/events", token: other.key).status == .ok)
            #expect(try await api.get("/v1/events", token: partner).status == .ok)
        }
    }

    @Test("bad requests are refused with every field named, and create nothing")
    func validation() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let bad = try await api.post(
                "/v1/api-keys", #"{"name":" ","scopes":["orders","everything"],"expires_at":"yesterday"}"#, token: partner)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.fields.contains("scopes[1]"))
            let fields = try await api.post(
                "/v1/api-keys", #"{"name":" ","scopes":[],"expires_at":"2020-01-01T00:00:00Z"}"#, token: partner)
            #expect(fields.status == .unprocessableContent)
            #expect(Set(fields.fields) == ["name", "scopes", "expires_at"])
            #expect(try await api.get("/v1/api-keys", token: partner).items.isEmpty)
            // With an expiry in the future.
            let expiring = try await api.post(
                "/v1/api-keys", #"{"name":"quarterly","scopes":["shipments"],"expires_at":"2099-03-20T00:00:00Z"}"#,
                token: partner)
            #expect(expiring.status == .created)
            #expect((expiring.string("expires_at") ?? "").hasPrefix("2099-03-20T00:00:00"))
            // Producers have no keys.
            let producer = try await api.producer()
            #expect(
                try await api.post("/v1/api-keys", #"{"name":"x","scopes":["orders"]}"#, token: producer.token).status
                    == .forbidden)
        }
    }

    @Test("every route needs a decided scope: account, token and key routes are closed to keys")
    func scopeTable() {
        let denied: [(HTTPRequest.Method, String)] = [
            (.get, "/v1/me"), (.post, "/v1/me/password"), (.post, "/v1/auth/tokens"), (.delete, "/v1/auth/tokens/current"),
            (.get, "/v1/accounts"), (.post, "/v1/accounts/{id}/disable"), (.get, "/v1/api-keys"), (.post, "/v1/api-keys"),
            (.delete, "/v1/api-keys/{id}"), (.get, "/v1/audit-events"), (.get, "/metrics"), (.get, "/v1/producers/{id}"),
            (.post, "/v1/products"), (.put, "/v1/quotas/{year}/{province_code}"), (.get, "/v1/some-future-route"),
            (.get, "/v1/provinces/{code}/priorities"),
        ]
        for (method, route) in denied {
            #expect(APIKeys.requirement(method: method, route: route) == .denied, "\(method) \(route)")
        }
        #expect(APIKeys.requirement(method: .get, route: "/v1/products") == .scope(.supplyRead))
        #expect(APIKeys.requirement(method: .get, route: "/v1/demands/{id}/matches") == .scope(.supplyRead))
        #expect(APIKeys.requirement(method: .post, route: "/v1/demands/{id}/invitations") == .scope(.demands))
        #expect(APIKeys.requirement(method: .post, route: "/v1/orders/{id}/transitions") == .scope(.orders))
        #expect(APIKeys.requirement(method: .patch, route: "/v1/export-shipments/{id}") == .scope(.shipments))
        #expect(APIKeys.requirement(method: .delete, route: "/v1/webhook-endpoints/{id}") == .scope(.webhooks))
        #expect(APIKeys.requirement(method: .get, route: "/v1/events") == .scope(.eventsRead))
        #expect(APIKeys.requirement(method: .get, route: "/v1/categories") == .anyKey)
        #expect(APIKeys.requirement(method: .get, route: "/healthz") == .anyKey)
        #expect(APIKeys.requirement(method: .get, route: "/dashboard/exports") == .denied)
    }
}
