import Foundation
import Logging
import PostgresNIO

/// Applies the numbered plain-SQL files in sql/ in order, each once and in its own transaction.
///
/// A session-level advisory lock serialises concurrent runners (several instances starting at once):
/// the second waits, then finds nothing left to do.
public struct Migrator: Sendable {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    /// Arbitrary but fixed: "bazaarche" folded into a bigint.
    static let lockKey: Int64 = 0x62617A_61617263

    public let migrations: [Migration]

    public init(directory: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        var seen = Set<Int>()
        migrations = try files.map { file in
            guard let version = Int(file.prefix { $0.isNumber }), !file.prefix(while: { $0.isNumber }).isEmpty else {
                throw MigrationError.badFileName(file)
            }
            guard seen.insert(version).inserted else { throw MigrationError.duplicateVersion(version) }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: version, name: file, sql: sql)
        }
    }

    /// Finds sql/: an explicit directory, ./sql, or next to the executable's package checkout.
    public static func locateDirectory(explicit: String?) throws -> URL {
        var candidates: [URL] = []
        if let explicit { candidates.append(URL(fileURLWithPath: explicit)) }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql"))
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        for _ in 0..<5 {
            exe.deleteLastPathComponent()
            candidates.append(exe.appendingPathComponent("sql"))
        }
        candidates.append(URL(fileURLWithPath: "/usr/share/bazaarche/sql"))
        for candidate in candidates {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(
                atPath: candidate.appendingPathComponent("0001_foundation.sql").path, isDirectory: &isDir)
            {
                return candidate
            }
        }
        throw MigrationError.directoryNotFound(candidates.map(\.path))
    }

    /// Applies pending migrations; returns the versions applied by this call.
    @discardableResult
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await apply(on: connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    func apply(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var done = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
            .decode(Int.self)
        {
            done.insert(version)
        }
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            logger.info("applying migration", metadata: ["migration": .string(migration.name)])
            try await connection.query("BEGIN", logger: logger)
            do {
                // PostgresNIO speaks the extended protocol only, one statement per query.
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw MigrationError.failed(migration.name, String(reflecting: error))
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// Whether every known migration is recorded (readiness).
    public func isCurrent(db: Database) async throws -> Bool {
        // Every version this build ships must be applied; a count could match with different ones.
        let versions = migrations.map(\.version)
        let rows = try await db.rows("SELECT count(*)::int FROM schema_migrations WHERE version = ANY(\(versions))")
        return try rows.first?.decode(Int.self) ?? 0 == versions.count
    }
}

public enum MigrationError: Error, CustomStringConvertible {
    case badFileName(String)
    case duplicateVersion(Int)
    case directoryNotFound([String])
    case failed(String, String)

    public var description: String {
        switch self {
        case .badFileName(let f): return "migration file \(f) must start with its version number"
        case .duplicateVersion(let v): return "two migration files have version \(v)"
        case .directoryNotFound(let paths):
            return "sql/ migrations not found; looked in: \(paths.joined(separator: ", ")) (set BAZAARCHE_SQL_DIR)"
        case .failed(let f, let e): return "migration \(f) failed: \(e)"
        }
    }
}

/// Splits a SQL script into statements at top-level semicolons, respecting quotes,
/// dollar-quoted bodies and comments.
public enum SQLScript {
    public static func statements(_ script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var i = 0
        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty && !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }
        while i < chars.count {
            let c = chars[i]
            let next: Unicode.Scalar? = i + 1 < chars.count ? chars[i + 1] : nil
            if c == "-" && next == "-" {
                while i < chars.count && chars[i] != "\n" {
                    current.append(chars[i])
                    i += 1
                }
                continue
            }
            if c == "/" && next == "*" {
                while i < chars.count && !(chars[i] == "*" && i + 1 < chars.count && chars[i + 1] == "/") {
                    current.append(chars[i])
                    i += 1
                }
                if i < chars.count {
                    current.append("*")
                    current.append("/")
                    i += 2
                }
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c)
                i += 1
                while i < chars.count {
                    current.append(chars[i])
                    if chars[i] == c {
                        if i + 1 < chars.count && chars[i + 1] == c {
                            current.append(c)
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    i += 1
                }
                continue
            }
            if c == "$" {
                // A dollar-quote tag: $$ or $name$.
                var j = i + 1
                while j < chars.count
                    && (chars[j].properties.isAlphabetic || chars[j] == "_"
                        || (j > i + 1 && chars[j].properties.numericType != nil))
                { j += 1 }
                if j < chars.count && chars[j] == "$" {
                    let tag = Array(chars[i...j])
                    for t in tag { current.append(t) }
                    i = j + 1
                    while i < chars.count {
                        if chars[i] == "$" && i + tag.count <= chars.count && Array(chars[i..<(i + tag.count)]) == tag {
                            for t in tag { current.append(t) }
                            i += tag.count
                            break
                        }
                        current.append(chars[i])
                        i += 1
                    }
                    continue
                }
            }
            if c == ";" {
                flush()
                i += 1
                continue
            }
            current.append(c)
            i += 1
        }
        flush()
        return statements
    }

    static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy {
            $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") || $0.trimmingCharacters(in: .whitespaces).isEmpty
        }
    }
}
