import Logging
import ServiceLifecycle

/// The loop every background worker runs (order deadlines, webhook deliveries, notifications,
/// event retention): wait `interval`, run `round`, log a failure and go on; stop at graceful
/// shutdown. Waiting first means an instance that starts and stops at once (a test, a one-off
/// command) never polls. `round` returns true when more is due at once (a full batch): no wait then.
public enum Periodic {
    public static func run(
        every interval: Duration, waitFirst: Bool = true, logger: Logger, failure: Logger.Message,
        _ round: @Sendable () async throws -> Bool
    ) async {
        var wait = waitFirst
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if wait {
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                } catch {
                    return  // shutting down
                }
            }
            do {
                wait = !(try await round())
            } catch {
                // The next round retries; a database that is down is reported by the requests too.
                wait = true
                logger.warning(failure, metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
