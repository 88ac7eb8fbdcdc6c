import BazaarcheCore
import Foundation

struct ActivityRequest: Decodable {
    var code: String
    var categoryCode: String
    var nameFa: String
    var nameEn: String
}

struct ActivityPatch: Decodable {
    var categoryCode: String?
    var nameFa: String?
    var nameEn: String?
    var active: Bool?
}

/// The taxonomy of home-business activities (`food.pastry`, `carpets.kilim`, …), each mapped to
/// the product category its goods are listed under. Public, like the categories: applicants pick
/// from it before they have an account. Admins extend it, rename, remap and deactivate; a code
/// never changes and is never deleted, since producers and approved studies keep referring to it.
public struct Activities: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// The most activities one producer or application lists.
    public static let maxPerProducer = 10

    static let json = """
        json_build_object('id', a.id, 'code', a.code, 'category_code', a.category_code, 'name_fa', a.name_fa,
          'name_en', a.name_en, 'active', a.active, 'created_at', api_time(a.created_at),
          'updated_at', api_time(a.updated_at))
        """

    static func isWellFormed(_ code: String) -> Bool {
        code.utf8.count <= 64
            && code.range(of: #"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"#, options: .regularExpression) != nil
    }

    /// Codes as a request gives them: trimmed, lower-cased, duplicates dropped (first kept).
    static func normalized(_ codes: [String]) -> [String] {
        var seen = Set<String>()
        return codes.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// The codes among `codes` that are not active activities (unknown or deactivated).
    static func unknownOrInactive(_ codes: [String], on connection: PostgresConnection, logger: Logger) async throws
        -> [String]
    {
        guard !codes.isEmpty else { return [] }
        let active = try await connection.query(
            "SELECT code FROM activities WHERE code = ANY(\(codes)) AND active", logger: logger
        ).collect().map { try $0.decode(String.self) }
        return codes.filter { !active.contains($0) }
    }

    func list(request: Request) async throws -> String {
        let q = request.uri.queryParameters
        let category = q.get("category_code").map { String($0) }
        var includeInactive = false
        if let text = q.get("include_inactive") {
            guard let value = Bool(String(text)) else {
                throw APIError.validation(field: "include_inactive", "must be true or false")
            }
            includeInactive = value
        }
        return try await db.text(
            """
            SELECT json_build_object('items', coalesce(json_agg(\(unescaped: Self.json) ORDER BY a.code), '[]'))::text
            FROM activities a
            WHERE (\(includeInactive) OR a.active)
              AND (\(category)::text IS NULL OR a.category_code = \(category)
                   OR a.category_code IN (SELECT code FROM categories WHERE parent_code = \(category)))
            """) ?? "{\"items\":[]}"
    }

    func get(_ code: String) async throws -> String {
        try await db.json(
            "SELECT \(unescaped: Self.json)::text FROM activities a WHERE a.code = \(code)", notFound: "Activity \(code)")
    }

    func create(_ body: ActivityRequest, by principal: Principal) async throws -> (String, String) {
        try principal.require(.admin)
        var v = Validator()
        let code = body.code.trimmingCharacters(in: .whitespaces).lowercased()
        v.check(
            Self.isWellFormed(code), "code",
            "must be lower-case words of letters, digits and _ joined by dots, like food.pastry (at most 64 characters)")
        let nameFa = v.text(body.nameFa, "name_fa", max: 200)
        let nameEn = v.text(body.nameEn, "name_en", max: 200)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            try await Self.checkCategory(body.categoryCode, on: connection, logger: db.logger)
            let exists = try await connection.query("SELECT 1 FROM activities WHERE code = \(code)", logger: db.logger)
                .collect()
            if !exists.isEmpty {
                throw APIError.conflict(code: "already_exists", "Activity \(code) already exists.", field: "code")
            }
            let (id, json) = try await connection.query(
                """
                INSERT INTO activities AS a (code, category_code, name_fa, name_en)
                VALUES (\(code), \(body.categoryCode), \(nameFa), \(nameEn))
                RETURNING a.id, \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "activity", entityID: id, provinceCode: nil,
                action: "activity.created", from: nil, to: code)
            return (code, json)
        }
    }

    static func checkCategory(_ category: String, on connection: PostgresConnection, logger: Logger) async throws {
        let known = try await connection.query("SELECT 1 FROM categories WHERE code = \(category)", logger: logger).collect()
        if known.isEmpty {
            throw APIError.validation(field: "category_code", "is not a category of the taxonomy (see /v1/categories)")
        }
    }

    func update(_ code: String, _ body: ActivityPatch, by principal: Principal) async throws -> String {
        try principal.require(.admin)
        var v = Validator()
        let nameFa = body.nameFa.map { v.text($0, "name_fa", max: 200) }
        let nameEn = body.nameEn.map { v.text($0, "name_en", max: 200) }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let rows = try await connection.query(
                "SELECT id, category_code, name_fa, name_en, active FROM activities WHERE code = \(code) FOR UPDATE",
                logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Activity \(code)") }
            let before = try row.decode((Int64, String, String, String, Bool).self)
            if let category = body.categoryCode { try await Self.checkCategory(category, on: connection, logger: db.logger) }
            let json = try await connection.query(
                """
                UPDATE activities a SET category_code = coalesce(\(body.categoryCode), a.category_code),
                  name_fa = coalesce(\(nameFa), a.name_fa), name_en = coalesce(\(nameEn), a.name_en),
                  active = coalesce(\(body.active), a.active), updated_at = now()
                WHERE a.code = \(code)
                RETURNING \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()[0].decode(String.self)
            // One event per kind of change, so the trail says what moved.
            func record(_ action: String, _ from: String, _ to: String) async throws {
                guard from != to else { return }
                try await Audit.record(
                    on: connection, logger: db.logger, actor: principal, entityType: "activity", entityID: before.0,
                    provinceCode: nil, action: action, from: from, to: to)
            }
            try await record("activity.recategorised", before.1, body.categoryCode ?? before.1)
            try await record("activity.renamed", before.2 + " / " + before.3, (nameFa ?? before.2) + " / " + (nameEn ?? before.3))
            let active = body.active ?? before.4
            try await record(
                active ? "activity.reactivated" : "activity.deactivated", before.4 ? "active" : "inactive",
                active ? "active" : "inactive")
            return json
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/activities") { request, _ in
            JSONResponse.raw(try await list(request: request))
        }
        routes.get("/v1/activities/{code}") { _, context in
            JSONResponse.raw(try await get(context.parameters.get("code") ?? ""))
        }
        routes.post("/v1/activities") { request, context in
            let principal = try context.require(.admin)
            let body = try await JSONBody.decode(ActivityRequest.self, from: request, context: context)
            let (code, json) = try await create(body, by: principal)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/activities/\(code)"])
        }
        routes.patch("/v1/activities/{code}") { request, context in
            let principal = try context.require(.admin)
            let body = try await JSONBody.decode(ActivityPatch.self, from: request, context: context)
            return JSONResponse.raw(try await update(context.parameters.get("code") ?? "", body, by: principal))
        }
    }
}
