import PostgresNIO

/// A piece of SQL that carries its own bound values, for queries assembled from optional clauses
/// (a fixed query with `$n IS NULL OR …` would defeat the planner's index choice).
///
/// Injection safety comes from the type, not from care at each call site: `\(value)` binds any
/// PostgresNIO-encodable value (`nil` binds NULL), so text from a request can only ever become a
/// parameter; `\(fragment)` splices another fragment together with its values; trusted SQL text
/// needs a greppable label: `\(unescaped: Self.json)` for constants defined in code (the same
/// label as `PostgresQuery`'s) and `\(literal: n)` for an integer computed in code (`LIMIT 21`
/// stays a literal, as before). Parameters are numbered `$1, $2, …` when the query is rendered, in
/// order of appearance; a fragment spliced twice (`let t = SQL.bind(text)`) keeps one number, so
/// a value used in several clauses is bound once.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    /// One bound value. A class for its identity: splicing the same parameter twice reuses its number.
    final class Parameter: Sendable {
        let bind: @Sendable (inout PostgresBindings) -> Void
        let describe: @Sendable () -> String

        init<T: PostgresDynamicTypeEncodable & Sendable>(_ value: T?) {
            bind = { $0.append(value) }
            describe = {
                guard let value else { return "NULL" }
                if let text = value as? String { return "'" + text.replacing("'", with: "''") + "'" }
                return String(describing: value)
            }
        }
    }

    enum Piece: Sendable {
        case text(String)
        case parameter(Parameter)
    }

    private(set) var pieces: [Piece] = []

    public static let empty = SQL(pieces: [])

    init(pieces: [Piece]) { self.pieces = pieces }

    public init(stringLiteral value: String) {
        if !value.isEmpty { pieces = [.text(value)] }
    }

    public init(stringInterpolation: StringInterpolation) { pieces = stringInterpolation.fragment.pieces }

    /// One bound value as a fragment; splice it wherever the value is needed, it is bound once.
    public static func bind<T: PostgresDynamicTypeEncodable & Sendable>(_ value: T) -> SQL {
        SQL(pieces: [.parameter(Parameter(value))])
    }

    public static func bind<T: PostgresDynamicTypeEncodable & Sendable>(_ value: T?) -> SQL {
        SQL(pieces: [.parameter(Parameter(value))])
    }

    public var isEmpty: Bool { pieces.isEmpty }

    mutating func appendText(_ text: String) {
        guard !text.isEmpty else { return }
        if case .text(let last)? = pieces.last {
            pieces[pieces.count - 1] = .text(last + text)
        } else {
            pieces.append(.text(text))
        }
    }

    public static func + (lhs: SQL, rhs: SQL) -> SQL {
        var result = lhs
        result += rhs
        return result
    }

    public static func += (lhs: inout SQL, rhs: SQL) {
        for piece in rhs.pieces {
            if case .text(let text) = piece { lhs.appendText(text) } else { lhs.pieces.append(piece) }
        }
    }

    /// The SQL text with `$n` placeholders, the bindings, and the values in their order as
    /// readable text (strings quoted as SQL literals, nil as NULL) for tests.
    public func render() -> (sql: String, binds: PostgresBindings, values: [String]) {
        var sql = ""
        var binds = PostgresBindings()
        var values: [String] = []
        var numbers: [ObjectIdentifier: Int] = [:]
        for piece in pieces {
            switch piece {
            case .text(let text): sql += text
            case .parameter(let p):
                if let n = numbers[ObjectIdentifier(p)] {
                    sql += "$\(n)"
                } else {
                    p.bind(&binds)
                    values.append(p.describe())
                    numbers[ObjectIdentifier(p)] = binds.count
                    sql += "$\(binds.count)"
                }
            }
        }
        return (sql, binds, values)
    }

    public var query: PostgresQuery {
        let r = render()
        return PostgresQuery(unsafeSQL: r.sql, binds: r.binds)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var fragment = SQL.empty

        public init(literalCapacity: Int, interpolationCount: Int) {}

        public mutating func appendLiteral(_ literal: String) { fragment.appendText(literal) }

        /// A value, always bound.
        public mutating func appendInterpolation<T: PostgresDynamicTypeEncodable & Sendable>(_ value: T) {
            fragment.pieces.append(.parameter(Parameter(value)))
        }

        /// A value or NULL, always bound.
        public mutating func appendInterpolation<T: PostgresDynamicTypeEncodable & Sendable>(_ value: T?) {
            fragment.pieces.append(.parameter(Parameter(value)))
        }

        /// Another fragment with its values.
        public mutating func appendInterpolation(_ other: SQL) { fragment += other }

        /// An integer chosen in code written as SQL text (`LIMIT 21`); an integer cannot inject.
        public mutating func appendInterpolation(literal value: Int) { fragment.appendText(String(value)) }

        /// Trusted SQL text: only constants defined in code (a JSON shape, a column list), never input.
        public mutating func appendInterpolation(unescaped text: String) { fragment.appendText(text) }
    }
}

extension Sequence where Element == SQL {
    /// The fragments with `separator` between them, e.g. conditions joined by " AND ".
    public func joined(separator: SQL = .empty) -> SQL {
        var result = SQL.empty
        var first = true
        for fragment in self {
            if !first { result += separator }
            result += fragment
            first = false
        }
        return result
    }
}
