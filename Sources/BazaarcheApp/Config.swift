import BazaarcheCore
import Foundation

/// Every setting of the service, read from the environment once at start-up.
/// Invalid values are collected and reported together, naming each variable.
public struct AppConfig: Sendable {
    public var databaseURL: String?
    /// A streaming replica for reads that tolerate lag (search, export figures).
    public var readDatabaseURL: String?
    public var dataDirectory: String = ".data/postgres"
    public var sqlDirectory: String?
    public var tokenLifetimeSeconds: Int = 12 * 3600
    public var bcryptCost: Int = 12
    public var poolSize: Int = 8
    public var maxBodyBytes: Int = 1 << 20
    /// Requests per minute per account and instance; 0 turns the limit off (benchmarks).
    public var rateLimitPerMinute: Int = 3000
    /// Seconds an idle keep-alive connection stays open.
    public var idleTimeoutSeconds: Int = 60
    public var logLevel: Logger.Level = .info
    public var logFormat: String = "json"
    public var migrateOnStart = true
    public var loadDemoData = false

    public init() {}

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfig {
        var config = AppConfig()
        var errors: [ConfigError] = []
        func int(_ name: String, _ range: ClosedRange<Int>, _ apply: (Int) -> Void) {
            guard let text = env[name], !text.isEmpty else { return }
            if let value = Int(text), range.contains(value) { apply(value) } else {
                errors.append(.invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound), got \"\(text)\""))
            }
        }
        if let url = env["DATABASE_URL"], !url.isEmpty {
            config.databaseURL = url
            do { _ = try DatabaseURL.configuration(url) } catch let error as ConfigError { errors.append(error) }
        }
        if let url = env["DATABASE_READ_URL"], !url.isEmpty {
            config.readDatabaseURL = url
            do { _ = try DatabaseURL.configuration(url, setting: "DATABASE_READ_URL") } catch let error as ConfigError {
                errors.append(error)
            }
            if env["DATABASE_URL"].map(\.isEmpty) ?? true {
                errors.append(.invalid("DATABASE_READ_URL", "needs DATABASE_URL (the primary) to be set as well"))
            }
        }
        if let flag = env["BAZAARCHE_MIGRATE_ON_START"], !flag.isEmpty {
            switch flag.lowercased() {
            case "true", "1", "yes": config.migrateOnStart = true
            case "false", "0", "no": config.migrateOnStart = false
            default: errors.append(.invalid("BAZAARCHE_MIGRATE_ON_START", "must be true or false"))
            }
        }
        if let dir = env["BAZAARCHE_DATA_DIR"], !dir.isEmpty { config.dataDirectory = dir }
        if let dir = env["BAZAARCHE_SQL_DIR"], !dir.isEmpty { config.sqlDirectory = dir }
        int("BAZAARCHE_TOKEN_TTL_SECONDS", 60...(90 * 86400)) { config.tokenLifetimeSeconds = $0 }
        int("BAZAARCHE_BCRYPT_COST", 4...16) { config.bcryptCost = $0 }
        int("BAZAARCHE_DB_POOL_SIZE", 1...200) { config.poolSize = $0 }
        int("BAZAARCHE_MAX_BODY_BYTES", 1024...(64 << 20)) { config.maxBodyBytes = $0 }
        int("BAZAARCHE_RATE_LIMIT_PER_MINUTE", 0...1_000_000) { config.rateLimitPerMinute = $0 }
        int("BAZAARCHE_IDLE_TIMEOUT_SECONDS", 1...3600) { config.idleTimeoutSeconds = $0 }
        if let level = env["LOG_LEVEL"], !level.isEmpty {
            if let parsed = Logger.Level(rawValue: level.lowercased()) { config.logLevel = parsed } else {
                errors.append(.invalid("LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical"))
            }
        }
        if let format = env["LOG_FORMAT"], !format.isEmpty {
            if ["json", "text"].contains(format) { config.logFormat = format } else {
                errors.append(.invalid("LOG_FORMAT", "must be json or text"))
            }
        }
        if !errors.isEmpty { throw ConfigError.several(errors) }
        return config
    }
}
