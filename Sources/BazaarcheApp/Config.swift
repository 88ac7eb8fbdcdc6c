import Accounts
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
    /// Requests per minute per API key and instance (a bucket apart from its account's); 0 turns it off.
    public var apiKeyRateLimitPerMinute: Int = 600
    /// Seconds an idle keep-alive connection stays open.
    public var idleTimeoutSeconds: Int = 60
    /// A placed order not accepted within this many hours expires and releases its stock.
    public var orderAcceptHours: Int = 72
    /// A shipped order not disputed within this many days counts as delivered.
    public var orderConfirmDays: Int = 14
    /// How often each instance applies those deadlines; 0 turns its sweeper off.
    public var orderSweepSeconds: Int = 30
    /// How often each instance expires quotes past valid_until and announces those about to lapse; 0: off.
    public var quoteSweepSeconds: Int = 60
    /// Events (`GET /v1/events`, webhook deliveries) are kept this many days; 0 keeps them forever.
    public var eventRetentionDays: Int = 30
    /// Multiplies every anonymous per-address budget (`AnonymousLimits`); 0 turns them off.
    public var anonymousRateScale: Double = 1
    /// How long `/readyz` waits for the database before answering 503.
    public var readinessTimeoutSeconds: Int = 2
    /// Reverse proxies in front of the service that append to X-Forwarded-For.
    public var trustedProxyHops: Int = 0
    /// Password hashes that may run at once; the rest queue (at most 64) or get 503.
    public var hashConcurrency: Int = HashGate.defaultPermits
    /// An HTTP SMS gateway; without one, SMS go to the development sink (log and sms_messages).
    public var smsGatewayURL: String?
    public var smsGatewayKey: String?
    /// Development only: webhook endpoints may use http to loopback and private addresses.
    public var webhooksAllowPrivate = false
    /// How often each instance looks for due webhook deliveries; 0 turns its worker off.
    public var webhookPollSeconds: Int = 1
    /// How often each instance sends notification SMS and sweeps for expiring orders and certificates; 0: off.
    public var notificationPollSeconds: Int = 10
    /// SMS per producer per Tehran day; past it, notifications reach the inbox only.
    public var notificationSMSDailyLimit: Int = 5
    /// Hours before a placed order's accept-by time at which its producer is reminded (once).
    public var orderExpiringNoticeHours: Int = 12
    /// Days before a granted certificate's expiry at which its producer is reminded (once).
    public var certificateExpiringNoticeDays: Int = 30
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
            if let value = Int(text), range.contains(value) {
                apply(value)
            } else {
                errors.append(
                    .invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound), got \"\(text)\""))
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
        int("BAZAARCHE_API_KEY_RATE_LIMIT_PER_MINUTE", 0...1_000_000) { config.apiKeyRateLimitPerMinute = $0 }
        int("BAZAARCHE_IDLE_TIMEOUT_SECONDS", 1...3600) { config.idleTimeoutSeconds = $0 }
        int("BAZAARCHE_ORDER_ACCEPT_HOURS", 1...(90 * 24)) { config.orderAcceptHours = $0 }
        int("BAZAARCHE_ORDER_CONFIRM_DAYS", 1...365) { config.orderConfirmDays = $0 }
        int("BAZAARCHE_ORDER_SWEEP_SECONDS", 0...3600) { config.orderSweepSeconds = $0 }
        int("BAZAARCHE_QUOTE_SWEEP_SECONDS", 0...3600) { config.quoteSweepSeconds = $0 }
        int("BAZAARCHE_EVENT_RETENTION_DAYS", 0...3650) { config.eventRetentionDays = $0 }
        int("BAZAARCHE_PASSWORD_HASH_CONCURRENCY", 1...64) { config.hashConcurrency = $0 }
        int("BAZAARCHE_READINESS_TIMEOUT_SECONDS", 1...60) { config.readinessTimeoutSeconds = $0 }
        int("BAZAARCHE_WEBHOOK_POLL_SECONDS", 0...3600) { config.webhookPollSeconds = $0 }
        int("BAZAARCHE_NOTIFICATION_POLL_SECONDS", 0...3600) { config.notificationPollSeconds = $0 }
        int("BAZAARCHE_NOTIFICATION_SMS_DAILY_LIMIT", 0...1000) { config.notificationSMSDailyLimit = $0 }
        int("BAZAARCHE_ORDER_EXPIRING_NOTICE_HOURS", 1...(90 * 24)) { config.orderExpiringNoticeHours = $0 }
        int("BAZAARCHE_CERTIFICATE_EXPIRING_NOTICE_DAYS", 1...365) { config.certificateExpiringNoticeDays = $0 }
        if let flag = env["BAZAARCHE_WEBHOOKS_ALLOW_PRIVATE"], !flag.isEmpty {
            switch flag.lowercased() {
            case "true", "1", "yes": config.webhooksAllowPrivate = true
            case "false", "0", "no": config.webhooksAllowPrivate = false
            default: errors.append(.invalid("BAZAARCHE_WEBHOOKS_ALLOW_PRIVATE", "must be true or false"))
            }
        }
        if let text = env["BAZAARCHE_ANONYMOUS_RATE_SCALE"], !text.isEmpty {
            if let value = Double(text), value >= 0, value <= 1000 {
                config.anonymousRateScale = value
            } else {
                errors.append(
                    .invalid("BAZAARCHE_ANONYMOUS_RATE_SCALE", "must be a number from 0 (off) to 1000, got \"\(text)\""))
            }
        }
        // BAZAARCHE_TRUST_PROXY=true is the older spelling of one hop.
        if env["BAZAARCHE_TRUST_PROXY"] == "true" { config.trustedProxyHops = 1 }
        int("BAZAARCHE_TRUSTED_PROXY_HOPS", 0...10) { config.trustedProxyHops = $0 }
        let smsURL = env["BAZAARCHE_SMS_GATEWAY_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let smsKey = env["BAZAARCHE_SMS_GATEWAY_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if let smsURL {
            if let problem = Self.gatewayURLProblem(smsURL) { errors.append(.invalid("BAZAARCHE_SMS_GATEWAY_URL", problem)) }
            if smsKey == nil {
                errors.append(.invalid("BAZAARCHE_SMS_GATEWAY_KEY", "is required with BAZAARCHE_SMS_GATEWAY_URL"))
            }
        } else if smsKey != nil {
            errors.append(.invalid("BAZAARCHE_SMS_GATEWAY_URL", "is required with BAZAARCHE_SMS_GATEWAY_KEY"))
        }
        config.smsGatewayURL = smsURL
        config.smsGatewayKey = smsKey
        if let level = env["LOG_LEVEL"], !level.isEmpty {
            if let parsed = Logger.Level(rawValue: level.lowercased()) {
                config.logLevel = parsed
            } else {
                errors.append(.invalid("LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical"))
            }
        }
        if let format = env["LOG_FORMAT"], !format.isEmpty {
            if ["json", "text"].contains(format) {
                config.logFormat = format
            } else {
                errors.append(.invalid("LOG_FORMAT", "must be json or text"))
            }
        }
        if !errors.isEmpty { throw ConfigError.several(errors) }
        return config
    }

    /// https, or http to this machine only (a development gateway); nil when acceptable.
    static func gatewayURLProblem(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            return "must be an absolute http(s) URL"
        }
        if scheme == "https" { return nil }
        if scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) { return nil }
        return "must use https (http only to localhost)"
    }
}
