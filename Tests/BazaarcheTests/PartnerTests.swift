import BazaarcheCore
import Foundation
import Partners
import Testing

@Suite struct LegalNationalIDTests {
    @Test(arguments: ["10380284790", "14100123454", "10861838056"])
    func acceptsValidIDs(_ id: String) { #expect(LegalNationalID.isValid(id)) }

    @Test(arguments: ["10380284791", "1038028479", "103802847900", "1038028479a", ""])
    func rejectsInvalidIDs(_ id: String) { #expect(!LegalNationalID.isValid(id)) }

    @Test func sqlTwinAgrees() async throws {
        try await withApp { api in
            for n in [0, 7, 123_456, 987_654_321] {
                let id = Fixtures.legalID(n)
                let broken = String(id.dropLast()) + String((Int(String(id.last!))! + 1) % 10)
                let rows = try await api.db.rows(
                    "SELECT is_valid_legal_national_id(\(id)), is_valid_legal_national_id(\(broken))")
                #expect(try rows[0].decode((Bool, Bool).self) == (true, false), "\(id)")
            }
        }
    }
}

@Suite struct PartnerTests {
    static let body =
        #"""
        {"legal_national_id":"10380284790","name":"شرکت پخش سوغات","kind":"lead_firm","province_code":"IR-23",\#
        "contact":{"name":"واحد تأمین","phone":"02188776655","email":"supply@example.ir"}}
        """#

    @Test func adminsCreatePartnersAndBindAccounts() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let created = try await api.post("/v1/partners", Self.body, token: admin)
            #expect(created.status == .created)
            #expect(created.string("kind") == "lead_firm")
            let id = try #require(created.int("id"))
            let duplicate = try await api.post("/v1/partners", Self.body, token: admin)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.fields == ["legal_national_id"])
            let account = try await api.post(
                "/v1/accounts", #"{"role":"partner","login":"soghat.buyer","password":"password-123","partner_id":\#(id)}"#,
                token: admin)
            #expect(account.status == .created)
            #expect(account.int("partner_id") == id)
            let buyer = try await api.login("soghat.buyer")
            #expect(try await api.get("/v1/me", token: buyer).int("partner_id") == id)
            #expect(try await api.get("/v1/partners/\(id)", token: buyer).string("name") == "شرکت پخش سوغات")
            #expect(try await api.get("/v1/partners", token: admin).items.count == 1)
            #expect(try await api.get("/v1/partners?kind=exporter", token: admin).items.isEmpty)
        }
    }

    @Test func partnersSeeOnlyTheirOwnCompany() async throws {
        try await withApp { api in
            let mine = try await api.token(.partner)
            let other = try await api.partnerCompany()
            #expect(try await api.get("/v1/partners/\(other)", token: mine).status == .notFound)
            #expect(try await api.get("/v1/partners", token: mine).status == .forbidden)
            #expect(try await api.post("/v1/partners", Self.body, token: mine).status == .forbidden)
            let producer = try await api.producer()
            #expect(try await api.get("/v1/partners/\(other)", token: producer.token).status == .forbidden)
        }
    }

    @Test func invalidPartnersAre422() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let bad = try await api.post(
                "/v1/partners",
                #"{"legal_national_id":"10380284791","name":" ","kind":"smuggler","province_code":"IR-23"}"#, token: admin)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.fields == ["kind"])
            let badID = try await api.post(
                "/v1/partners",
                #"""
                {"legal_national_id":"10380284791","name":" ","kind":"exporter","province_code":"IR-99",\#
                "contact":{"email":"nope","phone":"123"}}
                """#,
                token: admin)
            #expect(Set(badID.fields) == ["legal_national_id", "name", "contact.email", "contact.phone"])
            let unknownProvince = try await api.post(
                "/v1/partners", #"{"legal_national_id":"10380284790","name":"x","kind":"exporter","province_code":"IR-99"}"#,
                token: admin)
            #expect(unknownProvince.status == .unprocessableContent)
            #expect(unknownProvince.fields == ["province_code"])
            #expect(try await api.db.rows("SELECT 1 FROM partners").isEmpty)
        }
    }
}
