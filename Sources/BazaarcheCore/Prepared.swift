import PostgresNIO
import Synchronization

/// Fixed SQL with numbered parameters ($1, $2, …) for a hot statement.
public protocol StatementSQL {
    static var sql: String { get }
}

/// Runs `S.sql` as a named prepared statement: PostgreSQL parses and plans it once per pooled
/// connection instead of on every call. Worth it for the fixed statements on hot paths, where
/// planning costs as much as executing (measured on product by id: 5,000 statements/s unnamed,
/// 28,400 prepared). Rows come back undecoded, as from `query`.
public struct Prepared<S: StatementSQL>: PostgresPreparedStatement {
    public typealias Row = PostgresRow
    public static var sql: String { S.sql }
    /// PostgresNIO's default name is `String(reflecting:)` of the type, rebuilt on every call
    /// (2% of the server's CPU in order placement); computed once per statement instead.
    public static var name: String { StatementNames.name(of: S.self) }
    private let bindings: PostgresBindings

    public init<each V: PostgresBindable>(_ values: repeat each V) throws {
        var bindings = PostgresBindings()
        repeat try (each values).bind(into: &bindings)
        self.bindings = bindings
    }

    public func makeBindings() throws -> PostgresBindings { bindings }
    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

enum StatementNames {
    private static let names = Mutex<[ObjectIdentifier: String]>([:])

    static func name(of type: Any.Type) -> String {
        let key = ObjectIdentifier(type)
        if let name = names.withLock({ $0[key] }) { return name }
        let name = String(reflecting: type)
        names.withLock { $0[key] = name }
        return name
    }
}

/// A value that can be a parameter of a `Prepared` statement (optionals bind NULL).
public protocol PostgresBindable {
    func bind(into bindings: inout PostgresBindings) throws
}

extension PostgresBindable where Self: PostgresThrowingDynamicTypeEncodable {
    public func bind(into bindings: inout PostgresBindings) throws { try bindings.append(self) }
}

extension String: PostgresBindable {}
extension Int: PostgresBindable {}
extension Int64: PostgresBindable {}
extension Bool: PostgresBindable {}
extension Array: PostgresBindable where Element: PostgresArrayEncodable {}

extension Optional: PostgresBindable where Wrapped: PostgresBindable {
    public func bind(into bindings: inout PostgresBindings) throws {
        if let value = self { try value.bind(into: &bindings) } else { bindings.appendNull() }
    }
}

extension PostgresConnection {
    /// Runs a `Prepared` statement and collects its rows.
    public func run<S>(_ statement: Prepared<S>, logger: Logger) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}

/// Named prepared statements for SQL assembled at run time (a search's optional filters): each
/// distinct SQL text, a "shape", gets its own name, so PostgreSQL parses and analyses it once per
/// pooled connection and may keep its plan. The text must depend only on which clauses are
/// present, never on values: values are bound (`SQL` does that), or every request is a new shape.
///
/// At most `limit` shapes per process get a name, each on its `sightings`-th run (3): rare
/// combinations that one client tries once cannot take the names before the common shapes repeat.
/// Any other shape runs unnamed, as before, so a caller cannot grow every connection's statement
/// cache without bound. Every run of one text must bind the same types: PostgresNIO prepares with
/// the first run's types.
public final class PreparedShapes: Sendable {
    public let prefix: String
    public let limit: Int
    public let sightings: Int
    private struct State {
        var names: [String: String] = [:]
        var seen: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init(prefix: String, limit: Int, sightings: Int = 3) {
        self.prefix = prefix
        self.limit = limit
        self.sightings = max(1, sightings)
    }

    /// The statement name of `sql`, or nil while it has been seen fewer than `sightings` times
    /// and once `limit` other shapes have taken a name. Names are numbered in order: unlike a
    /// hash, two texts can never share one.
    public func name(of sql: String) -> String? {
        state.withLock { state in
            if let name = state.names[sql] { return name }
            guard state.names.count < limit else { return nil }
            let seen = (state.seen[sql] ?? 0) + 1
            guard seen >= sightings else {
                // Counting is bounded too: a flood of one-off shapes restarts it.
                if state.seen.count >= 64 * limit { state.seen.removeAll() }
                state.seen[sql] = seen
                return nil
            }
            state.seen[sql] = nil
            let name = "\(prefix)_\(state.names.count + 1)"
            state.names[sql] = name
            return name
        }
    }

    /// How many shapes have a name (for tests).
    public var count: Int { state.withLock { $0.names.count } }
}

/// A prepared statement whose name and text are bound for the duration of one `execute`.
/// PostgresNIO reads a statement's static `name` and `sql` in `execute` (before it writes to the
/// channel, and again for the error it throws), always inside the task-local scope set around it.
struct ShapeStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow
    struct Shape: Sendable {
        let name: String
        let sql: String
    }
    @TaskLocal static var current: Shape?
    static var name: String { current!.name }
    static var sql: String { current!.sql }
    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs `query` as a named prepared statement of its shape (see `PreparedShapes`), or
    /// unnamed once `shapes` is full, and collects its rows.
    public func run(_ query: SQL, shapes: PreparedShapes, logger: Logger) async throws -> [PostgresRow] {
        let rendered = query.render()
        guard let name = shapes.name(of: rendered.sql) else {
            return try await self.query(PostgresQuery(unsafeSQL: rendered.sql, binds: rendered.binds), logger: logger).collect()
        }
        return try await ShapeStatement.$current.withValue(.init(name: name, sql: rendered.sql)) {
            var rows: [PostgresRow] = []
            for try await row in try await execute(ShapeStatement(bindings: rendered.binds), logger: logger) { rows.append(row) }
            return rows
        }
    }
}

extension Database {
    /// `rows(query.query)` as a named prepared statement of the query's shape (see `PreparedShapes`).
    public func rows(_ query: SQL, shapes: PreparedShapes) async throws -> [PostgresRow] {
        try await withConnection { try await $0.run(query, shapes: shapes, logger: logger) }
    }
}
