import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Synchronization

/// The one way feature modules reach PostgreSQL: queries, transactions, and error mapping.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    let usage: PoolHealth
    /// For a read replica's Database: where a read goes when the replica cannot be reached.
    private let fallback: Fallback?

    /// `health` should be the one whose `observing(_:)` logger the client was built with; without
    /// it, a request waits for a connection up to `leaseLimit` even while PostgreSQL is down.
    public init(client: PostgresClient, logger: Logger, health: PoolHealth = PoolHealth()) {
        self.client = client
        self.logger = logger
        self.usage = health
        self.fallback = nil
    }

    /// A Database for reads that tolerate replication lag, served by `replica` and, while the
    /// replica cannot be reached, by `primary`. Only read-only work may run through it.
    public init(replica: PostgresClient, health: PoolHealth, primary: Database) {
        self.client = replica
        self.logger = primary.logger
        self.usage = health
        self.fallback = Fallback(primary)
    }

    /// Runs `query` and collects its rows.
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection { try await $0.query(query, logger: logger).collect() }
    }

    /// Runs `query` and returns the first column of its first row as text (typically a JSON document).
    public func text(_ query: PostgresQuery) async throws -> String? {
        try await withConnection { connection in
            for try await row in try await connection.query(query, logger: logger) {
                return try row.decode(String?.self)
            }
            return nil
        }
    }

    /// `text` for a read of one entity: none (no such row, or one the caller may not see, which
    /// the query's WHERE clause leaves out) is a 404 naming `what`.
    public func json(_ query: PostgresQuery, notFound what: String) async throws -> String {
        guard let json = try await text(query) else { throw APIError.notFound(what) }
        return json
    }

    /// Runs a `Prepared` statement (parsed and planned once per connection): for hot statements
    /// whose SQL is fixed, where planning would cost more than executing.
    public func prepared<S>(_ statement: Prepared<S>) async throws -> [PostgresRow] {
        try await withConnection { try await $0.run(statement, logger: logger) }
    }

    public func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// A request that has waited this long for a pooled connection, while the pool's latest news is
    /// a failed connection attempt (PostgreSQL is unreachable, not merely busy or slow to accept),
    /// gets a 503 instead of queueing until the database returns. A busy pool is waited for, up
    /// to `leaseLimit`.
    public static let leaseTimeout: Duration = .seconds(2)
    public static let leaseLimit: Duration = .seconds(30)

    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T
    {
        guard let fallback else { return try await leasing(body) }
        do {
            return try await leasing(body)
        } catch let error as APIError where error.code == APIError.unavailable.code {
            logger.warning("read replica unavailable; reading from the primary")
            return try await fallback.primary.withConnection(body)
        }
    }

    private func leasing<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        // A request without a principal waits for a permit first (`LeaseGate`); a lease nested in
        // one it already holds does not wait again.
        if let gate = Database.gate, !Database.holdsPermit {
            await gate.acquire()
            defer { gate.release() }
            return try await Database.$holdsPermit.withValue(true) { try await leasing(body) }
        }
        usage.lease()
        defer { usage.release() }
        // The work runs in its own task and a watchdog may answer for it: the request must end even
        // when the pool or a dying connection never resumes it (seen once in many PostgreSQL
        // restarts under load). An abandoned task is cancelled and its result dropped.
        let outcome = OneShot<T>()
        let leased = LeasedConnection()
        let client = client
        let usage = usage
        let work = Task {
            do {
                let value = try await client.withConnection { connection in
                    // A request already answered 503 must not run its statements after all.
                    guard leased.claim(connection) else { throw CancellationError() }
                    usage.leased()
                    return try await body(connection)
                }
                outcome.resume(.success(value))
            } catch {
                outcome.resume(.failure(error))
            }
        }
        // One process-wide watchdog checks every call in flight each 100 ms; a sleeping task per
        // call cost about a tenth of the server's CPU in timers (docs/performance.md).
        let watch = Watchdog.shared.watch(leased: leased, usage: usage) {
            outcome.resume(.failure(LeaseTimeout()))
            work.cancel()
        }
        defer { Watchdog.shared.forget(watch) }
        do {
            return try await withTaskCancellationHandler {
                try await outcome.value()
            } onCancel: {
                _ = leased.abandonIfWaiting()
                outcome.resume(.failure(CancellationError()))
                work.cancel()
            }
        } catch let error as PSQLError {
            throw DatabaseErrors.map(error)
        } catch is LeaseTimeout {
            logger.warning("no usable database connection in time")
            throw APIError.unavailable
        }
    }

    /// BEGIN … COMMIT around `body`; rolls back and rethrows the body's own error on failure, so
    /// handlers see `APIError`s unchanged and constraint violations mapped.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                if let error = error as? PSQLError { throw DatabaseErrors.map(error) }
                throw error
            }
        }
    }
}

extension Database {
    /// Set around the handling of a request that may be gated (see `LeaseGate`).
    @TaskLocal public static var gate: LeaseGate?
    @TaskLocal static var holdsPermit = false
}

/// How many pooled connections requests without a principal may hold at once (half the pool):
/// a flood of anonymous writes (applications, sign-ins) passing their per-address budgets from
/// many addresses would otherwise take every connection, and signed-in requests would queue
/// behind them (docs/performance.md). Permits are per lease, not per request, so a sign-in's
/// password hash holds none.
public final class LeaseGate: Sendable {
    public let permits: Int
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    public init(permits: Int) {
        self.permits = max(1, permits)
        self.state = Mutex(State(free: max(1, permits)))
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func release() {
        let next: CheckedContinuation<Void, Never>? = state.withLock { state in
            if state.waiters.isEmpty {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }

    /// Permits free now (for tests).
    public var free: Int { state.withLock { $0.free } }
}

final class Fallback: Sendable {
    let primary: Database
    init(_ primary: Database) { self.primary = primary }
}

/// The connection a request was given, or that it gave up waiting: exactly one of the two wins.
final class LeasedConnection: Sendable {
    private enum State {
        case waiting
        case leased(PostgresConnection)
        case abandoned
    }
    private let state = Mutex(State.waiting)

    /// False when the request was already abandoned.
    func claim(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard case .waiting = state else { return false }
            state = .leased(connection)
            return true
        }
    }

    /// False when a connection was handed out first.
    func abandonIfWaiting() -> Bool {
        state.withLock { state in
            guard case .waiting = state else { return false }
            state = .abandoned
            return true
        }
    }

    var connection: PostgresConnection? {
        state.withLock { state in
            if case .leased(let connection) = state { return connection }
            return nil
        }
    }
}

struct LeaseTimeout: Error {}

/// Gives up on database calls that will never finish: a request still waiting for a connection
/// after `Database.leaseTimeout` while the pool's latest news is a failed connection attempt (or
/// after `leaseLimit` in any case), and a call whose connection has been closed for 300 ms without
/// its query failing. One loop for the whole process, running only while calls are in flight.
final class Watchdog: Sendable {
    static let shared = Watchdog()

    private struct Call {
        let start: ContinuousClock.Instant
        var closedSince: ContinuousClock.Instant?
        let leased: LeasedConnection
        let usage: PoolHealth
        let giveUp: @Sendable () -> Void
    }
    private struct State {
        var next: UInt64 = 0
        var calls: [UInt64: Call] = [:]
        var running = false
    }
    private let state = Mutex(State())

    func watch(leased: LeasedConnection, usage: PoolHealth, giveUp: @escaping @Sendable () -> Void) -> UInt64 {
        let call = Call(start: .now, leased: leased, usage: usage, giveUp: giveUp)
        let (id, start) = state.withLock { state in
            state.next += 1
            state.calls[state.next] = call
            defer { state.running = true }
            return (state.next, !state.running)
        }
        if start { Task { await self.loop() } }
        return id
    }

    func forget(_ id: UInt64) {
        _ = state.withLock { $0.calls.removeValue(forKey: id) }
    }

    private func loop() async {
        while true {
            try? await Task.sleep(for: .milliseconds(100))
            let now = ContinuousClock.now
            let (abandoned, idle): ([@Sendable () -> Void], Bool) = state.withLock { state in
                var abandoned: [@Sendable () -> Void] = []
                for id in Array(state.calls.keys) {
                    guard var call = state.calls[id] else { continue }
                    if Self.hopeless(&call, now: now) {
                        state.calls[id] = nil
                        abandoned.append(call.giveUp)
                    } else {
                        state.calls[id] = call
                    }
                }
                if state.calls.isEmpty { state.running = false }
                return (abandoned, state.calls.isEmpty)
            }
            for giveUp in abandoned { giveUp() }
            if idle { return }
        }
    }

    /// Whether to give up on `call` now; notes when its connection was first seen closed.
    private static func hopeless(_ call: inout Call, now: ContinuousClock.Instant) -> Bool {
        if let connection = call.leased.connection {
            // A query on a connection that closes under it normally fails at once; this is the
            // backstop for when it does not.
            guard connection.isClosed else { return false }
            let since = call.closedSince ?? now
            call.closedSince = since
            return now - since >= .milliseconds(300)
        }
        return now - call.start >= Database.leaseTimeout
            && (call.usage.connectFailedSinceLastLease || now - call.start >= Database.leaseLimit)
            && call.leased.abandonIfWaiting()
    }
}

/// A result delivered once, by whichever of the work and its watchdog gets there first.
final class OneShot<T: Sendable>: Sendable {
    private struct State: Sendable {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    func resume(_ result: Result<T, any Error>) {
        let waiter: CheckedContinuation<T, any Error>?? = state.withLock { state in
            guard state.result == nil else { return .none }
            state.result = result
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        if case .some(.some(let waiter)) = waiter { waiter.resume(with: result) }
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<T, any Error>? = state.withLock { state in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// What the service knows about its pool: connections leased by request handlers (exported as a
/// gauge), when one was last handed out, and when PostgresNIO last failed to open one.
public final class PoolHealth: Sendable {
    private let inUse = Atomic<Int>(0)
    private let lastLease = Atomic<Int64>(0)
    private let lastConnectFailure = Atomic<Int64>(-1)
    private let gauge = Gauge(label: "bazaarche_db_connections_in_use")

    public init() {}

    func lease() { gauge.record(inUse.add(1, ordering: .relaxed).newValue) }
    func release() { gauge.record(inUse.subtract(1, ordering: .relaxed).newValue) }
    func leased() { lastLease.store(Self.now(), ordering: .relaxed) }
    func connectFailed() { lastConnectFailure.store(Self.now(), ordering: .relaxed) }

    /// True when an attempt to open a connection failed after the last lease: the database is
    /// down or refusing us, as opposed to every connection being busy.
    public var connectFailedSinceLastLease: Bool {
        lastConnectFailure.load(ordering: .relaxed) > lastLease.load(ordering: .relaxed)
    }

    /// A logger for `PostgresClient(backgroundLogger:)` that also tells this object about failed
    /// connection attempts. PostgresNIO reports them only as an info-level log message; the
    /// message is pinned by a test (`PoolHealthTests`), so an upgrade that renames it fails there.
    public func observing(_ logger: Logger) -> Logger {
        var observed = logger
        observed.handler = ConnectFailureTap(inner: logger.handler, health: self)
        return observed
    }

    static let connectFailedMessage = "Connection creation failed"

    // Nanoseconds on the continuous clock since the process started; never 0 after a real event.
    static func now() -> Int64 {
        let d = ContinuousClock.now - PoolHealth.epoch
        return 1 + d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
    static let epoch = ContinuousClock.now
}

/// Forwards everything to the real handler at its level, and sees info-level pool messages.
struct ConnectFailureTap: LogHandler {
    var inner: any LogHandler
    let health: PoolHealth

    var logLevel: Logger.Level {
        get { min(inner.logLevel, .info) }
        set { inner.logLevel = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }
    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    func log(event: LogEvent) {
        if event.level == .info, event.message.description == PoolHealth.connectFailedMessage { health.connectFailed() }
        if event.level >= inner.logLevel { inner.log(event: event) }
    }
}

/// Maps PostgreSQL errors to problem documents at the boundary.
///
/// Constraint names follow PostgreSQL's defaults (`<table>_<column>_key|fkey|check`), so the column is
/// recoverable from the name; `named` overrides that for the few that do not.
public enum DatabaseErrors {
    static let named: [String: String] = [
        "accounts_login_key": "login",
        "audit_events_append_only": "audit_events",
    ]

    public static func field(fromConstraint name: String, table: String?) -> String {
        if let field = named[name] { return field }
        var field = name
        if let table, field.hasPrefix(table + "_") { field.removeFirst(table.count + 1) }
        for suffix in ["_key", "_fkey", "_check", "_excl"] where field.hasSuffix(suffix) {
            field.removeLast(suffix.count)
            break
        }
        return field
    }

    public static func map(_ error: PSQLError) -> any Error {
        guard let info = error.serverInfo, let state = info[.sqlState] else {
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown,
                .sslUnsupported, .failedToAddSSLHandler:
                return APIError.unavailable
            default:
                return error
            }
        }
        let constraint = info[.constraintName] ?? ""
        let field = field(fromConstraint: constraint, table: info[.tableName])
        switch state {
        case "23505":
            return APIError.conflict(code: "already_exists", "A record with this \(field) already exists.", field: field)
        case "23503":
            return APIError.validation(field: field, "refers to something that does not exist")
        case "23514", "23502", "22001", "22003", "22P02", "22007", "22008":
            return APIError.validation(field: field.isEmpty ? "body" : field, info[.message] ?? "is invalid")
        case "22021", "22P05":
            return APIError.validation(field: field.isEmpty ? "body" : field, "contains a character that cannot be stored (NUL)")
        case "40001", "40P01", "55P03":
            return APIError(
                .conflict, code: "concurrent_update", title: "Concurrent update",
                detail: "Another request changed the same data; retry.", headers: [.retryAfter: "1"])
        case "57P01", "57P02", "57P03", "08000", "08003", "08006", "53300":
            return APIError.unavailable
        default:
            return error
        }
    }
}

struct DeadlineExceeded: Error {}

/// Runs `body`, giving up with 503 after `limit`.
public func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        do {
            return try await group.next()!
        } catch is DeadlineExceeded {
            throw APIError.unavailable
        }
    }
}
