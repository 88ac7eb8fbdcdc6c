import BazaarcheCore
import Foundation

/// Repeated sign-in attempts: per login (5 in 15 minutes) and per client address (30 in 15
/// minutes), then 429 with Retry-After for 15 minutes from the attempt that reached the limit.
/// Kept in PostgreSQL so every instance behind the proxy sees the same counts; a successful
/// sign-in clears the login's count and gives the address its attempt back (an office behind one
/// NAT shares an address).
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

    /// Counts this attempt against both keys *before* the password is checked, so concurrent
    /// guesses cannot all pass; returns the seconds to wait when a key is over its limit. The
    /// attempt that reaches the limit still runs and blocks the next ones; an expired block
    /// starts a new window. A successful sign-in gives the attempt back (`succeeded`).
    public func attempt(login: String, address: String?) async throws -> Int? {
        var wait: Int? = nil
        for (key, limit) in Self.keys(login: login, address: address) {
            let row = try await db.rows(
                """
                INSERT INTO login_throttle AS t (key, failures, window_started) VALUES (\(key), 1, now())
                ON CONFLICT (key) DO UPDATE SET
                  failures = CASE WHEN t.window_started < now() - make_interval(secs => \(Self.window)) OR t.blocked_until <= now()
                                  THEN 1 ELSE t.failures + 1 END,
                  window_started = CASE WHEN t.window_started < now() - make_interval(secs => \(Self.window)) OR t.blocked_until <= now()
                                        THEN now() ELSE t.window_started END,
                  blocked_until = CASE WHEN t.blocked_until <= now() THEN NULL
                                       WHEN t.failures + 1 >= \(limit) THEN coalesce(t.blocked_until, now() + make_interval(secs => \(Self.window)))
                                       ELSE t.blocked_until END
                RETURNING failures, ceil(extract(epoch FROM blocked_until - now()))::int
                """)[0]
            let (failures, remaining) = try row.decode((Int, Int?).self)
            if failures > limit { wait = max(wait ?? 1, remaining ?? Self.window) }
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
