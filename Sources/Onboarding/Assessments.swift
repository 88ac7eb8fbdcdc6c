import BazaarcheCore
import Foundation

struct ScoreInput: Decodable, Sendable {
    var criterion: AssessmentCriterion
    var score: Int
    var notes: String?
}

struct AssessmentRequest: Decodable, Sendable {
    var mode: CourseMode
    var assessedOn: CalendarDate
    var notes: String?
    var scores: [ScoreInput]?
    var recommendedCourseIds: [Int64]?
    /// Complete it at once (every criterion must be scored).
    var complete: Bool?
}

struct AssessmentChange: Decodable, Sendable {
    var mode: CourseMode?
    var assessedOn: CalendarDate?
    var notes: String?
    /// Scored criteria are replaced one by one; criteria not named keep their score.
    var scores: [ScoreInput]?
    /// Replaces the whole list.
    var recommendedCourseIds: [Int64]?
}

/// Assessed screening (programme phase 2, "talent discovery"): an implementer scores an applicant
/// against the rubric (`AssessmentCriterion`); a completed assessment is what screening needs.
public struct Assessments: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let criteria = "ARRAY[" + AssessmentCriterion.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + "]::text[]"

    /// The JSON shape of an assessment (alias `a`): its scores in rubric order, the criteria still
    /// to score, and the recommended courses.
    static let json = """
        json_build_object('id', a.id, 'producer_id', a.producer_id, 'assessor_account_id', a.assessor_account_id,
          'mode', a.mode, 'assessed_on', a.assessed_on, 'status', a.status, 'mean_score', a.mean_score, 'notes', a.notes,
          'scores', coalesce((SELECT json_agg(json_build_object('criterion', s.criterion, 'score', s.score, 'notes', s.notes)
              ORDER BY array_position(\(criteria), s.criterion))
            FROM assessment_scores s WHERE s.assessment_id = a.id), '[]'),
          'missing_criteria', (SELECT coalesce(json_agg(u.c ORDER BY u.o), '[]') FROM unnest(\(criteria)) WITH ORDINALITY u(c, o)
            WHERE NOT EXISTS (SELECT 1 FROM assessment_scores s WHERE s.assessment_id = a.id AND s.criterion = u.c)),
          'recommended_course_ids', coalesce((SELECT json_agg(r.course_id ORDER BY r.course_id) FROM assessment_courses r
            WHERE r.assessment_id = a.id), '[]'),
          'completed_at', api_time(a.completed_at), 'created_at', api_time(a.created_at), 'updated_at', api_time(a.updated_at))
        """

    struct Scores: Sendable {
        var items: [(criterion: String, score: Int, notes: String?)]
    }

    static func validate(scores: [ScoreInput]?, into v: inout Validator) -> Scores {
        let given = scores ?? []
        var seen = Set<AssessmentCriterion>()
        var items: [(criterion: String, score: Int, notes: String?)] = []
        for (i, s) in given.enumerated() {
            v.check(seen.insert(s.criterion).inserted, "scores[\(i)].criterion", "\(s.criterion.rawValue) is scored twice")
            v.check(
                (0...AssessmentCriterion.maxScore).contains(s.score), "scores[\(i)].score",
                "must be from 0 to \(AssessmentCriterion.maxScore)")
            let notes = v.optionalText(s.notes, "scores[\(i)].notes", max: 2000)
            items.append((s.criterion.rawValue, s.score, notes))
        }
        return Scores(items: items)
    }

    static func validate(date: CalendarDate?, into v: inout Validator) {
        guard let date else { return }
        let today = SolarHijri.today()
        v.check(date.year >= 2000 && date <= today, "assessed_on", "must be a date from 2000 up to today in Tehran (\(today))")
    }

    static func validate(courses: [Int64]?, into v: inout Validator) -> [Int64]? {
        guard let courses else { return nil }
        v.check(courses.count <= 20, "recommended_course_ids", "must list at most 20 courses")
        v.check(Set(courses).count == courses.count, "recommended_course_ids", "must not repeat a course")
        return courses
    }

    /// Writes the scores (upsert) and, when given, the recommended courses (replacing the list),
    /// checking that each course exists and is open to the producer's province.
    static func write(
        assessment id: Int64, province: String, scores: Scores, courses: [Int64]?, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        for s in scores.items {
            try await connection.query(
                """
                INSERT INTO assessment_scores (assessment_id, criterion, score, notes)
                VALUES (\(id), \(s.criterion), \(s.score), \(s.notes))
                ON CONFLICT (assessment_id, criterion) DO UPDATE SET score = excluded.score, notes = excluded.notes
                """, logger: logger)
        }
        guard let courses else { return }
        let open = try await connection.query(
            """
            SELECT id FROM courses WHERE id = ANY(\(courses)) AND (province_code IS NULL OR province_code = \(province))
            """, logger: logger
        ).collect().map { try $0.decode(Int64.self) }
        let refused = courses.filter { !open.contains($0) }
        if !refused.isEmpty {
            throw APIError.validation(
                field: "recommended_course_ids",
                "no course open to province \(province) has id " + refused.map(String.init).joined(separator: ", "))
        }
        try await connection.query("DELETE FROM assessment_courses WHERE assessment_id = \(id)", logger: logger)
        try await connection.query(
            """
            INSERT INTO assessment_courses (assessment_id, course_id) SELECT \(id), unnest(\(courses)::bigint[])
            """, logger: logger)
    }

    /// The draft completed: every criterion scored (else 422 naming the missing ones); the mean
    /// score fixed; audited. Returns the assessment's JSON.
    static func complete(
        assessment id: Int64, province: String, by principal: Principal, on connection: PostgresConnection, logger: Logger
    ) async throws -> String {
        let scored = try await connection.query(
            "SELECT criterion FROM assessment_scores WHERE assessment_id = \(id)", logger: logger
        ).collect().compactMap { AssessmentCriterion(rawValue: try $0.decode(String.self)) }
        let missing = Rubric.missing(scored: Set(scored))
        if !missing.isEmpty {
            throw APIError(
                .unprocessableContent, code: "rubric_incomplete", title: "The rubric is not fully scored",
                detail: "Score every criterion before completing the assessment; missing: "
                    + missing.map(\.rawValue).joined(separator: ", ") + ".",
                errors: missing.map { FieldError("scores", "\($0.rawValue) is not scored") })
        }
        let rows = try await connection.query(
            """
            UPDATE assessments a SET status = 'completed', completed_at = now(), updated_at = now(),
              mean_score = (SELECT round(avg(s.score), 2) FROM assessment_scores s WHERE s.assessment_id = a.id)
            WHERE a.id = \(id) RETURNING \(unescaped: json)::text
            """, logger: logger
        ).collect()
        try await Audit.record(
            on: connection, logger: logger, actor: principal, entityType: "assessment", entityID: id, provinceCode: province,
            action: "assessment.completed", from: AssessmentStatus.draft.rawValue, to: AssessmentStatus.completed.rawValue)
        return try rows[0].decode(String.self)
    }

    func create(producerID: Int64, _ body: AssessmentRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer)
        var v = Validator()
        Self.validate(date: body.assessedOn, into: &v)
        let notes = v.optionalText(body.notes, "notes", max: 4000)
        let scores = Self.validate(scores: body.scores, into: &v)
        let courses = Self.validate(courses: body.recommendedCourseIds, into: &v)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: logger)
            if producer.status.isClosed {
                throw APIError.conflict(
                    code: "producer_not_eligible", "A \(producer.status.rawValue) application is closed; it is not assessed.",
                    extra: ["current_status": producer.status.rawValue])
            }
            let id = try await connection.query(
                """
                INSERT INTO assessments (producer_id, assessor_account_id, mode, assessed_on, notes)
                VALUES (\(producerID), \(principal.accountID), \(body.mode.rawValue), \(body.assessedOn.description)::date,
                  \(notes))
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(Int64.self)
            try await Self.write(
                assessment: id, province: producer.province, scores: scores, courses: courses, on: connection, logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "assessment", entityID: id,
                provinceCode: producer.province, action: "assessment.created", from: nil, to: AssessmentStatus.draft.rawValue)
            if body.complete == true {
                return (
                    id,
                    try await Self.complete(
                        assessment: id, province: producer.province, by: principal, on: connection, logger: logger)
                )
            }
            let json = try await connection.query(
                "SELECT \(unescaped: Self.json)::text FROM assessments a WHERE a.id = \(id)", logger: logger
            ).collect()[0].decode(String.self)
            return (id, json)
        }
    }

    /// Locks an assessment the caller may act on (404 otherwise) and returns its producer's province
    /// and its status.
    static func lock(
        _ id: Int64, for principal: Principal, on connection: PostgresConnection, logger: Logger
    ) async throws -> (province: String, status: AssessmentStatus) {
        let rows = try await connection.query(
            "SELECT producer_id, status FROM assessments WHERE id = \(id) FOR UPDATE", logger: logger
        ).collect()
        guard let row = rows.first else { throw APIError.notFound("Assessment \(id)") }
        let (producerID, status) = try row.decode((Int64, String).self)
        do {
            let producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: logger)
            return (producer.province, AssessmentStatus(rawValue: status)!)
        } catch let error as APIError where error.status == .notFound {
            throw APIError.notFound("Assessment \(id)")
        }
    }

    static func refuseCompleted(_ status: AssessmentStatus) throws {
        if status == .completed {
            throw APIError.conflict(
                code: "assessment_completed", "A completed assessment is evidence for a decision and cannot change.",
                extra: ["current_status": status.rawValue])
        }
    }

    func change(id: Int64, _ body: AssessmentChange, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        var v = Validator()
        Self.validate(date: body.assessedOn, into: &v)
        let notes = v.optionalText(body.notes, "notes", max: 4000)
        let scores = Self.validate(scores: body.scores, into: &v)
        let courses = Self.validate(courses: body.recommendedCourseIds, into: &v)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let (province, status) = try await Self.lock(id, for: principal, on: connection, logger: logger)
            try Self.refuseCompleted(status)
            try await connection.query(
                """
                UPDATE assessments SET mode = coalesce(\(body.mode?.rawValue), mode),
                  assessed_on = coalesce(\(body.assessedOn?.description)::date, assessed_on),
                  notes = coalesce(\(notes), notes), updated_at = now()
                WHERE id = \(id)
                """, logger: logger)
            try await Self.write(
                assessment: id, province: province, scores: scores, courses: courses, on: connection, logger: logger)
            return try await connection.query(
                "SELECT \(unescaped: Self.json)::text FROM assessments a WHERE a.id = \(id)", logger: logger
            ).collect()[0].decode(String.self)
        }
    }

    func completion(id: Int64, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        return try await db.transaction { connection in
            let (province, status) = try await Self.lock(id, for: principal, on: connection, logger: db.logger)
            if status == .completed {
                throw APIError.invalidTransition(
                    entity: "assessment", from: status.rawValue, to: AssessmentStatus.completed.rawValue)
            }
            return try await Self.complete(assessment: id, province: province, by: principal, on: connection, logger: db.logger)
        }
    }

    static let readers: [Role] = [.admin, .supervisor, .implementer, .producer]

    func get(id: Int64, by principal: Principal) async throws -> String {
        guard Self.readers.contains(principal.role) else {
            throw APIError.forbidden("Assessments are visible to the producer and its province's staff.")
        }
        return try await db.withConnection { connection in
            let rows = try await connection.query(
                "SELECT a.producer_id, \(unescaped: Self.json)::text FROM assessments a WHERE a.id = \(id)", logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Assessment \(id)") }
            let (producerID, json) = try row.decode((Int64, String).self)
            do {
                _ = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            } catch let error as APIError where error.status == .notFound {
                throw APIError.notFound("Assessment \(id)")
            }
            return json
        }
    }

    func list(producerID: Int64, request: Request, by principal: Principal) async throws -> String {
        guard Self.readers.contains(principal.role) else {
            throw APIError.forbidden("Assessments are visible to the producer and its province's staff.")
        }
        return try await Producers.page(
            of: producerID, json: Self.json, from: "assessments a", alias: "a", request: request, principal: principal,
            db: db)
    }

    /// Screening needs evidence: 409 `assessment_required` unless the producer has a completed
    /// assessment. Called by the applied → screened transition, in its transaction.
    public static func requireCompleted(producerID: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let found = try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM assessments WHERE producer_id = \(producerID) AND status = 'completed')",
            logger: logger
        ).collect()[0].decode(Bool.self)
        if !found {
            throw APIError.conflict(
                code: "assessment_required",
                "Screening needs a completed assessment of the applicant (POST /v1/producers/\(producerID)/assessments).")
        }
    }

    /// What the screening decision looks at: the applicant, its activities against its province's
    /// priorities in the latest approved study, its assessments and the courses they recommend.
    func screening(producerID: Int64, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        return try await db.withConnection { connection in
            _ = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            return try await connection.query(
                """
                WITH p AS (SELECT * FROM producers WHERE id = \(producerID)),
                study AS (
                  SELECT st.* FROM province_studies st JOIN province_current_studies cur ON cur.id = st.id, p
                  WHERE cur.province_code = p.province_code)
                SELECT json_build_object(
                  'producer', (SELECT \(unescaped: Producers.json) FROM p),
                  'study', (SELECT json_build_object('id', st.id, 'study_year', st.study_year, 'version', st.version,
                      'source', st.source,
                      'studied_on', st.studied_on, 'approved_at', api_time(st.approved_at)) FROM study st),
                  'activities', coalesce((
                    SELECT json_agg(json_build_object('code', ac.code, 'name_fa', ac.name_fa, 'name_en', ac.name_en,
                        'category_code', ac.category_code, 'in_study', r.activity_code IS NOT NULL,
                        'priority', coalesce(r.priority, false), 'need_score', r.need_score, 'advantage_score', r.advantage_score)
                      ORDER BY u.o)
                    FROM p, unnest(p.activity_codes) WITH ORDINALITY u(code, o)
                    JOIN activities ac ON ac.code = u.code
                    LEFT JOIN province_study_rows r ON r.study_id = (SELECT id FROM study) AND r.activity_code = u.code), '[]'),
                  'priority_activities', coalesce((
                    SELECT json_agg(json_build_object('code', ac.code, 'name_fa', ac.name_fa, 'name_en', ac.name_en,
                        'category_code', ac.category_code, 'need_score', r.need_score, 'advantage_score', r.advantage_score,
                        'capacity_producers', r.capacity_producers, 'capacity_units_month', r.capacity_units_month,
                        'applicant_has_it', ac.code = ANY(p.activity_codes))
                      ORDER BY ac.code)
                    FROM p, province_study_rows r JOIN activities ac ON ac.code = r.activity_code
                    WHERE r.study_id = (SELECT id FROM study) AND r.priority), '[]'),
                  'assessments', coalesce((SELECT json_agg(\(unescaped: Self.json) ORDER BY a.id)
                    FROM assessments a WHERE a.producer_id = \(producerID)), '[]'),
                  'has_completed_assessment', EXISTS (SELECT 1 FROM assessments a
                    WHERE a.producer_id = \(producerID) AND a.status = 'completed'),
                  'recommended_courses', coalesce((SELECT json_agg(\(unescaped: Training.courseJSON) ORDER BY c.id)
                    FROM courses c WHERE c.id IN (SELECT r.course_id FROM assessment_courses r
                      JOIN assessments a ON a.id = r.assessment_id WHERE a.producer_id = \(producerID))), '[]')
                )::text
                """, logger: db.logger
            ).collect()[0].decode(String.self)
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create(
            "/v1/producers/{id}/assessments", under: "Producer", for: .admin, .implementer, decoding: AssessmentRequest.self
        ) { try await create(producerID: $0, $1, by: $2) }
        routes.get("/v1/producers/{id}/assessments") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await list(producerID: try context.id(what: "Producer"), request: request, by: principal))
        }
        routes.get("/v1/producers/{id}/screening") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await screening(producerID: try context.id(what: "Producer"), by: principal))
        }
        routes.get("/v1/assessments/{id}") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await get(id: try context.id(what: "Assessment"), by: principal))
        }
        routes.patch("/v1/assessments/{id}") { request, context in
            let principal = try context.require(.admin, .implementer)
            let id = try context.id(what: "Assessment")
            let body = try await JSONBody.decode(AssessmentChange.self, from: request, context: context)
            return JSONResponse.raw(try await change(id: id, body, by: principal))
        }
        routes.post("/v1/assessments/{id}/completion") { _, context in
            let principal = try context.require(.admin, .implementer)
            return JSONResponse.raw(try await completion(id: try context.id(what: "Assessment"), by: principal))
        }
    }
}
