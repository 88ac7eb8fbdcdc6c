import PostgresNIO


/// A query assembled from optional clauses with every value bound, for searches whose filters
/// are each optional (a fixed query with `$n IS NULL OR …` would defeat the planner's index choice).
public struct SQLBuilder {
    public private(set) var sql = ""
    public private(set) var binds = PostgresBindings()

    public init() {}

    public mutating func append(_ fragment: String) { sql += fragment }

    /// Binds `value` and returns its placeholder.
    public mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    public mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    public var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
