import BazaarcheCore
import Foundation

/// Repeated wrong passwords: per login (5 in 15 minutes) and per client address (30 in 15
/// minutes), then 429 with Retry-After until 15 minutes after the last counted failure. Kept in
/// PostgreSQL so every instance behind the proxy sees the same counts; a successful sign-in clears
/// the login's count (not the address's, which may be shared by an office behind one NAT).
public struct LoginThrottle: Sendable {
    public static let loginLimit = 5
    public static let addressLimit = 30
    public static let window = 15 * 60

    let db: Database

    public init(db: Database) { self.db = db }

    static func keys(login: String, address: String?) -> [(key: String, limit: Int)] {
        var keys = [("login:" + login.lowercased().prefix(200), loginLimit)]
        if let address { keys.append(("address:" + address.prefix(100), addressLimit)) }
        return keys.map { (String($0.0), $0.1) }
    }

    /// Seconds until the caller may try again, if any of its keys is blocked.
    public func blocked(login: String, address: String?) async throws -> Int? {
        let keys = Self.keys(login: login, address: address).map(\.key)
        let rows = try await db.rows(
            """
            SELECT ceil(extract(epoch FROM max(blocked_until) - now()))::int FROM login_throttle
            WHERE key = ANY(\(keys)) AND blocked_until > now()
            """)
        return try rows.first?.decode(Int?.self)
    }

    /// Counts this attempt against both keys *before* the password is checked, so concurrent
    /// guesses cannot all pass the check; returns the seconds to wait when this attempt is one too
    /// many. A successful sign-in gives the attempt back (`succeeded`).
    public func attempt(login: String, address: String?) async throws -> Int? {
        var wait: Int? = nil
        for (key, limit) in Self.keys(login: login, address: address) {
            let rows = try await db.rows(
                """
                INSERT INTO login_throttle AS t (key, failures, window_started) VALUES (\(key), 1, now())
                ON CONFLICT (key) DO UPDATE SET
                  failures = CASE WHEN t.window_started < now() - make_interval(secs => \(Self.window)) OR t.blocked_until <= now()
                                  THEN 1 ELSE t.failures + 1 END,
                  window_started = CASE WHEN t.window_started < now() - make_interval(secs => \(Self.window)) OR t.blocked_until <= now()
                                        THEN now() ELSE t.window_started END,
                  blocked_until = CASE WHEN t.blocked_until <= now() THEN NULL ELSE t.blocked_until END
                RETURNING failures
                """)
            let failures = try rows[0].decode(Int.self)
            if failures > limit {
                try await db.execute(
                    """
                    UPDATE login_throttle SET blocked_until = greatest(blocked_until, now() + make_interval(secs => \(Self.window)))
                    WHERE key = \(key)
                    """)
                wait = Self.window
            } else if failures == limit {
                // The last allowed attempt: the next one waits, whatever this one's outcome.
                try await db.execute(
                    "UPDATE login_throttle SET blocked_until = now() + make_interval(secs => \(Self.window)) WHERE key = \(key)")
            }
        }
        // Opportunistic clean-up of stale keys.
        if Int.random(in: 0..<100) == 0 {
            try await db.execute(
                "DELETE FROM login_throttle WHERE window_started < now() - interval '1 day' AND coalesce(blocked_until, now()) <= now()")
        }
        return wait
    }

    public func succeeded(login: String, address: String?) async throws {
        let keys = Self.keys(login: login, address: address).map(\.key)
        try await db.execute("DELETE FROM login_throttle WHERE key = \(keys[0])")
        if keys.count > 1 {
            try await db.execute(
                "UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = \(keys[1]) AND blocked_until IS NULL")
        }
    }
}
