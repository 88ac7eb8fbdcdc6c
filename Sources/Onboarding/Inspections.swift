import BazaarcheCore
import Foundation

struct InspectionRequest: Decodable {
    var subjectType: SubjectType
    var subjectId: Int64?
    /// Required for `general` inspections; for the others the subject's name is filled in.
    var subject: String?
    /// Required for `general` inspections (others take the subject's province).
    var provinceCode: String?
    var inspectedOn: CalendarDate
    var findings: String
    var followUpDue: CalendarDate?

    enum SubjectType: String, APIEnum {
        case producer, course
        case counselingSession = "counseling_session"
        case general
    }
}

struct FollowUpRequest: Decodable {
    var note: String
}

/// Inspections the province directorate records on the implementing body's work: what was looked
/// at, when, what was found, and when the follow-up is due; closing a follow-up is audited too.
public struct Inspections: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let json = """
        json_build_object('id', i.id, 'province_code', i.province_code, 'subject_type', i.subject_type,
          'subject_id', i.subject_id, 'subject', i.subject, 'inspected_on', i.inspected_on, 'findings', i.findings,
          'follow_up_due', i.follow_up_due, 'followed_up_at', api_time(i.followed_up_at), 'follow_up_note', i.follow_up_note,
          'overdue', i.followed_up_at IS NULL AND i.follow_up_due < (now() AT TIME ZONE 'Asia/Tehran')::date,
          'inspector_id', i.inspector_id, 'created_at', api_time(i.created_at))
        """

    func create(_ body: InspectionRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let findings = v.text(body.findings, "findings", max: 8000)
        let given = v.optionalText(body.subject, "subject", max: 300)
        let today = SolarHijri.today()
        v.check(body.inspectedOn <= today, "inspected_on", "must not be in the future")
        if let due = body.followUpDue { v.check(due >= body.inspectedOn, "follow_up_due", "must not be before inspected_on") }
        if body.subjectType == .general {
            if body.subjectId != nil { v.add("subject_id", "is not taken by a general inspection") }
            if given == nil { v.add("subject", "is required for a general inspection: say what was inspected") }
        } else if body.subjectId == nil {
            v.add("subject_id", "is required for a \(body.subjectType.rawValue) inspection")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let province: String
            var subject = given ?? ""
            switch body.subjectType {
            case .general:
                guard let code = body.provinceCode ?? principal.provinceCode else {
                    throw APIError.validation(field: "province_code", "is required for a general inspection")
                }
                guard principal.access(.provinceRecord).allows(Access.Owner(province: code)) else {
                    throw APIError.forbidden("Supervisors inspect their own province only.")
                }
                province = code
            case .producer:
                let id = body.subjectId!
                do {
                    province = try await Producers.scope(of: id, for: principal, on: connection, logger: logger).province
                } catch let error as APIError where error.status == .notFound {
                    throw APIError.validation(field: "subject_id", "is not a producer of your province")
                }
                if given == nil {
                    subject = try await connection.query(
                        "SELECT first_name || ' ' || last_name FROM producers WHERE id = \(id)", logger: logger
                    ).collect()[0].decode(String.self)
                }
            case .course, .counselingSession:
                let id = body.subjectId!
                let lookup: SQL =
                    body.subjectType == .course
                    ? "SELECT c.province_code, c.title FROM courses c WHERE c.id = \(id)"
                    : """
                    SELECT p.province_code, s.topic || ' — ' || p.first_name || ' ' || p.last_name
                    FROM counseling_sessions s JOIN producers p ON p.id = s.producer_id WHERE s.id = \(id)
                    """
                let rows = try await connection.query(lookup.query, logger: logger).collect()
                guard let row = rows.first else {
                    throw APIError.validation(field: "subject_id", "is not a \(body.subjectType.rawValue) of your province")
                }
                let (code, name) = try row.decode((String?, String).self)
                // A national course (no province) is inspected where the supervisor works.
                guard let home = code ?? body.provinceCode ?? principal.provinceCode,
                    principal.access(.provinceRecord).allows(Access.Owner(province: home))
                else {
                    throw APIError.validation(field: "subject_id", "is not a \(body.subjectType.rawValue) of your province")
                }
                province = home
                if given == nil { subject = name }
            }
            let rows = try await connection.query(
                """
                INSERT INTO inspections AS i (province_code, subject_type, subject_id, subject, inspected_on, findings,
                  follow_up_due, inspector_id)
                VALUES (\(province), \(body.subjectType.rawValue), \(body.subjectId), \(subject),
                  \(body.inspectedOn.description)::date, \(findings), \(body.followUpDue?.description)::date,
                  \(principal.accountID))
                RETURNING i.id, \(unescaped: Self.json)::text
                """, logger: logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "inspection", entityID: id,
                provinceCode: province, action: "inspection.recorded", from: nil,
                to: body.followUpDue == nil ? "closed" : "follow_up_due")
            return (id, json)
        }
    }

    func followUp(id: Int64, _ body: FollowUpRequest, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let note = v.text(body.note, "note", max: 4000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let rule = principal.access(.provinceRecord)
            let query: SQL = """
                SELECT i.province_code, i.follow_up_due IS NOT NULL, i.followed_up_at IS NOT NULL FROM inspections i
                WHERE i.id = \(id) AND \(rule.condition(alias: "i")) FOR UPDATE
                """
            guard let row = try await connection.query(query.query, logger: db.logger).collect().first else {
                throw APIError.notFound("Inspection \(id)")
            }
            let (province, hasDue, done) = try row.decode((String, Bool, Bool).self)
            guard hasDue else {
                throw APIError.conflict(code: "no_follow_up", "This inspection has no follow-up to close.")
            }
            if done { throw APIError.invalidTransition(entity: "inspection", from: "followed_up", to: "followed_up") }
            let rows = try await connection.query(
                """
                UPDATE inspections i SET followed_up_at = now(), follow_up_note = \(note) WHERE i.id = \(id)
                RETURNING \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "inspection", entityID: id,
                provinceCode: province, action: "inspection.followed_up", from: "follow_up_due", to: "followed_up",
                reason: note)
            return try rows[0].decode(String.self)
        }
    }

    /// Supervisors and the province's implementers read them (the implementers are who follows up).
    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        let rule = principal.access(.provinceRecord)
        let province = q.get("province_code").map { String($0) }
        if let province, !rule.allows(Access.Owner(province: province)) {
            throw APIError.forbidden("Staff see inspections of their own provinces only.")
        }
        let overdue: Bool?
        switch q.get("overdue") {
        case nil: overdue = nil
        case "true": overdue = true
        case "false": overdue = false
        default: throw APIError.validation(field: "overdue", "must be true or false")
        }
        let query: SQL = """
            SELECT i.id, \(unescaped: Self.json)::text FROM inspections i
            WHERE \(rule.condition(alias: "i")) AND i.id > \(page.after ?? 0)
              AND (\(province)::text IS NULL OR i.province_code = \(province))
              AND (\(overdue)::boolean IS NULL OR (i.followed_up_at IS NULL
                   AND i.follow_up_due < (now() AT TIME ZONE 'Asia/Tehran')::date) = \(overdue))
            ORDER BY i.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    func get(id: Int64, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let query: SQL = """
            SELECT \(unescaped: Self.json)::text FROM inspections i
            WHERE i.id = \(id) AND \(principal.access(.provinceRecord).condition(alias: "i"))
            """
        return try await db.json(query.query, notFound: "Inspection \(id)")
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/inspections", for: .admin, .supervisor, decoding: InspectionRequest.self) {
            try await create($0, by: $1)
        }
        routes.reads(
            "/v1/inspections", what: "Inspection", list: { try await list(request: $0, principal: $1) },
            one: { try await get(id: $0, principal: $1) })
        routes.post("/v1/inspections/{id}/follow-up") { request, context in
            let principal = try context.require(.admin, .supervisor)
            let id = try context.id(what: "Inspection")
            let body = try await JSONBody.decode(FollowUpRequest.self, from: request, context: context)
            return JSONResponse.raw(try await followUp(id: id, body, by: principal))
        }
    }
}
