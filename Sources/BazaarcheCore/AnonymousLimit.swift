import Foundation
import Hummingbird
import Synchronization

/// Budgets for callers without a token, per client address and operation, counted in PostgreSQL
/// so they hold across every instance behind the load balancer. Answers 429 with Retry-After and
/// the RateLimit headers. Authenticated callers have the per-account limit instead (`RateLimiter`).
public struct AnonymousLimits: Sendable {
    public struct Budget: Sendable, Equatable {
        public var bucket: String
        public var limit: Int
        public var windowSeconds: Int
    }

    /// The operations an anonymous caller can make, and what each may cost per address. Generous
    /// for people behind one office NAT, tight where each request costs a bcrypt hash or an SMS.
    static let defaults: [String: Budget] = [
        "POST /v1/producer-applications": Budget(bucket: "applications", limit: 20, windowSeconds: 3600),
        "POST /v1/producer-applications/confirmations": Budget(bucket: "confirmations", limit: 30, windowSeconds: 3600),
        "POST /v1/auth/tokens": Budget(bucket: "sign-in", limit: 60, windowSeconds: 900),
        "GET /v1/products": Budget(bucket: "search", limit: 600, windowSeconds: 60),
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
        budgets = scale <= 0 ? [:] : Self.defaults.mapValues { budget in
            var scaled = budget
            scaled.limit = max(1, Int((Double(budget.limit) * scale).rounded()))
            return scaled
        }
    }

    public func budget(method: String, path: String) -> Budget? {
        budgets.isEmpty ? nil : budgets[method + " " + path]
    }

    enum Take: StatementSQL {
        /// One fixed window per key; a new window restarts the count.
        static let sql = """
            INSERT INTO rate_limit_windows AS w (key, window_start, count) VALUES ($1, to_timestamp($2), 1)
            ON CONFLICT (key) DO UPDATE SET
              count = CASE WHEN w.window_start = excluded.window_start THEN w.count + 1 ELSE 1 END,
              window_start = excluded.window_start
            RETURNING count
            """
    }

    /// Counts one request; the quota says whether it may go on.
    public func take(_ budget: Budget, address: String, db: Database, now: Date = Date()) async throws -> RateLimiter.Quota {
        let seconds = Int(now.timeIntervalSince1970)
        let windowStart = seconds - seconds % budget.windowSeconds
        let key = budget.bucket + ":" + address.prefix(100)
        if let until = exhausted.until.withLock({ $0[key] }), until > seconds {
            return RateLimiter.Quota(allowed: false, limit: budget.limit, remaining: 0, reset: until - seconds)
        }
        let used = try await db.prepared(Prepared<Take>(key, windowStart))[0].decode(Int.self)
        if used > budget.limit {
            let until = windowStart + budget.windowSeconds
            exhausted.until.withLock { map in
                if map.count >= 100_000 { map = map.filter { $0.value > seconds } }
                map[key] = until
            }
        }
        if Int.random(in: 0..<1000) == 0 {
            try? await db.execute("DELETE FROM rate_limit_windows WHERE window_start < now() - interval '1 day'")
        }
        return RateLimiter.Quota(
            allowed: used <= budget.limit, limit: budget.limit, remaining: max(0, budget.limit - used),
            reset: budget.windowSeconds - (seconds - windowStart))
    }
}

/// Applies `AnonymousLimits` to requests that carry no token (runs after `AuthMiddleware`).
public struct AnonymousLimitMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let limits: AnonymousLimits
    let db: Database

    public init(limits: AnonymousLimits, db: Database) {
        self.limits = limits
        self.db = db
    }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard context.principal == nil, let budget = limits.budget(method: request.method.rawValue, path: request.uri.path),
            let address = context.clientAddress(request)
        else { return try await next(request, context) }
        let quota = try await limits.take(budget, address: address, db: db)
        guard quota.allowed else {
            throw APIError(
                .tooManyRequests, code: "rate_limited", title: "Too many requests",
                detail: "This address may make \(quota.limit) such requests in \(budget.windowSeconds) s without signing in; retry in \(quota.reset) s.",
                headers: quota.headers.merging([.retryAfter: String(max(1, quota.reset))]))
        }
        var response = try await next(request, context)
        response.headers.append(contentsOf: quota.headers)
        return response
    }
}
