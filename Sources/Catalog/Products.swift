import BazaarcheCore
import Foundation

struct ProductRequest: Decodable {
    var titleFa: String
    var titleEn: String?
    var description: String?
    var categoryCode: String
    var brandId: Int64?
    var unit: ProductUnit
    var priceRials: Int64
    var stock: Int
    var monthlyCapacity: Int?
    var minOrderQty: Int?
    var hsCode: String?
}

struct ProductPatch: Decodable {
    var titleFa: PatchField<String>, titleEn: PatchField<String>, description: PatchField<String>
    var categoryCode: PatchField<String>, brandId: PatchField<Int64>, unit: PatchField<ProductUnit>
    var priceRials: PatchField<Int64>, stock: PatchField<Int>, monthlyCapacity: PatchField<Int>
    var minOrderQty: PatchField<Int>, hsCode: PatchField<String>

    enum CodingKeys: String, CodingKey {
        case titleFa, titleEn, description, categoryCode, brandId, unit, priceRials, stock, monthlyCapacity, minOrderQty, hsCode
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        titleFa = try c.patch(String.self, .titleFa)
        titleEn = try c.patch(String.self, .titleEn)
        description = try c.patch(String.self, .description)
        categoryCode = try c.patch(String.self, .categoryCode)
        brandId = try c.patch(Int64.self, .brandId)
        unit = try c.patch(ProductUnit.self, .unit)
        priceRials = try c.patch(Int64.self, .priceRials)
        stock = try c.patch(Int.self, .stock)
        monthlyCapacity = try c.patch(Int.self, .monthlyCapacity)
        minOrderQty = try c.patch(Int.self, .minOrderQty)
        hsCode = try c.patch(String.self, .hsCode)
    }
}

/// What the caller may do with one product, read under the caller's rules.
struct ProductAccess {
    let id: Int64
    let producerID: Int64
    let province: String
    let status: ProductStatus
    let searchable: Bool
    let version: Int

    var owner: Access.Owner { Access.Owner(province: province, producer: producerID, isPublic: searchable) }

    func visible(to principal: Principal?) -> Bool { Access.rule(for: principal, on: .product).allows(owner) }
}

/// Product listings: create, read, edit with optimistic concurrency, status transitions.
public struct Products: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// The JSON of a product (alias `p`): everything a partner needs without follow-up calls.
    static let json = """
        json_build_object('id', p.id,
          'producer', json_build_object('id', p.producer_id, 'province_code', p.province_code),
          'brand', (SELECT json_build_object('id', b.id, 'slug', b.slug, 'name_fa', b.name_fa, 'name_en', b.name_en)
                    FROM brands b WHERE b.id = p.brand_id),
          'title_fa', p.title_fa, 'title_en', p.title_en, 'description', p.description,
          'category_code', p.category_code, 'unit', p.unit, 'price_rials', p.price_rials, 'stock', p.stock,
          'monthly_capacity', p.monthly_capacity, 'min_order_qty', p.min_order_qty, 'hs_code', p.hs_code,
          'status', p.status, 'packaging_level', (ARRAY['none','basic','retail','export'])[p.packaging_level + 1],
          'valid_certificates', coalesce((SELECT json_agg(DISTINCT c.kind) FROM certificates c
             WHERE c.product_id = p.id AND c.status = 'granted' AND c.expires_on >= tehran_today()), '[]'),
          'version', p.version, 'listed_at', api_time(p.listed_at), 'created_at', api_time(p.created_at), 'updated_at',
            api_time(p.updated_at))
        """

    static func etag(_ version: Int) -> String { EntityTag.of(version) }

    /// The product if `rule` reaches it (in the WHERE clause, and checked again here), else nil.
    static func access(_ id: Int64, for rule: Access.Rule, on connection: PostgresConnection, logger: Logger, lock: Bool = false)
        async throws -> ProductAccess?
    {
        let query: SQL = """
            SELECT p.producer_id, p.province_code, p.status, p.searchable, p.version FROM products p
            WHERE p.id = \(id) AND \(rule.condition(alias: "p")) \(unescaped: lock ? "FOR UPDATE" : "")
            """
        guard let row = try await connection.query(query.query, logger: logger).collect().first else { return nil }
        let (producer, province, status, searchable, version) = try row.decode((Int64, String, String, Bool, Int).self)
        let access = ProductAccess(
            id: id, producerID: producer, province: province, status: ProductStatus(rawValue: status)!,
            searchable: searchable, version: version)
        return rule.allows(access.owner) ? access : nil
    }

    /// The product for writing by its owner (or an admin), locked: 404 for anyone else's.
    static func owned(_ id: Int64, by principal: Principal, on connection: PostgresConnection, logger: Logger) async throws
        -> ProductAccess
    {
        let owners = principal.access(.product, to: .own)
        guard let access = try await access(id, for: owners, on: connection, logger: logger, lock: true) else {
            throw APIError.notFound("Product \(id)")
        }
        return access
    }

    static func validate(
        titleFa: String?, titleEn: String?, description: String?, price: Int64?, stock: Int?, capacity: Int?,
        minOrder: Int?, hsCode: String?, into v: inout Validator
    ) {
        if let titleFa { _ = v.text(titleFa, "title_fa", max: 200) }
        _ = v.optionalText(titleEn, "title_en", max: 200)
        _ = v.optionalText(description, "description", max: 5000)
        if let price {
            v.check(price > 0 && price <= 1_000_000_000_000, "price_rials", "must be a whole number of rials above 0")
        }
        if let stock { v.check((0...1_000_000_000).contains(stock), "stock", "must be 0 or more") }
        if let capacity { v.check((0...1_000_000_000).contains(capacity), "monthly_capacity", "must be 0 or more") }
        if let minOrder { v.check((1...1_000_000_000).contains(minOrder), "min_order_qty", "must be 1 or more") }
        if let hsCode { v.check(HSCode.isWellFormed(hsCode), "hs_code", "must be 6 to 10 digits") }
    }

    /// Checks references the schema cannot phrase as a field error: the category exists, the brand
    /// is one the producer owns, the HS chapter exists and is not reserved.
    static func checkReferences(
        category: String?, brand: Int64?, hsCode: String?, producerID: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        var v = Validator()
        if let category {
            let found = try await connection.query("SELECT 1 FROM categories WHERE code = \(category)", logger: logger).collect()
            v.check(!found.isEmpty, "category_code", "is not a category of the taxonomy (see /v1/categories)")
        }
        if let brand {
            let owned = try await connection.query(
                "SELECT 1 FROM brand_owners WHERE brand_id = \(brand) AND producer_id = \(producerID)", logger: logger
            ).collect()
            v.check(!owned.isEmpty, "brand_id", "is not a brand this producer owns")
        }
        if let hsCode, let chapter = Int(hsCode.prefix(2)) {
            let found = try await connection.query(
                "SELECT 1 FROM hs_chapters WHERE chapter = \(chapter) AND NOT reserved", logger: logger
            ).collect()
            v.check(!found.isEmpty, "hs_code", "its chapter \(hsCode.prefix(2)) is not an HS chapter in use")
        }
        try v.throwIfInvalid()
    }

    func create(_ body: ProductRequest, by principal: Principal) async throws -> (Int64, String, Int) {
        try principal.require(.producer)
        guard let producerID = principal.producerID else { throw APIError.forbidden("Only producers list products.") }
        var v = Validator()
        Self.validate(
            titleFa: body.titleFa, titleEn: body.titleEn, description: body.description, price: body.priceRials,
            stock: body.stock, capacity: body.monthlyCapacity, minOrder: body.minOrderQty, hsCode: body.hsCode, into: &v)
        try v.throwIfInvalid()
        var cleaned = body
        cleaned.titleEn = v.optionalText(body.titleEn, "title_en")
        cleaned.description = v.optionalText(body.description, "description", max: 5000)
        let body = cleaned
        return try await db.transaction { connection in
            let producer = try await connection.query(
                "SELECT status, province_code FROM producers WHERE id = \(producerID)", logger: db.logger
            ).collect()[0].decode((String, String).self)
            if producer.0 == "rejected" {
                throw APIError.conflict(
                    code: "producer_not_eligible", "A rejected applicant cannot list products.",
                    extra: ["current_status": producer.0])
            }
            try await Self.checkReferences(
                category: body.categoryCode, brand: body.brandId, hsCode: body.hsCode, producerID: producerID,
                on: connection, logger: db.logger)
            let rows = try await connection.query(
                """
                INSERT INTO products AS p (producer_id, province_code, brand_id, title_fa, title_en, description, category_code,
                  unit, price_rials, stock, monthly_capacity, min_order_qty, hs_code)
                VALUES (\(producerID), \(producer.1), \(body.brandId),
                  \(body.titleFa.trimmingCharacters(in: .whitespacesAndNewlines)),
                  \(body.titleEn), \(body.description), \(body.categoryCode), \(body.unit.rawValue), \(body.priceRials),
                    \(body.stock),
                  \(body.monthlyCapacity ?? 0), \(body.minOrderQty ?? 1), \(body.hsCode))
                RETURNING p.id, p.version, \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()
            let (id, version, json) = try rows[0].decode((Int64, Int, String).self)
            return (id, json, version)
        }
    }

    /// Product by id as a prepared statement: planning the JSON query took five times longer than
    /// running it (pgbench on its SQL: 5,000 statements/s unprepared, 28,000 prepared).
    enum ByID: StatementSQL {
        static let sql = """
            SELECT p.producer_id, p.province_code, p.status, p.searchable, p.version, \(Products.json)::text
            FROM products p WHERE p.id = $1
            """
    }

    /// Product by id: one round trip for the access facts and the JSON (a hot path for partners).
    /// The statement stays fixed (prepared), so the access rule is checked here, not in its WHERE.
    func read(_ id: Int64, principal: Principal?) async throws -> (String, Int) {
        guard let row = try await db.prepared(Prepared<ByID>(id)).first else { throw APIError.notFound("Product \(id)") }
        let (producer, province, status, searchable, version, json) = try row.decode(
            (Int64, String, String, Bool, Int, String).self)
        let access = ProductAccess(
            id: id, producerID: producer, province: province, status: ProductStatus(rawValue: status)!,
            searchable: searchable, version: version)
        guard access.visible(to: principal) else { throw APIError.notFound("Product \(id)") }
        return (json, version)
    }

    func update(_ id: Int64, _ patch: ProductPatch, ifMatch: String?, by principal: Principal) async throws -> (String, Int) {
        try principal.require(.producer, .admin)
        var v = Validator()
        @Sendable func value<T>(_ field: PatchField<T>) -> T? { if case .value(let x) = field { x } else { nil } }
        for (name, isNull) in [
            ("title_fa", { if case .null = patch.titleFa { true } else { false } }()),
            ("category_code", { if case .null = patch.categoryCode { true } else { false } }()),
            ("unit", { if case .null = patch.unit { true } else { false } }()),
            ("price_rials", { if case .null = patch.priceRials { true } else { false } }()),
            ("stock", { if case .null = patch.stock { true } else { false } }()),
            ("monthly_capacity", { if case .null = patch.monthlyCapacity { true } else { false } }()),
            ("min_order_qty", { if case .null = patch.minOrderQty { true } else { false } }()),
        ] where isNull {
            v.add(name, "cannot be removed")
        }
        Self.validate(
            titleFa: value(patch.titleFa), titleEn: value(patch.titleEn), description: value(patch.description),
            price: value(patch.priceRials), stock: value(patch.stock), capacity: value(patch.monthlyCapacity),
            minOrder: value(patch.minOrderQty), hsCode: value(patch.hsCode), into: &v)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let access = try await Self.owned(id, by: principal, on: connection, logger: db.logger)
            try EntityTag.check(ifMatch, version: access.version, entity: "product")
            if access.status == .archived {
                throw APIError.conflict(
                    code: "product_archived", "An archived product cannot be edited.", extra: ["current_status": "archived"])
            }
            try await Self.checkReferences(
                category: value(patch.categoryCode), brand: value(patch.brandId), hsCode: value(patch.hsCode),
                producerID: access.producerID, on: connection, logger: db.logger)
            var update: SQL = "UPDATE products SET version = version + 1, updated_at = now()"
            func set<T: PostgresDynamicTypeEncodable & Sendable>(_ column: SQL, _ field: PatchField<T>) {
                switch field {
                case .absent: break
                case .null: update += ", \(column) = NULL"
                case .value(let x): update += ", \(column) = \(x)"
                }
            }
            set("title_fa", patch.titleFa.trimmed)
            set("title_en", patch.titleEn.trimmed)
            set("description", patch.description.trimmed)
            set("category_code", patch.categoryCode)
            set("brand_id", patch.brandId)
            if case .value(let unit) = patch.unit { update += ", unit = \(unit.rawValue)" }
            set("price_rials", patch.priceRials)
            set("stock", patch.stock)
            set("monthly_capacity", patch.monthlyCapacity)
            set("min_order_qty", patch.minOrderQty)
            set("hs_code", patch.hsCode)
            update += " WHERE id = \(id)"
            try await connection.query(update.query, logger: db.logger)
            let (json, version) = try await connection.query(
                "SELECT \(unescaped: Self.json)::text, p.version FROM products p WHERE p.id = \(id)", logger: db.logger
            ).collect()[0].decode((String, Int).self)
            return (json, version)
        }
    }

    func transition(_ id: Int64, to target: ProductStatus, reason: String?, by principal: Principal) async throws -> (String, Int)
    {
        try principal.require(.producer, .admin)
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let access = try await Self.owned(id, by: principal, on: connection, logger: db.logger)
            guard access.status.canMove(to: target) else {
                throw APIError.invalidTransition(entity: "product", from: access.status.rawValue, to: target.rawValue)
            }
            if target == .listed {
                let status = try await connection.query(
                    "SELECT status FROM producers WHERE id = \(access.producerID)", logger: db.logger
                ).collect()[0].decode(String.self)
                guard status == "verified" else {
                    throw APIError.conflict(
                        code: "producer_not_verified",
                        "Only a verified producer's products can be listed; this producer is \"\(status)\".",
                        extra: ["producer_status": status])
                }
            }
            let (json, version) = try await connection.query(
                """
                UPDATE products p SET status = \(target.rawValue), version = version + 1, updated_at = now(),
                  listed_at = CASE WHEN \(target.rawValue) = 'listed' THEN coalesce(p.listed_at, now()) ELSE p.listed_at END
                WHERE p.id = \(id) RETURNING \(unescaped: Self.json)::text, p.version
                """, logger: db.logger
            ).collect()[0].decode((String, Int).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "product", entityID: id,
                provinceCode: access.province, action: "product.status_changed", from: access.status.rawValue,
                to: target.rawValue, reason: reason)
            return (json, version)
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/products") { request, context in
            let principal = try context.require(.producer)
            let body = try await JSONBody.decode(ProductRequest.self, from: request, context: context)
            let (id, json, version) = try await create(body, by: principal)
            return JSONResponse.raw(
                json, status: .created, headers: [.location: "/v1/products/\(id)", .eTag: Self.etag(version)])
        }
        routes.get("/v1/products/{id}") { _, context in
            let (json, version) = try await read(try context.id(what: "Product"), principal: context.principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.patch("/v1/products/{id}") { request, context in
            let principal = try context.require(.producer, .admin)
            let id = try context.id(what: "Product")
            let patch = try await JSONBody.decode(ProductPatch.self, from: request, context: context)
            let (json, version) = try await update(id, patch, ifMatch: request.headers[.ifMatch], by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.post("/v1/products/{id}/transitions") { request, context in
            let principal = try context.require(.producer, .admin)
            let id = try context.id(what: "Product")
            let body = try await JSONBody.decode(StatusChange<ProductStatus>.self, from: request, context: context)
            let (json, version) = try await transition(id, to: body.to, reason: body.reason, by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
    }
}
