import BazaarcheCore
import Foundation
import ServiceLifecycle

/// Deletes events older than the retention period (their webhook deliveries go with them), a
/// batch at a time so no statement holds many locks. Several instances may run it: one waits for
/// the other's batch and finds those rows gone. (No `FOR UPDATE SKIP LOCKED`: the service may not
/// lock events for update, which it never does to them.)
public struct EventRetention: Service {
    let db: Database
    let days: Int
    let interval: Duration
    static let batch = 5_000

    public init(db: Database, days: Int, every interval: Duration = .seconds(3600)) {
        self.db = db
        self.days = days
        self.interval = interval
    }

    /// One pass: returns how many events were deleted. `cutoff` (tests) replaces "now minus the
    /// retention period".
    @discardableResult
    public func prune(before cutoff: Date? = nil) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await db.rows(
                """
                DELETE FROM events WHERE id IN (
                  SELECT id FROM events
                  WHERE occurred_at < coalesce(\(cutoff)::timestamptz, now() - make_interval(days => \(days)::int))
                  ORDER BY id LIMIT \(Self.batch))
                RETURNING id
                """
            ).count
            total += deleted
            if deleted < Self.batch { return total }
        }
    }

    public func run() async throws {
        // Prunes at start-up, then every interval.
        await Periodic.run(every: interval, waitFirst: false, logger: db.logger, failure: "event retention failed") {
            let pruned = try await prune()
            if pruned > 0 { db.logger.info("old events deleted", metadata: ["events": "\(pruned)"]) }
            return false
        }
    }
}
