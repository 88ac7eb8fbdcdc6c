import BazaarcheCore
import Foundation

struct BrandRequest: Decodable {
    var slug: String
    var nameFa: String
    var nameEn: String?
    var story: String?
    var logoUrl: String?
    var trademarkNumber: String?
    var owners: [Int64]?
}

/// JSON merge-patch field: absent, explicitly null, or a value.
enum PatchField<T: Decodable & Sendable>: Sendable {
    case absent, null
    case value(T)
}

extension PatchField where T == String {
    /// Surrounding whitespace dropped; a blank string clears the field.
    var trimmed: PatchField<String> {
        guard case .value(let text) = self else { return self }
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return t.isEmpty ? .null : .value(t)
    }
}

extension KeyedDecodingContainer {
    func patch<T: Decodable>(_ type: T.Type, _ key: Key) throws -> PatchField<T> {
        guard contains(key) else { return .absent }
        if try decodeNil(forKey: key) { return .null }
        return .value(try decode(T.self, forKey: key))
    }
}

struct BrandPatch: Decodable {
    var slug: PatchField<String>, nameFa: PatchField<String>, nameEn: PatchField<String>, story: PatchField<String>
    var logoUrl: PatchField<String>, trademarkNumber: PatchField<String>, owners: PatchField<[Int64]>

    enum CodingKeys: String, CodingKey { case slug, nameFa, nameEn, story, logoUrl, trademarkNumber, owners }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        slug = try c.patch(String.self, .slug)
        nameFa = try c.patch(String.self, .nameFa)
        nameEn = try c.patch(String.self, .nameEn)
        story = try c.patch(String.self, .story)
        logoUrl = try c.patch(String.self, .logoUrl)
        trademarkNumber = try c.patch(String.self, .trademarkNumber)
        owners = try c.patch([Int64].self, .owners)
    }
}

/// Brands, possibly shared by several producers (a cooperative).
public struct Brands: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let json = """
        json_build_object('id', b.id, 'slug', b.slug, 'name_fa', b.name_fa, 'name_en', b.name_en, 'story', b.story,
          'logo_url', b.logo_url, 'trademark_number', b.trademark_number,
          'owners', coalesce((SELECT json_agg(o.producer_id ORDER BY o.producer_id) FROM brand_owners o
            WHERE o.brand_id = b.id), '[]'),
          'created_at', api_time(b.created_at), 'updated_at', api_time(b.updated_at))
        """

    static func validate(
        slug: String?, nameFa: String?, nameEn: String?, story: String?, logoUrl: String?, trademark: String?,
        owners: [Int64]?, into v: inout Validator
    ) {
        if let slug {
            v.check(Slug.isValid(slug), "slug", "must be lower-case latin letters, digits and single hyphens, at most 60")
        }
        if let nameFa { _ = v.text(nameFa, "name_fa", max: 120) }
        _ = v.optionalText(nameEn, "name_en", max: 120)
        _ = v.optionalText(story, "story", max: 4000)
        if let logoUrl { v.check(WebURL.isValid(logoUrl), "logo_url", "must be an http(s) URL") }
        _ = v.optionalText(trademark, "trademark_number", max: 40)
        if let owners {
            v.check(!owners.isEmpty, "owners", "must name at least one producer")
            v.check(owners.count <= 50, "owners", "must name at most 50 producers")
        }
    }

    func setOwners(_ brandID: Int64, _ owners: [Int64], on connection: PostgresConnection) async throws {
        let known = try await connection.query(
            "SELECT count(*)::int FROM producers WHERE id = ANY(\(owners)) AND status <> 'rejected'", logger: db.logger
        ).collect()[0].decode(Int.self)
        guard known == Set(owners).count else {
            throw APIError.validation(field: "owners", "every owner must be an existing, non-rejected producer")
        }
        try await connection.query("DELETE FROM brand_owners WHERE brand_id = \(brandID)", logger: db.logger)
        try await connection.query(
            "INSERT INTO brand_owners (brand_id, producer_id) SELECT \(brandID), unnest(\(Array(Set(owners))))",
            logger: db.logger)
    }

    func clean(_ text: String?) -> String? {
        let t = text?.trimmingCharacters(in: .whitespacesAndNewlines)
        return (t?.isEmpty ?? true) ? nil : t
    }

    func create(_ body: BrandRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.producer, .admin)
        var listed = body.owners ?? []
        if principal.role == .producer, let me = principal.producerID, !listed.contains(me) { listed.insert(me, at: 0) }
        var v = Validator()
        Self.validate(
            slug: body.slug, nameFa: body.nameFa, nameEn: body.nameEn, story: body.story, logoUrl: body.logoUrl,
            trademark: body.trademarkNumber, owners: listed, into: &v)
        try v.throwIfInvalid()
        let owners = listed
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO brands (slug, name_fa, name_en, story, logo_url, trademark_number)
                VALUES (\(body.slug), \(body.nameFa.trimmingCharacters(in: .whitespacesAndNewlines)), \(clean(body.nameEn)),
                        \(clean(body.story)), \(body.logoUrl), \(clean(body.trademarkNumber)))
                RETURNING id
                """, logger: db.logger
            ).collect()
            let id = try rows[0].decode(Int64.self)
            try await setOwners(id, owners, on: connection)
            let json = try await connection.query(
                "SELECT \(unescaped: Self.json)::text FROM brands b WHERE b.id = \(id)", logger: db.logger
            )
            .collect()[0].decode(String.self)
            return (id, json)
        }
    }

    func update(id: Int64, _ patch: BrandPatch, by principal: Principal) async throws -> String {
        try principal.require(.producer, .admin)
        var v = Validator()
        func value(_ field: PatchField<String>) -> String? { if case .value(let s) = field { s } else { nil } }
        if case .null = patch.slug { v.add("slug", "cannot be removed") }
        if case .null = patch.nameFa { v.add("name_fa", "cannot be removed") }
        if case .null = patch.owners { v.add("owners", "cannot be removed") }
        var listed: [Int64]? = nil
        if case .value(let list) = patch.owners { listed = list }
        Self.validate(
            slug: value(patch.slug), nameFa: value(patch.nameFa), nameEn: value(patch.nameEn), story: value(patch.story),
            logoUrl: value(patch.logoUrl), trademark: value(patch.trademarkNumber), owners: listed, into: &v)
        try v.throwIfInvalid()
        let owners = listed
        return try await db.transaction { connection in
            let exists = try await connection.query(
                """
                SELECT EXISTS (SELECT 1 FROM brand_owners o WHERE o.brand_id = b.id AND o.producer_id = \(principal.producerID))
                FROM brands b WHERE b.id = \(id) FOR UPDATE
                """, logger: db.logger
            ).collect()
            guard let row = exists.first else { throw APIError.notFound("Brand \(id)") }
            let isOwner = try row.decode(Bool.self)
            guard principal.role == .admin || isOwner else { throw APIError.notFound("Brand \(id)") }
            // Each field: keep when absent, set (possibly to NULL) when present.
            func set(_ column: SQL, _ field: PatchField<String>) -> (SQL, String?)? {
                switch field {
                case .absent: nil
                case .null: (column, nil)
                case .value(let s): (column, s)
                }
            }
            let changes = [
                set("slug", patch.slug), set("name_fa", patch.nameFa.trimmed), set("name_en", patch.nameEn.trimmed),
                set("story", patch.story.trimmed), set("logo_url", patch.logoUrl),
                set("trademark_number", patch.trademarkNumber.trimmed),
            ].compactMap { $0 }
            var update: SQL = "UPDATE brands SET version = version + 1, updated_at = now()"
            for (column, value) in changes { update += ", \(column) = \(value)" }
            update += " WHERE id = \(id)"
            try await connection.query(update.query, logger: db.logger)
            if let owners {
                if principal.role == .producer, let me = principal.producerID, !owners.contains(me) {
                    throw APIError.validation(field: "owners", "you cannot remove yourself; another owner can")
                }
                try await setOwners(id, owners, on: connection)
            }
            return try await connection.query(
                "SELECT \(unescaped: Self.json)::text FROM brands b WHERE b.id = \(id)", logger: db.logger
            )
            .collect()[0].decode(String.self)
        }
    }

    func list(request: Request) async throws -> String {
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        var owner: Int64? = nil
        if let text = q.get("producer_id") {
            guard let value = Int64(text), value > 0 else {
                throw APIError.validation(field: "producer_id", "must be a positive integer")
            }
            owner = value
        }
        let term = q.get("q").map { "%" + Search.escapeLike(PersianText.compact(String($0))) + "%" }
        let rows = try await db.rows(
            """
            SELECT b.id, \(unescaped: Self.json)::text FROM brands b
            WHERE b.id > \(page.after ?? 0)
              AND (\(owner)::bigint IS NULL OR EXISTS (SELECT 1 FROM brand_owners o WHERE o.brand_id = b.id
                AND o.producer_id = \(owner)))
              AND (\(term)::text IS NULL OR fa_compact(concat_ws(' ', b.name_fa, b.name_en, b.slug)) LIKE \(term))
            ORDER BY b.id LIMIT \(page.limit + 1)
            """)
        return try page.body(rows: rows)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/brands", for: .producer, .admin, decoding: BrandRequest.self) { try await create($0, by: $1) }
        routes.get("/v1/brands") { request, _ in JSONResponse.raw(try await list(request: request)) }
        routes.get("/v1/brands/{id}") { _, context in
            let id = try context.id(what: "Brand")
            return JSONResponse.raw(
                try await db.json(
                    "SELECT \(unescaped: Self.json)::text FROM brands b WHERE b.id = \(id)", notFound: "Brand \(id)"))
        }
        routes.patch("/v1/brands/{id}") { request, context in
            let principal = try context.require(.producer, .admin)
            let id = try context.id(what: "Brand")
            let patch = try await JSONBody.decode(BrandPatch.self, from: request, context: context)
            return JSONResponse.raw(try await update(id: id, patch, by: principal))
        }
    }
}
