import BazaarcheCore
import Foundation

/// What a key may do. A route no scope names is refused to every key (default deny), and no scope
/// reaches accounts, passwords, tokens or key management.
public enum APIKeyScope: String, APIEnum {
    /// Search and read products, brands, certificates and packaging; read the company's demands,
    /// their matches, its invitations and the quotes on its demands.
    case supplyRead = "supply:read"
    /// Post and close the company's demands, invite producers and decline quotes.
    case demands
    /// Place, read and move orders, and accept quotes (which places one), as the account that created the key.
    case orders
    /// Record, correct, confirm and read the company's export shipments.
    case shipments
    /// Manage the company's webhook endpoints and their deliveries.
    case webhooks
    /// Read the company's event feed (`GET /v1/events`).
    case eventsRead = "events:read"
}

/// API keys for integrations (docs/integrations.md, "API keys"): partner accounts create named,
/// scoped keys, see each once, and revoke them; the service resolves `Authorization: Bearer bzk_…`
/// through `principal(forKey:address:)` on every request and holds the key to its scopes.
public struct APIKeys: APIKeyAuthority {
    let db: Database
    let limiter: RateLimiter?
    /// Unrevoked, unexpired keys a company may hold at once.
    static let maxActivePerCompany = 100

    /// `perMinute` requests a minute per key and instance; 0 leaves keys unlimited.
    public init(db: Database, perMinute: Int) {
        self.db = db
        limiter = perMinute > 0 ? RateLimiter(perMinute: perMinute) : nil
    }

    /// A key (alias `k`, its creator `a`) as listed; never the key itself.
    static let json = """
        json_build_object('id', k.id, 'name', k.name, 'prefix', k.prefix, 'scopes', k.scopes,
          'status', CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
            WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired' ELSE 'active' END,
          'created_at', api_time(k.created_at), 'created_by', json_build_object('id', a.id, 'login', a.login),
          'expires_at', api_time(k.expires_at), 'revoked_at', api_time(k.revoked_at),
          'last_used_at', api_time(k.last_used_at), 'last_used_address', k.last_used_address)
        """

    // MARK: Authentication

    /// Every request signed with a key runs this: prepared once per connection.
    enum KeyLookup: StatementSQL {
        static let sql = """
            SELECT k.id, k.scopes, a.id, a.login, a.partner_id, a.company_role,
              k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute'
                OR k.last_used_address IS DISTINCT FROM $2
            FROM api_keys k
            JOIN accounts a ON a.id = k.created_by
            WHERE k.key_hash = sha256(convert_to($1, 'UTF8')) AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())
              AND NOT a.disabled AND a.released_at IS NULL AND a.role = 'partner' AND a.partner_id = k.partner_id
            """
    }

    public func principal(forKey key: String, address: String?) async throws -> Principal? {
        guard key.count <= 128 else { return nil }
        let rows = try await db.prepared(Prepared<KeyLookup>(key, address))
        guard let row = rows.first else { return nil }
        let (keyID, scopes, accountID, login, partnerID, companyRole, stale) = try row.decode(
            (Int64, [String], Int64, String, Int64, String?, Bool).self)
        var principal = Principal(
            accountID: accountID, login: login, role: .partner, provinceCode: nil, producerID: nil, partnerID: partnerID,
            companyRole: companyRole.flatMap(CompanyRole.init(rawValue:)))
        principal.apiKey = APIKeyGrant(id: keyID, scopes: scopes)
        if stale { try await noteUse(of: keyID, from: address, by: principal) }
        return principal
    }

    /// Records when and where a key was used: at most once a minute per key (or on a new address),
    /// and an `api_key.used` audit row at most once an hour per key (or on a new address), so a busy
    /// integration neither writes on every request nor floods the audit trail. The conditions sit
    /// in the UPDATE, so of several requests (or instances) at once only one writes.
    func noteUse(of keyID: Int64, from address: String?, by principal: Principal) async throws {
        try await db.transaction { connection in
            let rows = try await connection.query(
                """
                UPDATE api_keys SET last_used_at = now(), last_used_address = \(address),
                  last_audited_at = CASE
                    WHEN last_audited_at IS NULL OR last_audited_at < now() - interval '1 hour'
                      OR last_used_address IS DISTINCT FROM \(address) THEN now()
                    ELSE last_audited_at END
                WHERE id = \(keyID) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
                  OR last_used_address IS DISTINCT FROM \(address))
                RETURNING last_audited_at = now()
                """, logger: db.logger
            ).collect()
            guard let audit = try rows.first?.decode(Bool.self), audit else { return }
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "api_key", entityID: keyID,
                provinceCode: nil, action: "api_key.used", from: nil, to: nil,
                reason: address.map { "from \($0)" } ?? "from an unknown address")
        }
    }

    public func take(_ key: APIKeyGrant) -> RateLimiter.Quota? { limiter?.take(key.id) }

    public func authorize(_ principal: Principal, method: HTTPRequest.Method, route: String) throws {
        guard let key = principal.apiKey else { return }
        switch Self.requirement(method: method, route: route) {
        case .anyKey: return
        case .scope(let scope):
            if key.scopes.contains(scope.rawValue) { return }
            throw APIError(
                .forbidden, code: "insufficient_scope", title: "The API key lacks a scope",
                detail: "This route needs an API key with the \(scope.rawValue) scope.",
                extra: ["required_scope": scope.rawValue],
                headers: [
                    .wwwAuthenticate: "Bearer realm=\"bazaarche\", error=\"insufficient_scope\", scope=\"\(scope.rawValue)\""
                ])
        case .denied:
            throw APIError(
                .forbidden, code: "insufficient_scope", title: "Not available to API keys",
                detail: "No API key scope grants this route; it needs an account's own sign-in (POST /v1/auth/tokens).",
                headers: [.wwwAuthenticate: "Bearer realm=\"bazaarche\", error=\"insufficient_scope\""])
        }
    }

    enum Requirement: Equatable {
        /// Public reference data: any valid key.
        case anyKey
        case scope(APIKeyScope)
        case denied
    }

    /// What a key needs for (method, route template). Anything not listed here is denied, so a route
    /// added later is closed to keys until someone decides which scope it belongs to.
    static func requirement(method: HTTPRequest.Method, route: String) -> Requirement {
        let s = route.split(separator: "/").map(String.init)
        let read = method == .get || method == .head
        // Probes and this API's own document are public; metrics and dashboards are not for keys.
        if s.count == 1 && ["healthz", "readyz", "openapi.yaml"].contains(s[0]) { return read ? .anyKey : .denied }
        guard s.count >= 2, s[0] == "v1" else { return .denied }
        switch s[1] {
        case "provinces" where s.count == 2, "countries", "hs-chapters", "categories", "customs-offices", "activities":
            return read ? .anyKey : .denied
        case "products", "brands":
            return read ? .scope(.supplyRead) : .denied
        case "demands", "invitations":
            return read ? .scope(.supplyRead) : .scope(.demands)
        case "quotes":
            // Accepting places an order, so it is the orders scope's; declining answers the
            // demand, as inviting does. Revising and withdrawing are producers' (keys are partners').
            if read { return .scope(.supplyRead) }
            return s.count == 4 && s[3] == "accept"
                ? .scope(.orders) : s.count == 4 && s[3] == "decline" ? .scope(.demands) : .denied
        case "orders":
            return .scope(.orders)
        case "export-shipments":
            return .scope(.shipments)
        case "webhook-endpoints", "webhooks", "webhook-deliveries":
            return .scope(.webhooks)
        case "events" where s.count == 2:
            return read ? .scope(.eventsRead) : .denied
        default:
            return .denied
        }
    }

    // MARK: Management

    struct CreateRequest: Decodable, Sendable {
        var name: String
        var scopes: [APIKeyScope]
        var expiresAt: String?
    }

    /// A new key: `bzk_` and 256 random bits (base64url). The first 12 characters are its display prefix.
    static func generate() -> (key: String, prefix: String) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key =
            APIKeyGrant.tokenPrefix
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return (key, String(key.prefix(12)))
    }

    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Only a partner account's own sign-in manages keys: a key can never make or revoke keys.
    static func manager(_ context: AppRequestContext) throws -> (principal: Principal, partnerID: Int64) {
        let principal = try context.require(.partner)
        guard principal.apiKey == nil, let partnerID = principal.partnerID else {
            throw APIError.forbidden("API keys are managed by a partner account's own sign-in, not with a key.")
        }
        // Keys act for the whole company: only its owners see or manage them.
        try principal.requireCompanyOwner()
        return (principal, partnerID)
    }

    func create(_ body: CreateRequest, by principal: Principal, partnerID: Int64) async throws -> (Int64, String) {
        var v = Validator()
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        v.check(!name.isEmpty && name.count <= 100, "name", "must be 1 to 100 characters")
        v.check(!body.scopes.isEmpty, "scopes", "must name at least one scope")
        let expiresAt = body.expiresAt.flatMap(Self.parseTime)
        if body.expiresAt != nil {
            if let date = expiresAt {
                v.check(date > Date(), "expires_at", "must be in the future")
            } else {
                v.add("expires_at", "must be a date-time such as 2026-01-31T00:00:00Z")
            }
        }
        try v.throwIfInvalid()
        let scopes = APIKeyScope.allCases.filter(body.scopes.contains).map(\.rawValue)
        let (key, prefix) = Self.generate()
        let (id, json) = try await db.transaction { connection in
            // One company's key creations queue here, so the count below holds.
            try await connection.query("SELECT 1 FROM partners WHERE id = \(partnerID) FOR UPDATE", logger: db.logger)
            let active = try await connection.query(
                """
                SELECT count(*)::int FROM api_keys
                WHERE partner_id = \(partnerID) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                """, logger: db.logger
            ).collect()[0].decode(Int.self)
            if active >= Self.maxActivePerCompany {
                throw APIError.conflict(
                    code: "too_many_api_keys",
                    "The company already has \(active) active API keys; revoke one it no longer uses first.")
            }
            let rows = try await connection.query(
                """
                WITH k AS (
                  INSERT INTO api_keys (partner_id, created_by, name, key_hash, prefix, scopes, expires_at)
                  VALUES (\(partnerID), \(principal.accountID), \(name), sha256(convert_to(\(key), 'UTF8')), \(prefix),
                    \(scopes), \(expiresAt))
                  RETURNING *)
                SELECT k.id, \(unescaped: Self.json)::text FROM k JOIN accounts a ON a.id = k.created_by
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "api_key", entityID: id, provinceCode: nil,
                action: "api_key.created", from: nil, to: "active", reason: "\(name): \(scopes.joined(separator: " "))")
            return (id, json)
        }
        // Shown this once: the key is base64url, so it needs no JSON escaping.
        return (id, "{\"key\":\"\(key)\"," + json.dropFirst())
    }

    func list(request: Request, partnerID: Int64) async throws -> String {
        let page = try Page(request: request)
        return try await page.read(
            "SELECT k.id, \(unescaped: Self.json)::text FROM api_keys k JOIN accounts a ON a.id = k.created_by",
            key: "k.id", where: ["k.partner_id = \(partnerID)"], from: db)
    }

    func get(_ id: Int64, partnerID: Int64) async throws -> String {
        try await db.json(
            """
            SELECT \(unescaped: Self.json)::text FROM api_keys k JOIN accounts a ON a.id = k.created_by
            WHERE k.id = \(id) AND k.partner_id = \(partnerID)
            """, notFound: "API key \(id)")
    }

    /// Revokes a key of the caller's company at once (the next request signed with it gets 401).
    /// Revoking a revoked key changes nothing; another company's key is a 404.
    func revoke(_ id: Int64, by principal: Principal, partnerID: Int64) async throws {
        try await db.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT revoked_at IS NOT NULL, expires_at IS NOT NULL AND expires_at <= now() FROM api_keys
                WHERE id = \(id) AND partner_id = \(partnerID) FOR UPDATE
                """, logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("API key \(id)") }
            let (revoked, expired) = try row.decode((Bool, Bool).self)
            if revoked { return }
            try await connection.query(
                "UPDATE api_keys SET revoked_at = now(), revoked_by = \(principal.accountID) WHERE id = \(id)",
                logger: db.logger)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "api_key", entityID: id, provinceCode: nil,
                action: "api_key.revoked", from: expired ? "expired" : "active", to: "revoked")
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/api-keys") { request, context in
            let (principal, partnerID) = try Self.manager(context)
            let body = try await JSONBody.decode(CreateRequest.self, from: request, context: context)
            let (id, json) = try await create(body, by: principal, partnerID: partnerID)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/api-keys/\(id)"])
        }
        routes.get("/v1/api-keys") { request, context in
            let (_, partnerID) = try Self.manager(context)
            return JSONResponse.raw(try await list(request: request, partnerID: partnerID))
        }
        routes.get("/v1/api-keys/{id}") { _, context in
            let (_, partnerID) = try Self.manager(context)
            return JSONResponse.raw(try await get(try context.id(what: "API key"), partnerID: partnerID))
        }
        routes.delete("/v1/api-keys/{id}") { _, context in
            let (principal, partnerID) = try Self.manager(context)
            try await revoke(try context.id(what: "API key"), by: principal, partnerID: partnerID)
            return JSONResponse.noContent
        }
    }
}
