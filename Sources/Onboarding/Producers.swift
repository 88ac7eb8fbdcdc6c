import Accounts
import BazaarcheCore
import Foundation

struct ApplicationRequest: Decodable {
    var nationalId: String
    var firstName: String
    var lastName: String
    var mobile: String
    var provinceCode: String
    var city: String
    var skills: [String]?
    var password: String
}

struct TransitionRequest: Decodable {
    var to: ProducerStatus
    var reason: String?
}

/// Producer applications, screening, verification and the producer's own profile.
public struct Producers: Sendable {
    let db: Database
    let accounts: Accounts

    public init(db: Database, accounts: Accounts) {
        self.db = db
        self.accounts = accounts
    }

    /// The JSON shape of a producer (alias `p`).
    public static let json = """
        json_build_object('id', p.id, 'national_id', p.national_id, 'first_name', p.first_name,
          'last_name', p.last_name, 'mobile', p.mobile, 'province_code', p.province_code, 'city', p.city,
          'skills', to_json(p.skills), 'status', p.status, 'applied_at', p.applied_at,
          'screened_at', p.screened_at, 'verified_at', p.verified_at, 'rejected_at', p.rejected_at,
          'updated_at', p.updated_at)
        """

    /// The producer's province and status, or 404 when it does not exist or the caller may not see it.
    public static func scope(of id: Int64, for principal: Principal, on connection: PostgresConnection, logger: Logger, lock: Bool = false)
        async throws -> (province: String, status: ProducerStatus)
    {
        let rows = try await connection.query(
            "SELECT province_code, status FROM producers WHERE id = \(id) \(unescaped: lock ? "FOR UPDATE" : "")",
            logger: logger
        ).collect()
        guard let row = rows.first else { throw APIError.notFound("Producer \(id)") }
        let (province, status) = try row.decode((String, String).self)
        guard principal.canSee(province: province, producer: id) else { throw APIError.notFound("Producer \(id)") }
        return (province, ProducerStatus(rawValue: status)!)
    }

    func apply(_ body: ApplicationRequest) async throws -> (Int64, String) {
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
        Accounts.validatePassword(body.password, into: &v)
        try v.throwIfInvalid()
        let hash = try await accounts.hash(body.password)
        do {
            return try await db.transaction { connection in
                let exists = try await connection.query(
                    "SELECT 1 FROM provinces WHERE code = \(body.provinceCode)", logger: db.logger
                ).collect()
                if exists.isEmpty { throw APIError.validation(field: "province_code", "is not a known province") }
                let rows = try await connection.query(
                    """
                    INSERT INTO producers AS p (national_id, first_name, last_name, mobile, province_code, city, skills)
                    VALUES (\(nationalID), \(first), \(last), \(mobile), \(body.provinceCode), \(city), \(skills))
                    RETURNING p.id, \(unescaped: Self.json)::text
                    """, logger: db.logger
                ).collect()
                let (id, json) = try rows[0].decode((Int64, String).self)
                _ = try await Accounts.insert(
                    on: connection, logger: db.logger, role: .producer, login: mobile, passwordHash: hash,
                    provinceCode: nil, producerID: id, partnerID: nil, actor: nil, auditProvince: body.provinceCode)
                try await Audit.record(
                    on: connection, logger: db.logger, actor: nil, entityType: "producer", entityID: id,
                    provinceCode: body.provinceCode, action: "producer.applied", from: nil, to: "applied")
                return (id, json)
            }
        } catch let error as APIError where error.errors.first?.field == "login" {
            // The mobile is the producer's login; a clash there is a clash on mobile.
            throw APIError.conflict(code: "already_exists", "A record with this mobile already exists.", field: "mobile")
        }
    }

    func transition(id: Int64, to target: ProducerStatus, reason: String?, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if target.needsReason && reason == nil { v.add("reason", "is required when moving to \(target.rawValue)") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let (province, current) = try await Self.scope(of: id, for: principal, on: connection, logger: db.logger, lock: true)
            guard current.canMove(to: target) else {
                throw APIError.invalidTransition(entity: "producer", from: current.rawValue, to: target.rawValue)
            }
            // First time a stage is reached is kept (the funnel counts stages reached, not current status).
            let stamp = switch target {
            case .screened: ", screened_at = coalesce(p.screened_at, now())"
            case .verified: ", verified_at = coalesce(p.verified_at, now())"
            case .rejected: ", rejected_at = coalesce(p.rejected_at, now())"
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
            return try rows[0].decode(String.self)
        }
    }

    func get(id: Int64, by principal: Principal) async throws -> String {
        guard [.admin, .supervisor, .producer].contains(principal.role) else {
            throw APIError.forbidden("Producer records are visible to the producer, its province's supervisors and admins.")
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
        try principal.require(.admin, .supervisor)
        let page = try Page(request: request)
        let status = try ProducerStatus.query(request.uri.queryParameters.get("status"), field: "status")
        var province = request.uri.queryParameters.get("province_code").map { String($0) }
        if principal.role == .supervisor {
            if let province, province != principal.provinceCode {
                throw APIError.forbidden("Supervisors see producers of their own province only.")
            }
            province = principal.provinceCode
        }
        let rows = try await db.rows(
            """
            SELECT p.id, \(unescaped: Self.json)::text FROM producers p
            WHERE p.id > \(page.after ?? 0)
              AND (\(status?.rawValue)::text IS NULL OR p.status = \(status?.rawValue))
              AND (\(province)::text IS NULL OR p.province_code = \(province))
            ORDER BY p.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/producer-applications") { request, context in
            let body = try await JSONBody.decode(ApplicationRequest.self, from: request, context: context)
            let (id, json) = try await apply(body)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/producers/\(id)"])
        }
        routes.get("/v1/producers") { request, context in
            JSONResponse.raw(try await list(request: request, principal: try context.requirePrincipal()))
        }
        routes.get("/v1/producers/{id}") { _, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(try await get(id: try context.id(what: "Producer"), by: principal))
        }
        routes.post("/v1/producers/{id}/transitions") { request, context in
            let principal = try context.require(.admin, .supervisor)
            let id = try context.id(what: "Producer")
            let body = try await JSONBody.decode(TransitionRequest.self, from: request, context: context)
            return JSONResponse.raw(try await transition(id: id, to: body.to, reason: body.reason, by: principal))
        }
    }
}
