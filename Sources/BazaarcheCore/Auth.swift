import Foundation
import Hummingbird
import PostgresNIO

public enum Role: String, Sendable, Codable, CaseIterable {
    case admin, supervisor, implementer, producer, partner
    case exportOfficer = "export_officer"
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

    public init(
        accountID: Int64, login: String, role: Role, provinceCode: String?, provinceCodes: [String]? = nil,
        producerID: Int64?, partnerID: Int64?
    ) {
        self.accountID = accountID
        self.login = login
        self.role = role
        self.provinceCode = provinceCode
        self.provinceCodes = provinceCodes ?? provinceCode.map { [$0] } ?? []
        self.producerID = producerID
        self.partnerID = partnerID
    }

    public func require(_ roles: Role...) throws {
        guard roles.contains(role) else {
            throw APIError.forbidden("This operation is not available to the \(role.rawValue) role.")
        }
    }

    /// This caller's reach over `kind` (see `Access`): the Swift check and the SQL condition.
    public func access(_ kind: Access.Kind, to action: Access.Action = .see) -> Access.Rule {
        Access.rule(for: self, on: kind, to: action)
    }
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
              a.partner_id
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
        let (id, login, role, province, provinces, producer, partner) = try row.decode(
            (Int64, String, String, String?, [String]?, Int64?, Int64?).self)
        guard let role = Role(rawValue: role) else { return nil }
        return Principal(
            accountID: id, login: login, role: role, provinceCode: province, provinceCodes: provinces, producerID: producer,
            partnerID: partner)
    }
}

/// Resolves `Authorization: Bearer …` on every request. A present but invalid token is a 401 even on
/// public routes, so a client never silently acts anonymously.
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let db: Database
    let limiter: RateLimiter?

    public init(db: Database, limiter: RateLimiter? = nil) {
        self.db = db
        self.limiter = limiter
    }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            return try await next(request, context)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError.unauthenticated }
        guard let principal = try await Tokens.principal(for: String(parts[1]), db: db) else {
            throw APIError.unauthenticated
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "account_id"] = "\(principal.accountID)"
        guard let limiter else { return try await next(request, context) }
        let quota = limiter.take(principal.accountID)
        guard quota.allowed else {
            throw APIError(
                .tooManyRequests, code: "rate_limited", title: "Too many requests",
                detail: "This account may make \(quota.limit) requests a minute; retry in \(quota.reset) s.",
                headers: quota.headers.merging([.retryAfter: String(quota.reset)]))
        }
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
