import Accounts
import BazaarcheCore
import Foundation
import Messaging

struct ApplicationRequest: Decodable {
    var nationalId: String
    var firstName: String
    var lastName: String
    var mobile: String
    var provinceCode: String
    var city: String
    var skills: [String]?
    /// Codes of the activity taxonomy (GET /v1/activities); free-text `skills` stay as a note.
    var activities: [String]?
    /// No longer taken here: the password is chosen when the mobile is proven (confirmation).
    var password: String?
}

struct ActivitiesRequest: Decodable {
    var activities: [String]
}

struct ConfirmationRequest: Decodable {
    var applicationRequestId: String
    var code: String
    var password: String
}

/// Producer applications, screening, verification and the producer's own profile.
public struct Producers: Sendable {
    let db: Database
    let accounts: Accounts
    let sms: SMS

    public init(db: Database, accounts: Accounts, sms: SMS) {
        self.db = db
        self.accounts = accounts
        self.sms = sms
    }

    /// One-time codes: six digits, valid for ten minutes, five guesses; per mobile at most three
    /// codes in fifteen minutes and ten a day (per address, `AnonymousLimits` applies).
    public enum CodeRules {
        public static let digits = 6
        public static let lifetimeSeconds = 600
        public static let maxAttempts = 5
        public static let perMobileShort = (count: 3, seconds: 900)
        public static let perMobileDay = (count: 10, seconds: 86400)
    }

    /// The JSON shape of a producer (alias `p`).
    public static let json = """
        json_build_object('id', p.id, 'national_id', p.national_id, 'first_name', p.first_name,
          'last_name', p.last_name, 'mobile', p.mobile, 'province_code', p.province_code, 'city', p.city,
          'skills', to_json(p.skills), 'activities', to_json(p.activity_codes), 'status', p.status, 'applied_at', api_time(p.applied_at),
          'screened_at', api_time(p.screened_at), 'verified_at', api_time(p.verified_at), 'rejected_at', api_time(p.rejected_at),
          'withdrawn_at', api_time(p.withdrawn_at), 'mobile_verified_at', api_time(p.mobile_verified_at), 'updated_at',
            api_time(p.updated_at))
        """

    /// A page of one producer's records (`table`, aliased `alias`, with `producer_id`; `json` their
    /// JSON), after the 404 the producer's own record gives a caller who may not see it.
    static func page(
        of producerID: Int64, json: String, from table: String, alias: String, request: Request, principal: Principal,
        db: Database
    ) async throws -> String {
        let page = try Page(request: request)
        return try await db.withConnection { connection in
            _ = try await scope(of: producerID, for: principal, on: connection, logger: db.logger)
            let query: SQL = """
                SELECT \(unescaped: alias).id, \(unescaped: json)::text FROM \(unescaped: table)
                WHERE \(unescaped: alias).producer_id = \(producerID) AND \(unescaped: alias).id > \(page.after ?? 0)
                ORDER BY \(unescaped: alias).id LIMIT \(page.limit + 1)
                """
            return try page.body(rows: try await connection.query(query.query, logger: db.logger).collect())
        }
    }

    /// The event row for producer `id` (seen by itself and its province's staff).
    static func eventSource(_ id: Int64) -> SQL {
        "SELECT p.id, \(unescaped: json), p.province_code, p.id, NULL::bigint FROM producers p WHERE p.id = \(id)"
    }

    /// The producer's province and status, or 404 when it does not exist or the caller may not see it.
    public static func scope(
        of id: Int64, for principal: Principal, on connection: PostgresConnection, logger: Logger, lock: Bool = false
    )
        async throws -> (province: String, status: ProducerStatus)
    {
        let rule = principal.access(.producer)
        let query: SQL = """
            SELECT p.province_code, p.status FROM producers p
            WHERE p.id = \(id) AND \(rule.condition(alias: "p")) \(unescaped: lock ? "FOR UPDATE" : "")
            """
        guard let row = try await connection.query(query.query, logger: logger).collect().first else {
            throw APIError.notFound("Producer \(id)")
        }
        let (province, status) = try row.decode((String, String).self)
        guard rule.allows(Access.Owner(province: province, producer: id)) else { throw APIError.notFound("Producer \(id)") }
        return (province, ProducerStatus(rawValue: status)!)
    }

    struct Applicant: Sendable {
        var nationalID, first, last, mobile, province, city: String
        var skills: [String]
        var activities: [String] = []
    }

    /// The checks that need no database (plain rules, unit-testable).
    static func validate(_ body: ApplicationRequest) throws -> Applicant {
        var v = Validator()
        let nationalID = Digits.ascii(body.nationalId.trimmingCharacters(in: .whitespaces))
        v.check(NationalID.isValid(nationalID), "national_id", "must be a valid 10-digit national ID (check digit)")
        let first = v.text(body.firstName, "first_name", max: 100)
        let last = v.text(body.lastName, "last_name", max: 100)
        let mobile = Mobile.normalize(body.mobile)
        v.check(Mobile.isValid(mobile), "mobile", "must be a mobile number like 09121234567")
        v.check(ProvinceCode.isWellFormed(body.provinceCode), "province_code", "must be a province code like IR-00")
        let city = v.text(body.city, "city", max: 100)
        let skills = (body.skills ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        v.check(skills.count <= 20, "skills", "must list at most 20 skills")
        v.check(skills.allSatisfy { $0.count <= 100 }, "skills", "each skill must be at most 100 characters")
        let activities = Activities.normalized(body.activities ?? [])
        v.check(
            activities.count <= Activities.maxPerProducer, "activities",
            "must list at most \(Activities.maxPerProducer) activities")
        if body.password != nil {
            v.add("password", "is chosen when confirming the code sent by SMS (POST /v1/producer-applications/confirmations)")
        }
        try v.throwIfInvalid()
        return Applicant(
            nationalID: nationalID, first: first, last: last, mobile: mobile, province: body.provinceCode, city: city,
            skills: skills, activities: activities)
    }

    static func newCode() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(format: "%06d", Int.random(in: 0..<1_000_000, using: &generator))
    }

    /// Step 1: an application waits for its mobile to be proven. The answer is the same whether or
    /// not the national ID or mobile is enrolled; a mobile that already has an account gets a
    /// notice instead of a code (its owner learns of the attempt; the caller learns nothing).
    func apply(_ body: ApplicationRequest, address: String?) async throws -> String {
        let a = try Self.validate(body)
        let code = Self.newCode()
        let (json, message) = try await db.transaction { connection -> (String, SMS.Pending) in
            let logger = db.logger
            // Concurrent applications for one mobile take turns, so the per-mobile count holds.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext('application-mobile:' || \(a.mobile)))", logger: logger)
            if Int.random(in: 0..<100) == 0 {
                // Unconfirmed requests hold names and national IDs: kept only as long as the
                // per-mobile daily count needs them.
                try await connection.query(
                    "DELETE FROM application_requests WHERE created_at < now() - interval '2 days'", logger: logger)
            }
            let checks = try await connection.query(
                """
                SELECT EXISTS (SELECT 1 FROM provinces WHERE code = \(a.province)),
                  (SELECT count(*) FROM application_requests WHERE mobile = \(a.mobile)
                     AND created_at > now() - make_interval(secs => \(CodeRules.perMobileShort.seconds)))::int,
                  (SELECT count(*) FROM application_requests WHERE mobile = \(a.mobile)
                     AND created_at > now() - make_interval(secs => \(CodeRules.perMobileDay.seconds)))::int,
                  EXISTS (SELECT 1 FROM accounts WHERE lower(login) = \(a.mobile) AND released_at IS NULL
                            AND (producer_id IS NULL OR producer_id NOT IN (
                                 SELECT id FROM producers WHERE status IN ('rejected', 'withdrawn'))))
                """, logger: logger
            ).collect()[0].decode((Bool, Int, Int, Bool).self)
            guard checks.0 else { throw APIError.validation(field: "province_code", "is not a known province") }
            let unknown = try await Activities.unknownOrInactive(a.activities, on: connection, logger: logger)
            if !unknown.isEmpty {
                throw APIError.validation(
                    field: "activities",
                    "not active activities of the taxonomy: \(unknown.joined(separator: ", ")) (see /v1/activities)")
            }
            if checks.1 >= CodeRules.perMobileShort.count || checks.2 >= CodeRules.perMobileDay.count {
                let wait =
                    checks.2 >= CodeRules.perMobileDay.count ? CodeRules.perMobileDay.seconds : CodeRules.perMobileShort.seconds
                throw APIError(
                    .tooManyRequests, code: "too_many_codes", title: "Too many codes for this mobile",
                    detail: "Too many application codes were sent to this mobile recently; retry later.",
                    headers: [.retryAfter: String(wait)])
            }
            let requestID = UUID().uuidString.lowercased()
            let json = try await connection.query(
                """
                INSERT INTO application_requests AS r (id, national_id, first_name, last_name, mobile, province_code, city,
                  skills, activity_codes,
                  code_hash, client_address, expires_at)
                VALUES (\(requestID)::uuid, \(a.nationalID), \(a.first), \(a.last), \(a.mobile), \(a.province), \(a.city),
                  \(a.skills), \(a.activities),
                  sha256(convert_to(\(requestID) || \(code), 'UTF8')), \(address), now() + make_interval(secs =>
                    \(CodeRules.lifetimeSeconds)))
                RETURNING json_build_object('application_request_id', r.id, 'mobile', r.mobile,
                  'expires_at', api_time(r.expires_at), 'code_length', \(CodeRules.digits),
                  'confirm_at', '/v1/producer-applications/confirmations')::text
                """, logger: logger
            ).collect()[0].decode(String.self)
            let message: SMS.Pending
            if checks.3 {
                message = try await sms.record(
                    on: connection, mobile: a.mobile, purpose: .applicationNotice,
                    text:
                        """
                        بازارچه: درخواست ثبت‌نامی با این شماره همراه انجام شد، اما این شماره حساب کاربری دارد. اگر خودتان بودید،\
                         با همین شماره وارد شوید.
                        """
                )
            } else {
                message = try await sms.record(
                    on: connection, mobile: a.mobile, purpose: .applicationCode,
                    text: "بازارچه: کد تأیید ثبت‌نام شما \(code) است. این کد را به کسی ندهید.",
                    redacted: "بازارچه: کد تأیید ثبت‌نام شما ****** است. این کد را به کسی ندهید.")
            }
            return (json, message)
        }
        guard await sms.send(message) else {
            throw APIError(
                .serviceUnavailable, code: "sms_unavailable", title: "SMS could not be sent",
                detail: "The text message could not be sent; retry in a minute.", headers: [.retryAfter: "60"])
        }
        return json
    }

    static let receivedJSON = """
        {"status":"received","detail":"If the details can be accepted, the application is filed and you can sign in with your\
         mobile number and the password you chose; a text message tells you otherwise."}
        """

    /// Step 2: the code proves the mobile; then (and only then) the password is hashed and the
    /// producer is filed. A national ID already enrolled gets the very same answer; the attempt is
    /// kept for the province's staff and the mobile is told by SMS.
    func confirm(_ body: ConfirmationRequest, address: String?) async throws -> String {
        var v = Validator()
        let code = Digits.ascii(body.code.trimmingCharacters(in: .whitespaces))
        let requestID = UUID(uuidString: body.applicationRequestId)
        v.check(requestID != nil, "application_request_id", "must be the id returned when applying")
        v.check(
            code.count == CodeRules.digits && code.allSatisfy { $0.isASCII && $0.isNumber }, "code",
            "must be the 6-digit code sent by SMS")
        Accounts.validatePassword(body.password, into: &v)
        try v.throwIfInvalid()
        let id = requestID!.uuidString.lowercased()
        // Every guess spends an attempt, committed on its own so a wrong code cannot be retried for free.
        let matched =
            try await db.rows(
                """
                UPDATE application_requests SET attempts = attempts + 1
                WHERE id = \(id)::uuid AND confirmed_at IS NULL AND expires_at > now() AND attempts < \(CodeRules.maxAttempts)
                RETURNING code_hash = sha256(convert_to(id::text || \(code), 'UTF8'))
                """
            ).first.map { try $0.decode(Bool.self) } ?? false
        guard matched else {
            throw APIError.validation(field: "code", "is wrong or has expired; ask for a new code by applying again")
        }
        let hash = try await accounts.hash(body.password)
        let outcome: (received: SMS.Pending, notice: SMS.Pending?)?
        do {
            outcome = try await db.transaction { connection -> (SMS.Pending, SMS.Pending?)? in
                let logger = db.logger
                let rows = try await connection.query(
                    """
                    UPDATE application_requests SET confirmed_at = now() WHERE id = \(id)::uuid AND confirmed_at IS NULL
                    RETURNING national_id, first_name, last_name, mobile, province_code, city, skills, activity_codes
                    """, logger: logger
                ).collect()
                // A concurrent confirmation of the same request won.
                guard let row = rows.first else { return nil }
                let (nationalID, first, last, mobile, province, city, skills, activities) = try row.decode(
                    (String, String, String, String, String, String, [String], [String]).self)
                // Whatever happens next, the proven mobile gets this one message, so neither the
                // answer, its timing nor the text tells whether the application was filed.
                let received = try await sms.record(
                    on: connection, mobile: mobile, purpose: .applicationNotice, text: Self.receivedSMS)
                // The same national ID or mobile enrolled (not rejected or withdrawn), or the mobile
                // taken as another account's login: filed for staff, and the enrolled producer's own
                // mobile is told someone tried.
                let clash = try await connection.query(
                    """
                    SELECT (SELECT id FROM producers WHERE (national_id = \(nationalID) OR mobile = \(mobile))
                              AND status NOT IN ('rejected', 'withdrawn') ORDER BY id LIMIT 1),
                      (SELECT mobile FROM producers WHERE national_id = \(nationalID) AND mobile <> \(mobile)
                              AND status NOT IN ('rejected', 'withdrawn') ORDER BY id LIMIT 1),
                      EXISTS (SELECT 1 FROM accounts a WHERE lower(a.login) = \(mobile) AND a.released_at IS NULL
                                AND (a.producer_id IS NULL OR a.producer_id NOT IN (SELECT id FROM producers
                                  WHERE status IN ('rejected', 'withdrawn'))))
                    """, logger: logger
                ).collect()[0].decode((Int64?, String?, Bool).self)
                if clash.0 != nil || clash.2 {
                    try await connection.query(
                        """
                        INSERT INTO duplicate_applications (national_id, mobile, province_code, existing_producer_id,
                          client_address)
                        VALUES (\(nationalID), \(mobile), \(province), \(clash.0), \(address))
                        """, logger: logger)
                    let notice = try await clash.1.asyncMap { enrolledMobile in
                        try await sms.record(
                            on: connection, mobile: enrolledMobile, purpose: .accountNotice,
                            text:
                                """
                                بازارچه: کسی با کد ملی شما و شماره همراه دیگری درخواست ثبت‌نام داد. اگر شما نبودید، به اداره\
                                 تعاون، کار و رفاه اجتماعی استان خبر دهید.
                                """
                        )
                    }
                    return (received, notice)
                }
                // A closed application's account gives up the login so the mobile can apply again.
                try await connection.query(
                    """
                    UPDATE accounts SET released_at = now()
                    WHERE lower(login) = \(mobile) AND released_at IS NULL
                      AND producer_id IN (SELECT id FROM producers WHERE status IN ('rejected', 'withdrawn'))
                    """, logger: logger)
                let producer = try await connection.query(
                    """
                    INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills,
                      activity_codes, mobile_verified_at)
                    VALUES (\(nationalID), \(first), \(last), \(mobile), \(province), \(city), \(skills), \(activities), now())
                    RETURNING id
                    """, logger: logger
                ).collect()[0].decode(Int64.self)
                _ = try await Accounts.insert(
                    on: connection, logger: logger, role: .producer, login: mobile, passwordHash: hash,
                    provinceCode: nil, producerID: producer, partnerID: nil, actor: nil, auditProvince: province)
                try await Audit.record(
                    on: connection, logger: logger, actor: nil, entityType: "producer", entityID: producer,
                    provinceCode: province, action: "producer.applied", from: nil, to: "applied")
                return (received, nil)
            }
        } catch let error as APIError where error.code == "already_exists" {
            // Two confirmations for the same national ID or mobile raced and this one lost: the
            // same answer as any duplicate (the winner's applicant is the one filed).
            return Self.receivedJSON
        }
        if let outcome {
            await sms.send(outcome.received)
            // Off the request's path, so a duplicate takes no longer to answer than a fresh one.
            if let notice = outcome.notice { Task { [sms] in await sms.send(notice) } }
        }
        return Self.receivedJSON
    }

    static let receivedSMS =
        """
        بازارچه: درخواست ثبت‌نام شما دریافت شد. اگر پذیرفته شود، با همین شماره همراه و رمزی که برگزیدید وارد شوید؛ در غیر این\
         صورت اداره تعاون، کار و رفاه اجتماعی استان با شما تماس می‌گیرد.
        """

    func transition(id: Int64, to target: ProducerStatus, reason: String?, by principal: Principal) async throws -> String {
        // Staff move applications along; the applicant may only withdraw its own.
        if principal.role == .producer {
            guard principal.access(.producer, to: .own).allows(Access.Owner(producer: id)) else {
                throw APIError.notFound("Producer \(id)")
            }
            guard target == .withdrawn else {
                throw APIError.forbidden("A producer may only withdraw its own application.")
            }
        } else {
            try principal.require(.admin, .supervisor, .implementer)
            if target == .withdrawn {
                throw APIError.forbidden("Only the applicant withdraws an application; staff reject it.")
            }
            if let refusal = Self.staffRefusal(role: principal.role, to: target) { throw APIError.forbidden(refusal) }
        }
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if target.needsReason && reason == nil { v.add("reason", "is required when moving to \(target.rawValue)") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let (province, current) = try await Self.scope(of: id, for: principal, on: connection, logger: db.logger, lock: true)
            guard current.canMove(to: target) else {
                throw APIError.invalidTransition(entity: "producer", from: current.rawValue, to: target.rawValue)
            }
            if current == .applied && target == .screened {
                try await Assessments.requireCompleted(producerID: id, on: connection, logger: db.logger)
            }
            if current == .screened && target == .verified {
                throw APIError.conflict(
                    code: "proposal_required",
                    "Verification is decided on an implementer's proposal: POST /v1/producers/\(id)/verification-proposals,"
                        + " then the province's supervisor decides it at POST /v1/verification-proposals/{id}/decision.",
                    extra: ["current_status": current.rawValue])
            }
            if target == .rejected || target == .withdrawn {
                // A rejected or withdrawn applicant's pending proposal is moot: out of the supervisor's queue.
                let moot = try await connection.query(
                    """
                    UPDATE verification_proposals SET status = 'withdrawn', decided_at = now()
                    WHERE producer_id = \(id) AND status = 'pending' RETURNING id
                    """, logger: db.logger
                ).collect()
                for row in moot {
                    try await Audit.record(
                        on: connection, logger: db.logger, actor: principal, entityType: "verification_proposal",
                        entityID: try row.decode(Int64.self), provinceCode: province, action: "verification.withdrawn",
                        from: "pending", to: "withdrawn", reason: "the applicant was \(target.rawValue)")
                }
            }
            // First time a stage is reached is kept (the funnel counts stages reached, not current status).
            let stamp =
                switch target {
                case .screened: ", screened_at = coalesce(p.screened_at, now())"
                case .verified: ", verified_at = coalesce(p.verified_at, now())"
                case .rejected: ", rejected_at = coalesce(p.rejected_at, now())"
                case .withdrawn: ", withdrawn_at = now()"
                default: ""
                }
            let rows = try await connection.query(
                """
                UPDATE producers p SET status = \(target.rawValue), updated_at = now() \(unescaped: stamp)
                WHERE p.id = \(id) RETURNING \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "producer", entityID: id,
                provinceCode: province, action: "producer.status_changed", from: current.rawValue, to: target.rawValue,
                reason: reason)
            if let type = EventType.move("producer", to: target.rawValue) {
                try await EventLog.record(
                    type, subject: "producer", from: Self.eventSource(id), on: connection, logger: db.logger)
            }
            return try rows[0].decode(String.self)
        }
    }

    /// Which staff role makes which move (nil: allowed). The implementing body screens and may turn
    /// applicants down; the supervisor decides verification, suspends and reinstates; admins do both.
    static func staffRefusal(role: Role, to target: ProducerStatus) -> String? {
        switch (role, target) {
        case (.admin, _): return nil
        case (.implementer, .screened), (.implementer, .rejected): return nil
        case (.implementer, _):
            return "Verifying, suspending and reinstating producers are the province supervisor's decisions;"
                + " implementers propose verification at /v1/producers/{id}/verification-proposals."
        case (.supervisor, .screened):
            return "Screening is the implementing body's work (an implementer, after an assessment)."
        case (.supervisor, _): return nil
        default: return "This operation is not available to the \(role.rawValue) role."
        }
    }

    /// Activities can be corrected after filing: by the implementing body (screening is where it
    /// learns what the applicant really does) or by admins, and by the producer itself until it is
    /// verified. Audited with both lists.
    func setActivities(id: Int64, _ body: ActivitiesRequest, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer, .producer)
        let activities = Activities.normalized(body.activities)
        var v = Validator()
        v.check(
            activities.count <= Activities.maxPerProducer, "activities",
            "must list at most \(Activities.maxPerProducer) activities")
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let (province, status) = try await Self.scope(of: id, for: principal, on: connection, logger: logger, lock: true)
            if principal.role == .producer && ![.applied, .screened].contains(status) {
                throw APIError.conflict(
                    code: "activities_locked",
                    "Once verified, a producer's activities are changed by the implementing body, not by the producer.",
                    extra: ["current_status": status.rawValue])
            }
            let unknown = try await Activities.unknownOrInactive(activities, on: connection, logger: logger)
            if !unknown.isEmpty {
                throw APIError.validation(
                    field: "activities",
                    "not active activities of the taxonomy: \(unknown.joined(separator: ", ")) (see /v1/activities)")
            }
            let before = try await connection.query(
                "SELECT array_to_string(activity_codes, ',') FROM producers WHERE id = \(id)", logger: logger
            ).collect()[0].decode(String.self)
            let rows = try await connection.query(
                """
                UPDATE producers p SET activity_codes = \(activities), updated_at = now()
                WHERE p.id = \(id) RETURNING \(unescaped: Self.json)::text
                """, logger: logger
            ).collect()
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "producer", entityID: id,
                provinceCode: province, action: "producer.activities_changed", from: before,
                to: activities.joined(separator: ","))
            return try rows[0].decode(String.self)
        }
    }

    func get(id: Int64, by principal: Principal) async throws -> String {
        guard [.admin, .supervisor, .implementer, .producer].contains(principal.role) else {
            throw APIError.forbidden(
                "Producer records are visible to the producer, its province's supervisors and implementers, and admins.")
        }
        return try await db.withConnection { connection in
            _ = try await Self.scope(of: id, for: principal, on: connection, logger: db.logger)
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.json)::text FROM producers p WHERE p.id = \(id)", logger: db.logger
            ).collect()
            return try rows[0].decode(String.self)
        }
    }

    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let page = try Page(request: request)
        let status = try ProducerStatus.query(request.uri.queryParameters.get("status"), field: "status")
        let province = request.uri.queryParameters.get("province_code").map { String($0) }
        let rule = principal.access(.producer)
        if let province, !rule.allows(Access.Owner(province: province)) {
            throw APIError.forbidden("Staff see producers of their own provinces only.")
        }
        let search = try PeopleSearch(request.uri.queryParameters.get("q").map { String($0) })
        let query: SQL = """
            SELECT p.id, \(unescaped: Self.json)::text FROM producers p
            WHERE \(rule.condition(alias: "p")) AND p.id > \(page.after ?? 0)
              AND (\(status?.rawValue)::text IS NULL OR p.status = \(status?.rawValue))
              AND (\(province)::text IS NULL OR p.province_code = \(province))
              AND \(search.condition(alias: "p"))
            ORDER BY p.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/producer-applications") { request, context in
            let body = try await JSONBody.decode(ApplicationRequest.self, from: request, context: context)
            return JSONResponse.raw(try await apply(body, address: context.clientAddress(request)), status: .accepted)
        }
        routes.post("/v1/producer-applications/confirmations") { request, context in
            let body = try await JSONBody.decode(ConfirmationRequest.self, from: request, context: context)
            return JSONResponse.raw(try await confirm(body, address: context.clientAddress(request)), status: .accepted)
        }
        routes.get("/v1/producers") { request, context in
            JSONResponse.raw(try await list(request: request, principal: try context.requirePrincipal()))
        }
        routes.get("/v1/producers/{id}") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await get(id: try context.id(what: "Producer"), by: principal))
        }
        routes.put("/v1/producers/{id}/activities") { request, context in
            let principal = try context.require(.admin, .implementer, .producer)
            let id = try context.id(what: "Producer")
            let body = try await JSONBody.decode(ActivitiesRequest.self, from: request, context: context)
            return JSONResponse.raw(try await setActivities(id: id, body, by: principal))
        }
        routes.post("/v1/producers/{id}/transitions") { request, context in
            let principal = try context.require(.admin, .supervisor, .implementer, .producer)
            let id = try context.id(what: "Producer")
            let body = try await JSONBody.decode(StatusChange<ProducerStatus>.self, from: request, context: context)
            return JSONResponse.raw(try await transition(id: id, to: body.to, reason: body.reason, by: principal))
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// Finding people (`GET /v1/producers?q=`): a national ID, a mobile in any common form, or part of
/// a name, Persian-normalised on both sides (Arabic ي/ك, digits, ZWNJ) so staff find «علی» typed as «علي».
struct PeopleSearch: Equatable {
    enum Kind: Equatable {
        case everyone
        case nationalID(String)
        case mobile(String)
        /// Four to nine digits: the start of a national ID or the end of a mobile.
        case digits(String)
        case name(String)
    }
    let kind: Kind

    init(_ text: String?) throws {
        let q = Digits.ascii(text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if q.isEmpty {
            kind = .everyone
            return
        }
        guard q.count <= 100 else { throw APIError.validation(field: "q", "must be at most 100 characters") }
        let mobile = Mobile.normalize(q)
        if Mobile.isValid(mobile) {
            kind = .mobile(mobile)
        } else if q.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard q.count >= 4 else {
                throw APIError.validation(field: "q", "give at least 4 digits of a national ID or mobile")
            }
            kind = q.count == 10 ? .nationalID(q) : .digits(q)
        } else {
            guard q.count >= 2 else { throw APIError.validation(field: "q", "give at least 2 letters of a name") }
            kind = .name(q)
        }
    }

    static func likeEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
    }

    func condition(alias: String) -> SQL {
        let p: SQL = "\(unescaped: alias)"
        switch kind {
        case .everyone: return "true"
        case .nationalID(let id): return "\(p).national_id = \(id)"
        case .mobile(let mobile): return "\(p).mobile = \(mobile)"
        case .digits(let digits):
            let escaped = Self.likeEscaped(digits)
            return "(\(p).national_id LIKE \(escaped + "%") OR \(p).mobile LIKE \("%" + escaped))"
        case .name(let name):
            // The trigram index on the normalised full name serves this LIKE.
            return """
                fa_normalize(\(p).first_name || ' ' || \(p).last_name) LIKE '%' || fa_normalize(\(Self.likeEscaped(name))) || '%'
                """
        }
    }
}
