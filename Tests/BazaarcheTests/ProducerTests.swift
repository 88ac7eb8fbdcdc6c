import BazaarcheCore
import Foundation
import Testing

@Suite struct ProducerApplicationTests {
    static func body(
        nationalID: String = "0013542419", mobile: String = "09351234567", province: String = "IR-00",
        first: String = "سارا"
    ) -> String {
        """
        {"national_id":"\(nationalID)","first_name":"\(first)","last_name":"امینی","mobile":"\(mobile)",
         "province_code":"\(province)","city":"اراک","skills":["نان محلی","ترشی"]}
        """
    }

    static func count(_ api: API) async throws -> Int64 {
        try await api.db.rows("SELECT (SELECT count(*) FROM producers) + (SELECT count(*) FROM accounts)")[0].decode(Int64.self)
    }

    @Test func applicantIsStoredWithALoginByMobileOnceTheCodeIsConfirmed() async throws {
        try await withApp { api in
            let applied = try await api.post("/v1/producer-applications", Self.body(mobile: "+98 935 123 4567"))
            #expect(applied.status == .accepted)
            #expect(applied.string("mobile") == "09351234567")
            // Nothing is filed before the mobile is proven.
            #expect(try await Self.count(api) == 0)
            let code = try #require(try await api.smsCode(to: "09351234567"))
            let confirmed = try await api.post(
                "/v1/producer-applications/confirmations",
                #"""
                {"application_request_id":"\#(applied.string("application_request_id") ?? "")","code":"\#(code)",\#
                "password":"password-123"}
                """#
            )
            #expect(confirmed.status == .accepted)
            #expect(confirmed.string("status") == "received")
            let token = try await api.login("09351234567")
            let me = try await api.get("/v1/me", token: token)
            let id = try #require(me.int("producer_id"))
            let own = try await api.get("/v1/producers/\(id)", token: token)
            #expect(own.status == .ok)
            #expect(own.string("first_name") == "سارا")
            #expect(own.string("status") == "applied")
            #expect(own.json["skills"] as? [String] == ["نان محلی", "ترشی"])
            #expect(own.string("mobile_verified_at") != nil)
            let audit = try await api.db.rows(
                "SELECT action, to_status, actor_role FROM audit_events WHERE entity_type = 'producer' AND entity_id = \(id)")
            #expect(
                try audit.map { try $0.decode((String, String, String).self) }.map { "\($0.0) \($0.1) \($0.2)" } == [
                    "producer.applied applied public"
                ])
        }
    }

    @Test func persianDigitsInIDsAreAccepted() async throws {
        try await withApp { api in
            let reply = try await api.apply(nationalID: "۰۰۱۳۵۴۲۴۱۹", mobile: "۰۹۳۵۱۲۳۴۵۶۷")
            #expect(reply.status == .accepted)
            let national = try await api.db.rows("SELECT national_id, mobile FROM producers")[0].decode((String, String).self)
            #expect(national == ("0013542419", "09351234567"))
        }
    }

    /// A valid application's members (JSON values); each refused case changes one of them.
    static let validMembers: [(String, String)] = [
        ("national_id", #""0013542419""#), ("first_name", #""a""#), ("last_name", #""b""#),
        ("mobile", #""09351234567""#), ("province_code", #""IR-00""#), ("city", #""c""#),
    ]

    /// The valid application with `member` set to the JSON `value` (added if absent), or removed (nil).
    static func changing(_ member: String, to value: String?) -> String {
        var members = validMembers.filter { $0.0 != member }
        if let value { members.append((member, value)) }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    @Test(arguments: [
        (changing("national_id", to: #""0013542418""#), ["national_id"]),
        (changing("national_id", to: #""0000000000""#), ["national_id"]),
        (changing("mobile", to: #""0935123456""#), ["mobile"]),
        (changing("province_code", to: #""IR-99""#), ["province_code"]),
        (changing("province_code", to: #""Tehran""#), ["province_code"]),
        (changing("first_name", to: #""  ""#), ["first_name"]),
        (changing("password", to: #""password-123""#), ["password"]),
        (changing("city", to: nil), ["city"]),
        (changing("skills", to: #""baking""#), ["skills"]),
    ])
    func invalidApplicationsAre422NamingTheField(body: String, fields: [String]) async throws {
        try await withApp { api in
            let reply = try await api.post("/v1/producer-applications", body)
            #expect(reply.status == .unprocessableContent)
            #expect(reply.fields == fields)
            #expect(try await Self.count(api) == 0)
            // No code was sent for a refused application.
            #expect(try await api.db.rows("SELECT 1 FROM sms_messages UNION ALL SELECT 1 FROM application_requests").isEmpty)
        }
    }
}

@Suite struct ProducerAccessTests {
    @Test func supervisorsSeeTheirProvinceOnly() async throws {
        try await withApp { api in
            let markazi = try await api.producer(province: "IR-00")
            let tehran = try await api.producer(province: "IR-23")
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let list = try await api.get("/v1/producers", token: supervisor)
            #expect(list.status == .ok)
            #expect(list.items.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [markazi.id])
            #expect(try await api.get("/v1/producers/\(markazi.id)", token: supervisor).status == .ok)
            // Another province's producer does not exist for this supervisor.
            #expect(try await api.get("/v1/producers/\(tehran.id)", token: supervisor).status == .notFound)
            #expect(try await api.get("/v1/producers?province_code=IR-23", token: supervisor).status == .forbidden)
            let admin = try await api.token(.admin)
            #expect(try await api.get("/v1/producers", token: admin).items.count == 2)
            #expect(try await api.get("/v1/producers?province_code=IR-23", token: admin).items.count == 1)
        }
    }

    @Test func producersSeeThemselvesOnly() async throws {
        try await withApp { api in
            let one = try await api.producer()
            let two = try await api.producer()
            #expect(try await api.get("/v1/producers/\(one.id)", token: one.token).status == .ok)
            let other = try await api.get("/v1/producers/\(two.id)", token: one.token)
            #expect(other.status == .notFound)
            #expect(try await api.get("/v1/producers", token: one.token).status == .forbidden)
            #expect(try await api.get("/v1/producers/999999", token: one.token).status == .notFound)
            #expect(try await api.get("/v1/producers/abc", token: one.token).status == .notFound)
            let partner = try await api.token(.partner)
            #expect(try await api.get("/v1/producers/\(one.id)", token: partner).status == .forbidden)
            #expect(try await api.get("/v1/producers/\(one.id)").status == .unauthorized)
        }
    }

    @Test func listFiltersAndCursorPagination() async throws {
        try await withApp { api in
            var ids: [Int64] = []
            for _ in 0..<5 { ids.append(try await api.producer().id) }
            let admin = try await api.token(.admin)
            try await api.completedAssessment(of: ids[1], token: admin)
            try await api.must(.post, "/v1/producers/\(ids[1])/transitions", json: #"{"to":"screened"}"#, token: admin)
            var seen: [Int64] = []
            var cursor: String? = nil
            repeat {
                let page = try await api.get("/v1/producers?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: admin)
                #expect(page.items.count <= 2)
                seen += page.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == ids)
            let screened = try await api.get("/v1/producers?status=screened", token: admin)
            #expect(screened.items.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [ids[1]])
            #expect(try await api.get("/v1/producers?status=dancing", token: admin).status == .unprocessableContent)
        }
    }
}

@Suite struct ProducerTransitionTests {
    @Test func lifecycleThroughTheAPIIsAudited() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .screened)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let proposal = try await api.must(
                .post, "/v1/producers/\(producer.id)/verification-proposals", json: "{}", token: implementer, status: .created)
            try await api.must(
                .post, "/v1/verification-proposals/\(proposal.int("id") ?? 0)/decision", json: #"{"decision":"approve"}"#,
                token: supervisor)
            for (target, reason) in [("suspended", "quality complaint"), ("verified", "")] {
                let body = reason.isEmpty ? #"{"to":"\#(target)"}"# : #"{"to":"\#(target)","reason":"\#(reason)"}"#
                let reply = try await api.post("/v1/producers/\(producer.id)/transitions", body, token: supervisor)
                #expect(reply.status == .ok, "\(target): \(reply.text)")
                #expect(reply.string("status") == target)
            }
            let audit = try await api.get(
                "/v1/audit-events?entity_type=producer&entity_id=\(producer.id)", token: supervisor)
            let moves = audit.items.map { "\($0["from"] as? String ?? "-")>\($0["to"] as? String ?? "-")" }
            #expect(moves == ["->applied", "applied>screened", "screened>verified", "verified>suspended", "suspended>verified"])
            try #require(audit.items.count == 5)
            #expect(audit.items[3]["reason"] as? String == "quality complaint")
            #expect(audit.items[2]["actor_role"] as? String == "supervisor")
        }
    }

    @Test func forbiddenMovesAre409NamingTheCurrentStatus() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let admin = try await api.token(.admin)
            let skip = try await api.post("/v1/producers/\(producer.id)/transitions", #"{"to":"verified"}"#, token: admin)
            #expect(skip.status == .conflict)
            #expect(skip.code == "invalid_transition")
            #expect(skip.string("current_status") == "applied")
            let rejected = try await api.producer(status: .rejected)
            let revive = try await api.post("/v1/producers/\(rejected.id)/transitions", #"{"to":"screened"}"#, token: admin)
            #expect(revive.status == .conflict)
            #expect(revive.string("current_status") == "rejected")
            let rows = try await api.db.rows("SELECT status FROM producers WHERE id = \(producer.id)")
            #expect(try rows[0].decode(String.self) == "applied")
        }
    }

    @Test func rejectionNeedsAReasonAndUnknownTargetsAre422() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let admin = try await api.token(.admin)
            let noReason = try await api.post("/v1/producers/\(producer.id)/transitions", #"{"to":"rejected"}"#, token: admin)
            #expect(noReason.status == .unprocessableContent)
            #expect(noReason.fields == ["reason"])
            let unknown = try await api.post("/v1/producers/\(producer.id)/transitions", #"{"to":"approved"}"#, token: admin)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.fields == ["to"])
        }
    }

    @Test func onlyTheProvincesSupervisorOrAdminMayMove() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00")
            let elsewhere = try await api.token(.supervisor, province: "IR-23")
            let crossProvince = try await api.post(
                "/v1/producers/\(producer.id)/transitions", #"{"to":"rejected","reason":"x"}"#, token: elsewhere)
            #expect(crossProvince.status == .notFound)
            let itself = try await api.post(
                "/v1/producers/\(producer.id)/transitions", #"{"to":"screened"}"#, token: producer.token)
            #expect(itself.status == .forbidden)
            let officer = try await api.token(.exportOfficer)
            #expect(
                try await api.post(
                    "/v1/producers/\(producer.id)/transitions", #"{"to":"screened"}"#, token: officer
                ).status == .forbidden)
            let rows = try await api.db.rows("SELECT status FROM producers WHERE id = \(producer.id)")
            #expect(try rows[0].decode(String.self) == "applied")
        }
    }

    @Test func concurrentTransitionsCannotBothWin() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .screened)
            let admin = try await api.token(.admin)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for target in ["verified", "rejected"] {
                    group.addTask {
                        try await api.post(
                            "/v1/producers/\(producer.id)/transitions", #"{"to":"\#(target)","reason":"race"}"#, token: admin
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .conflict }.count == 1)
        }
    }
}
