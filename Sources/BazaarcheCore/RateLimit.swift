import Foundation
import HTTPTypes
import Synchronization

/// Per-account request budget in fixed one-minute windows, kept in this instance's memory: cheap
/// on the hot path, and with N instances an account gets at most N × the limit (the limit guards
/// the service from a runaway client, not a billing quota). Sends the IETF draft RateLimit headers.
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
    let windows = Mutex<(minute: Int, counts: [Int64: Int])>((0, [:]))

    public init(perMinute: Int) { self.perMinute = perMinute }

    public func take(_ account: Int64, now: Date = Date()) -> Quota {
        let seconds = Int(now.timeIntervalSince1970)
        let minute = seconds / 60
        let reset = 60 - seconds % 60
        let used = windows.withLock { state -> Int in
            if state.minute != minute { state = (minute, [:]) }
            let used = (state.counts[account] ?? 0) + 1
            state.counts[account] = used
            return used
        }
        return Quota(allowed: used <= perMinute, limit: perMinute, remaining: max(0, perMinute - used), reset: reset)
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
