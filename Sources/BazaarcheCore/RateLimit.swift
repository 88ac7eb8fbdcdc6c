import Foundation
import HTTPTypes
import Synchronization

/// Per-account request budget in one-minute windows that start at each account's first request
/// (not at the wall clock's minute, so a burst cannot straddle two windows), kept in this
/// instance's memory: cheap on the hot path, and with N instances an account gets at most N × the
/// limit (the limit guards the service from a runaway client, not a billing quota). Sends the
/// IETF draft RateLimit headers.
public final class RateLimiter: Sendable {
    public struct Quota: Sendable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        public var reset: Int
        public var headers: HTTPFields {
            [.rateLimitLimit: String(limit), .rateLimitRemaining: String(remaining), .rateLimitReset: String(reset)]
        }
    }

    let perMinute: Int
    /// Per account: when its window started (seconds) and how much of it is used.
    let windows = Mutex<[Int64: (start: Int, used: Int)]>([:])

    public init(perMinute: Int) { self.perMinute = perMinute }

    public func take(_ account: Int64, now: Date = Date()) -> Quota {
        let seconds = Int(now.timeIntervalSince1970)
        let window = windows.withLock { windows -> (start: Int, used: Int) in
            // Finished windows are dropped when the map grows, so it holds recent accounts only.
            if windows.count >= 50_000 { windows = windows.filter { seconds - $0.value.start < 60 } }
            var window = windows[account] ?? (seconds, 0)
            if seconds - window.start >= 60 { window = (seconds, 0) }
            window.used += 1
            windows[account] = window
            return window
        }
        return Quota(
            allowed: window.used <= perMinute, limit: perMinute, remaining: max(0, perMinute - window.used),
            reset: max(1, 60 - (seconds - window.start)))
    }
}

extension HTTPField.Name {
    public static let rateLimitLimit = Self("RateLimit-Limit")!
    public static let rateLimitRemaining = Self("RateLimit-Remaining")!
    public static let rateLimitReset = Self("RateLimit-Reset")!
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var merged = self
        for field in other { merged[field.name] = field.value }
        return merged
    }
}
