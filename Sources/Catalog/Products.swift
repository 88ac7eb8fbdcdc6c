import BazaarcheCore
import Foundation

/// A new product as a client (or a CSV import row) describes it.
package struct ProductRequest: Decodable, Sendable {
    package var titleFa: String
    package var titleEn: String?
    package var description: String?
    package var categoryCode: String
    package var brandId: Int64?
    package var unit: ProductUnit
    package var priceRials: Int64
    package var stock: Int
    package var monthlyCapacity: Int?
    package var minOrderQty: Int?
    package var hsCode: String?
    /// Wholesale terms (issue 16): volume tiers, pack multiple, lead time, suggested retail price.
    package var priceTiers: [PriceTier]?
    package var orderIncrement: Int?
    package var leadTimeDays: Int?
    package var suggestedRetailPriceRials: Int64?

    package init(
        titleFa: String, titleEn: String? = nil, description: String? = nil, categoryCode: String, brandId: Int64? = nil,
        unit: ProductUnit, priceRials: Int64, stock: Int, monthlyCapacity: Int? = nil, minOrderQty: Int? = nil,
        hsCode: String? = nil, priceTiers: [PriceTier]? = nil, orderIncrement: Int? = nil, leadTimeDays: Int? = nil,
        suggestedRetailPriceRials: Int64? = nil
    ) {
        self.titleFa = titleFa
        self.titleEn = titleEn
        self.description = description
        self.categoryCode = categoryCode
        self.brandId = brandId
        self.unit = unit
        self.priceRials = priceRials
        self.stock = stock
        self.monthlyCapacity = monthlyCapacity
        self.minOrderQty = minOrderQty
        self.hsCode = hsCode
        self.priceTiers = priceTiers
        self.orderIncrement = orderIncrement
        self.leadTimeDays = leadTimeDays
        self.suggestedRetailPriceRials = suggestedRetailPriceRials
    }
}

struct ProductPatch: Decodable {
    var titleFa: PatchField<String>, titleEn: PatchField<String>, description: PatchField<String>
    var categoryCode: PatchField<String>, brandId: PatchField<Int64>, unit: PatchField<ProductUnit>
    var priceRials: PatchField<Int64>, stock: PatchField<Int>, monthlyCapacity: PatchField<Int>
    var minOrderQty: PatchField<Int>, hsCode: PatchField<String>
    var priceTiers: PatchField<[PriceTier]>, orderIncrement: PatchField<Int>, leadTimeDays: PatchField<Int>
    var suggestedRetailPriceRials: PatchField<Int64>

    enum CodingKeys: String, CodingKey {
        case titleFa, titleEn, description, categoryCode, brandId, unit, priceRials, stock, monthlyCapacity, minOrderQty, hsCode
        case priceTiers, orderIncrement, leadTimeDays, suggestedRetailPriceRials
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
        priceTiers = try c.patch([PriceTier].self, .priceTiers)
        orderIncrement = try c.patch(Int.self, .orderIncrement)
        leadTimeDays = try c.patch(Int.self, .leadTimeDays)
        suggestedRetailPriceRials = try c.patch(Int64.self, .suggestedRetailPriceRials)
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
          'price_tiers', p.price_tiers, 'order_increment', p.order_increment, 'lead_time_days', p.lead_time_days,
          'suggested_retail_price_rials', p.suggested_retail_price_rials,
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

    /// Field errors of the wholesale terms taken together: tiers against the base price, increment
    /// and minimum order; the minimum order a multiple of the increment; the suggested retail price
    /// not below the price. Called with the values a product will have (a PATCH merges stored ones).
    static func validateTerms(
        price: Int64, minOrder: Int, increment: Int, tiers: [PriceTier], leadTime: Int?, suggestedRetail: Int64?,
        into v: inout Validator
    ) {
        let incrementOK = (1...1_000_000_000).contains(increment)
        v.check(incrementOK, "order_increment", "must be 1 or more")
        if let leadTime { v.check((0...365).contains(leadTime), "lead_time_days", "must be 0 to 365 days") }
        if let suggestedRetail {
            if !(1...1_000_000_000_000).contains(suggestedRetail) {
                v.add("suggested_retail_price_rials", "must be a whole number of rials above 0")
            } else {
                v.check(
                    suggestedRetail >= price, "suggested_retail_price_rials", "must not be below price_rials (\(price))")
            }
        }
        guard incrementOK, (1...1_000_000_000).contains(minOrder), price > 0 else { return }
        v.check(
            minOrder % increment == 0, "min_order_qty", "must be a multiple of order_increment (\(increment))")
        for problem in PriceTiers.problems(tiers, base: price, increment: increment, minOrder: minOrder) {
            v.add(problem.field, problem.message)
        }
    }

    /// Validates `body`, checks its references and inserts it as a draft of `producer`, on
    /// `connection` (the caller's transaction). `principal` must reach the producer: the producer
    /// itself, an implementer of its province (acting for it, e.g. a CSV import) or an admin;
    /// anyone else gets 404. Throws `APIError` (422 with field errors, 409 for a rejected
    /// applicant) before writing anything.
    package static func insert(
        _ body: ProductRequest, producer producerID: Int64, by principal: Principal, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> (id: Int64, json: String, version: Int) {
        var v = Validator()
        Self.validate(
            titleFa: body.titleFa, titleEn: body.titleEn, description: body.description, price: body.priceRials,
            stock: body.stock, capacity: body.monthlyCapacity, minOrder: body.minOrderQty, hsCode: body.hsCode, into: &v)
        Self.validateTerms(
            price: body.priceRials, minOrder: body.minOrderQty ?? 1, increment: body.orderIncrement ?? 1,
            tiers: body.priceTiers ?? [], leadTime: body.leadTimeDays, suggestedRetail: body.suggestedRetailPriceRials,
            into: &v)
        let titleEn = v.optionalText(body.titleEn, "title_en")
        let description = v.optionalText(body.description, "description", max: 5000)
        try v.throwIfInvalid()
        guard
            let producer = try await connection.query(
                "SELECT status, province_code FROM producers WHERE id = \(producerID)", logger: logger
            ).collect().first.map({ try $0.decode((String, String).self) })
        else { throw APIError.notFound("Producer \(producerID)") }
        let reaches: Bool
        switch principal.role {
        case .admin: reaches = true
        case .producer: reaches = principal.producerID == producerID
        case .implementer: reaches = principal.provinceCodes.contains(producer.1)
        default: reaches = false
        }
        guard reaches else { throw APIError.notFound("Producer \(producerID)") }
        if producer.0 == "rejected" {
            throw APIError.conflict(
                code: "producer_not_eligible", "A rejected applicant cannot list products.",
                extra: ["current_status": producer.0])
        }
        try await Self.checkReferences(
            category: body.categoryCode, brand: body.brandId, hsCode: body.hsCode, producerID: producerID,
            on: connection, logger: logger)
        let tiers = PriceTiers.jsonText(body.priceTiers ?? [])
        let rows = try await connection.query(
            """
            INSERT INTO products AS p (producer_id, province_code, brand_id, title_fa, title_en, description, category_code,
              unit, price_rials, stock, monthly_capacity, min_order_qty, hs_code, price_tiers, order_increment,
              lead_time_days, suggested_retail_price_rials)
            VALUES (\(producerID), \(producer.1), \(body.brandId),
              \(body.titleFa.trimmingCharacters(in: .whitespacesAndNewlines)),
              \(titleEn), \(description), \(body.categoryCode), \(body.unit.rawValue), \(body.priceRials),
                \(body.stock),
              \(body.monthlyCapacity ?? 0), \(body.minOrderQty ?? 1), \(body.hsCode), \(tiers)::jsonb,
              \(body.orderIncrement ?? 1), \(body.leadTimeDays), \(body.suggestedRetailPriceRials))
            RETURNING p.id, p.version, \(unescaped: Self.json)::text
            """, logger: logger
        ).collect()
        let (id, version, json) = try rows[0].decode((Int64, Int, String).self)
        return (id, json, version)
    }

    /// `insert` with this service's logger (the CSV import's entry point).
    package func insert(_ body: ProductRequest, producer: Int64, by principal: Principal, on connection: PostgresConnection)
        async throws -> (id: Int64, json: String, version: Int)
    {
        try await Self.insert(body, producer: producer, by: principal, on: connection, logger: db.logger)
    }

    func create(_ body: ProductRequest, by principal: Principal) async throws -> (Int64, String, Int) {
        try principal.require(.producer)
        guard let producerID = principal.producerID else { throw APIError.forbidden("Only producers list products.") }
        return try await db.transaction { connection in
            let made = try await Self.insert(body, producer: producerID, by: principal, on: connection, logger: db.logger)
            return (made.id, made.json, made.version)
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

    /// A PATCH touching any wholesale term is checked against the product as it will be: the
    /// stored values merged with the patch. When the tiers are not in the patch but the new price,
    /// increment or minimum order no longer fits them, the error names the patched field.
    static func checkPatchedTerms(_ id: Int64, _ patch: ProductPatch, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        func given<T>(_ field: PatchField<T>) -> Bool { if case .absent = field { false } else { true } }
        guard
            given(patch.priceRials) || given(patch.minOrderQty) || given(patch.priceTiers) || given(patch.orderIncrement)
                || given(patch.leadTimeDays) || given(patch.suggestedRetailPriceRials)
        else { return }
        let row = try await connection.query(
            """
            SELECT price_rials, min_order_qty, order_increment, price_tiers::text, lead_time_days, suggested_retail_price_rials
            FROM products WHERE id = \(id)
            """, logger: logger
        ).collect()[0]
        let stored = try row.decode((Int64, Int, Int, String, Int?, Int64?).self)
        func merged<T>(_ field: PatchField<T>, _ old: T) -> T { if case .value(let x) = field { x } else { old } }
        func mergedOptional<T>(_ field: PatchField<T>, _ old: T?) -> T? {
            switch field {
            case .absent: old
            case .null: nil
            case .value(let x): x
            }
        }
        let price = merged(patch.priceRials, stored.0)
        let minOrder = merged(patch.minOrderQty, stored.1)
        let increment = merged(patch.orderIncrement, stored.2)
        let storedTiers = try PriceTiers.decode(stored.3)
        var v = Validator()
        if case .value(let tiers) = patch.priceTiers {
            Self.validateTerms(
                price: price, minOrder: minOrder, increment: increment, tiers: tiers,
                leadTime: mergedOptional(patch.leadTimeDays, stored.4),
                suggestedRetail: mergedOptional(patch.suggestedRetailPriceRials, stored.5), into: &v)
        } else {
            Self.validateTerms(
                price: price, minOrder: minOrder, increment: increment, tiers: [],
                leadTime: mergedOptional(patch.leadTimeDays, stored.4),
                suggestedRetail: mergedOptional(patch.suggestedRetailPriceRials, stored.5), into: &v)
            if let first = storedTiers.first, v.errors.isEmpty {
                v.check(
                    first.unitPriceRials < price, "price_rials",
                    "must be above the first price tier's unit_price_rials (\(first.unitPriceRials))"
                        + " (or change price_tiers in the same request)")
                v.check(
                    first.minQuantity > minOrder, "min_order_qty",
                    "must be below the first price tier's min_quantity (\(first.minQuantity))"
                        + " (or change price_tiers in the same request)")
                v.check(
                    storedTiers.allSatisfy { $0.minQuantity % increment == 0 }, "order_increment",
                    "must divide every price tier's min_quantity (or change price_tiers in the same request)")
            }
        }
        try v.throwIfInvalid()
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
            ("price_tiers", { if case .null = patch.priceTiers { true } else { false } }()),
            ("order_increment", { if case .null = patch.orderIncrement { true } else { false } }()),
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
            try await Self.checkPatchedTerms(id, patch, on: connection, logger: db.logger)
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
            if case .value(let tiers) = patch.priceTiers { update += ", price_tiers = \(PriceTiers.jsonText(tiers))::jsonb" }
            set("order_increment", patch.orderIncrement)
            set("lead_time_days", patch.leadTimeDays)
            set("suggested_retail_price_rials", patch.suggestedRetailPriceRials)
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
