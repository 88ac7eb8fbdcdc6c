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
            let supervisor = try await api.token(.supervisor, province: "IR-10")
            let local = try await api.post("/v1/courses", Self.course, token: supervisor)
            #expect(local.status == .created)
            #expect(local.string("province_code") == "IR-10")
            let elsewhere = try await api.post(
                "/v1/courses", #"{"title":"x","kind":"general","mode":"online","hours":2,"province_code":"IR-00"}"#,
                token: supervisor)
            #expect(elsewhere.status == .unprocessableContent)
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
            let enrolled = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: supervisor)
            #expect(enrolled.status == .created)
            #expect(enrolled.string("status") == "enrolled")
            let enrollmentID = try #require(enrolled.int("id"))
            let again = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(producer.id)}"#, token: supervisor)
            #expect(again.status == .conflict)
            // The producer cannot complete its own course.
            #expect(
                try await api.post("/v1/enrollments/\(enrollmentID)/completion", "{}", token: producer.token).status == .forbidden
            )
            let completed = try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: supervisor)
            #expect(completed.status == .ok)
            #expect(completed.string("status") == "completed")
            let twice = try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: supervisor)
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
            let isfahan = try await api.token(.supervisor, province: "IR-10")
            let courseID = try #require(try await api.post("/v1/courses", CourseTests.course, token: isfahan).int("id"))
            let markazi = try await api.producer(province: "IR-00")
            let admin = try await api.token(.admin)
            let wrongProvince = try await api.post(
                "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(markazi.id)}"#, token: admin)
            #expect(wrongProvince.status == .unprocessableContent)
            // A supervisor cannot reach another province's producer.
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
            let tehran = try await api.token(.supervisor, province: "IR-23")
            #expect(try await api.call(.post, "/v1/enrollments/\(enrollmentID)/completion", token: tehran).status == .notFound)
            let rows = try await api.db.rows("SELECT completed_at IS NULL FROM enrollments WHERE id = \(enrollmentID)")
            #expect(try rows[0].decode(Bool.self))
        }
    }
}

@Suite struct CounselingTests {
    static let session =
        #"{"topic":"packaging","counselor":"خانم رحیمی","held_on":"2026-11-20","mode":"online","notes":"برچسب دوزبانه"}"#

    @Test func recordAndReadSessions() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let created = try await api.post("/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: supervisor)
            #expect(created.status == .created)
            #expect(created.string("held_on") == "2026-11-20")
            let own = try await api.get("/v1/producers/\(producer.id)/counseling-sessions", token: producer.token)
            #expect(own.items.count == 1)
            #expect(own.items.first?["topic"] as? String == "packaging")
            let other = try await api.producer()
            #expect(try await api.get("/v1/producers/\(producer.id)/counseling-sessions", token: other.token).status == .notFound)
            let tehran = try await api.token(.supervisor, province: "IR-23")
            #expect(
                try await api.post(
                    "/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: tehran
                ).status == .notFound)
            #expect(
                try await api.post(
                    "/v1/producers/\(producer.id)/counseling-sessions", Self.session, token: producer.token
                ).status == .forbidden)
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
            let rows = try await api.db.rows("SELECT count(*)::int FROM counseling_sessions")
            #expect(try rows[0].decode(Int.self) == 0)
        }
    }
}
