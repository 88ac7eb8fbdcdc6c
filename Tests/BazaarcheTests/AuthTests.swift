import BazaarcheCore
import Foundation
import Testing

@Suite struct AuthTests {
    /// The account the login tests sign in as: `root.admin`, password `password-123`.
    static func rootAdmin(_ api: API) async throws {
        _ = try await api.accounts.create(
            role: .admin, login: "root.admin", password: "password-123", provinceCode: nil, actor: nil)
    }

    @Test func loginIssuesATokenStoredOnlyAsAHash() async throws {
        try await withApp { api in
            try await Self.rootAdmin(api)
            let reply = try await api.post("/v1/auth/tokens", #"{"login":"ROOT.admin","password":"password-123"}"#)
            #expect(reply.status == .created)
            let token = try #require(reply.string("token"))
            #expect(token.hasPrefix("bz_") && token.count > 40)
            #expect(reply.string("token_type") == "Bearer")
            #expect((reply.json["account"] as? [String: Any])?["role"] as? String == "admin")
            let stored = try await api.db.rows("SELECT encode(token_hash, 'hex') FROM access_tokens")
            #expect(stored.count == 1)
            #expect(try stored[0].decode(String.self) != token)
            #expect(!(try stored[0].decode(String.self)).contains(token))
            let me = try await api.get("/v1/me", token: token)
            #expect(me.status == .ok)
            #expect(me.string("login") == "root.admin")
        }
    }

    @Test func wrongCredentialsAre401() async throws {
        try await withApp { api in
            try await Self.rootAdmin(api)
            let wrongPassword = try await api.post("/v1/auth/tokens", #"{"login":"root.admin","password":"password-124"}"#)
            #expect(wrongPassword.status == .unauthorized)
            #expect(wrongPassword.code == "invalid_credentials")
            let unknown = try await api.post("/v1/auth/tokens", #"{"login":"nobody","password":"password-123"}"#)
            #expect(unknown.status == .unauthorized)
            #expect(unknown.code == "invalid_credentials")
            let tokens = try await api.db.rows("SELECT 1 FROM access_tokens")
            #expect(tokens.isEmpty)
        }
    }

    @Test func missingGarbageExpiredAndRevokedTokensAre401() async throws {
        try await withApp { api in
            #expect(try await api.get("/v1/me").status == .unauthorized)
            #expect(try await api.get("/v1/me", token: "bz_garbage").status == .unauthorized)
            let basic = try await api.call(.get, "/v1/me", headers: [.authorization: "Basic YTpi"])
            #expect(basic.status == .unauthorized)
            #expect(basic.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)

            let expired = try await api.token(.admin)
            try await api.db.execute("UPDATE access_tokens SET expires_at = now() - interval '1 second'")
            #expect(try await api.get("/v1/me", token: expired).status == .unauthorized)

            let token = try await api.token(.admin)
            #expect(try await api.get("/v1/me", token: token).status == .ok)
            let revoked = try await api.call(.delete, "/v1/auth/tokens/current", token: token)
            #expect(revoked.status == .noContent)
            #expect(try await api.get("/v1/me", token: token).status == .unauthorized)
            // A revoked token cannot revoke again or act on public routes as someone.
            #expect(try await api.call(.delete, "/v1/auth/tokens/current", token: token).status == .unauthorized)
            #expect(try await api.get("/v1/provinces", token: token).status == .unauthorized)
        }
    }

    @Test func nulCharactersAreRefusedNotCrashed() async throws {
        try await withApp { api in
            let login = try await api.post("/v1/auth/tokens", #"{"login":"a\u0000b","password":"x"}"#)
            #expect(login.status == .unprocessableContent)
            let application = try await api.post(
                "/v1/producer-applications",
                #"""
                {"national_id":"0013542419","first_name":"a","last_name":"b","mobile":"09351234567","province_code":"IR-00",\#
                "city":"\u0000"}
                """#
            )
            #expect(application.status == .unprocessableContent)
            #expect(try await api.db.rows("SELECT 1 FROM producers").isEmpty)
        }
    }

    @Test func disabledAccountsCannotLogIn() async throws {
        try await withApp { api in
            let token = try await api.token(.admin)
            try await api.db.execute("UPDATE accounts SET disabled = true")
            #expect(try await api.get("/v1/me", token: token).status == .unauthorized)
            let login = try await api.db.rows("SELECT login FROM accounts")[0].decode(String.self)
            let reply = try await api.post("/v1/auth/tokens", #"{"login":"\#(login)","password":"\#(API.password)"}"#)
            #expect(reply.status == .unauthorized)
        }
    }

    @Test func adminsCreateAccountsAndTheChangeIsAudited() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let reply = try await api.post(
                "/v1/accounts", #"{"role":"supervisor","login":"sup.markazi","password":"password-123","province_code":"IR-00"}"#,
                token: admin)
            #expect(reply.status == .created)
            #expect(reply.string("province_code") == "IR-00")
            let id = try #require(reply.int("id"))
            let audit = try await api.get("/v1/audit-events?entity_type=account&entity_id=\(id)", token: admin)
            #expect(audit.items.count == 1)
            #expect(audit.items.first?["action"] as? String == "account.created")
            // and the new supervisor can log in and is scoped
            let supervisor = try await api.login("sup.markazi")
            let me = try await api.get("/v1/me", token: supervisor)
            #expect(me.string("role") == "supervisor")
            let list = try await api.get("/v1/accounts", token: admin)
            #expect(list.items.count == 2)
        }
    }

    @Test func accountCreationRules() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let forbidden = try await api.post(
                "/v1/accounts", #"{"role":"admin","login":"sneaky","password":"password-123"}"#, token: supervisor)
            #expect(forbidden.status == .forbidden)
            let anonymous = try await api.post("/v1/accounts", #"{"role":"admin","login":"sneaky","password":"password-123"}"#)
            #expect(anonymous.status == .unauthorized)

            let noProvince = try await api.post(
                "/v1/accounts", #"{"role":"supervisor","login":"sup.x","password":"password-123"}"#, token: admin)
            #expect(noProvince.status == .unprocessableContent)
            #expect(noProvince.fields == ["province_code"])
            let unknownProvince = try await api.post(
                "/v1/accounts", #"{"role":"supervisor","login":"sup.x","password":"password-123","province_code":"IR-99"}"#,
                token: admin)
            #expect(unknownProvince.status == .unprocessableContent)
            #expect(unknownProvince.fields == ["province_code"])
            let producerRole = try await api.post(
                "/v1/accounts", #"{"role":"producer","login":"prod.x","password":"password-123"}"#, token: admin)
            #expect(producerRole.status == .unprocessableContent)
            let weak = try await api.post(
                "/v1/accounts", #"{"role":"partner","login":"a b","password":"short"}"#, token: admin)
            #expect(weak.status == .unprocessableContent)
            #expect(Set(weak.fields) == ["login", "password", "partner_id"])
            let unknownPartner = try await api.post(
                "/v1/accounts", #"{"role":"partner","login":"buyer.x","password":"password-123","partner_id":999999}"#,
                token: admin)
            #expect(unknownPartner.status == .unprocessableContent)
            #expect(unknownPartner.fields == ["partner_id"])

            let company = try await api.partnerCompany()
            #expect(
                try await api.post(
                    "/v1/accounts", #"{"role":"partner","login":"buyer.one","password":"password-123","partner_id":\#(company)}"#,
                    token: admin
                ).status == .created)
            let duplicate = try await api.post(
                "/v1/accounts", #"{"role":"partner","login":"Buyer.One","password":"password-123","partner_id":\#(company)}"#,
                token: admin)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.fields == ["login"])
            let count = try await api.db.rows("SELECT count(*)::int FROM accounts WHERE lower(login) = 'buyer.one'")
            #expect(try count[0].decode(Int.self) == 1)
        }
    }
}
