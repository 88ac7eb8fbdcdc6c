import BazaarcheCore
import Foundation

/// Repeated sign-in attempts, counted in PostgreSQL so every instance sees the same counts.
///
/// - Per (login, client address) pair, a growing delay: three attempts are free, then each failed
///   one doubles the wait (1 s, 2 s, 4 s … up to 15 minutes). Someone failing on purpose from
///   another address delays only their own pair, so nobody can lock a victim out.
/// - Per client address, over every login: 30 failures in 15 minutes block that address for 15
///   minutes (password spraying). An office behind one NAT gets each success's attempt back.
///
/// Each attempt is charged before the password is checked (parallel guesses cannot all slip
/// through) and given back when it succeeds.
public struct LoginThrottle: Sendable {
    public static let addressLimit = 30
    public static let window = 15 * 60

    let db: Database

    public init(db: Database) { self.db = db }

    static func pairKey(login: String, address: String?) -> String {
        "pair:" + login.lowercased().prefix(150) + "|" + (address.map(ClientKey.of) ?? "-")
    }

    static func addressKey(_ address: String) -> String { "address:" + ClientKey.of(address) }

    /// Charges this attempt; returns the seconds to wait when the pair or the address is blocked
    /// (a refused attempt is not charged and does not lengthen the wait).
    public func attempt(login: String, address: String?) async throws -> Int? {
        let pair = Self.pairKey(login: login, address: address)
        let row = try await db.rows(
            """
            WITH prev AS (SELECT blocked_until FROM login_throttle WHERE key = \(pair) FOR UPDATE),
            upsert AS (
              INSERT INTO login_throttle AS t (key, failures, window_started, last_failure) VALUES (\(pair), 1, now(), now())
              ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN t.blocked_until > now() THEN t.failures
                                WHEN t.last_failure < now() - interval '1 day' THEN 1 ELSE t.failures + 1 END,
                last_failure = CASE WHEN t.blocked_until > now() THEN t.last_failure ELSE now() END,
                -- The next attempt of this pair waits according to the count charged now.
                blocked_until = CASE WHEN t.blocked_until > now() THEN t.blocked_until
                  ELSE now() + make_interval(secs => login_delay(
                    CASE WHEN t.last_failure < now() - interval '1 day' THEN 1 ELSE t.failures + 1 END)) END
              RETURNING failures)
            SELECT (SELECT ceil(extract(epoch FROM blocked_until - now()))::int FROM prev WHERE blocked_until > now()),
                   (SELECT failures FROM upsert)
            """)[0]
        let (blockedFor, _) = try row.decode((Int?, Int).self)
        if let blockedFor { return max(1, blockedFor) }
        if let address {
            let key = Self.addressKey(address)
            let row = try await db.rows(
                """
                INSERT INTO login_throttle AS t (key, failures, window_started) VALUES (\(key), 1, now())
                ON CONFLICT (key) DO UPDATE SET
                  failures = CASE WHEN t.window_started < now() - make_interval(secs => \(Self.window))
                    OR t.blocked_until <= now()
                                  THEN 1 ELSE t.failures + 1 END,
                  window_started = CASE WHEN t.window_started < now() - make_interval(secs => \(Self.window))
                    OR t.blocked_until <= now()
                                        THEN now() ELSE t.window_started END,
                  blocked_until = CASE WHEN t.blocked_until <= now() THEN NULL
                                       WHEN t.failures + 1 >= \(Self.addressLimit)
                                         THEN coalesce(t.blocked_until, now() + make_interval(secs => \(Self.window)))
                                       ELSE t.blocked_until END
                RETURNING failures, ceil(extract(epoch FROM blocked_until - now()))::int
                """)[0]
            let (failures, remaining) = try row.decode((Int, Int?).self)
            if failures > Self.addressLimit { return max(1, remaining ?? Self.window) }
        }
        // Opportunistic clean-up of stale keys.
        if Int.random(in: 0..<100) == 0 {
            try await db.execute(
                """
                DELETE FROM login_throttle
                WHERE coalesce(last_failure, window_started) < now() - interval '1 day'
                  AND coalesce(blocked_until, now()) <= now()
                """)
        }
        return nil
    }

    /// Runs a password check under the throttle: charged first (429 `too_many_attempts` while the
    /// pair or the address must wait), given back when the service was too busy to check it.
    public func checking<T: Sendable>(login: String, address: String?, _ check: () async throws -> T) async throws -> T {
        if let wait = try await attempt(login: login, address: address) {
            throw APIError(
                .tooManyRequests, code: "too_many_attempts", title: "Too many failed attempts",
                detail: "Too many wrong passwords for this login from this address, or from this address; retry in \(wait) s.",
                headers: [.retryAfter: String(max(wait, 1))])
        }
        do {
            return try await check()
        } catch let error as APIError where error.code == HashGate.busy.code {
            try await refund(login: login, address: address)
            throw error
        }
    }

    /// The attempt was never checked (503 `busy`): give back what it was charged, so a user
    /// retrying through an overload does not build up a wait.
    public func refund(login: String, address: String?) async throws {
        try await db.execute(
            """
            UPDATE login_throttle SET failures = greatest(failures - 1, 0),
              blocked_until = CASE WHEN failures - 1 <= 3 THEN NULL ELSE blocked_until END
            WHERE key = \(Self.pairKey(login: login, address: address))
            """)
        if let address {
            try await db.execute(
                """
                UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = \(Self.addressKey(address))
                AND blocked_until IS NULL
                """
            )
        }
    }

    /// The right password: the pair starts afresh and the address gets its attempt back.
    public func succeeded(login: String, address: String?) async throws {
        try await db.execute("DELETE FROM login_throttle WHERE key = \(Self.pairKey(login: login, address: address))")
        if let address {
            try await db.execute(
                """
                UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = \(Self.addressKey(address))
                AND blocked_until IS NULL
                """
            )
        }
    }
}
