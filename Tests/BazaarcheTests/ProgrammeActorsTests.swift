import BazaarcheCore
import Foundation
import PostgresNIO
import Testing

/// Two actors: the implementing body proposes, the province directorate decides and inspects.
@Suite struct ProgrammeActorsTests {
    static func audit(_ api: API, entity: String, id: Int64) async throws -> [String] {
        try await api.db.rows(
            """
            SELECT a.action, coalesce(a.to_status, ''), coalesce(ac.role, a.actor_role) FROM audit_events a
            LEFT JOIN accounts ac ON ac.id = a.actor_account_id
            WHERE a.entity_type = \(entity) AND a.entity_id = \(id) ORDER BY a.id
            """
        ).map { try $0.decode((String, String, String).self) }.map { "\($0.0) \($0.1) \($0.2)" }
    }

    @Test func implementerAccountsNameTheirProvinces() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let created = try await api.post(
                "/v1/accounts",
                #"{"role":"implementer","login":"impl.markazi","password":"password-123","province_codes":["IR-00","IR-23"]}"#,
                token: admin)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["province_codes"] as? [String] == ["IR-00", "IR-23"])
            for (body, field) in [
                (#"{"role":"implementer","login":"impl.a","password":"password-123"}"#, "province_codes"),
                (
                    #"{"role":"implementer","login":"impl.b","password":"password-123","province_codes":["IR-99"]}"#,
                    "province_codes"
                ),
                (#"{"role":"implementer","login":"impl.c","password":"password-123","province_code":"IR-00"}"#, "province_code"),
                (
                    #"{"role":"supervisor","login":"sup.d","password":"password-123","province_codes":["IR-00"]}"#,
                    "province_codes"
                ),
            ] {
                let refused = try await api.post("/v1/accounts", body, token: admin)
                #expect(refused.status == .unprocessableContent && refused.fields.contains(field), "\(body): \(refused.text)")
            }
            let token = try await api.login("impl.markazi")
            let me = try await api.get("/v1/me", token: token)
            #expect(me.string("role") == "implementer")
        }
    }

    @Test func implementerReachesItsProvincesOnly() async throws {
        try await withApp { api in
            let markazi = try await api.producer(province: "IR-00")
            let tehran = try await api.producer(province: "IR-23")
            let isfahan = try await api.producer(province: "IR-10")
            let implementer = try await api.token(.implementer, provinces: ["IR-00", "IR-23"])
            let listed = try await api.must(.get, "/v1/producers?limit=100", token: implementer)
            let ids = Set(listed.items.compactMap { ($0["id"] as? NSNumber)?.int64Value })
            #expect(ids == [markazi.id, tehran.id])
            #expect(try await api.get("/v1/producers/\(isfahan.id)", token: implementer).status == .notFound)
            #expect(try await api.get("/v1/producers?province_code=IR-10", token: implementer).status == .forbidden)
            // Screening a producer of another province is a 404, and nothing changes.
            let moved = try await api.post(
                "/v1/producers/\(isfahan.id)/transitions", #"{"to":"rejected","reason":"x"}"#, token: implementer)
            #expect(moved.status == .notFound)
            #expect(try await api.get("/v1/producers/\(isfahan.id)", token: isfahan.token).string("status") == "applied")
        }
    }

    @Test func implementerProposesAndOnlyASupervisorOfTheProvinceDecides() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .screened)
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let otherSupervisor = try await api.token(.supervisor, province: "IR-23")

            // No shortcut: screened -> verified is a decision on a proposal, for every role.
            for token in [supervisor, try await api.token(.admin)] {
                let direct = try await api.post(
                    "/v1/producers/\(producer.id)/transitions", #"{"to":"verified"}"#, token: token)
                #expect(direct.status == .conflict && direct.code == "proposal_required", "\(direct.text)")
            }
            let byImplementer = try await api.post(
                "/v1/producers/\(producer.id)/transitions", #"{"to":"verified"}"#, token: implementer)
            #expect(byImplementer.status == .forbidden)
            // A supervisor does not propose.
            #expect(
                try await api.post("/v1/producers/\(producer.id)/verification-proposals", "{}", token: supervisor).status
                    == .forbidden)

            let proposal = try await api.must(
                .post, "/v1/producers/\(producer.id)/verification-proposals", json: #"{"note":"ready: assessed 4.2"}"#,
                token: implementer, status: .created)
            let proposalID = try #require(proposal.int("id"))
            #expect(proposal.string("status") == "pending")
            let again = try await api.post("/v1/producers/\(producer.id)/verification-proposals", "{}", token: implementer)
            #expect(again.status == .conflict && again.code == "proposal_pending")

            let decide = "/v1/verification-proposals/\(proposalID)/decision"
            // The implementer cannot approve; another province's supervisor cannot see it.
            #expect(try await api.post(decide, #"{"decision":"approve"}"#, token: implementer).status == .forbidden)
            #expect(try await api.post(decide, #"{"decision":"approve"}"#, token: otherSupervisor).status == .notFound)
            #expect(try await api.get("/v1/verification-proposals/\(proposalID)", token: otherSupervisor).status == .notFound)
            // Sending back needs reasons.
            let bare = try await api.post(decide, #"{"decision":"send_back"}"#, token: supervisor)
            #expect(bare.status == .unprocessableContent && bare.fields == ["reasons"])
            let queue = try await api.must(.get, "/v1/verification-proposals?status=pending", token: supervisor)
            #expect(queue.items.compactMap { ($0["id"] as? NSNumber)?.int64Value } == [proposalID])
            #expect(try await api.must(.get, "/v1/verification-proposals?status=pending", token: otherSupervisor).items.isEmpty)

            let sentBack = try await api.must(
                .post, decide, json: #"{"decision":"send_back","reasons":["کارگاه بازدید نشده است"]}"#, token: supervisor)
            #expect(sentBack.string("status") == "sent_back")
            #expect(sentBack.json["reasons"] as? [String] == ["کارگاه بازدید نشده است"])
            #expect(try await api.get("/v1/producers/\(producer.id)", token: supervisor).string("status") == "screened")
            let twice = try await api.post(decide, #"{"decision":"approve"}"#, token: supervisor)
            #expect(twice.status == .conflict && twice.code == "proposal_decided")

            let second = try await api.must(
                .post, "/v1/producers/\(producer.id)/verification-proposals", json: "{}", token: implementer, status: .created)
            let approved = try await api.must(
                .post, "/v1/verification-proposals/\(second.int("id") ?? 0)/decision", json: #"{"decision":"approve"}"#,
                token: supervisor)
            #expect(approved.string("status") == "approved")
            #expect(try await api.get("/v1/producers/\(producer.id)", token: supervisor).string("status") == "verified")

            // Every decision is on the audit trail with its actor's role.
            #expect(
                try await Self.audit(api, entity: "verification_proposal", id: proposalID) == [
                    "verification.proposed pending implementer", "verification.decided sent_back supervisor",
                ])
            let producerTrail = try await Self.audit(api, entity: "producer", id: producer.id)
            #expect(producerTrail.last == "producer.status_changed verified supervisor")
        }
    }

    @Test func nobodyDecidesTheirOwnProposal() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .screened)
            let admin = try await api.token(.admin)
            let proposal = try await api.must(
                .post, "/v1/producers/\(producer.id)/verification-proposals", json: "{}", token: admin, status: .created)
            let own = try await api.post(
                "/v1/verification-proposals/\(proposal.int("id") ?? 0)/decision", #"{"decision":"approve"}"#, token: admin)
            #expect(own.status == .forbidden && own.code == "own_proposal")
            #expect(try await api.get("/v1/producers/\(producer.id)", token: admin).string("status") == "screened")
            // Only a screened applicant is proposed.
            let applicant = try await api.producer(province: "IR-00")
            let early = try await api.post("/v1/producers/\(applicant.id)/verification-proposals", "{}", token: admin)
            #expect(early.status == .conflict && early.code == "producer_not_screened")
        }
    }

    @Test func aWithdrawnApplicantLeavesTheSupervisorsQueue() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .screened)
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let proposal = try await api.must(
                .post, "/v1/producers/\(producer.id)/verification-proposals", json: "{}", token: implementer, status: .created)
            let id = try #require(proposal.int("id"))
            try await api.must(
                .post, "/v1/producers/\(producer.id)/transitions", json: #"{"to":"withdrawn"}"#, token: producer.token)
            #expect(try await api.must(.get, "/v1/verification-proposals?status=pending", token: supervisor).items.isEmpty)
            #expect(
                try await api.must(.get, "/v1/verification-proposals/\(id)", token: supervisor).string("status") == "withdrawn")
            #expect(
                try await Self.audit(api, entity: "verification_proposal", id: id) == [
                    "verification.proposed pending implementer", "verification.withdrawn withdrawn producer",
                ])
        }
    }

    @Test func activitiesAreCorrectedByTheImplementerOrByTheApplicantUntilVerified() async throws {
        try await withApp { api in
            let applicant = try await api.producer(province: "IR-00", activities: ["food.honey"])
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let outsider = try await api.token(.implementer, provinces: ["IR-23"])
            let body = #"{"activities":["food.baking","FOOD.PICKLES"]}"#
            let corrected = try await api.call(.put, "/v1/producers/\(applicant.id)/activities", json: body, token: implementer)
            #expect(corrected.status == .ok, "\(corrected.text)")
            #expect(corrected.json["activities"] as? [String] == ["food.baking", "food.pickles"])
            #expect(
                try await api.call(.put, "/v1/producers/\(applicant.id)/activities", json: body, token: outsider).status
                    == .notFound)
            let unknown = try await api.call(
                .put, "/v1/producers/\(applicant.id)/activities", json: #"{"activities":["food.unicorns"]}"#,
                token: applicant.token)
            #expect(unknown.status == .unprocessableContent && unknown.fields == ["activities"])
            let own = try await api.call(
                .put, "/v1/producers/\(applicant.id)/activities", json: #"{"activities":["food.honey"]}"#,
                token: applicant.token)
            #expect(own.status == .ok)
            let verified = try await api.producer(province: "IR-00", status: .verified)
            let locked = try await api.call(
                .put, "/v1/producers/\(verified.id)/activities", json: #"{"activities":["food.honey"]}"#,
                token: verified.token)
            #expect(locked.status == .conflict && locked.code == "activities_locked")
            let trail = try await Self.audit(api, entity: "producer", id: applicant.id)
            #expect(trail.filter { $0.hasPrefix("producer.activities_changed") }.count == 2)
        }
    }

    @Test func rolesKeepToTheirSideOfTheLifecycle() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let applicant = try await api.producer(province: "IR-00")
            // The supervisor does not screen (the implementing body does, after an assessment).
            let screen = try await api.post(
                "/v1/producers/\(applicant.id)/transitions", #"{"to":"screened"}"#, token: supervisor)
            #expect(screen.status == .forbidden)
            // The implementer may turn an applicant down, with a reason.
            let rejected = try await api.post(
                "/v1/producers/\(applicant.id)/transitions", #"{"to":"rejected","reason":"مهارت کافی ندارد"}"#,
                token: implementer)
            #expect(rejected.status == .ok && rejected.string("status") == "rejected")
            // Suspending and reinstating are the supervisor's.
            let verified = try await api.producer(province: "IR-00", status: .verified)
            let suspend = #"{"to":"suspended","reason":"شکایت خریدار"}"#
            #expect(
                try await api.post("/v1/producers/\(verified.id)/transitions", suspend, token: implementer).status
                    == .forbidden)
            #expect(try await api.post("/v1/producers/\(verified.id)/transitions", suspend, token: supervisor).status == .ok)
            let reinstate = #"{"to":"verified"}"#
            #expect(
                try await api.post("/v1/producers/\(verified.id)/transitions", reinstate, token: implementer).status
                    == .forbidden)
            #expect(
                try await api.post("/v1/producers/\(verified.id)/transitions", reinstate, token: supervisor).status == .ok)
        }
    }

    @Test func supervisorsRecordInspectionsAndTheirFollowUp() async throws {
        try await withApp { api in
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let outsider = try await api.token(.implementer, provinces: ["IR-23"])
            let producer = try await api.producer(province: "IR-00")
            let elsewhere = try await api.producer(province: "IR-10")
            let body = """
                {"subject_type":"producer","subject_id":\(producer.id),"inspected_on":"2026-01-10",
                 "findings":"کارگاه تمیز است؛ برچسب‌ها ناقص","follow_up_due":"2026-02-01"}
                """
            #expect(try await api.post("/v1/inspections", body, token: implementer).status == .forbidden)
            let created = try await api.must(.post, "/v1/inspections", json: body, token: supervisor, status: .created)
            let id = try #require(created.int("id"))
            #expect(created.string("province_code") == "IR-00")
            #expect(created.string("subject") == "زهرا احمدی")
            #expect(created.json["overdue"] as? Bool == true)
            let foreign = try await api.post(
                "/v1/inspections",
                #"{"subject_type":"producer","subject_id":\#(elsewhere.id),"inspected_on":"2026-01-10","findings":"x"}"#,
                token: supervisor)
            #expect(foreign.status == .unprocessableContent && foreign.fields == ["subject_id"])
            let future = try await api.post(
                "/v1/inspections",
                #"{"subject_type":"general","subject":"x","inspected_on":"2999-01-01","findings":"x"}"#, token: supervisor)
            #expect(future.status == .unprocessableContent && future.fields == ["inspected_on"])
            // The province's implementers read them (they follow up); others do not.
            #expect(try await api.must(.get, "/v1/inspections?overdue=true", token: implementer).items.count == 1)
            #expect(try await api.get("/v1/inspections/\(id)", token: outsider).status == .notFound)
            #expect(try await api.must(.get, "/v1/inspections", token: outsider).items.isEmpty)
            let closed = try await api.must(
                .post, "/v1/inspections/\(id)/follow-up", json: #"{"note":"برچسب‌ها اصلاح شد"}"#, token: supervisor)
            #expect(closed.json["overdue"] as? Bool == false)
            #expect(closed.string("followed_up_at") != nil)
            let again = try await api.post("/v1/inspections/\(id)/follow-up", #"{"note":"x"}"#, token: supervisor)
            #expect(again.status == .conflict)
            #expect(
                try await Self.audit(api, entity: "inspection", id: id) == [
                    "inspection.recorded follow_up_due supervisor", "inspection.followed_up followed_up supervisor",
                ])
        }
    }

    @Test func staffFindPeopleByNameNationalIDOrMobile() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00")  // زهرا احمدی
            let other = try await api.producer(province: "IR-10")
            let row = try await api.db.rows("SELECT national_id, mobile FROM producers WHERE id = \(producer.id)")[0]
            let (nationalID, mobile) = try row.decode((String, String).self)
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            func found(_ q: String, _ token: String) async throws -> [Int64] {
                let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
                return try await api.must(.get, "/v1/producers?q=\(encoded)", token: token).items.compactMap {
                    ($0["id"] as? NSNumber)?.int64Value
                }
            }
            // Arabic yeh/kaf and Persian digits meet their Persian forms.
            #expect(try await found("احمدي", implementer) == [producer.id])
            #expect(try await found("زهرا", implementer) == [producer.id])
            #expect(try await found(nationalID, implementer) == [producer.id])
            #expect(try await found("+98" + mobile.dropFirst(), implementer) == [producer.id])
            #expect(try await found(String(mobile.suffix(4)), implementer).contains(producer.id))
            #expect(try await found("۰" + mobile.dropFirst().map { persian($0) }.joined(), implementer) == [producer.id])
            // Another province's producer is not found by an implementer of this one, but is by an admin.
            let otherNationalID = try await api.db.rows("SELECT national_id FROM producers WHERE id = \(other.id)")[0]
                .decode(String.self)
            #expect(try await found(otherNationalID, implementer).isEmpty)
            #expect(try await found(otherNationalID, try await api.token(.admin)) == [other.id])
            // Too short or wildcard input is refused or literal, never a 500.
            #expect(try await api.get("/v1/producers?q=12", token: implementer).status == .unprocessableContent)
            #expect(try await found("%%", implementer).isEmpty)
        }
    }

    static func persianDigit(_ c: Character) -> String {
        guard let d = c.wholeNumberValue else { return String(c) }
        return String(Character(UnicodeScalar(0x06F0 + d)!))
    }

    /// Databases from before implementers existed keep every supervisor decision: screened
    /// applicants arrive with a pending proposal a supervisor can approve.
    @Test func upgradeCarriesScreenedApplicantsIntoTheQueue() async throws {
        try await withUpgrade(
            from: "0015",
            seed: { client in
                let logger = Logger(label: "seed")
                try await client.query(
                    """
                    INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills, status,
                      screened_at)
                    VALUES ('0013542419', 'سارا', 'امینی', '09351234567', 'IR-00', 'اراک', '{}', 'screened', now())
                    """, logger: logger)
            },
            check: { client in
                let logger = Logger(label: "check")
                let rows = try await client.query(
                    "SELECT status, proposed_by IS NULL, note FROM verification_proposals", logger: logger
                ).collect()
                #expect(rows.count == 1)
                let (status, noProposer, note) = try rows[0].decode((String, Bool, String?).self)
                #expect(status == "pending" && noProposer && note?.hasPrefix("carried over") == true)
            })
    }
}

private func persian(_ c: Character) -> String { ProgrammeActorsTests.persianDigit(c) }
