import BazaarcheCore
import Foundation
import Testing

/// Accounts that can be cut off: disabling, password changes and signing out everywhere.
@Suite struct AccountControlTests {
    static func accountID(_ api: API, token: String) async throws -> Int64 {
        try #require(try await api.get("/v1/me", token: token).int("id"))
    }

    @Test func aDisabledAccountsTokensStopWorkingOnTheNextRequest() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let partner = try await api.token(.partner)
            let id = try await Self.accountID(api, token: partner)
            let login = try await api.get("/v1/me", token: partner).string("login") ?? ""
            let noReason = try await api.post("/v1/accounts/\(id)/disable", "{}", token: admin)
            #expect(noReason.status == .unprocessableContent)
            #expect(try await api.get("/v1/me", token: partner).status == .ok)

            let disabled = try await api.post("/v1/accounts/\(id)/disable", #"{"reason":"حساب به خطر افتاده"}"#, token: admin)
            #expect(disabled.status == .ok)
            #expect(disabled.json["disabled"] as? Bool == true)
            #expect(try await api.get("/v1/me", token: partner).status == .unauthorized)
            #expect(
                try await api.post("/v1/auth/tokens", #"{"login":"\#(login)","password":"\#(API.password)"}"#).status
                    == .unauthorized)

            let enabled = try await api.call(.post, "/v1/accounts/\(id)/enable", token: admin)
            #expect(enabled.status == .ok)
            #expect(enabled.json["disabled"] as? Bool == false)
            // The old token stays dead; a new sign-in works.
            #expect(try await api.get("/v1/me", token: partner).status == .unauthorized)
            #expect(try await api.get("/v1/me", token: try await api.login(login)).status == .ok)
            let audit = try await api.db.rows(
                """
                SELECT action, reason FROM audit_events WHERE entity_type = 'account' AND entity_id = \(id) AND action LIKE\
                 'account.%abled' ORDER BY id
                """
            )
            let actions = try audit.map { try $0.decode((String, String?).self) }
            #expect(actions.map(\.0) == ["account.disabled", "account.enabled"])
            #expect(actions.first?.1 == "حساب به خطر افتاده")
        }
    }

    @Test func supervisorsDisableOnlyTheirProvincesProducers() async throws {
        try await withApp { api in
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let ours = try await api.producer(province: "IR-00", status: .verified)
            let theirs = try await api.producer(province: "IR-23", status: .verified)
            let partner = try await api.token(.partner)
            let admin = try await api.token(.admin)
            let oursID = try await Self.accountID(api, token: ours.token)
            let theirsID = try await Self.accountID(api, token: theirs.token)
            let partnerID = try await Self.accountID(api, token: partner)
            let adminID = try await Self.accountID(api, token: admin)
            for other in [theirsID, partnerID, adminID] {
                #expect(
                    try await api.post("/v1/accounts/\(other)/disable", #"{"reason":"x"}"#, token: supervisor).status == .notFound
                )
            }
            #expect(
                try await api.post("/v1/accounts/\(partnerID)/disable", #"{"reason":"x"}"#, token: ours.token).status
                    == .forbidden)
            #expect(try await api.post("/v1/accounts/\(adminID)/disable", #"{"reason":"x"}"#, token: admin).status == .conflict)
            #expect(try await api.post("/v1/accounts/\(oursID)/disable", #"{"reason":"تخلف"}"#, token: supervisor).status == .ok)
            #expect(try await api.get("/v1/me", token: ours.token).status == .unauthorized)
            for token in [theirs.token, partner, admin] { #expect(try await api.get("/v1/me", token: token).status == .ok) }
        }
    }

    @Test func changingThePasswordNeedsTheOldOneAndRevokesEveryOtherToken() async throws {
        try await withApp { api in
            let name = "partner.\(Fixtures.next())"
            let partnerCompany = try await api.partnerCompany()
            _ = try await api.accounts.create(
                role: .partner, login: name, password: API.password, provinceCode: nil, partnerID: partnerCompany, actor: nil)
            let phone = try await api.login(name)
            let laptop = try await api.login(name)
            let wrong = try await api.post(
                "/v1/me/password", #"{"current_password":"not-it-at-all","new_password":"brand-new-pass"}"#, token: laptop)
            #expect(wrong.status == .unprocessableContent)
            #expect(wrong.fields == ["current_password"])
            #expect(try await api.get("/v1/me", token: phone).status == .ok)
            let weak = try await api.post(
                "/v1/me/password", #"{"current_password":"\#(API.password)","new_password":"short"}"#, token: laptop)
            #expect(weak.fields == ["new_password"])

            let changed = try await api.post(
                "/v1/me/password", #"{"current_password":"\#(API.password)","new_password":"brand-new-pass"}"#, token: laptop)
            #expect(changed.status == .noContent)
            #expect(try await api.get("/v1/me", token: laptop).status == .ok)
            #expect(try await api.get("/v1/me", token: phone).status == .unauthorized)
            #expect(
                try await api.post("/v1/auth/tokens", #"{"login":"\#(name)","password":"\#(API.password)"}"#).status
                    == .unauthorized)
            #expect(
                try await api.post("/v1/auth/tokens", #"{"login":"\#(name)","password":"brand-new-pass"}"#).status == .created)
            let id = try await Self.accountID(api, token: laptop)
            #expect(
                try await api.db.rows(
                    "SELECT 1 FROM audit_events WHERE entity_id = \(id) AND action = 'account.password_changed'"
                ).count == 1)
        }
    }

    @Test func signingOutEverywhereRevokesEveryToken() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let mobile = try await api.get("/v1/me", token: producer.token).string("login") ?? ""
            let second = try await api.login(mobile)
            #expect(try await api.call(.delete, "/v1/auth/tokens", token: second).status == .noContent)
            #expect(try await api.get("/v1/me", token: second).status == .unauthorized)
            #expect(try await api.get("/v1/me", token: producer.token).status == .unauthorized)
            #expect(try await api.call(.delete, "/v1/auth/tokens").status == .unauthorized)
        }
    }
}
