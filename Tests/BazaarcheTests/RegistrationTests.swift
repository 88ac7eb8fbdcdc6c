import BazaarcheCore
import Foundation
import Testing

/// Registration that cannot be squatted or enumerated: the mobile is proven with a one-time code,
/// closed applications free their national ID and mobile, and a duplicate looks like any other.
@Suite struct RegistrationTests {
    static func application(nationalID: String, mobile: String) -> String {
        """
        {"national_id":"\(nationalID)","first_name":"مریم","last_name":"کریمی","mobile":"\(mobile)",
         "province_code":"IR-00","city":"اراک","skills":["گلیم"]}
        """
    }

    static func confirmation(_ requestID: String?, code: String, password: String = API.password) -> String {
        #"{"application_request_id":"\#(requestID ?? "")","code":"\#(code)","password":"\#(password)"}"#
    }

    /// An application filed with a fresh national ID and mobile, not yet confirmed: its mobile, its
    /// request id and the code sent to it.
    static func pendingApplication(_ api: API, sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> (mobile: String, requestID: String?, code: String)
    {
        let n = Fixtures.next()
        let mobile = String(format: "0935%07d", n)
        let applied = try await api.post(
            "/v1/producer-applications", application(nationalID: Fixtures.nationalID(n), mobile: mobile))
        #expect(applied.status == .accepted, "application: \(applied.text)", sourceLocation: sourceLocation)
        let code = try #require(try await api.smsCode(to: mobile), sourceLocation: sourceLocation)
        return (mobile, applied.string("application_request_id"), code)
    }

    @Test func aRejectedApplicationsNationalIDAndMobileCanApplyAgain() async throws {
        try await withApp { api in
            let n = Fixtures.next()
            let (nationalID, mobile) = (Fixtures.nationalID(n), String(format: "0935%07d", n))
            let first = try await api.apply(nationalID: nationalID, mobile: mobile)
            #expect(first.status == .accepted)
            let oldToken = try await api.login(mobile)
            let old = try #require(try await api.get("/v1/me", token: oldToken).int("producer_id"))
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let rejected = try await api.post(
                "/v1/producers/\(old)/transitions", #"{"to":"rejected","reason":"مدارک ناقص"}"#, token: supervisor)
            #expect(rejected.status == .ok)

            let again = try await api.apply(nationalID: nationalID, mobile: mobile, password: "another-pass-1")
            #expect(again.status == .accepted)
            let rows = try await api.db.rows(
                "SELECT id, status FROM producers WHERE national_id = \(nationalID) ORDER BY id")
            let records = try rows.map { try $0.decode((Int64, String).self) }
            #expect(records.map(\.1) == ["rejected", "applied"])
            #expect(records.first?.0 == old)
            // The new application owns the login now; the rejected record keeps its history.
            let newToken = try await api.login(mobile, "another-pass-1")
            #expect(try await api.get("/v1/me", token: newToken).int("producer_id") == records.last?.0)
            #expect(try await api.get("/v1/me", token: oldToken).status == .unauthorized)
            #expect(try await api.get("/v1/producers/\(old)", token: supervisor).string("status") == "rejected")
        }
    }

    @Test func anApplicantWithdrawsAndMayApplyAgainButStaffCannotWithdrawForIt() async throws {
        try await withApp { api in
            let n = Fixtures.next()
            let (nationalID, mobile) = (Fixtures.nationalID(n), String(format: "0935%07d", n))
            try await api.apply(nationalID: nationalID, mobile: mobile)
            let token = try await api.login(mobile)
            let id = try #require(try await api.get("/v1/me", token: token).int("producer_id"))
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            #expect(
                try await api.post("/v1/producers/\(id)/transitions", #"{"to":"withdrawn"}"#, token: supervisor).status
                    == .forbidden)
            // An applicant cannot screen itself, nor withdraw someone else.
            #expect(
                try await api.post("/v1/producers/\(id)/transitions", #"{"to":"screened"}"#, token: token).status == .forbidden)
            let other = try await api.producer()
            #expect(
                try await api.post("/v1/producers/\(other.id)/transitions", #"{"to":"withdrawn"}"#, token: token).status
                    == .notFound)
            #expect(try await api.get("/v1/producers/\(other.id)", token: supervisor).string("status") == "applied")

            let withdrawn = try await api.post("/v1/producers/\(id)/transitions", #"{"to":"withdrawn"}"#, token: token)
            #expect(withdrawn.status == .ok)
            #expect(withdrawn.string("status") == "withdrawn")
            #expect(withdrawn.string("withdrawn_at") != nil)
            #expect(try await api.apply(nationalID: nationalID, mobile: mobile).status == .accepted)
            #expect(
                try await api.db.rows("SELECT 1 FROM producers WHERE national_id = \(nationalID) AND status = 'applied'").count
                    == 1)
        }
    }

    @Test func aDuplicateNationalIDIsAnsweredExactlyLikeAFreshOne() async throws {
        try await withApp { api in
            let enrolled = Fixtures.next()
            try await api.apply(nationalID: Fixtures.nationalID(enrolled), mobile: String(format: "0935%07d", enrolled))
            let (fresh, duplicate) = (Fixtures.next(), Fixtures.next())
            let freshMobile = String(format: "0935%07d", fresh)
            let duplicateMobile = String(format: "0935%07d", duplicate)
            let a = try await api.post(
                "/v1/producer-applications", Self.application(nationalID: Fixtures.nationalID(fresh), mobile: freshMobile))
            let b = try await api.post(
                "/v1/producer-applications", Self.application(nationalID: Fixtures.nationalID(enrolled), mobile: duplicateMobile))
            #expect(a.status == .accepted && b.status == .accepted)
            #expect(Set(a.json.keys) == Set(b.json.keys))
            #expect(a.headers[.contentType] == b.headers[.contentType])
            let codeA = try #require(try await api.smsCode(to: freshMobile))
            let codeB = try #require(try await api.smsCode(to: duplicateMobile))
            let confirmedA = try await api.post(
                "/v1/producer-applications/confirmations", Self.confirmation(a.string("application_request_id"), code: codeA))
            let confirmedB = try await api.post(
                "/v1/producer-applications/confirmations", Self.confirmation(b.string("application_request_id"), code: codeB))
            #expect(confirmedA.status == confirmedB.status)
            #expect(confirmedA.text == confirmedB.text)
            // What must not happen: a second record for an enrolled national ID.
            let counts = try await api.db.rows(
                """
                SELECT (SELECT count(*) FROM producers WHERE national_id = \(Fixtures.nationalID(enrolled)))::int,
                       (SELECT count(*) FROM producers WHERE mobile = \(duplicateMobile))::int,
                       (SELECT count(*) FROM duplicate_applications WHERE mobile = \(duplicateMobile))::int
                """)[0].decode((Int, Int, Int).self)
            #expect(counts == (1, 0, 1))
            // Both proven mobiles get the very same text; the enrolled producer's own mobile is told
            // that someone tried its national ID.
            func lastText(_ mobile: String) async throws -> String? {
                try await api.db.rows("SELECT body FROM sms_messages WHERE mobile = \(mobile) ORDER BY id DESC LIMIT 1").first?
                    .decode(String.self)
            }
            let (textA, textB) = (try await lastText(freshMobile), try await lastText(duplicateMobile))
            #expect(textA != nil && textA == textB)
            let warned = try await api.db.rows(
                """
                SELECT count(*)::int FROM sms_messages WHERE mobile = \(String(format: "0935%07d", enrolled)) AND purpose =\
                 'account_notice'
                """
            )
            #expect(try warned[0].decode(Int.self) == 1)
        }
    }

    @Test func aMobileThatHasAnAccountGetsANoticeNotACode() async throws {
        try await withApp { api in
            let n = Fixtures.next()
            let mobile = String(format: "0935%07d", n)
            try await api.apply(nationalID: Fixtures.nationalID(n), mobile: mobile)
            let codesBefore = try await api.db.rows(
                "SELECT count(*)::int FROM sms_messages WHERE mobile = \(mobile) AND purpose = 'application_code'")[0].decode(
                    Int.self)
            let again = try await api.post(
                "/v1/producer-applications", Self.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: mobile))
            #expect(again.status == .accepted)
            let purposes = try await api.db.rows("SELECT purpose FROM sms_messages WHERE mobile = \(mobile) ORDER BY id").map {
                try $0.decode(String.self)
            }
            #expect(purposes.last == "application_notice")
            #expect(purposes.filter { $0 == "application_code" }.count == codesBefore)
        }
    }

    @Test func codesAreSingleUseExpireAndAllowFiveGuesses() async throws {
        try await withApp { api in
            let (_, id, code) = try await Self.pendingApplication(api)
            let wrong = code == "123456" ? "654321" : "123456"
            for _ in 0..<5 {
                let reply = try await api.post("/v1/producer-applications/confirmations", Self.confirmation(id, code: wrong))
                #expect(reply.status == .unprocessableContent)
                #expect(reply.fields == ["code"])
            }
            // The right code after five wrong guesses is refused too.
            let late = try await api.post("/v1/producer-applications/confirmations", Self.confirmation(id, code: code))
            #expect(late.status == .unprocessableContent)
            #expect(try await api.db.rows("SELECT 1 FROM producers").isEmpty)

            let (mobile2, id2, code2) = try await Self.pendingApplication(api)
            try await api.db.execute(
                "UPDATE application_requests SET expires_at = now() - interval '1 second' WHERE mobile = \(mobile2)")
            let expired = try await api.post("/v1/producer-applications/confirmations", Self.confirmation(id2, code: code2))
            #expect(expired.status == .unprocessableContent)
            try await api.db.execute(
                "UPDATE application_requests SET expires_at = now() + interval '5 minutes' WHERE mobile = \(mobile2)")
            let ok = try await api.post("/v1/producer-applications/confirmations", Self.confirmation(id2, code: code2))
            #expect(ok.status == .accepted)
            let reused = try await api.post("/v1/producer-applications/confirmations", Self.confirmation(id2, code: code2))
            #expect(reused.status == .unprocessableContent)
            #expect(try await api.db.rows("SELECT 1 FROM producers WHERE mobile = \(mobile2)").count == 1)
        }
    }

    @Test func codesPerMobileAreRateLimited() async throws {
        try await withApp { api in
            let mobile = "09359998877"
            for i in 0..<3 {
                let reply = try await api.post(
                    "/v1/producer-applications",
                    Self.application(nationalID: Fixtures.nationalID(Fixtures.next() + i), mobile: mobile))
                #expect(reply.status == .accepted)
            }
            let fourth = try await api.post(
                "/v1/producer-applications", Self.application(nationalID: Fixtures.nationalID(Fixtures.next()), mobile: mobile))
            #expect(fourth.status == .tooManyRequests)
            #expect(fourth.code == "too_many_codes")
            #expect(fourth.headers[.retryAfter] != nil)
            #expect(try await api.db.rows("SELECT 1 FROM sms_messages WHERE mobile = \(mobile)").count == 3)
        }
    }

    @Test func aWrongPasswordAtConfirmationSpendsNoCode() async throws {
        try await withApp { api in
            let (mobile, id, code) = try await Self.pendingApplication(api)
            let short = try await api.post(
                "/v1/producer-applications/confirmations", Self.confirmation(id, code: code, password: "short"))
            #expect(short.status == .unprocessableContent)
            #expect(short.fields == ["password"])
            let attempts = try await api.db.rows("SELECT attempts FROM application_requests WHERE mobile = \(mobile)")[0].decode(
                Int.self)
            #expect(attempts == 0)
        }
    }
}
