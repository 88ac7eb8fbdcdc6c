import BazaarcheCore
import Foundation
import Testing

@Suite struct CourseTests {
    static let course = #"{"title":"بسته‌بندی صادراتی","kind":"specialized","mode":"online","hours":12}"#

    @Test func staffCreateCoursesAndEveryoneSignedInReadsThem() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let created = try await api.post("/v1/courses", Self.course, token: admin)
            #expect(created.status == .created)
            #expect(created.json["province_code"] is NSNull)
            let id = try #require(created.int("id"))
            // Implementers create their provinces' courses; supervisors only read training.
            let implementer = try await api.token(.implementer, provinces: ["IR-10"])
            let local = try await api.post("/v1/courses", Self.course, token: implementer)
            #expect(local.status == .created)
            #expect(local.string("province_code") == "IR-10")
            let elsewhere = try await api.post(
                "/v1/courses", #"{"title":"x","kind":"general","mode":"online","hours":2,"province_code":"IR-00"}"#,
                token: implementer)
            #expect(elsewhere.status == .unprocessableContent)
            #expect(elsewhere.fields == ["province_code"])
            let supervisor = try await api.token(.supervisor, province: "IR-10")
            #expect(try await api.post("/v1/courses", Self.course, token: supervisor).status == .forbidden)
            #expect(try await api.get("/v1/courses", token: supervisor).items.count == 2)
            let producer = try await api.producer()
            #expect(try await api.post("/v1/courses", Self.course, token: producer.token).status == .forbidden)
            #expect(try await api.get("/v1/courses", token: producer.token).items.count == 2)
            #expect(try await api.get("/v1/courses?province_code=IR-00", token: producer.token).items.count == 1)
            #expect(try await api.get("/v1/courses/\(id)", token: producer.token).string("title") == "بسته‌بندی صادراتی")
            #expect(try await api.get("/v1/courses/424242", token: producer.token).status == .notFound)
            #expect(try await api.get("/v1/courses").status == .unauthorized)
        }
    }

    @Test func courseValidation() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let bad = try await api.post(
                "/v1/courses", #"{"title":"","kind":"general","mode":"online","hours":0}"#, token: admin)
            #expect(bad.status == .unprocessableContent)
            #expect(Set(bad.fields) == ["title", "hours"])
            let badMode = try await api.post(
                "/v1/courses", #"{"title":"t","kind":"general","mode":"by_pigeon","hours":3}"#, token: admin)
            #expect(badMode.fields == ["mode"])
            let hoursAsText = try await api.post(
                "/v1/courses", #"{"title":"t","kind":"general","mode":"online","hours":"3"}"#, token: admin)
            #expect(hoursAsText.fields == ["hours"])
        }
    }
}

@Suite struct EnrollmentTests {
    @Test func enrolAndCompleteWithAudit() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let courseID = try #require(try await api.post("/v1/courses", CourseTests.course, token: admin).int("id"))
            let producer = try await api.producer()
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            #expect(
                try await api.post(
                    "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: supervisor
                ).status == .forbidden)
            let enrolled = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: implementer)
            #expect(enrolled.status == .created)
            #expect(enrolled.string("status") == "enrolled")
            let enrollmentID = try #require(enrolled.int("id"))
            let again = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: implementer)
            #expect(again.status == .conflict)
            // The producer cannot complete its own course.
            #expect(
                try await api.post("/v1/enrollments/\(enrollmentID)/completion", "{}", token: producer.token).status == .forbidden
            )
            // Supervisors read training; a course without modules or pass mark is completed by its implementer.
            #expect(
                try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: supervisor).status == .forbidden)
            let completed = try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: implementer)
            #expect(completed.status == .ok)
            #expect(completed.string("status") == "completed")
            let twice = try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: implementer)
            #expect(twice.status == .conflict)
            let audit = try await api.get("/v1/audit-events?entity_type=enrollment&entity_id=\(enrollmentID)", token: admin)
            #expect(audit.items.map { $0["action"] as? String } == ["enrollment.created", "enrollment.completed"])
            let list = try await api.get("/v1/courses/\(courseID)/enrollments", token: supervisor)
            #expect(list.items.count == 1)
        }
    }

    @Test func producersMayEnrolThemselvesOnly() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let courseID = try #require(try await api.post("/v1/courses", CourseTests.course, token: admin).int("id"))
            let one = try await api.producer()
            let two = try await api.producer()
            #expect(
                try await api.post(
                    "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(one.id)}"#, token: one.token
                ).status == .created)
            let other = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(two.id)}"#, token: one.token)
            #expect(other.status == .unprocessableContent)
            #expect(other.fields == ["producer_id"])
            let rows = try await api.db.rows("SELECT count(*)::int FROM enrollments WHERE producer_id = \(two.id)")
            #expect(try rows[0].decode(Int.self) == 0)
        }
    }

    @Test func provinceBoundCoursesAndIneligibleProducers() async throws {
        try await withApp { api in
            let isfahan = try await api.token(.implementer, provinces: ["IR-10"])
            let courseID = try #require(try await api.post("/v1/courses", CourseTests.course, token: isfahan).int("id"))
            let markazi = try await api.producer(province: "IR-00")
            let admin = try await api.token(.admin)
            let wrongProvince = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(markazi.id)}"#, token: admin)
            #expect(wrongProvince.status == .unprocessableContent)
            // An implementer cannot reach another province's producer.
            let crossSupervisor = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(markazi.id)}"#, token: isfahan)
            #expect(crossSupervisor.status == .unprocessableContent)
            let rejected = try await api.producer(province: "IR-10", status: .rejected)
            let refused = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(rejected.id)}"#, token: isfahan)
            #expect(refused.status == .conflict)
            #expect(refused.code == "producer_not_eligible")
            #expect(
                try await api.post(
                    "/v1/courses/999999/enrollments", #"{"producer_id":\#(markazi.id)}"#, token: admin
                ).status == .notFound)
        }
    }

    @Test func otherProvincesCannotCompleteEnrollments() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let courseID = try #require(try await api.post("/v1/courses", CourseTests.course, token: admin).int("id"))
            let producer = try await api.producer(province: "IR-00")
            let enrollmentID = try #require(
                try await api.post(
                    "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: admin
                ).int("id"))
            let tehran = try await api.token(.implementer, provinces: ["IR-23"])
            #expect(try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: tehran).status == .notFound)
            let rows = try await api.db.rows("SELECT completed_at IS NULL FROM enrollments WHERE id = \(enrollmentID)")
            #expect(try rows[0].decode(Bool.self))
        }
    }
}

@Suite struct CounselingTests {
    static let session =
        #"{"topic":"packaging","counselor":"خانم رحیمی","held_on":"2026-11-20","mode":"online","notes":"برچسب دوزبانه"}"#

    @Test func implementersRecordSessionsAuditedAndTheProvinceReads() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let created = try await api.post("/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: implementer)
            #expect(created.status == .created)
            #expect(created.string("held_on") == "2026-11-20")
            #expect(created.json["certificate_kind"] is NSNull)
            let standards = try await api.post(
                "/v1/producers/\(producer.id)/counseling-sessions",
                #"{"topic":"standards","certificate_kind":"inso","counselor":"مهندس کریمی","held_on":"2026-11-21"}"#,
                token: implementer)
            #expect(standards.status == .created)
            #expect(standards.string("topic") == "standards")
            #expect(standards.string("certificate_kind") == "inso")
            #expect(standards.string("mode") == "in_person")
            let own = try await api.get("/v1/producers/\(producer.id)/counseling-sessions", token: producer.token)
            #expect(own.items.map { $0["topic"] as? String } == ["packaging", "standards"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            #expect(try await api.get("/v1/producers/\(producer.id)/counseling-sessions", token: supervisor).items.count == 2)
            // Supervisors read; they do not record.
            #expect(
                try await api.post(
                    "/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: supervisor
                ).status == .forbidden)
            let other = try await api.producer()
            #expect(try await api.get("/v1/producers/\(producer.id)/counseling-sessions", token: other.token).status == .notFound)
            let tehran = try await api.token(.implementer, provinces: ["IR-23"])
            #expect(
                try await api.post(
                    "/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: tehran
                ).status == .notFound)
            #expect(
                try await api.post(
                    "/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: producer.token
                ).status == .forbidden)
            let admin = try await api.token(.admin)
            let id = try #require(standards.int("id"))
            let audit = try await api.get("/v1/audit-events?entity_type=counseling_session&entity_id=\(id)", token: admin)
            #expect(audit.items.map { $0["action"] as? String } == ["counseling.recorded"])
            #expect(audit.items.first?["actor_role"] as? String == "implementer")
            #expect(audit.items.first?["province_code"] as? String == "IR-00")
            let rows = try await api.db.rows("SELECT count(*)::int FROM counseling_sessions")
            #expect(try rows[0].decode(Int.self) == 2)
        }
    }

    @Test func sessionValidation() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let admin = try await api.token(.admin)
            let badDate = try await api.post(
                "/v1/producers/\(producer.id)/counseling-sessions",
                #"{"topic":"export","counselor":"x","held_on":"2026-02-30"}"#, token: admin)
            #expect(badDate.status == .unprocessableContent)
            #expect(badDate.fields == ["held_on"])
            let badTopic = try await api.post(
                "/v1/producers/\(producer.id)/counseling-sessions",
                #"{"topic":"astrology","counselor":"x","held_on":"2026-02-03"}"#, token: admin)
            #expect(badTopic.fields == ["topic"])
            let badKind = try await api.post(
                "/v1/producers/\(producer.id)/counseling-sessions",
                #"{"topic":"standards","certificate_kind":"fda","counselor":"x","held_on":"2026-02-03"}"#, token: admin)
            #expect(badKind.fields == ["certificate_kind"])
            let rows = try await api.db.rows("SELECT count(*)::int FROM counseling_sessions")
            #expect(try rows[0].decode(Int.self) == 0)
        }
    }
}

@Suite struct CourseModuleTests {
    /// A course of `province` with a video, a document and a live session, and `passMark` when given.
    static func course(_ api: API, token: String, province: String = "IR-00", passMark: Int? = nil) async throws
        -> (id: Int64, modules: [Int64])
    {
        let mark = passMark.map { #","pass_mark":\#($0)"# } ?? ""
        let course = try await api.must(
            .post, "/v1/courses",
            json:
                #"{"title":"فروش آنلاین","kind":"specialized","mode":"online","hours":8,"province_code":"\#(province)"\#(mark)}"#,
            token: token, status: .created)
        let id = try #require(course.int("id"))
        var modules: [Int64] = []
        for (title, kind, minutes) in [
            ("معرفی", "video", 20), ("راهنمای قیمت‌گذاری", "document", 30), ("کارگاه زنده", "live_session", 90),
        ] {
            let module = try await api.must(
                .post, "/v1/courses/\(id)/modules",
                json: #"{"title":"\#(title)","kind":"\#(kind)","url":"https://learn.example.ir/\#(kind)","minutes":\#(minutes)}"#,
                token: token, status: .created)
            modules.append(try #require(module.int("id")))
        }
        return (id, modules)
    }

    func progress(_ api: API, _ enrollment: Int64, _ module: Int64, attended: Bool? = nil, token: String) async throws -> Reply {
        let extra = attended.map { #","attended":\#($0)"# } ?? ""
        return try await api.post("/v1/enrollments/\(enrollment)/progress", #"{"module_id":\#(module)\#(extra)}"#, token: token)
    }

    @Test func completionFollowsFromModulesAndThePassMark() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let (courseID, modules) = try await Self.course(api, token: implementer, passMark: 60)
            let producer = try await api.producer(province: "IR-00")
            let enrolled = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: producer.token)
            let enrollment = try #require(enrolled.int("id"))
            #expect(enrolled.int("modules_total") == 3)

            let video = try await progress(api, enrollment, modules[0], token: producer.token)
            #expect(video.status == .ok)
            #expect(video.int("modules_done") == 1)
            #expect(video.string("status") == "enrolled")
            // Attendance at a live session is the implementer's to record.
            #expect(try await progress(api, enrollment, modules[2], attended: true, token: producer.token).status == .forbidden)
            #expect(try await progress(api, enrollment, modules[1], token: producer.token).int("modules_done") == 2)
            let absent = try await progress(api, enrollment, modules[2], attended: false, token: implementer)
            #expect(absent.int("modules_done") == 2)
            #expect((absent.json["modules"] as? [[String: Any]])?.last?["attended"] as? Bool == false)

            let early = try await api.call(.post, "/v1/enrollments/\(enrollment)/completion", token: implementer)
            #expect(early.status == .conflict)
            #expect(early.code == "completion_rules_unmet")
            #expect(early.fields == ["modules", "assessment_score"])

            let attended = try await progress(api, enrollment, modules[2], attended: true, token: implementer)
            #expect(attended.int("modules_done") == 3)
            // Every module done, but the final assessment is still to pass.
            #expect(attended.string("status") == "enrolled")
            #expect(attended.json["completed_at"] is NSNull)

            let failed = try await api.post("/v1/enrollments/\(enrollment)/assessment", #"{"score":59}"#, token: implementer)
            #expect(failed.status == .ok)
            #expect(failed.string("status") == "enrolled")
            #expect(failed.json["passed"] as? Bool == false)
            // The producer does not grade itself.
            #expect(
                try await api.post("/v1/enrollments/\(enrollment)/assessment", #"{"score":100}"#, token: producer.token)
                    .status == .forbidden)
            let passed = try await api.post("/v1/enrollments/\(enrollment)/assessment", #"{"score":60}"#, token: implementer)
            #expect(passed.string("status") == "completed")
            #expect(passed.json["passed"] as? Bool == true)
            #expect(passed.string("completed_at") != nil)

            let admin = try await api.token(.admin)
            let audit = try await api.get("/v1/audit-events?entity_type=enrollment&entity_id=\(enrollment)", token: admin)
            #expect(
                audit.items.map { $0["action"] as? String } == [
                    "enrollment.created", "enrollment.attendance_recorded", "enrollment.attendance_recorded",
                    "enrollment.scored", "enrollment.scored", "enrollment.completed",
                ])
            let seen = try await api.get(
                "/v1/enrollments/\(enrollment)", token: try await api.token(.supervisor, province: "IR-00"))
            #expect(seen.string("status") == "completed")
            #expect((seen.json["modules"] as? [[String: Any]])?.allSatisfy { $0["done"] as? Bool == true } == true)
        }
    }

    @Test func notCompleteWhileAModuleIsMissingAndOnlyOnesOwnProgress() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let (courseID, modules) = try await Self.course(api, token: implementer)
            let (otherCourse, otherModules) = try await Self.course(api, token: implementer)
            _ = otherCourse
            let producer = try await api.producer(province: "IR-00")
            let enrollment = try #require(
                try await api.post(
                    "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: implementer
                ).int("id"))
            #expect(try await api.get("/v1/producers/\(producer.id)/enrollments", token: producer.token).items.count == 1)
            let other = try await api.producer(province: "IR-00")
            #expect(try await progress(api, enrollment, modules[0], token: other.token).status == .notFound)
            let foreign = try await progress(api, enrollment, otherModules[0], token: producer.token)
            #expect(foreign.fields == ["module_id"])
            #expect(try await progress(api, enrollment, modules[0], attended: true, token: producer.token).fields == ["attended"])
            let rows = try await api.db.rows("SELECT count(*)::int FROM module_progress")
            #expect(try rows[0].decode(Int.self) == 0)

            _ = try await progress(api, enrollment, modules[0], token: producer.token)
            let two = try await progress(api, enrollment, modules[2], attended: true, token: implementer)
            #expect(two.string("status") == "enrolled")
            // Without a pass mark, the last module done completes the enrolment.
            let done = try await progress(api, enrollment, modules[1], token: producer.token)
            #expect(done.string("status") == "completed")
            #expect(try await api.call(.post, "/v1/enrollments/\(enrollment)/completion", token: implementer).status == .conflict)
            let noExam = try await api.post("/v1/enrollments/\(enrollment)/assessment", #"{"score":80}"#, token: implementer)
            #expect(noExam.code == "course_has_no_assessment")
        }
    }

    @Test func modulesAreManagedByTheCoursesOwnStaff() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let national = try #require(try await api.post("/v1/courses", CourseTests.course, token: admin).int("id"))
            let module = #"{"title":"ویدئو","kind":"video","url":"https://learn.example.ir/v","minutes":10}"#
            #expect(try await api.post("/v1/courses/\(national)/modules", module, token: implementer).status == .forbidden)
            #expect(try await api.post("/v1/courses/\(national)/modules", module, token: admin).status == .created)
            let (local, modules) = try await Self.course(api, token: implementer)
            let tehran = try await api.token(.implementer, provinces: ["IR-23"])
            #expect(try await api.post("/v1/courses/\(local)/modules", module, token: tehran).status == .forbidden)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            #expect(try await api.post("/v1/courses/\(local)/modules", module, token: supervisor).status == .forbidden)
            let insecure = try await api.post(
                "/v1/courses/\(local)/modules", #"{"title":"x","kind":"video","url":"http://learn.example.ir/v","minutes":0}"#,
                token: implementer)
            #expect(Set(insecure.fields) == ["url", "minutes"])

            let moved = try await api.call(
                .patch, "/v1/courses/\(local)/modules/\(modules[0])", json: #"{"position":9,"title":"جمع‌بندی"}"#,
                token: implementer)
            #expect(moved.status == .ok)
            let listed = try await api.get("/v1/courses/\(local)/modules", token: supervisor)
            #expect(listed.items.map { ($0["id"] as? NSNumber)?.int64Value } == [modules[1], modules[2], modules[0]])
            #expect(try await api.get("/v1/courses/\(local)", token: supervisor).int("module_count") == 3)
            #expect(
                try await api.call(.patch, "/v1/courses/\(national)/modules/\(modules[0])", json: "{}", token: admin).status
                    == .notFound)

            // A module someone has progress on stays; one nobody started may go.
            let producer = try await api.producer(province: "IR-00")
            let enrollment = try #require(
                try await api.post(
                    "/v1/courses/\(local)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: producer.token
                ).int("id"))
            _ = try await progress(api, enrollment, modules[0], token: producer.token)
            let inUse = try await api.call(.delete, "/v1/courses/\(local)/modules/\(modules[0])", token: implementer)
            #expect(inUse.code == "module_in_use")
            _ = try await progress(api, enrollment, modules[1], token: producer.token)
            // Removing the last module not done leaves only modules the producer says it did: a
            // self-paced course (no pass mark, no live session) is not complete on that word alone.
            #expect(
                try await api.call(.delete, "/v1/courses/\(local)/modules/\(modules[2])", token: implementer).status == .noContent
            )
            #expect(try await api.get("/v1/enrollments/\(enrollment)", token: producer.token).string("status") == "enrolled")
            // The producer cannot confirm itself; the implementer does, now that every module is done.
            #expect(
                try await api.post("/v1/enrollments/\(enrollment)/completion", "{}", token: producer.token).status == .forbidden)
            let confirmed = try await api.post("/v1/enrollments/\(enrollment)/completion", "{}", token: implementer)
            #expect(confirmed.status == .ok, "\(confirmed.text)")
            #expect(try await api.get("/v1/enrollments/\(enrollment)", token: producer.token).string("status") == "completed")
        }
    }

    @Test func aLowerPassMarkCompletesWhoReachesIt() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let created = try await api.post(
                "/v1/courses", #"{"title":"آزمون","kind":"general","mode":"online","hours":2,"pass_mark":70}"#, token: implementer
            )
            #expect(created.string("province_code") == "IR-00")
            #expect(created.int("pass_mark") == 70)
            let courseID = try #require(created.int("id"))
            let producer = try await api.producer(province: "IR-00")
            let enrollment = try #require(
                try await api.post(
                    "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: implementer
                ).int("id"))
            let scored = try await api.post("/v1/enrollments/\(enrollment)/assessment", #"{"score":65}"#, token: implementer)
            #expect(scored.string("status") == "enrolled")
            let bad = try await api.call(.patch, "/v1/courses/\(courseID)", json: #"{"pass_mark":101}"#, token: implementer)
            #expect(bad.fields == ["pass_mark"])
            #expect(
                try await api.call(
                    .patch, "/v1/courses/\(courseID)", json: #"{"pass_mark":60}"#,
                    token: try await api.token(.supervisor, province: "IR-00")
                ).status == .forbidden)
            let lowered = try await api.call(.patch, "/v1/courses/\(courseID)", json: #"{"pass_mark":60}"#, token: implementer)
            #expect(lowered.int("pass_mark") == 60)
            #expect(try await api.get("/v1/enrollments/\(enrollment)", token: producer.token).string("status") == "completed")
        }
    }
}
