import BazaarcheCore
import Foundation
import HummingbirdBcrypt
import Logging
import NIOPosix
import PostgresNIO
import Synchronization

public struct AccountSettings: Sendable {
    public var tokenLifetime: Duration
    public var bcryptCost: UInt8
    /// How many password hashes may run at once (the rest queue; see `HashGate`).
    public var hashConcurrency: Int
    public init(
        tokenLifetime: Duration = .seconds(12 * 3600), bcryptCost: UInt8 = 12, hashConcurrency: Int = HashGate.defaultPermits
    ) {
        self.tokenLifetime = tokenLifetime
        self.bcryptCost = bcryptCost
        self.hashConcurrency = hashConcurrency
    }
}

/// Accounts, passwords and tokens. Every query of this feature is in this file.
public struct Accounts: Sendable {
    public let db: Database
    public let settings: AccountSettings

    let hashing: HashGate
    /// How long checking a real password takes lately, queueing included. An unknown login waits
    /// that long instead of hashing a decoy: it answers as slowly as a wrong password (logins
    /// cannot be told apart by timing) without spending a core, so a flood of made-up logins
    /// costs no hashing at all.
    let verifyTime: VerifyTime

    final class VerifyTime: Sendable {
        let seconds: Mutex<Double>
        init(seed: Double) { seconds = Mutex(seed) }
        func record(_ sample: Double) { seconds.withLock { $0 = $0 * 0.8 + sample * 0.2 } }
        var current: Double { seconds.withLock { $0 } }
    }

    public init(db: Database, settings: AccountSettings) {
        self.db = db
        self.settings = settings
        self.hashing = HashGate(permits: settings.hashConcurrency)
        // Seeded with one real hash at this cost.
        let start = ContinuousClock.now
        _ = Bcrypt.hash("seed-password", cost: settings.bcryptCost)
        self.verifyTime = VerifyTime(seed: (ContinuousClock.now - start).seconds)
    }

    /// The JSON shape of an account, built by PostgreSQL (alias `a`).
    public static let json = """
        json_build_object('id', a.id, 'login', a.login, 'role', a.role, 'province_code', a.province_code,
          'province_codes', a.province_codes,
          'producer_id', a.producer_id, 'partner_id', a.partner_id, 'company_role', a.company_role,
          'disabled', a.disabled, 'disabled_at',
            api_time(a.disabled_at),
          'password_changed_at', api_time(a.password_changed_at), 'created_at', api_time(a.created_at))
        """

    // MARK: validation (plain rules, unit-tested)

    public static func validateLogin(_ login: String, into v: inout Validator, field: String = "login") {
        let ok =
            (3...64).contains(login.count)
            && login.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-@".unicodeScalars.contains($0))
            }
        v.check(ok, field, "must be 3 to 64 characters of latin letters, digits and . _ - @")
    }

    public static func validatePassword(_ password: String, into v: inout Validator, field: String = "password") {
        v.check(password.count >= 8, field, "must be at least 8 characters")
        v.check(password.utf8.count <= 72, field, "must be at most 72 bytes")
    }

    // MARK: passwords

    /// Hashes and checks run through `hashing`: call them only after every cheap check has passed.
    public func hash(_ password: String) async throws -> String {
        let cost = settings.bcryptCost
        return try await hashing.run { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await hashing.run { Bcrypt.verify(password, hash: hash) }
    }

    // MARK: operations

    /// Inserts an account on an open connection (the caller's transaction) and audits it.
    /// Returns the account JSON.
    public static func insert(
        on connection: PostgresConnection, logger: Logger, role: Role, login: String, passwordHash: String,
        provinceCode: String?, provinceCodes: [String]? = nil, producerID: Int64?, partnerID: Int64?,
        companyRole: CompanyRole? = nil, actor: Principal?, actorRole: String? = nil, auditProvince: String? = nil
    ) async throws -> (id: Int64, json: String) {
        // A partner account created without a company role is its company's owner (the admin's first account).
        let companyRole = role == .partner ? (companyRole ?? .owner).rawValue : nil
        let rows = try await connection.query(
            """
            INSERT INTO accounts AS a (login, password_hash, role, province_code, province_codes, producer_id, partner_id,
              company_role)
            VALUES (\(login), \(passwordHash), \(role.rawValue), \(provinceCode), \(provinceCodes), \(producerID),
              \(partnerID), \(companyRole))
            RETURNING a.id, \(unescaped: json)::text
            """, logger: logger
        ).collect()
        let (id, body) = try rows[0].decode((Int64, String).self)
        try await Audit.record(
            on: connection, logger: logger, actor: actor, actorRole: actorRole, entityType: "account", entityID: id,
            provinceCode: auditProvince ?? provinceCode ?? provinceCodes?.first, action: "account.created", from: nil,
            to: role.rawValue)
        return (id, body)
    }

    /// Creates a staff or partner account (admin API and the `accounts create` command).
    /// `actor` nil means the operator's command line (audited as "system").
    public func create(
        role: Role, login: String, password: String, provinceCode: String?, provinceCodes: [String]? = nil,
        partnerID: Int64? = nil, companyRole: CompanyRole? = nil, actor: Principal?
    ) async throws -> String {
        var v = Validator()
        Self.validateLogin(login, into: &v)
        Self.validatePassword(password, into: &v)
        if role == .producer { v.add("role", "producer accounts are created by applying at /v1/producer-applications") }
        if role == .supervisor && provinceCode == nil { v.add("province_code", "is required for a supervisor") }
        if role != .supervisor && provinceCode != nil {
            v.add(
                "province_code",
                role == .implementer ? "implementers take province_codes (one or more)" : "is only for supervisors")
        }
        let provinces = Array(Set(provinceCodes ?? [])).sorted()
        if role == .implementer {
            v.check(!provinces.isEmpty, "province_codes", "is required for an implementer: one or more province codes")
            v.check(provinces.count <= 31, "province_codes", "must list at most 31 provinces")
            v.check(provinces.allSatisfy(ProvinceCode.isWellFormed), "province_codes", "must be province codes like IR-00")
        } else if provinceCodes != nil {
            v.add("province_codes", "is only for implementers")
        }
        if role == .partner && partnerID == nil {
            v.add("partner_id", "is required: a partner account belongs to a partner company")
        }
        if role != .partner && partnerID != nil { v.add("partner_id", "is only for partner accounts") }
        if role != .partner && companyRole != nil { v.add("company_role", "is only for partner accounts") }
        try v.throwIfInvalid()
        if role == .implementer {
            let known = try await db.rows("SELECT count(*)::int FROM provinces WHERE code = ANY(\(provinces))")[0]
                .decode(Int.self)
            if known != provinces.count { throw APIError.validation(field: "province_codes", "lists an unknown province") }
        }
        let hash = try await hash(password)
        return try await db.transaction { connection in
            try await Self.insert(
                on: connection, logger: db.logger, role: role, login: login, passwordHash: hash,
                provinceCode: provinceCode, provinceCodes: role == .implementer ? provinces : nil, producerID: nil,
                partnerID: partnerID, companyRole: companyRole, actor: actor,
                actorRole: actor == nil ? "system" : nil
            ).json
        }
    }

    /// Checks credentials and issues a token; nil when they are wrong.
    public func issueToken(login: String, password: String) async throws -> String? {
        let rows = try await db.rows(
            """
            SELECT a.id, a.password_hash, a.disabled FROM accounts a WHERE lower(a.login) = lower(\(login)) AND a.released_at
            IS NULL
            """
        )
        guard let row = rows.first else {
            let wait = verifyTime.current * Double.random(in: 0.9...1.1)
            try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            return nil
        }
        let (id, hash, disabled) = try row.decode((Int64, String, Bool).self)
        let start = ContinuousClock.now
        let matches = try await verify(password, hash: hash)
        verifyTime.record((ContinuousClock.now - start).seconds)
        guard matches, !disabled else { return nil }
        let token = Tokens.generate()
        let seconds = Int(settings.tokenLifetime.components.seconds)
        return try await db.text(
            """
            WITH t AS (
              INSERT INTO access_tokens (token_hash, account_id, expires_at)
              VALUES (sha256(convert_to(\(token), 'UTF8')), \(id), now() + make_interval(secs => \(seconds)))
              RETURNING expires_at)
            SELECT json_build_object('token', \(token)::text, 'token_type', 'Bearer', 'expires_at', api_time(t.expires_at),
                                     'account', \(unescaped: Self.json))::text
            FROM t, accounts a WHERE a.id = \(id)
            """)
    }

    public func revoke(token: String) async throws {
        try await db.execute(
            """
            UPDATE access_tokens SET revoked_at = now()
            WHERE token_hash = sha256(convert_to(\(token), 'UTF8')) AND revoked_at IS NULL
            """)
    }

    public func me(_ principal: Principal) async throws -> String? {
        try await db.text("SELECT \(unescaped: Self.json)::text FROM accounts a WHERE a.id = \(principal.accountID)")
    }

    public func list(page: Page, role: Role?) async throws -> String {
        let rows = try await db.rows(
            """
            SELECT a.id, \(unescaped: Self.json)::text FROM accounts a
            WHERE a.id > \(page.after ?? 0) AND (\(role?.rawValue)::text IS NULL OR a.role = \(role?.rawValue))
            ORDER BY a.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }
    // MARK: cutting accounts off

    /// Disables or re-enables an account. Admins may act on any account but their own; a
    /// supervisor on the producer accounts of its province (others are 404). Disabling revokes
    /// every token, so the account's next request is a 401 and re-enabling needs a new sign-in.
    public func setDisabled(_ disabled: Bool, accountID: Int64, reason: String?, by principal: Principal) async throws -> String {
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if disabled && reason == nil { v.add("reason", "is required to disable an account") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT a.role, a.disabled, p.province_code FROM accounts a LEFT JOIN producers p ON p.id = a.producer_id
                WHERE a.id = \(accountID) FOR UPDATE OF a
                """, logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Account \(accountID)") }
            let (role, current, producerProvince) = try row.decode((String, Bool, String?).self)
            let mayAct =
                switch principal.role {
                case .admin: true
                case .supervisor:
                    role == Role.producer.rawValue && producerProvince != nil && producerProvince == principal.provinceCode
                default: false
                }
            guard mayAct else { throw APIError.notFound("Account \(accountID)") }
            if accountID == principal.accountID {
                throw APIError.conflict(code: "own_account", "You cannot disable or enable your own account.")
            }
            let json = try await connection.query(
                """
                UPDATE accounts a SET disabled = \(disabled), platform_disabled = \(disabled),
                  disabled_at = CASE WHEN \(disabled) THEN coalesce(a.disabled_at, now()) ELSE NULL END
                WHERE a.id = \(accountID) RETURNING \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()[0].decode(String.self)
            if disabled {
                try await connection.query(
                    "UPDATE access_tokens SET revoked_at = now() WHERE account_id = \(accountID) AND revoked_at IS NULL",
                    logger: db.logger)
            }
            if current != disabled {
                try await Audit.record(
                    on: connection, logger: db.logger, actor: principal, entityType: "account", entityID: accountID,
                    provinceCode: producerProvince, action: disabled ? "account.disabled" : "account.enabled",
                    from: current ? "disabled" : "enabled", to: disabled ? "disabled" : "enabled", reason: reason)
            }
            return json
        }
    }

    /// Changes the caller's password (the current one is required) and revokes every other token
    /// of the account: a stolen token does not survive a password change.
    public func changePassword(current: String, new: String, keepToken: String, by principal: Principal) async throws {
        var v = Validator()
        Self.validatePassword(new, into: &v, field: "new_password")
        v.check(new != current, "new_password", "must differ from the current password")
        try v.throwIfInvalid()
        let stored = try await db.rows("SELECT password_hash FROM accounts WHERE id = \(principal.accountID)")
        guard let hash = try stored.first?.decode(String.self) else { throw APIError.unauthenticated }
        guard try await verify(current, hash: hash) else {
            throw APIError.validation(field: "current_password", "is wrong")
        }
        let newHash = try await self.hash(new)
        try await db.transaction { connection in
            try await connection.query(
                "UPDATE accounts SET password_hash = \(newHash), password_changed_at = now() WHERE id = \(principal.accountID)",
                logger: db.logger)
            try await connection.query(
                """
                UPDATE access_tokens SET revoked_at = now()
                WHERE account_id = \(principal.accountID) AND revoked_at IS NULL
                  AND token_hash <> sha256(convert_to(\(keepToken), 'UTF8'))
                """, logger: db.logger)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "account", entityID: principal.accountID,
                provinceCode: principal.provinceCode, action: "account.password_changed", from: nil, to: nil)
        }
    }

    /// Signs the account out on every device: all its tokens are revoked, this one included.
    public func revokeAll(by principal: Principal) async throws {
        try await db.transaction { connection in
            try await connection.query(
                "UPDATE access_tokens SET revoked_at = now() WHERE account_id = \(principal.accountID) AND revoked_at IS NULL",
                logger: db.logger)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "account", entityID: principal.accountID,
                provinceCode: principal.provinceCode, action: "account.signed_out_everywhere", from: nil, to: nil)
        }
    }

    public func get(_ id: Int64) async throws -> String {
        try await db.json("SELECT \(unescaped: Self.json)::text FROM accounts a WHERE a.id = \(id)", notFound: "Account \(id)")
    }
}
