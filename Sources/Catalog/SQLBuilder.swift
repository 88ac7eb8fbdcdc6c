import BazaarcheCore

/// A query assembled from optional clauses with every value bound, for searches whose filters
/// are each optional (a fixed query with `$n IS NULL OR …` would defeat the planner's index choice).
struct SQLBuilder {
    private(set) var sql = ""
    private(set) var binds = PostgresBindings()

    mutating func append(_ fragment: String) { sql += fragment }

    /// Binds `value` and returns its placeholder.
    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind<T: PostgresDynamicTypeEncodable>(_ value: T?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
