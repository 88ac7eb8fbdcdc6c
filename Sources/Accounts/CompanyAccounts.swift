import BazaarcheCore
import Foundation
import Hummingbird
import PostgresNIO

struct CompanyAccountRequest: Decodable {
    var login: String
    var password: String
    var companyRole: CompanyRole
}

struct CompanyAccountPatch: Decodable {
    var companyRole: CompanyRole?
    var disabled: Bool?
    var reason: String?
}

/// A partner company's own accounts, managed by its owners (and admins): list, create with a role,
/// change the role, disable and enable. A company always keeps at least one enabled owner.
extension Accounts {
    /// Owners of `company` and admins pass; a buyer or viewer of the company gets 403
    /// `company_role`; anyone else 404 (another company's id is not confirmed to exist).
    static func manageCompany(_ company: Int64, by principal: Principal) throws {
        try principal.require(.admin, .partner)
        guard principal.role == .admin || principal.partnerID == company else { throw APIError.notFound("Partner \(company)") }
        try principal.requireCompanyOwner()
    }

    /// The company's province (for the audit trail); 404 when there is no such company.
    /// `lock` takes the company row: every change of who owns a company runs one at a time.
    func company(_ id: Int64, lock: Bool, on connection: PostgresConnection) async throws -> String {
        let query: PostgresQuery =
            lock
            ? "SELECT province_code FROM partners WHERE id = \(id) FOR UPDATE"
            : "SELECT province_code FROM partners WHERE id = \(id)"
        let rows = try await connection.query(query, logger: db.logger).collect()
        guard let row = rows.first else { throw APIError.notFound("Partner \(id)") }
        return try row.decode(String.self)
    }

    func companyAccounts(_ company: Int64, page: Page, by principal: Principal) async throws -> String {
        try Self.manageCompany(company, by: principal)
        return try await db.transaction { connection in
            _ = try await self.company(company, lock: false, on: connection)
            let rows = try await connection.query(
                """
                SELECT a.id, \(unescaped: Self.json)::text FROM accounts a
                WHERE a.partner_id = \(company) AND a.role = 'partner' AND a.id > \(page.after ?? 0)
                ORDER BY a.id LIMIT \(page.limit + 1)
                """, logger: db.logger
            ).collect()
            return try page.body(rows: rows)
        }
    }

    func companyAccount(_ company: Int64, account id: Int64, by principal: Principal) async throws -> String {
        try Self.manageCompany(company, by: principal)
        return try await db.json(
            """
            SELECT \(unescaped: Self.json)::text FROM accounts a
            WHERE a.id = \(id) AND a.partner_id = \(company) AND a.role = 'partner'
            """, notFound: "Account \(id)")
    }

    func createCompanyAccount(_ company: Int64, _ body: CompanyAccountRequest, by principal: Principal) async throws -> (
        Int64, String
    ) {
        try Self.manageCompany(company, by: principal)
        var v = Validator()
        Self.validateLogin(body.login, into: &v)
        Self.validatePassword(body.password, into: &v)
        try v.throwIfInvalid()
        // The company must exist before a password is hashed (bcrypt is the expensive part).
        _ = try await db.transaction { try await self.company(company, lock: false, on: $0) }
        let hash = try await hash(body.password)
        return try await db.transaction { connection in
            let province = try await self.company(company, lock: false, on: connection)
            return try await Self.insert(
                on: connection, logger: db.logger, role: .partner, login: body.login, passwordHash: hash, provinceCode: nil,
                producerID: nil, partnerID: company, companyRole: body.companyRole, actor: principal, auditProvince: province)
        }
    }

    func changeCompanyAccount(
        _ company: Int64, account id: Int64, _ patch: CompanyAccountPatch, by principal: Principal
    ) async throws -> String {
        try Self.manageCompany(company, by: principal)
        var v = Validator()
        let reason = v.optionalText(patch.reason, "reason", max: 1000)
        if patch.companyRole == nil && patch.disabled == nil { v.add("body", "give company_role, disabled or both") }
        if patch.disabled == true && reason == nil { v.add("reason", "is required to disable an account") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let province = try await self.company(company, lock: true, on: connection)
            if principal.role == .partner {
                // Still an enabled owner now that the company is locked (another owner may have just demoted this one).
                let caller = try await connection.query(
                    "SELECT company_role, disabled FROM accounts WHERE id = \(principal.accountID)", logger: logger
                ).collect()
                let (callerRole, callerDisabled) = try caller[0].decode((String?, Bool).self)
                var now = principal
                now.companyRole = callerDisabled ? .viewer : callerRole.flatMap(CompanyRole.init(rawValue:))
                try now.requireCompanyOwner()
            }
            let rows = try await connection.query(
                """
                SELECT company_role, disabled, platform_disabled FROM accounts
                WHERE id = \(id) AND partner_id = \(company) AND role = 'partner' FOR UPDATE
                """, logger: logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Account \(id)") }
            let (currentRole, currentlyDisabled, platformDisabled) = try row.decode((String, Bool, Bool).self)
            let role = patch.companyRole?.rawValue ?? currentRole
            let disabled = patch.disabled ?? currentlyDisabled
            // The platform's disable (an admin's) is undone only by the platform.
            if platformDisabled && !disabled && principal.role != .admin {
                throw APIError.conflict(
                    code: "disabled_by_platform",
                    "This account was disabled by the platform's administrators; only they can enable it again.",
                    extra: ["account_id": String(id)])
            }
            if disabled != currentlyDisabled && id == principal.accountID {
                throw APIError.conflict(code: "own_account", "You cannot disable or enable your own account.")
            }
            let wasOwner = currentRole == CompanyRole.owner.rawValue && !currentlyDisabled
            let staysOwner = role == CompanyRole.owner.rawValue && !disabled
            if wasOwner && !staysOwner {
                // The company row is locked: two owners demoting each other cannot both pass this.
                let others = try await connection.query(
                    """
                    SELECT count(*)::int FROM accounts
                    WHERE partner_id = \(company) AND role = 'partner' AND company_role = 'owner' AND NOT disabled
                      AND released_at IS NULL AND id <> \(id)
                    """, logger: logger
                ).collect()[0].decode(Int.self)
                if others == 0 {
                    throw APIError.conflict(
                        code: "last_owner",
                        "A partner company keeps at least one enabled owner; make another account an owner first.",
                        extra: ["account_id": String(id)])
                }
            }
            let json = try await connection.query(
                """
                UPDATE accounts a SET company_role = \(role), disabled = \(disabled),
                  platform_disabled = \(disabled && (platformDisabled || principal.role == .admin)),
                  disabled_at = CASE WHEN \(disabled) THEN coalesce(a.disabled_at, now()) ELSE NULL END
                WHERE a.id = \(id) RETURNING \(unescaped: Self.json)::text
                """, logger: logger
            ).collect()[0].decode(String.self)
            if role != currentRole {
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "account", entityID: id,
                    provinceCode: province, action: "account.company_role_changed", from: currentRole, to: role,
                    reason: reason)
            }
            if disabled != currentlyDisabled {
                // Signed out at once; its API keys stop with it (a key acts only for an enabled account).
                if disabled {
                    try await connection.query(
                        "UPDATE access_tokens SET revoked_at = now() WHERE account_id = \(id) AND revoked_at IS NULL",
                        logger: logger)
                }
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "account", entityID: id,
                    provinceCode: province, action: disabled ? "account.disabled" : "account.enabled",
                    from: currentlyDisabled ? "disabled" : "enabled", to: disabled ? "disabled" : "enabled", reason: reason)
            }
            return json
        }
    }

    func addCompanyRoutes(to routes: inout Routes) {
        routes.get("/v1/partners/{id}/accounts") { request, context in
            let principal = try context.requirePrincipal()
            let company = try context.id(what: "Partner")
            return JSONResponse.raw(try await companyAccounts(company, page: try Page(request: request), by: principal))
        }
        routes.post("/v1/partners/{id}/accounts") { request, context in
            let principal = try context.requirePrincipal()
            let company = try context.id(what: "Partner")
            try Self.manageCompany(company, by: principal)
            let body = try await JSONBody.decode(CompanyAccountRequest.self, from: request, context: context)
            let (id, json) = try await createCompanyAccount(company, body, by: principal)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/partners/\(company)/accounts/\(id)"])
        }
        routes.get("/v1/partners/{id}/accounts/{account_id}") { _, context in
            let principal = try context.requirePrincipal()
            let company = try context.id(what: "Partner")
            let account = try context.id("account_id", what: "Account")
            return JSONResponse.raw(try await companyAccount(company, account: account, by: principal))
        }
        routes.patch("/v1/partners/{id}/accounts/{account_id}") { request, context in
            let principal = try context.requirePrincipal()
            let company = try context.id(what: "Partner")
            let account = try context.id("account_id", what: "Account")
            try Self.manageCompany(company, by: principal)
            let body = try await JSONBody.decode(CompanyAccountPatch.self, from: request, context: context)
            return JSONResponse.raw(try await changeCompanyAccount(company, account: account, body, by: principal))
        }
    }
}
