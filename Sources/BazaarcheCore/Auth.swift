import Foundation
import Hummingbird
import PostgresNIO

public enum Role: String, Sendable, Codable, CaseIterable {
    case admin, supervisor, implementer, producer, partner
    case exportOfficer = "export_officer"
}

/// A partner account's part in its company: the owner manages the company's accounts, API keys
/// and webhooks and may buy; a buyer posts demands, sends invitations, accepts quotes and places
/// orders; a viewer only reads what the company may see.
public enum CompanyRole: String, Sendable, Codable, CaseIterable {
    case owner, buyer, viewer

    /// Owners and buyers commit the company (demands, orders, quotes, shipments).
    public var mayBuy: Bool { self != .viewer }
}

/// Who is calling: resolved from the bearer token by `AuthMiddleware`.
public struct Principal: Sendable, Equatable {
    public var accountID: Int64
    public var login: String
    public var role: Role
    /// The supervisor's province, or the producer's own province (nil for implementers: see `provinceCodes`).
    public var provinceCode: String?
    /// Every province the caller works in: an implementer's one or more, else `provinceCode` alone.
    public var provinceCodes: [String]
    public var producerID: Int64?
    public var partnerID: Int64?
    /// A partner account's role in its company (nil for every other role).
    public var companyRole: CompanyRole?
    /// Set when the caller signed with an API key (`bzk_…`): the key, held to its scopes.
    public var apiKey: APIKeyGrant? = nil

    public init(
        accountID: Int64, login: String, role: Role, provinceCode: String?, provinceCodes: [String]? = nil,
        producerID: Int64?, partnerID: Int64?, companyRole: CompanyRole? = nil
    ) {
        self.accountID = accountID
        self.login = login
        self.role = role
        self.provinceCode = provinceCode
        self.provinceCodes = provinceCodes ?? provinceCode.map { [$0] } ?? []
        self.producerID = producerID
        self.partnerID = partnerID
        self.companyRole = role == .partner ? companyRole ?? .viewer : nil
    }

    public func require(_ roles: Role...) throws {
        guard roles.contains(role) else {
            throw APIError.forbidden("This operation is not available to the \(role.rawValue) role.")
        }
    }

    /// Partner accounts that only read (viewers) get 403 `company_role`; every other caller passes
    /// (whether its role may act at all is the route's own `require`).
    public func requireBuyer() throws {
        guard role == .partner, let companyRole, !companyRole.mayBuy else { return }
        throw APIError(
            .forbidden, code: "company_role", title: "Not allowed for this company role",
            detail: "A viewer of a partner company reads only; buying needs the buyer or owner role.",
            extra: ["company_role": companyRole.rawValue])
    }

    /// Managing a company (its accounts, API keys, webhooks) is for its owners: other partner
    /// accounts get 403 `company_role`; callers of other roles pass.
    public func requireCompanyOwner() throws {
        guard role == .partner, let companyRole, companyRole != .owner else { return }
        throw APIError(
            .forbidden, code: "company_role", title: "Not allowed for this company role",
            detail: "Only an owner of the partner company manages its accounts, API keys and webhooks.",
            extra: ["company_role": companyRole.rawValue])
    }

    /// This caller's reach over `kind` (see `Access`): the Swift check and the SQL condition.
    public func access(_ kind: Access.Kind, to action: Access.Action = .see) -> Access.Rule {
        Access.rule(for: self, on: kind, to: action)
    }
}

/// The API key a request was signed with and the scopes it was granted (docs/integrations.md).
public struct APIKeyGrant: Sendable, Equatable {
    /// Every API key starts with this; access tokens start with `bz_`.
    public static let tokenPrefix = "bzk_"
    public var id: Int64
    public var scopes: [String]

    public init(id: Int64, scopes: [String]) {
        self.id = id
        self.scopes = scopes
    }
}

/// Resolves API keys and holds them to their scopes (the Integrations module's `APIKeys`).
public protocol APIKeyAuthority: Sendable {
    /// The principal a key acts as; nil when the key is unknown, revoked or expired, or its account disabled.
    func principal(forKey key: String, address: String?) async throws -> Principal?
    /// Throws 403 `insufficient_scope` unless the key may call `method` on the route template `route`.
    func authorize(_ principal: Principal, method: HTTPRequest.Method, route: String) throws
    /// One request from the key's own budget (nil: keys are not limited).
    func take(_ key: APIKeyGrant) -> RateLimiter.Quota?
}

public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    public var maxBodyBytes: Int
    /// The peer's IP address (the proxy's, behind one).
    public var peerAddress: String?
    /// The client's address once `ClientAddressMiddleware` has looked at X-Forwarded-For.
    public var resolvedClientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
        maxBodyBytes = 1 << 20
        peerAddress = source.channel.remoteAddress?.ipAddress
        resolvedClientAddress = nil
    }

    public var maxUploadSize: Int { maxBodyBytes }

    public func requirePrincipal() throws -> Principal {
        guard let principal else { throw APIError.unauthenticated }
        return principal
    }

    public func require(_ roles: Role...) throws -> Principal {
        try require(roles)
    }

    func require(_ roles: [Role]) throws -> Principal {
        let principal = try requirePrincipal()
        guard roles.contains(principal.role) else {
            throw APIError.forbidden("This operation is not available to the \(principal.role.rawValue) role.")
        }
        return principal
    }
}

/// Opaque bearer tokens: random, shown once, stored only as SHA-256.
public enum Tokens {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return "bz_"
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Every authenticated request runs this: prepared once per connection.
    enum TokenLookup: StatementSQL {
        static let sql = """
            SELECT a.id, a.login, a.role, coalesce(a.province_code, p.province_code), a.province_codes, a.producer_id,
              a.partner_id, a.company_role
            FROM access_tokens t
            JOIN accounts a ON a.id = t.account_id
            LEFT JOIN producers p ON p.id = a.producer_id
            WHERE t.token_hash = sha256(convert_to($1, 'UTF8'))
              AND t.revoked_at IS NULL AND t.expires_at > now() AND NOT a.disabled AND a.released_at IS NULL
            """
    }

    /// Resolves a token to its account if it exists, is unexpired and unrevoked.
    public static func principal(for token: String, db: Database) async throws -> Principal? {
        guard token.count <= 128 else { return nil }
        let rows = try await db.prepared(Prepared<TokenLookup>(token))
        guard let row = rows.first else { return nil }
        let (id, login, role, province, provinces, producer, partner, companyRole) = try row.decode(
            (Int64, String, String, String?, [String]?, Int64?, Int64?, String?).self)
        guard let role = Role(rawValue: role) else { return nil }
        return Principal(
            accountID: id, login: login, role: role, provinceCode: province, provinceCodes: provinces, producerID: producer,
            partnerID: partner, companyRole: companyRole.flatMap(CompanyRole.init(rawValue:)))
    }
}

/// Resolves `Authorization: Bearer …` on every request. A present but invalid token is a 401 even on
/// public routes, so a client never silently acts anonymously.
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let db: Database
    let limiter: RateLimiter?
    let keys: (any APIKeyAuthority)?

    public init(db: Database, limiter: RateLimiter? = nil, keys: (any APIKeyAuthority)? = nil) {
        self.db = db
        self.limiter = limiter
        self.keys = keys
    }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            return try await next(request, context)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthenticated }
        let token = String(parts[1])
        // An API key is looked up on every request (no cache), so a revoked key fails on the next one.
        let resolved =
            token.hasPrefix(APIKeyGrant.tokenPrefix)
            ? try await keys?.principal(forKey: token, address: context.clientAddress(request))
            : try await Tokens.principal(for: token, db: db)
        guard let principal = resolved else { throw APIError.unauthenticated }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "account_id"] = "\(principal.accountID)"
        if let key = principal.apiKey { context.logger[metadataKey: "api_key_id"] = "\(key.id)" }
        // Keys have their own budget, apart from their account's.
        let quota = principal.apiKey.map { keys?.take($0) } ?? limiter?.take(principal.accountID)
        if let quota, !quota.allowed {
            throw APIError(
                .tooManyRequests, code: "rate_limited", title: "Too many requests",
                detail: "This \(principal.apiKey == nil ? "account" : "API key") may make \(quota.limit) requests a minute; "
                    + "retry in \(quota.reset) s.",
                headers: quota.headers.merging([.retryAfter: String(quota.reset)]))
        }
        // The router has matched the route (its template) before this runs; no route, no handler to guard.
        if principal.apiKey != nil, let keys, let route = context.endpointPath, route != "NotFound" {
            try keys.authorize(principal, method: request.method, route: route)
        }
        guard let quota else { return try await next(request, context) }
        var response = try await next(request, context)
        response.headers.append(contentsOf: quota.headers)
        return response
    }
}

extension AppRequestContext {
    /// The client's address as `ClientAddressMiddleware` resolved it.
    public func clientAddress(_ request: Request) -> String? { resolvedClientAddress ?? peerAddress }

    /// The address `hops` trusted proxies vouch for: the entry the outermost of them appended to
    /// X-Forwarded-For, the `hops`-th from the right (the leftmost when the chain is shorter). With
    /// 0 the header is ignored and the TCP peer is the client.
    public static func clientAddress(forwardedFor: [String], peer: String?, hops: Int) -> String? {
        guard hops > 0 else { return peer }
        let entries = forwardedFor.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard !entries.isEmpty else { return peer }
        let entry = entries[max(0, entries.count - hops)]
        return entry.isEmpty || entry.count > 100 ? peer : entry
    }
}

/// Resolves the client's address once per request. Behind N reverse proxies that append to
/// X-Forwarded-For set BAZAARCHE_TRUSTED_PROXY_HOPS=N; never more than there are such proxies,
/// or any client could pick its own address (and its own rate limits).
public struct ClientAddressMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let hops: Int

    public init(hops: Int) { self.hops = hops }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.resolvedClientAddress = AppRequestContext.clientAddress(
            forwardedFor: request.headers[values: .xForwardedFor], peer: context.peerAddress, hops: hops)
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    public static let xForwardedFor = Self("X-Forwarded-For")!
}
