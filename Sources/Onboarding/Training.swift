import BazaarcheCore
import Foundation

struct CourseRequest: Decodable {
    var title: String
    var description: String?
    var kind: CourseKind
    var mode: CourseMode
    var hours: Int
    var provinceCode: String?
    var passMark: Int?
}

/// A course's changeable fields; `pass_mark: null` removes the final assessment.
struct CourseChange: Decodable {
    var title: String?
    var description: String?
    var hours: Int?
    /// nil: not sent; .some(nil): sent as null.
    var passMark: Int??

    enum CodingKeys: String, CodingKey { case title, description, hours, passMark }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        title = try c.decodeIfPresent(String.self, forKey: .title)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        hours = try c.decodeIfPresent(Int.self, forKey: .hours)
        passMark = c.contains(.passMark) ? .some(try c.decodeIfPresent(Int.self, forKey: .passMark)) : nil
    }
}

struct ModuleRequest: Decodable {
    var title: String
    var kind: ModuleKind
    var url: String
    var minutes: Int
    var position: Int?
}

struct ModuleChange: Decodable {
    var title: String?
    var kind: ModuleKind?
    var url: String?
    var minutes: Int?
    var position: Int?
}

struct EnrollmentRequest: Decodable {
    var producerId: Int64
}

struct ProgressRequest: Decodable {
    var moduleId: Int64
    /// Live sessions only: whether the producer attended (false records an absence).
    var attended: Bool?
}

struct ScoreRequest: Decodable {
    var score: Int
}

struct CounselingRequest: Decodable {
    var topic: CounselingTopic
    var counselor: String
    var heldOn: CalendarDate
    var mode: CourseMode?
    var notes: String?
    var certificateKind: CounselingCertificateKind?
}

/// Courses with their modules, enrolments with per-module progress and a final assessment, and
/// counselling sessions (programme phase 4).
///
/// Completion follows from the course's rules: a course with modules or a pass mark completes an
/// enrolment by itself once every module is done (live sessions attended) and, with a pass mark,
/// the final score reaches it. A course with neither is completed by staff (`/completion`).
public struct Training: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let courseJSON = """
        json_build_object('id', c.id, 'title', c.title, 'description', c.description, 'kind', c.kind, 'mode', c.mode,
          'hours', c.hours, 'province_code', c.province_code, 'pass_mark', c.pass_mark,
          'module_count', (SELECT count(*) FROM course_modules m WHERE m.course_id = c.id)::int,
          'created_at', api_time(c.created_at))
        """
    static let moduleJSON = """
        json_build_object('id', m.id, 'course_id', m.course_id, 'position', m.position, 'title', m.title, 'kind', m.kind,
          'url', m.url, 'minutes', m.minutes, 'created_at', api_time(m.created_at), 'updated_at', api_time(m.updated_at))
        """
    static let enrollmentFields = """
        'id', e.id, 'course_id', e.course_id, 'producer_id', e.producer_id, 'status', e.status,
          'enrolled_at', api_time(e.enrolled_at), 'completed_at', api_time(e.completed_at),
          'assessment_score', e.assessment_score, 'assessment_recorded_at', api_time(e.assessment_recorded_at),
          'passed', (SELECT CASE WHEN c.pass_mark IS NULL OR e.assessment_score IS NULL THEN NULL
                                 ELSE e.assessment_score >= c.pass_mark END FROM courses c WHERE c.id = e.course_id),
          'modules_total', (SELECT count(*) FROM course_modules m WHERE m.course_id = e.course_id)::int,
          'modules_done', (SELECT count(*) FROM module_progress mp JOIN course_modules m ON m.id = mp.module_id
                           WHERE mp.enrollment_id = e.id AND m.course_id = e.course_id AND mp.completed_at IS NOT NULL)::int
        """
    static let enrollmentJSON = "json_build_object(\(enrollmentFields))"
    /// An enrolment with each module's progress.
    static let enrollmentDetailJSON = """
        json_build_object(\(enrollmentFields),
          'modules', coalesce((SELECT json_agg(json_build_object('module_id', m.id, 'position', m.position, 'title', m.title,
              'kind', m.kind, 'minutes', m.minutes, 'done', mp.completed_at IS NOT NULL, 'attended', mp.attended,
              'completed_at', api_time(mp.completed_at)) ORDER BY m.position, m.id)
            FROM course_modules m LEFT JOIN module_progress mp ON mp.module_id = m.id AND mp.enrollment_id = e.id
            WHERE m.course_id = e.course_id), '[]'))
        """
    static let sessionJSON = """
        json_build_object('id', s.id, 'producer_id', s.producer_id, 'topic', s.topic, 'certificate_kind', s.certificate_kind,
          'counselor', s.counselor, 'held_on', s.held_on, 'mode', s.mode, 'notes', s.notes, 'created_at', api_time(s.created_at))
        """

    // MARK: courses

    /// Courses of a province are managed by its implementers, national courses by admins.
    static func requireManager(of courseProvince: String?, _ principal: Principal) throws {
        try principal.require(.admin, .implementer)
        if principal.role == .admin { return }
        guard let courseProvince else { throw APIError.forbidden("National courses are managed by admins.") }
        guard principal.provinceCodes.contains(courseProvince) else {
            throw APIError.forbidden("Courses of province \(courseProvince) are managed by that province's implementers.")
        }
    }

    func createCourse(_ body: CourseRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let title = v.text(body.title, "title", max: 200)
        let description = v.optionalText(body.description, "description", max: 4000)
        v.check((1...2000).contains(body.hours), "hours", "must be from 1 to 2000")
        if let passMark = body.passMark { v.check((0...100).contains(passMark), "pass_mark", "must be from 0 to 100") }
        var province = body.provinceCode
        if principal.role == .implementer {
            if province == nil && principal.provinceCodes.count == 1 { province = principal.provinceCodes.first }
            if let given = province {
                v.check(
                    principal.provinceCodes.contains(given), "province_code",
                    "implementers create courses for their own provinces only")
            } else {
                v.add("province_code", "is required: name one of your provinces (national courses are created by admins)")
            }
        }
        try v.throwIfInvalid()
        let rows = try await db.rows(
            """
            INSERT INTO courses AS c (title, description, kind, mode, hours, province_code, pass_mark, created_by)
            VALUES (\(title), \(description), \(body.kind.rawValue), \(body.mode.rawValue), \(body.hours), \(province),
              \(body.passMark), \(principal.accountID))
            RETURNING c.id, \(unescaped: Self.courseJSON)::text
            """)
        return try rows[0].decode((Int64, String).self)
    }

    func changeCourse(id: Int64, _ body: CourseChange, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let title = body.title.map { v.text($0, "title", max: 200) }
        let description = v.optionalText(body.description, "description", max: 4000)
        if let hours = body.hours { v.check((1...2000).contains(hours), "hours", "must be from 1 to 2000") }
        if case .some(.some(let passMark)) = body.passMark {
            v.check((0...100).contains(passMark), "pass_mark", "must be from 0 to 100")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let province = try await Self.lockCourse(id, on: connection, logger: logger)
            try Self.requireManager(of: province, principal)
            let setPassMark = body.passMark != nil
            let passMark = body.passMark ?? nil
            try await connection.query(
                """
                UPDATE courses SET title = coalesce(\(title), title), description = coalesce(\(description), description),
                  hours = coalesce(\(body.hours), hours),
                  pass_mark = CASE WHEN \(setPassMark) THEN \(passMark)::smallint ELSE pass_mark END
                WHERE id = \(id)
                """, logger: logger)
            if setPassMark {
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "course", entityID: id,
                    provinceCode: province, action: "course.pass_mark_changed", from: nil, to: passMark.map(String.init) ?? "none"
                )
            }
            // A lower pass mark (or none) may complete enrolments whose score now reaches it.
            try await Self.completeIfDone(.course(id), by: principal, on: connection, logger: logger)
            return try await connection.query(
                "SELECT \(unescaped: Self.courseJSON)::text FROM courses c WHERE c.id = \(id)", logger: logger
            ).collect()[0].decode(String.self)
        }
    }

    /// Locks the course (its modules and pass mark are what completion is judged by) and returns its province.
    static func lockCourse(_ id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query("SELECT province_code FROM courses WHERE id = \(id) FOR UPDATE", logger: logger)
            .collect()
        guard let row = rows.first else { throw APIError.notFound("Course \(id)") }
        return try row.decode(String?.self)
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

    // MARK: modules

    static func validate(url: String, into v: inout Validator) -> String {
        let trimmed = url.trimmingCharacters(in: .whitespacesAndNewlines)
        let parsed = URL(string: trimmed)
        v.check(
            trimmed.count <= 2000 && parsed?.scheme == "https" && !(parsed?.host ?? "").isEmpty
                && !trimmed.contains(where: \.isWhitespace),
            "url", "must be an https:// URL (at most 2000 characters)")
        return trimmed
    }

    func addModule(courseID: Int64, _ body: ModuleRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let title = v.text(body.title, "title", max: 200)
        let url = Self.validate(url: body.url, into: &v)
        v.check((1...1440).contains(body.minutes), "minutes", "must be from 1 to 1440")
        if let position = body.position { v.check((1...1000).contains(position), "position", "must be from 1 to 1000") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let province = try await Self.lockCourse(courseID, on: connection, logger: logger)
            try Self.requireManager(of: province, principal)
            let rows = try await connection.query(
                """
                INSERT INTO course_modules AS m (course_id, position, title, kind, url, minutes)
                VALUES (\(courseID),
                  coalesce(\(body.position),
                    (SELECT coalesce(max(position), 0) + 1 FROM course_modules WHERE course_id = \(courseID))),
                  \(title), \(body.kind.rawValue), \(url), \(body.minutes))
                RETURNING m.id, \(unescaped: Self.moduleJSON)::text
                """, logger: logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "course_module", entityID: id,
                provinceCode: province, action: "course_module.added", from: nil, to: body.kind.rawValue,
                reason: "course \(courseID)")
            return (id, json)
        }
    }

    func listModules(courseID: Int64) async throws -> String {
        _ = try await getCourse(id: courseID)
        let rows = try await db.rows(
            """
            SELECT \(unescaped: Self.moduleJSON)::text FROM course_modules m WHERE m.course_id = \(courseID)
            ORDER BY m.position, m.id
            """)
        return JSONResponse.page(items: try rows.map { try $0.decode(String.self) }, nextCursor: nil)
    }

    /// Locks a module's course for a change by its manager; 404 when the module is not the course's.
    static func lockModule(
        _ moduleID: Int64, of courseID: Int64, by principal: Principal, on connection: PostgresConnection, logger: Logger
    ) async throws -> (province: String?, kind: String, used: Bool) {
        let province = try await lockCourse(courseID, on: connection, logger: logger)
        try requireManager(of: province, principal)
        let found = try await connection.query(
            """
            SELECT kind, EXISTS (SELECT 1 FROM module_progress WHERE module_id = \(moduleID)) FROM course_modules
            WHERE id = \(moduleID) AND course_id = \(courseID)
            """, logger: logger
        ).collect()
        guard let row = found.first else { throw APIError.notFound("Module \(moduleID) of course \(courseID)") }
        let (kind, used) = try row.decode((String, Bool).self)
        return (province, kind, used)
    }

    func changeModule(courseID: Int64, moduleID: Int64, _ body: ModuleChange, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let title = body.title.map { v.text($0, "title", max: 200) }
        let url = body.url.map { Self.validate(url: $0, into: &v) }
        if let minutes = body.minutes { v.check((1...1440).contains(minutes), "minutes", "must be from 1 to 1440") }
        if let position = body.position { v.check((1...1000).contains(position), "position", "must be from 1 to 1000") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let module = try await Self.lockModule(moduleID, of: courseID, by: principal, on: connection, logger: logger)
            // What was recorded as done depends on the kind (a producer's "watched" is not attendance).
            if let kind = body.kind, kind.rawValue != module.kind, module.used {
                throw APIError.conflict(
                    code: "module_in_use", "Progress has been recorded on this module; its kind can no longer change.",
                    field: "kind")
            }
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "course_module", entityID: moduleID,
                provinceCode: module.province, action: "course_module.changed", from: module.kind,
                to: body.kind?.rawValue ?? module.kind, reason: "course \(courseID)")
            return try await connection.query(
                """
                UPDATE course_modules m SET title = coalesce(\(title), title), kind = coalesce(\(body.kind?.rawValue), kind),
                  url = coalesce(\(url), url), minutes = coalesce(\(body.minutes), minutes),
                  position = coalesce(\(body.position), position), updated_at = now()
                WHERE m.id = \(moduleID) RETURNING \(unescaped: Self.moduleJSON)::text
                """, logger: logger
            ).collect()[0].decode(String.self)
        }
    }

    func deleteModule(courseID: Int64, moduleID: Int64, by principal: Principal) async throws {
        try principal.require(.admin, .implementer)
        try await db.transaction { connection in
            let logger = db.logger
            let module = try await Self.lockModule(moduleID, of: courseID, by: principal, on: connection, logger: logger)
            if module.used {
                throw APIError.conflict(
                    code: "module_in_use", "Progress has been recorded on this module; it stays as a record of that training.")
            }
            try await connection.query("DELETE FROM course_modules WHERE id = \(moduleID)", logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "course_module", entityID: moduleID,
                provinceCode: module.province, action: "course_module.deleted", from: module.kind, to: nil,
                reason: "course \(courseID)")
            // Without that module, some enrolments may now have done everything.
            try await Self.completeIfDone(.course(courseID), by: principal, on: connection, logger: logger)
        }
    }

    // MARK: enrolments

    func enroll(courseID: Int64, producerID: Int64, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer, .producer)
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

    struct LockedEnrollment {
        var producerID: Int64
        var province: String
        var courseID: Int64
        var completed: Bool
    }

    /// Locks an enrolment the caller reaches (404 otherwise), and its course for share (a module
    /// added meanwhile waits, so completion is judged against the course as it stands).
    static func lockEnrollment(
        _ id: Int64, for principal: Principal, on connection: PostgresConnection, logger: Logger
    ) async throws -> LockedEnrollment {
        let rows = try await connection.query(
            """
            SELECT e.producer_id, e.course_id, e.completed_at IS NOT NULL FROM enrollments e JOIN courses c ON c.id = e.course_id
            WHERE e.id = \(id) FOR UPDATE OF e FOR SHARE OF c
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw APIError.notFound("Enrollment \(id)") }
        let (producerID, courseID, completed) = try row.decode((Int64, Int64, Bool).self)
        do {
            let producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: logger)
            return LockedEnrollment(producerID: producerID, province: producer.province, courseID: courseID, completed: completed)
        } catch let error as APIError where error.status == .notFound {
            throw APIError.notFound("Enrollment \(id)")
        }
    }

    enum Scope {
        case enrollment(Int64)
        case course(Int64)
    }

    /// Completes the open enrolments in `scope` whose course's rules are now met (every module done,
    /// the pass mark reached), each audited. Courses with neither modules nor a pass mark are left
    /// to staff.
    static func completeIfDone(_ scope: Scope, by principal: Principal, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        let (enrollment, course): (Int64?, Int64?) =
            switch scope {
            case .enrollment(let id): (id, nil)
            case .course(let id): (nil, id)
            }
        let done = try await connection.query(
            """
            UPDATE enrollments e SET completed_at = now()
            FROM courses c
            WHERE c.id = e.course_id AND e.completed_at IS NULL
              AND (\(enrollment)::bigint IS NULL OR e.id = \(enrollment))
              AND (\(course)::bigint IS NULL OR e.course_id = \(course))
              -- Only a course with something staff record (a pass mark or a live session) completes
              -- by itself: the producer's own word that it watched and read is not a completion.
              AND (c.pass_mark IS NOT NULL
                   OR EXISTS (SELECT 1 FROM course_modules m WHERE m.course_id = c.id AND m.kind = 'live_session'))
              AND NOT EXISTS (SELECT 1 FROM course_modules m WHERE m.course_id = c.id AND NOT EXISTS (
                    SELECT 1 FROM module_progress mp
                    WHERE mp.enrollment_id = e.id AND mp.module_id = m.id AND mp.completed_at IS NOT NULL))
              AND (c.pass_mark IS NULL OR e.assessment_score >= c.pass_mark)
            RETURNING e.id, (SELECT p.province_code FROM producers p WHERE p.id = e.producer_id)
            """, logger: logger
        ).collect()
        for row in done {
            let (id, province) = try row.decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "enrollment", entityID: id,
                provinceCode: province, action: "enrollment.completed", from: "enrolled", to: "completed",
                reason: "the course's rules are met")
        }
    }

    static func detail(_ id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> String {
        try await connection.query(
            "SELECT \(unescaped: enrollmentDetailJSON)::text FROM enrollments e WHERE e.id = \(id)", logger: logger
        ).collect()[0].decode(String.self)
    }

    func recordProgress(enrollmentID: Int64, _ body: ProgressRequest, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer, .producer)
        return try await db.transaction { connection in
            let logger = db.logger
            let enrollment = try await Self.lockEnrollment(enrollmentID, for: principal, on: connection, logger: logger)
            let rows = try await connection.query(
                "SELECT kind FROM course_modules WHERE id = \(body.moduleId) AND course_id = \(enrollment.courseID)",
                logger: logger
            ).collect()
            guard let row = rows.first else {
                throw APIError.validation(field: "module_id", "is not a module of course \(enrollment.courseID)")
            }
            let kind = ModuleKind(rawValue: try row.decode(String.self))!
            let attended: Bool?
            if kind == .liveSession {
                guard principal.role != .producer else {
                    throw APIError.forbidden("A live session's attendance is recorded by the implementer.")
                }
                guard let given = body.attended else {
                    throw APIError.validation(field: "attended", "is required for a live session (true or false)")
                }
                attended = given
            } else {
                if body.attended != nil {
                    throw APIError.validation(field: "attended", "applies to live sessions only")
                }
                attended = nil
            }
            let done = attended ?? true
            try await connection.query(
                """
                INSERT INTO module_progress AS mp (enrollment_id, module_id, attended, completed_at, recorded_by)
                VALUES (\(enrollmentID), \(body.moduleId), \(attended), CASE WHEN \(done) THEN now() END, \(principal.accountID))
                ON CONFLICT (enrollment_id, module_id) DO UPDATE SET attended = excluded.attended,
                  completed_at = CASE WHEN excluded.completed_at IS NULL THEN NULL
                                      ELSE coalesce(mp.completed_at, excluded.completed_at) END,
                  recorded_by = excluded.recorded_by, recorded_at = now()
                """, logger: logger)
            if let attended {
                // Attendance is staff's word and decides completion: on the audit trail.
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "enrollment", entityID: enrollmentID,
                    provinceCode: enrollment.province, action: "enrollment.attendance_recorded", from: nil,
                    to: attended ? "attended" : "absent", reason: "module \(body.moduleId)")
            }
            try await Self.completeIfDone(.enrollment(enrollmentID), by: principal, on: connection, logger: logger)
            return try await Self.detail(enrollmentID, on: connection, logger: logger)
        }
    }

    func recordScore(enrollmentID: Int64, _ body: ScoreRequest, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        var v = Validator()
        v.check((0...100).contains(body.score), "score", "must be from 0 to 100")
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let enrollment = try await Self.lockEnrollment(enrollmentID, for: principal, on: connection, logger: logger)
            let passMark = try await connection.query(
                "SELECT pass_mark FROM courses WHERE id = \(enrollment.courseID)", logger: logger
            ).collect()[0].decode(Int?.self)
            guard passMark != nil else {
                throw APIError.conflict(
                    code: "course_has_no_assessment", "Course \(enrollment.courseID) has no final assessment (no pass_mark).")
            }
            if enrollment.completed {
                throw APIError.invalidTransition(entity: "enrollment", from: "completed", to: "completed")
            }
            let previous = try await connection.query(
                """
                WITH old AS (SELECT assessment_score FROM enrollments WHERE id = \(enrollmentID))
                UPDATE enrollments SET assessment_score = \(body.score), assessment_recorded_at = now(),
                  assessment_recorded_by = \(principal.accountID)
                WHERE id = \(enrollmentID) RETURNING (SELECT assessment_score FROM old)
                """, logger: logger
            ).collect()[0].decode(Int?.self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "enrollment", entityID: enrollmentID,
                provinceCode: enrollment.province, action: "enrollment.scored", from: previous.map(String.init),
                to: String(body.score))
            try await Self.completeIfDone(.enrollment(enrollmentID), by: principal, on: connection, logger: logger)
            return try await Self.detail(enrollmentID, on: connection, logger: logger)
        }
    }

    /// What still stands between an enrolment and completion under its course's rules.
    static func unmet(_ id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> [FieldError] {
        let modules = try await connection.query(
            """
            SELECT m.id, m.title, m.kind FROM course_modules m JOIN enrollments e ON e.course_id = m.course_id AND e.id = \(id)
            WHERE NOT EXISTS (SELECT 1 FROM module_progress mp
                              WHERE mp.enrollment_id = e.id AND mp.module_id = m.id AND mp.completed_at IS NOT NULL)
            ORDER BY m.position, m.id
            """, logger: logger
        ).collect().map { try $0.decode((Int64, String, String).self) }
        var errors = modules.map { id, title, kind in
            FieldError(
                "modules", "module \(id) «\(title)» is not \(kind == ModuleKind.liveSession.rawValue ? "attended" : "done")")
        }
        let (passMark, score) = try await connection.query(
            "SELECT c.pass_mark, e.assessment_score FROM enrollments e JOIN courses c ON c.id = e.course_id WHERE e.id = \(id)",
            logger: logger
        ).collect()[0].decode((Int?, Int?).self)
        if let passMark {
            if let score {
                if score < passMark {
                    errors.append(FieldError("assessment_score", "\(score) is below the pass mark \(passMark)"))
                }
            } else {
                errors.append(FieldError("assessment_score", "the final assessment is not recorded (pass mark \(passMark))"))
            }
        }
        return errors
    }

    func complete(enrollmentID: Int64, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        return try await db.transaction { connection in
            let logger = db.logger
            let enrollment = try await Self.lockEnrollment(enrollmentID, for: principal, on: connection, logger: logger)
            if enrollment.completed {
                throw APIError.invalidTransition(entity: "enrollment", from: "completed", to: "completed")
            }
            let (rules, modules) = try await connection.query(
                """
                SELECT c.pass_mark IS NOT NULL
                    OR EXISTS (SELECT 1 FROM course_modules m WHERE m.course_id = c.id AND m.kind = 'live_session'),
                  EXISTS (SELECT 1 FROM course_modules m WHERE m.course_id = c.id)
                FROM courses c WHERE c.id = \(enrollment.courseID)
                """, logger: logger
            ).collect()[0].decode((Bool, Bool).self)
            // A self-paced course (videos and documents only, no pass mark) completes when staff
            // confirm it, and only once the producer has done every module.
            let missing = modules ? try await Self.unmet(enrollmentID, on: connection, logger: logger) : []
            if !rules && !missing.isEmpty {
                throw APIError(
                    .conflict, code: "completion_rules_unmet", title: "The course's completion rules are not met",
                    detail: "Every module must be done before staff confirm the completion; missing: "
                        + missing.map(\.message).joined(separator: "; ") + ".",
                    errors: missing)
            }
            if rules {
                // Rules met would have completed it already; say what is missing.
                let missing = try await Self.unmet(enrollmentID, on: connection, logger: logger)
                throw APIError(
                    .conflict, code: "completion_rules_unmet", title: "The course's completion rules are not met",
                    detail: "This course completes by itself when every module is done and the pass mark is reached; missing: "
                        + missing.map(\.message).joined(separator: "; ") + ".",
                    errors: missing)
            }
            let updated = try await connection.query(
                """
                UPDATE enrollments e SET completed_at = now() WHERE e.id = \(enrollmentID)
                RETURNING \(unescaped: Self.enrollmentJSON)::text
                """, logger: logger
            ).collect()
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "enrollment", entityID: enrollmentID,
                provinceCode: enrollment.province, action: "enrollment.completed", from: "enrolled", to: "completed",
                reason: modules ? "confirmed by staff: every module done" : "confirmed by staff")
            return try updated[0].decode(String.self)
        }
    }

    func getEnrollment(id: Int64, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer, .producer)
        return try await db.withConnection { connection in
            let rows = try await connection.query(
                "SELECT producer_id FROM enrollments WHERE id = \(id)", logger: db.logger
            ).collect()
            guard let producerID = try rows.first?.decode(Int64.self) else { throw APIError.notFound("Enrollment \(id)") }
            do {
                _ = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            } catch let error as APIError where error.status == .notFound {
                throw APIError.notFound("Enrollment \(id)")
            }
            return try await Self.detail(id, on: connection, logger: db.logger)
        }
    }

    func listEnrollments(courseID: Int64, request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let page = try Page(request: request)
        _ = try await getCourse(id: courseID)
        let province = try principal.access(.provinceRecord).provinceFilter()
        let rows = try await db.rows(
            """
            SELECT e.id, \(unescaped: Self.enrollmentJSON)::text FROM enrollments e JOIN producers p ON p.id = e.producer_id
            WHERE e.course_id = \(courseID) AND e.id > \(page.after ?? 0)
              AND (\(province)::text[] IS NULL OR p.province_code = ANY(\(province)))
            ORDER BY e.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }

    func producerEnrollments(producerID: Int64, request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer, .producer)
        return try await Producers.page(
            of: producerID, json: Self.enrollmentJSON, from: "enrollments e", alias: "e", request: request,
            principal: principal, db: db)
    }

    // MARK: counselling

    func addSession(producerID: Int64, _ body: CounselingRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let counselor = v.text(body.counselor, "counselor", max: 200)
        let notes = v.optionalText(body.notes, "notes", max: 4000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            let rows = try await connection.query(
                """
                INSERT INTO counseling_sessions AS s (producer_id, topic, certificate_kind, counselor, held_on, mode, notes,
                  created_by)
                VALUES (\(producerID), \(body.topic.rawValue), \(body.certificateKind?.rawValue), \(counselor),
                        \(body.heldOn.description)::date, \((body.mode ?? .inPerson).rawValue), \(notes), \(principal.accountID))
                RETURNING s.id, \(unescaped: Self.sessionJSON)::text
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "counseling_session", entityID: id,
                provinceCode: producer.province, action: "counseling.recorded", from: nil, to: body.topic.rawValue)
            return (id, json)
        }
    }

    func listSessions(producerID: Int64, request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer, .producer)
        return try await Producers.page(
            of: producerID, json: Self.sessionJSON, from: "counseling_sessions s", alias: "s", request: request,
            principal: principal, db: db)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/courses", for: .admin, .implementer, decoding: CourseRequest.self) {
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
        routes.patch("/v1/courses/{id}") { request, context in
            let principal = try context.require(.admin, .implementer)
            let id = try context.id(what: "Course")
            let body = try await JSONBody.decode(CourseChange.self, from: request, context: context)
            return JSONResponse.raw(try await changeCourse(id: id, body, by: principal))
        }
        routes.create("/v1/courses/{id}/modules", under: "Course", for: .admin, .implementer, decoding: ModuleRequest.self) {
            try await addModule(courseID: $0, $1, by: $2)
        }
        routes.get("/v1/courses/{id}/modules") { _, context in
            _ = try context.requirePrincipal()
            return JSONResponse.raw(try await listModules(courseID: try context.id(what: "Course")))
        }
        routes.patch("/v1/courses/{id}/modules/{module_id}") { request, context in
            let principal = try context.require(.admin, .implementer)
            let courseID = try context.id(what: "Course")
            let moduleID = try context.id("module_id", what: "Module")
            let body = try await JSONBody.decode(ModuleChange.self, from: request, context: context)
            return JSONResponse.raw(try await changeModule(courseID: courseID, moduleID: moduleID, body, by: principal))
        }
        routes.delete("/v1/courses/{id}/modules/{module_id}") { _, context in
            let principal = try context.require(.admin, .implementer)
            try await deleteModule(
                courseID: try context.id(what: "Course"), moduleID: try context.id("module_id", what: "Module"), by: principal)
            return JSONResponse.noContent
        }
        routes.create(
            "/v1/courses/{id}/enrollments", under: "Course", for: .admin, .implementer, .producer,
            decoding: EnrollmentRequest.self
        ) { try await enroll(courseID: $0, producerID: $1.producerId, by: $2) }
        routes.get("/v1/courses/{id}/enrollments") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await listEnrollments(courseID: try context.id(what: "Course"), request: request, principal: principal))
        }
        routes.get("/v1/producers/{id}/enrollments") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await producerEnrollments(
                    producerID: try context.id(what: "Producer"), request: request, principal: principal))
        }
        routes.get("/v1/enrollments/{id}") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await getEnrollment(id: try context.id(what: "Enrollment"), by: principal))
        }
        routes.post("/v1/enrollments/{id}/progress") { request, context in
            let principal = try context.require(.admin, .implementer, .producer)
            let id = try context.id(what: "Enrollment")
            let body = try await JSONBody.decode(ProgressRequest.self, from: request, context: context)
            return JSONResponse.raw(try await recordProgress(enrollmentID: id, body, by: principal))
        }
        routes.post("/v1/enrollments/{id}/assessment") { request, context in
            let principal = try context.require(.admin, .implementer)
            let id = try context.id(what: "Enrollment")
            let body = try await JSONBody.decode(ScoreRequest.self, from: request, context: context)
            return JSONResponse.raw(try await recordScore(enrollmentID: id, body, by: principal))
        }
        routes.post("/v1/enrollments/{id}/completion") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await complete(enrollmentID: try context.id(what: "Enrollment"), by: principal))
        }
        routes.create(
            "/v1/producers/{id}/counseling-sessions", under: "Producer", for: .admin, .implementer,
            decoding: CounselingRequest.self
        ) { try await addSession(producerID: $0, $1, by: $2) }
        routes.get("/v1/producers/{id}/counseling-sessions") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await listSessions(producerID: try context.id(what: "Producer"), request: request, principal: principal))
        }
    }
}
