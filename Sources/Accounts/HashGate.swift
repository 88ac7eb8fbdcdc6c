import BazaarcheCore
import Foundation
import NIOPosix
import Synchronization

/// Password hashing with bounded concurrency. A bcrypt hash at cost 12 takes about a quarter of a
/// second of a core; run unbounded, a burst of them takes every core from every other request. At
/// most `permits` hashes run at once and at most `maxWaiting` wait; past that the caller gets 503
/// at once rather than queueing for seconds.
public final class HashGate: Sendable {
    let permits: Int
    let maxWaiting: Int
    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []  // at most maxWaiting: removeFirst is cheap
    }
    private let state = Mutex(State())

    public init(permits: Int, maxWaiting: Int = 64) {
        self.permits = max(1, permits)
        self.maxWaiting = max(0, maxWaiting)
    }

    /// How many callers wait for a permit now.
    public var queued: Int { state.withLock { $0.waiters.count } }

    /// Half the cores (at least one): the other half keeps serving everything else.
    public static var defaultPermits: Int { max(1, ProcessInfo.processInfo.activeProcessorCount / 2) }

    public static let busy = APIError(
        .serviceUnavailable, code: "busy", title: "Too many sign-ins at once",
        detail: "Too many password checks are queued; retry in a moment.", headers: [.retryAfter: "1"])

    /// Runs `work` on the blocking thread pool once a permit is free.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await NIOThreadPool.singleton.runIfActive(work)
    }

    private enum Admission { case now, wait, refuse }

    private func acquire() async throws {
        let admission: Admission = state.withLock { state in
            if state.running < permits {
                state.running += 1
                return .now
            }
            return state.waiters.count < maxWaiting ? .wait : .refuse
        }
        switch admission {
        case .now: return
        case .refuse: throw Self.busy
        case .wait:
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let admitted: Bool = state.withLock { state in
                    // A permit may have been released between the two locks.
                    if state.running < permits {
                        state.running += 1
                        return true
                    }
                    state.waiters.append(continuation)
                    return false
                }
                if admitted { continuation.resume() }
            }
        }
    }

    private func release() {
        let next: CheckedContinuation<Void, Never>? = state.withLock { state in
            // The permit passes straight to the first waiter; `running` stays the same.
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.running -= 1
            return nil
        }
        next?.resume()
    }
}
