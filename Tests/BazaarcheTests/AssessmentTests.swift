import BazaarcheCore
import Foundation
import Testing

extension API {
    /// Every rubric criterion scored (5, 4, 3, 2, 3: mean 3.40).
    static let fullRubric = """
        [{"criterion":"skill_level","score":5,"notes":"نمونه‌کار منظم"},{"criterion":"production_readiness","score":4},
         {"criterion":"space_and_equipment","score":3},{"criterion":"market_potential","score":2},
         {"criterion":"motivation","score":3}]
        """

    /// Records and completes an assessment of a producer over HTTP (as `token`, default a new admin),
    /// which screening needs.
    @discardableResult
    func completedAssessment(of producerID: Int64, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> Reply
    {
        let staff: String
        if let token { staff = token } else { staff = try await self.token(.admin) }
        return try await must(
            .post, "/v1/producers/\(producerID)/assessments",
            json: #"{"mode":"in_person","assessed_on":"2026-01-10","scores":\#(API.fullRubric),"complete":true}"#,
            token: staff, status: .created, sourceLocation: sourceLocation)
    }
}

@Suite struct AssessmentTests {
    static let partial = """
        {"mode":"online","assessed_on":"2026-01-10","notes":"تماس تصویری",
         "scores":[{"criterion":"skill_level","score":4,"notes":"کیک‌ها یکدست"},{"criterion":"market_potential","score":3}]}
        """

    func screen(_ api: API, _ id: Int64, token: String) async throws -> Reply {
        try await api.post("/v1/producers/\(id)/transitions", #"{"to":"screened"}"#, token: token)
    }

    @Test func screeningNeedsACompletedAssessment() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let producer = try await api.producer(province: "IR-00")
            let refused = try await screen(api, producer.id, token: implementer)
            #expect(refused.status == .conflict)
            #expect(refused.code == "assessment_required")

            let draft = try await api.post("/v1/producers/\(producer.id)/assessments", Self.partial, token: implementer)
            #expect(draft.status == .created)
            #expect(draft.string("status") == "draft")
            #expect(draft.json["mean_score"] is NSNull)
            #expect(
                draft.json["missing_criteria"] as? [String] == ["production_readiness", "space_and_equipment", "motivation"])
            let id = try #require(draft.int("id"))
            // A draft is not evidence.
            #expect(try await screen(api, producer.id, token: implementer).code == "assessment_required")

            let incomplete = try await api.call(.post, "/v1/assessments/\(id)/completion", token: implementer)
            #expect(incomplete.status == .unprocessableContent)
            #expect(incomplete.code == "rubric_incomplete")
            #expect(incomplete.fields == ["scores", "scores", "scores"])
            #expect(try await api.get("/v1/assessments/\(id)", token: implementer).string("status") == "draft")

            let scored = try await api.call(
                .patch, "/v1/assessments/\(id)",
                json: """
                    {"scores":[{"criterion":"production_readiness","score":2},{"criterion":"space_and_equipment","score":5},
                     {"criterion":"motivation","score":4},{"criterion":"skill_level","score":5}],"recommended_course_ids":[]}
                    """, token: implementer)
            #expect(scored.status == .ok)
            #expect((scored.json["missing_criteria"] as? [Any])?.isEmpty == true)
            let completed = try await api.call(.post, "/v1/assessments/\(id)/completion", token: implementer)
            #expect(completed.status == .ok)
            #expect(completed.string("status") == "completed")
            // 5 + 2 + 5 + 3 + 4 = 19 over five criteria.
            #expect((completed.json["mean_score"] as? NSNumber)?.doubleValue == 3.8)
            #expect(completed.string("completed_at") != nil)

            let screened = try await screen(api, producer.id, token: implementer)
            #expect(screened.status == .ok)
            #expect(screened.string("status") == "screened")

            // Completed is final.
            let edit = try await api.call(.patch, "/v1/assessments/\(id)", json: #"{"notes":"x"}"#, token: implementer)
            #expect(edit.status == .conflict)
            #expect(edit.code == "assessment_completed")
            #expect(try await api.call(.post, "/v1/assessments/\(id)/completion", token: implementer).status == .conflict)
            let after = try await api.get("/v1/assessments/\(id)", token: implementer)
            #expect(after.string("notes") == "تماس تصویری")
            #expect(
                (after.json["scores"] as? [[String: Any]])?.map { $0["criterion"] as? String } == [
                    "skill_level", "production_readiness", "space_and_equipment", "market_potential", "motivation",
                ])
            await expectSQLState("23514") {
                try await api.db.execute("UPDATE assessment_scores SET score = 0 WHERE assessment_id = \(id)")
            }

            let admin = try await api.token(.admin)
            let audit = try await api.get("/v1/audit-events?entity_type=assessment&entity_id=\(id)", token: admin)
            #expect(audit.items.map { $0["action"] as? String } == ["assessment.created", "assessment.completed"])
            #expect(audit.items.allSatisfy { $0["actor_role"] as? String == "implementer" })
        }
    }

    @Test func onlyTheProvincesImplementersAssessAndItsPeopleRead() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00")
            let body = #"{"mode":"in_person","assessed_on":"2026-01-10","scores":\#(API.fullRubric),"complete":true}"#
            let elsewhere = try await api.token(.implementer, provinces: ["IR-23", "IR-10"])
            #expect(try await api.post("/v1/producers/\(producer.id)/assessments", body, token: elsewhere).status == .notFound)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            #expect(try await api.post("/v1/producers/\(producer.id)/assessments", body, token: supervisor).status == .forbidden)
            #expect(
                try await api.post("/v1/producers/\(producer.id)/assessments", body, token: producer.token).status == .forbidden)
            let count = try await api.db.rows("SELECT count(*)::int FROM assessments")
            #expect(try count[0].decode(Int.self) == 0)

            // An implementer of several provinces works in each of them.
            let several = try await api.token(.implementer, provinces: ["IR-23", "IR-00"])
            let created = try await api.completedAssessment(of: producer.id, token: several)
            let id = try #require(created.int("id"))
            #expect(created.string("status") == "completed")

            for token in [supervisor, producer.token, several, try await api.token(.admin)] {
                #expect(try await api.get("/v1/assessments/\(id)", token: token).status == .ok)
                #expect(try await api.get("/v1/producers/\(producer.id)/assessments", token: token).items.count == 1)
            }
            let otherProducer = try await api.producer(province: "IR-00")
            let tehranSupervisor = try await api.token(.supervisor, province: "IR-23")
            for token in [otherProducer.token, tehranSupervisor, elsewhere] {
                #expect(try await api.get("/v1/assessments/\(id)", token: token).status == .notFound)
                #expect(try await api.get("/v1/producers/\(producer.id)/assessments", token: token).status == .notFound)
            }
            #expect(try await api.get("/v1/assessments/\(id)", token: try await api.token(.partner)).status == .forbidden)
            #expect(try await api.get("/v1/assessments/\(id)").status == .unauthorized)
            #expect(try await api.call(.post, "/v1/assessments/\(id)/completion", token: elsewhere).status == .notFound)
        }
    }

    @Test func badAssessmentsChangeNothing() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let producer = try await api.producer(province: "IR-00")
            let path = "/v1/producers/\(producer.id)/assessments"
            let incomplete = try await api.post(
                path, #"{"mode":"online","assessed_on":"2026-01-10","complete":true}"#, token: implementer)
            #expect(incomplete.status == .unprocessableContent)
            #expect(incomplete.code == "rubric_incomplete")
            let future = try await api.post(path, #"{"mode":"online","assessed_on":"2199-01-01"}"#, token: implementer)
            #expect(future.fields == ["assessed_on"])
            let badScore = try await api.post(
                path,
                #"{"mode":"online","assessed_on":"2026-01-10","scores":[{"criterion":"skill_level","score":6},"#
                    + #"{"criterion":"skill_level","score":1}]}"#,
                token: implementer)
            #expect(Set(badScore.fields) == ["scores[0].score", "scores[1].criterion"])
            let badCriterion = try await api.post(
                path, #"{"mode":"online","assessed_on":"2026-01-10","scores":[{"criterion":"charm","score":3}]}"#,
                token: implementer)
            #expect(badCriterion.status == .unprocessableContent)
            let tehranCourse = try #require(
                try await api.post(
                    "/v1/courses", #"{"title":"دوره تهران","kind":"general","mode":"online","hours":4,"province_code":"IR-23"}"#,
                    token: try await api.token(.admin)
                ).int("id"))
            let wrongCourse = try await api.post(
                path, #"{"mode":"online","assessed_on":"2026-01-10","recommended_course_ids":[\#(tehranCourse)]}"#,
                token: implementer)
            #expect(wrongCourse.fields == ["recommended_course_ids"])
            let count = try await api.db.rows(
                "SELECT (SELECT count(*) FROM assessments)::int + (SELECT count(*) FROM assessment_scores)::int")
            #expect(try count[0].decode(Int.self) == 0)

            let rejected = try await api.producer(province: "IR-00", status: .rejected)
            let closed = try await api.post(
                "/v1/producers/\(rejected.id)/assessments", #"{"mode":"online","assessed_on":"2026-01-10"}"#, token: implementer)
            #expect(closed.status == .conflict)
            #expect(closed.code == "producer_not_eligible")
        }
    }

    @Test func screeningShowsAssessmentsAndRecommendedCourses() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let course = try #require(
                try await api.post(
                    "/v1/courses", #"{"title":"بهداشت کارگاه خانگی","kind":"general","mode":"online","hours":6}"#,
                    token: try await api.token(.admin)
                ).int("id"))
            let producer = try await api.producer(province: "IR-00")
            let assessed = try await api.post(
                "/v1/producers/\(producer.id)/assessments",
                #"{"mode":"online","assessed_on":"2026-01-10","scores":\#(API.fullRubric),"#
                    + #""recommended_course_ids":[\#(course)]}"#,
                token: implementer)
            #expect(assessed.json["recommended_course_ids"] as? [Int] == [Int(course)])
            var view = try await api.get("/v1/producers/\(producer.id)/screening", token: implementer)
            #expect(view.json["study"] is NSNull)
            // An approved study of the province: pastry is a priority, pickles are not.
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let staff = try await api.db.rows("SELECT id FROM accounts WHERE role IN ('implementer', 'supervisor') ORDER BY id")
                .map { try $0.decode(Int64.self) }
            // Rows go in while the study is a draft (an approved one is frozen), then it is approved.
            let study = try await api.db.rows(
                """
                INSERT INTO province_studies (province_code, study_year, source, studied_on, entered_by)
                VALUES ('IR-00', 1404, 'مطالعه آزمون', '2025-06-01', \(staff[0])) RETURNING id
                """
            )[0].decode(Int64.self)
            try await api.db.execute(
                """
                INSERT INTO province_study_rows (study_id, activity_code, need_score, advantage_score, capacity_producers,
                  capacity_units_month, priority)
                SELECT \(study), r.code, r.need, 60, 300, 5000, r.priority
                FROM (VALUES ('food.pastry', 80, true), ('food.pickles', 40, false)) r(code, need, priority)
                """)
            try await api.db.execute(
                """
                UPDATE province_studies SET status = 'approved', approved_by = \(staff[1]), approved_at = now()
                WHERE id = \(study)
                """)
            try await api.db.execute(
                "UPDATE producers SET activity_codes = '{food.pickles,food.baking}' WHERE id = \(producer.id)")
            view = try await api.get("/v1/producers/\(producer.id)/screening", token: implementer)
            #expect(view.status == .ok)
            #expect((view.json["study"] as? [String: Any])?["study_year"] as? Int == 1404)
            let activities = view.json["activities"] as? [[String: Any]] ?? []
            #expect(activities.map { $0["code"] as? String } == ["food.pickles", "food.baking"])
            #expect(activities.map { $0["priority"] as? Bool } == [false, false])
            #expect(activities.map { $0["in_study"] as? Bool } == [true, false])
            #expect(activities.first?["need_score"] as? Int == 40)
            let priorities = view.json["priority_activities"] as? [[String: Any]] ?? []
            #expect(priorities.map { $0["code"] as? String } == ["food.pastry"])
            #expect(priorities.first?["applicant_has_it"] as? Bool == false)
            #expect((view.json["producer"] as? [String: Any])?["id"] as? Int == Int(producer.id))
            #expect((view.json["assessments"] as? [[String: Any]])?.count == 1)
            #expect(view.json["has_completed_assessment"] as? Bool == false)
            #expect((view.json["recommended_courses"] as? [[String: Any]])?.map { $0["id"] as? Int } == [Int(course)])
            #expect(try await api.get("/v1/producers/\(producer.id)/screening", token: supervisor).status == .ok)
            #expect(try await api.get("/v1/producers/\(producer.id)/screening", token: producer.token).status == .forbidden)
            #expect(
                try await api.get(
                    "/v1/producers/\(producer.id)/screening", token: try await api.token(.implementer, provinces: ["IR-23"])
                )
                .status == .notFound)
        }
    }
}
