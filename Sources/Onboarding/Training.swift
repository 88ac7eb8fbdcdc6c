import BazaarcheCore
import Foundation

struct CourseRequest: Decodable {
    var title: String
    var description: String?
    var kind: CourseKind
    var mode: CourseMode
    var hours: Int
    var provinceCode: String?
}

struct EnrollmentRequest: Decodable {
    var producerId: Int64
}

struct CounselingRequest: Decodable {
    var topic: CounselingTopic
    var counselor: String
    var heldOn: CalendarDate
    var mode: CourseMode?
    var notes: String?
}

/// Courses, enrolments and completions, and counselling sessions (programme phase 4).
public struct Training: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let courseJSON = """
        json_build_object('id', c.id, 'title', c.title, 'description', c.description, 'kind', c.kind, 'mode', c.mode,
          'hours', c.hours, 'province_code', c.province_code, 'created_at', api_time(c.created_at))
        """
    static let enrollmentJSON = """
        json_build_object('id', e.id, 'course_id', e.course_id, 'producer_id', e.producer_id,
          'status', CASE WHEN e.completed_at IS NULL THEN 'enrolled' ELSE 'completed' END,
          'enrolled_at', api_time(e.enrolled_at), 'completed_at', api_time(e.completed_at))
        """
    static let sessionJSON = """
        json_build_object('id', s.id, 'producer_id', s.producer_id, 'topic', s.topic, 'counselor', s.counselor,
          'held_on', s.held_on, 'mode', s.mode, 'notes', s.notes, 'created_at', api_time(s.created_at))
        """

    func createCourse(_ body: CourseRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let title = v.text(body.title, "title", max: 200)
        let description = v.optionalText(body.description, "description", max: 4000)
        v.check((1...2000).contains(body.hours), "hours", "must be from 1 to 2000")
        var province = body.provinceCode
        if principal.role == .supervisor {
            if let given = province, given != principal.provinceCode {
                v.add("province_code", "supervisors create courses for their own province only")
            }
            province = principal.provinceCode
        }
        try v.throwIfInvalid()
        let rows = try await db.rows(
            """
            INSERT INTO courses AS c (title, description, kind, mode, hours, province_code, created_by)
            VALUES (\(title), \(description), \(body.kind.rawValue), \(body.mode.rawValue), \(body.hours), \(province),
              \(principal.accountID))
            RETURNING c.id, \(unescaped: Self.courseJSON)::text
            """)
        return try rows[0].decode((Int64, String).self)
    }

    func listCourses(request: Request) async throws -> String {
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        let kind = try CourseKind.query(q.get("kind"), field: "kind")
        let mode = try CourseMode.query(q.get("mode"), field: "mode")
        let province = q.get("province_code").map { String($0) }
        let rows = try await db.rows(
            """
            SELECT c.id, \(unescaped: Self.courseJSON)::text FROM courses c
            WHERE c.id > \(page.after ?? 0)
              AND (\(kind?.rawValue)::text IS NULL OR c.kind = \(kind?.rawValue))
              AND (\(mode?.rawValue)::text IS NULL OR c.mode = \(mode?.rawValue))
              AND (\(province)::text IS NULL OR c.province_code = \(province) OR c.province_code IS NULL)
            ORDER BY c.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }

    func getCourse(id: Int64) async throws -> String {
        try await db.json(
            "SELECT \(unescaped: Self.courseJSON)::text FROM courses c WHERE c.id = \(id)", notFound: "Course \(id)")
    }

    func enroll(courseID: Int64, producerID: Int64, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .supervisor, .producer)
        return try await db.transaction { connection in
            let courses = try await connection.query(
                "SELECT province_code FROM courses WHERE id = \(courseID)", logger: db.logger
            ).collect()
            guard let course = courses.first else { throw APIError.notFound("Course \(courseID)") }
            let courseProvince = try course.decode(String?.self)
            let producer: (province: String, status: ProducerStatus)
            do {
                producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            } catch let error as APIError where error.status == .notFound {
                throw APIError.validation(field: "producer_id", "is not a producer you can enrol")
            }
            if producer.status == .rejected {
                throw APIError.conflict(
                    code: "producer_not_eligible", "A rejected applicant cannot be enrolled.", field: "producer_id",
                    extra: ["current_status": producer.status.rawValue])
            }
            if let courseProvince, courseProvince != producer.province {
                throw APIError.validation(field: "producer_id", "the course is for province \(courseProvince) only")
            }
            let rows = try await connection.query(
                """
                INSERT INTO enrollments AS e (course_id, producer_id) VALUES (\(courseID), \(producerID))
                RETURNING e.id, \(unescaped: Self.enrollmentJSON)::text
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "enrollment", entityID: id,
                provinceCode: producer.province, action: "enrollment.created", from: nil, to: "enrolled")
            return (id, json)
        }
    }

    func complete(enrollmentID: Int64, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT e.producer_id, e.completed_at IS NOT NULL FROM enrollments e WHERE e.id = \(enrollmentID) FOR UPDATE
                """, logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Enrollment \(enrollmentID)") }
            let (producerID, completed) = try row.decode((Int64, Bool).self)
            let producer: (province: String, status: ProducerStatus)
            do {
                producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            } catch let error as APIError where error.status == .notFound {
                throw APIError.notFound("Enrollment \(enrollmentID)")
            }
            if completed {
                throw APIError.invalidTransition(entity: "enrollment", from: "completed", to: "completed")
            }
            let updated = try await connection.query(
                """
                UPDATE enrollments e SET completed_at = now() WHERE e.id = \(enrollmentID)
                RETURNING \(unescaped: Self.enrollmentJSON)::text
                """, logger: db.logger
            ).collect()
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "enrollment", entityID: enrollmentID,
                provinceCode: producer.province, action: "enrollment.completed", from: "enrolled", to: "completed")
            return try updated[0].decode(String.self)
        }
    }

    func listEnrollments(courseID: Int64, request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        let page = try Page(request: request)
        _ = try await getCourse(id: courseID)
        let province = try principal.access(.provinceRecord).provinceFilter()
        let rows = try await db.rows(
            """
            SELECT e.id, \(unescaped: Self.enrollmentJSON)::text FROM enrollments e JOIN producers p ON p.id = e.producer_id
            WHERE e.course_id = \(courseID) AND e.id > \(page.after ?? 0)
              AND (\(province)::text IS NULL OR p.province_code = \(province))
            ORDER BY e.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }

    func addSession(producerID: Int64, _ body: CounselingRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let counselor = v.text(body.counselor, "counselor", max: 200)
        let notes = v.optionalText(body.notes, "notes", max: 4000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            _ = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            let rows = try await connection.query(
                """
                INSERT INTO counseling_sessions AS s (producer_id, topic, counselor, held_on, mode, notes, created_by)
                VALUES (\(producerID), \(body.topic.rawValue), \(counselor), \(body.heldOn.description)::date,
                        \((body.mode ?? .inPerson).rawValue), \(notes), \(principal.accountID))
                RETURNING s.id, \(unescaped: Self.sessionJSON)::text
                """, logger: db.logger
            ).collect()
            return try rows[0].decode((Int64, String).self)
        }
    }

    func listSessions(producerID: Int64, request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .producer)
        let page = try Page(request: request)
        return try await db.withConnection { connection in
            _ = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            let rows = try await connection.query(
                """
                SELECT s.id, \(unescaped: Self.sessionJSON)::text FROM counseling_sessions s
                WHERE s.producer_id = \(producerID) AND s.id > \(page.after ?? 0)
                ORDER BY s.id LIMIT \(page.limit + 1)
                """, logger: db.logger
            ).collect()
            return try page.body(rows: rows)
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/courses", for: .admin, .supervisor, decoding: CourseRequest.self) {
            try await createCourse($0, by: $1)
        }
        routes.get("/v1/courses") { request, context in
            _ = try context.requirePrincipal()
            return JSONResponse.raw(try await listCourses(request: request))
        }
        routes.get("/v1/courses/{id}") { _, context in
            _ = try context.requirePrincipal()
            return JSONResponse.raw(try await getCourse(id: try context.id(what: "Course")))
        }
        routes.create(
            "/v1/courses/{id}/enrollments", under: "Course", for: .admin, .supervisor, .producer,
            decoding: EnrollmentRequest.self
        ) { try await enroll(courseID: $0, producerID: $1.producerId, by: $2) }
        routes.get("/v1/courses/{id}/enrollments") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await listEnrollments(courseID: try context.id(what: "Course"), request: request, principal: principal))
        }
        routes.post("/v1/enrollments/{id}/completion") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await complete(enrollmentID: try context.id(what: "Enrollment"), by: principal))
        }
        routes.create(
            "/v1/producers/{id}/counseling-sessions", under: "Producer", for: .admin, .supervisor,
            decoding: CounselingRequest.self
        ) { try await addSession(producerID: $0, $1, by: $2) }
        routes.get("/v1/producers/{id}/counseling-sessions") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await listSessions(producerID: try context.id(what: "Producer"), request: request, principal: principal))
        }
    }
}
