import BazaarcheCore
import Foundation
import Hummingbird

struct TokenRequest: Decodable {
    var login: String
    var password: String
}

struct PasswordChangeRequest: Decodable {
    var currentPassword: String
    var newPassword: String
}

struct DisableRequest: Decodable {
    var reason: String?
}

struct AccountRequest: Decodable {
    var role: Role
    var login: String
    var password: String
    var provinceCode: String?
    var provinceCodes: [String]?
    var partnerId: Int64?
    var companyRole: CompanyRole?
}

extension Accounts {
    public func addRoutes(to routes: inout Routes) {
        addCompanyRoutes(to: &routes)
        routes.post("/v1/auth/tokens") { request, context in
            let body = try await JSONBody.decode(TokenRequest.self, from: request, context: context)
            let wrong = APIError(
                .unauthorized, code: "invalid_credentials", title: "Wrong login or password",
                detail: "The login or password is wrong, or the account is disabled.")
            // Cheap checks before any hash: no stored password is empty or over bcrypt's 72 bytes.
            guard !body.login.isEmpty, body.login.utf8.count <= 200, !body.password.isEmpty, body.password.utf8.count <= 72 else {
                throw wrong
            }
            let throttle = LoginThrottle(db: db)
            let address = context.clientAddress(request)
            let issued = try await throttle.checking(login: body.login, address: address) {
                try await issueToken(login: body.login, password: body.password)
            }
            guard let json = issued else { throw wrong }
            try await throttle.succeeded(login: body.login, address: address)
            return JSONResponse.raw(json, status: .created)
        }
        routes.delete("/v1/auth/tokens/current") { request, context in
            _ = try context.requirePrincipal()
            if let header = request.headers[.authorization] {
                try await revoke(token: String(header.split(separator: " ", maxSplits: 1).last ?? ""))
            }
            return JSONResponse.noContent
        }
        routes.delete("/v1/auth/tokens") { _, context in
            try await revokeAll(by: try context.requirePrincipal())
            return JSONResponse.noContent
        }
        routes.post("/v1/me/password") { request, context in
            let principal = try context.requirePrincipal()
            let body = try await JSONBody.decode(PasswordChangeRequest.self, from: request, context: context)
            // Wrong current passwords count as failed sign-ins: a stolen token cannot be used to guess.
            let throttle = LoginThrottle(db: db)
            let address = context.clientAddress(request)
            let token = String(request.headers[.authorization]?.split(separator: " ", maxSplits: 1).last ?? "")
            try await throttle.checking(login: principal.login, address: address) {
                try await changePassword(current: body.currentPassword, new: body.newPassword, keepToken: token, by: principal)
            }
            try await throttle.succeeded(login: principal.login, address: address)
            return JSONResponse.noContent
        }
        routes.get("/v1/me") { _, context in
            let principal = try context.requirePrincipal()
            guard let json = try await me(principal) else { throw APIError.unauthenticated }
            return JSONResponse.raw(json)
        }
        routes.post("/v1/accounts") { request, context in
            let principal = try context.require(.admin)
            let body = try await JSONBody.decode(AccountRequest.self, from: request, context: context)
            let json = try await create(
                role: body.role, login: body.login, password: body.password, provinceCode: body.provinceCode,
                provinceCodes: body.provinceCodes, partnerID: body.partnerId, companyRole: body.companyRole, actor: principal)
            return JSONResponse.raw(json, status: .created)
        }
        routes.get("/v1/accounts/{id}") { _, context in
            _ = try context.require(.admin)
            return JSONResponse.raw(try await get(try context.id(what: "Account")))
        }
        for (action, disabled) in [("disable", true), ("enable", false)] {
            routes.post("/v1/accounts/{id}/\(action)") { request, context in
                let principal = try context.require(.admin, .supervisor)
                let id = try context.id(what: "Account")
                let body = try await JSONBody.decodeIfPresent(DisableRequest.self, from: request, context: context)
                return JSONResponse.raw(try await setDisabled(disabled, accountID: id, reason: body?.reason, by: principal))
            }
        }
        routes.get("/v1/accounts") { request, context in
            _ = try context.require(.admin)
            let page = try Page(request: request)
            let role = try Role.query(request.uri.queryParameters.get("role"), field: "role")
            return JSONResponse.raw(try await list(page: page, role: role))
        }
    }
}
