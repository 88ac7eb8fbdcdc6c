import Foundation
import Hummingbird
import Synchronization

/// Budgets per client address and operation, counted in PostgreSQL so they hold across every
/// instance behind the load balancer. Answers 429 with Retry-After and the RateLimit headers.
/// Search is budgeted for callers without a token only (signed-in callers have the per-account
/// limit, `RateLimiter`); applications, confirmations and sign-ins for every caller, since a
/// token of one's own would otherwise buy unlimited SMS or hashes.
public struct AnonymousLimits: Sendable {
    public struct Budget: Sendable, Equatable {
        public var bucket: String
        public var limit: Int
        public var windowSeconds: Int
        /// Whether callers with a token are counted too.
        public var everyone: Bool = true
    }

    /// The operations an anonymous caller can make, and what each may cost per address. Generous
    /// for people behind one office NAT, tight where each request costs a bcrypt hash or an SMS.
    static let defaults: [String: Budget] = [
        "POST /v1/producer-applications": Budget(bucket: "applications", limit: 20, windowSeconds: 3600),
        "POST /v1/producer-applications/confirmations": Budget(bucket: "confirmations", limit: 30, windowSeconds: 3600),
        "POST /v1/auth/tokens": Budget(bucket: "sign-in", limit: 60, windowSeconds: 900),
        "GET /v1/products": Budget(bucket: "search", limit: 600, windowSeconds: 60, everyone: false),
    ]

    let budgets: [String: Budget]
    /// Keys this instance has seen over budget, until their window ends: a flood from one address
    /// is then refused from memory, without a database round trip per request.
    let exhausted = Exhausted()

    final class Exhausted: Sendable {
        let until = Mutex<[String: Int]>([:])
    }

    /// `scale` multiplies every limit (BAZAARCHE_ANONYMOUS_RATE_SCALE); 0 turns the limits off.
    public init(scale: Double = 1) {
        budgets =
            scale <= 0
            ? [:]
            : Self.defaults.mapValues { budget in
                var scaled = budget
                scaled.limit = max(1, Int((Double(budget.limit) * scale).rounded()))
                return scaled
            }
    }

    /// The router ignores empty segments and a trailing slash (`//v1/products/` reaches search),
    /// so the lookup does too.
    public func budget(method: String, path: String) -> Budget? {
        guard !budgets.isEmpty else { return nil }
        return budgets[method + " /" + path.split(separator: "/").joined(separator: "/")]
    }

    enum Take: StatementSQL {
        /// A window starts at a key's first request and lasts the budget's seconds (not aligned to
        /// the clock, so a burst cannot straddle two windows); a finished window starts afresh.
        static let sql = """
            INSERT INTO rate_limit_windows AS w (key, window_start, count) VALUES ($1, now(), 1)
            ON CONFLICT (key) DO UPDATE SET
              count = CASE WHEN w.window_start > now() - make_interval(secs => $2) THEN w.count + 1 ELSE 1 END,
              window_start = CASE WHEN w.window_start > now() - make_interval(secs => $2) THEN w.window_start ELSE now() END
            RETURNING count, greatest(1, ceil(extract(epoch FROM w.window_start + make_interval(secs => $2) - now())))::int
            """
    }

    /// Counts one request; the quota says whether it may go on.
    public func take(_ budget: Budget, address: String, db: Database, now: Date = Date()) async throws -> RateLimiter.Quota {
        let seconds = Int(now.timeIntervalSince1970)
        let key = budget.bucket + ":" + ClientKey.of(address)
        if let until = exhausted.until.withLock({ $0[key] }), until > seconds {
            return RateLimiter.Quota(allowed: false, limit: budget.limit, remaining: 0, reset: until - seconds)
        }
        let (used, reset) = try await db.prepared(Prepared<Take>(key, budget.windowSeconds))[0].decode((Int, Int).self)
        if used > budget.limit {
            exhausted.until.withLock { map in
                if map.count >= 100_000 { map = map.filter { $0.value > seconds } }
                map[key] = seconds + reset
            }
        }
        if Int.random(in: 0..<1000) == 0 {
            try? await db.execute("DELETE FROM rate_limit_windows WHERE window_start < now() - interval '1 day'")
        }
        return RateLimiter.Quota(
            allowed: used <= budget.limit, limit: budget.limit, remaining: max(0, budget.limit - used), reset: reset)
    }
}

/// Applies `AnonymousLimits` to requests that carry no token (runs after `AuthMiddleware`).
public struct AnonymousLimitMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let limits: AnonymousLimits
    let db: Database
    let gate: LeaseGate?

    /// `gate`: what the database connections of a write without a principal wait for.
    public init(limits: AnonymousLimits, db: Database, gate: LeaseGate? = nil) {
        self.limits = limits
        self.db = db
        self.gate = gate
    }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        // Public reads (search, products) stay ungated: they are the marketplace's main traffic.
        guard let gate, context.principal == nil, request.method != .get, request.method != .head else {
            return try await limited(request, context: context, next: next)
        }
        return try await Database.$gate.withValue(gate) { try await limited(request, context: context, next: next) }
    }

    func limited(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let budget = limits.budget(method: request.method.rawValue, path: request.uri.path),
            budget.everyone || context.principal == nil, let address = context.clientAddress(request)
        else { return try await next(request, context) }
        let quota = try await limits.take(budget, address: address, db: db)
        guard quota.allowed else {
            throw APIError(
                .tooManyRequests, code: "rate_limited", title: "Too many requests",
                detail:
                    "This address may make \(quota.limit) such requests in \(budget.windowSeconds) s; retry in \(quota.reset) s.",
                headers: quota.headers.merging([.retryAfter: String(max(1, quota.reset))]))
        }
        var response = try await next(request, context)
        response.headers.append(contentsOf: quota.headers)
        return response
    }
}

/// What limits and throttles count a client by: its IPv4 address, or the /64 network of its IPv6
/// address (one subscriber usually holds a whole /64, so single IPv6 addresses cost nothing to
/// rotate). Anything unparsable is used as written, at most 100 characters.
public enum ClientKey {
    public static func of(_ address: String) -> String {
        guard address.contains(":") else { return String(address.prefix(100)) }
        var bytes = in6_addr()
        let text = address.hasPrefix("[") && address.hasSuffix("]") ? String(address.dropFirst().dropLast()) : address
        let zoneless = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
        guard inet_pton(AF_INET6, zoneless, &bytes) == 1 else { return String(address.prefix(100)) }
        let all = withUnsafeBytes(of: &bytes) { Array($0) }
        // An IPv4 client on a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address.
        if all.prefix(10).allSatisfy({ $0 == 0 }) && all[10] == 0xff && all[11] == 0xff {
            return all.suffix(4).map(String.init).joined(separator: ".")
        }
        return "v6:" + all.prefix(8).map { String(format: "%02x", $0) }.joined() + "/64"
    }
}
