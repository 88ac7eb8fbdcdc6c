import BazaarcheCore
import Foundation
import Hummingbird

struct TokenRequest: Decodable {
    var login: String
    var password: String
}

struct AccountRequest: Decodable {
    var role: Role
    var login: String
    var password: String
    var provinceCode: String?
    var partnerId: Int64?
}

extension Accounts {
    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/auth/tokens") { request, context in
            let body = try await JSONBody.decode(TokenRequest.self, from: request, context: context)
            let throttle = LoginThrottle(db: db)
            let address = context.clientAddress(request)
            if let wait = try await throttle.attempt(login: body.login, address: address) {
                throw APIError(
                    .tooManyRequests, code: "too_many_attempts", title: "Too many failed sign-ins",
                    detail: "Too many wrong passwords for this login or from this address; retry in \(wait) s.",
                    headers: [.retryAfter: String(max(wait, 1))])
            }
            guard let json = try await issueToken(login: body.login, password: body.password) else {
                throw APIError(
                    .unauthorized, code: "invalid_credentials", title: "Wrong login or password",
                    detail: "The login or password is wrong, or the account is disabled.")
            }
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
                partnerID: body.partnerId, actor: principal)
            return JSONResponse.raw(json, status: .created)
        }
        routes.get("/v1/accounts") { request, context in
            _ = try context.require(.admin)
            let page = try Page(request: request)
            let role = try Role.query(request.uri.queryParameters.get("role"), field: "role")
            return JSONResponse.raw(try await list(page: page, role: role))
        }
    }
}
