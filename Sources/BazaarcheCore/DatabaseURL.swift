import Foundation
import NIOSSL
import PostgresNIO

/// Parses `postgres://user:password@host:port/db?sslmode=…&host=/socket/dir` into a client configuration.
public enum DatabaseURL {
    /// `setting` names the variable in error messages.
    public static func configuration(_ text: String, setting: String = "DATABASE_URL") throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: text),
            ["postgres", "postgresql"].contains(components.scheme ?? "")
        else { throw ConfigError.invalid(setting, "must be a postgres:// URL") }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let user = components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        let db = database.isEmpty ? nil : database
        if let socketDir = query["host"], socketDir.hasPrefix("/") {
            let port = components.port ?? 5432
            return .init(unixSocketPath: "\(socketDir)/.s.PGSQL.\(port)", username: user, password: password, database: db)
        }
        guard let host = components.host, !host.isEmpty else { throw ConfigError.invalid(setting, "has no host") }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "allow", "prefer":
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            tls = .prefer(config)
        case "require":
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = .none
            tls = .require(config)
        case "verify-ca", "verify-full":
            var config = TLSConfiguration.makeClientConfiguration()
            if let root = query["sslrootcert"] { config.trustRoots = .file(root) }
            config.certificateVerification = query["sslmode"] == "verify-ca" ? .noHostnameVerification : .fullVerification
            tls = .require(config)
        case let other: throw ConfigError.invalid(setting, "sslmode \(other) is not supported")
        }
        return .init(host: host, port: components.port ?? 5432, username: user, password: password, database: db, tls: tls)
    }
}

public enum ConfigError: Error, CustomStringConvertible {
    case invalid(String, String)
    case several([ConfigError])
    public var description: String {
        switch self {
        case .invalid(let name, let why): return "\(name) \(why)"
        case .several(let errors): return "invalid configuration:\n" + errors.map { "  - \($0)" }.joined(separator: "\n")
        }
    }
}
