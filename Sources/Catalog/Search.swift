import BazaarcheCore
import Foundation

public enum SearchSort: String, APIEnum { case relevance, newest, price }

/// The parsed filters of GET /v1/products. Kept apart from SQL so the rules are testable.
public struct SearchQuery: Sendable {
    public var text: String?  // normalised
    public var category: String?
    public var province: String?
    public var brandID: Int64?
    public var producerID: Int64?
    public var certificate: CertificateKind?
    public var minPackaging: PackagingLevel?
    public var maxPrice: Int64?
    public var minCapacity: Int?
    public var status: ProductStatus?
    public var sort: SearchSort
    public var limit: Int
    public var cursor: SearchCursor?
    public var fingerprint: String

    /// A stable hash of every filter, so a cursor cannot be replayed against another search.
    static func fingerprint(of q: SearchQuery) -> String {
        let parts: [String] = [
            q.text ?? "", q.category ?? "", q.province ?? "", q.brandID.map(String.init) ?? "",
            q.producerID.map(String.init) ?? "",
            q.certificate?.rawValue ?? "", q.minPackaging?.rawValue ?? "", q.maxPrice.map(String.init) ?? "",
            q.minCapacity.map(String.init) ?? "", q.status?.rawValue ?? "", q.sort.rawValue,
        ]
        return StableHash.fnv1a(parts.joined(separator: "\u{1F}"))
    }

    public init(request: Request) throws {
        let q = request.uri.queryParameters
        var v = Validator()
        func int64(_ name: String, min: Int64) -> Int64? {
            guard let text = q.get(name) else { return nil }
            guard let value = Int64(text), value >= min else {
                v.add(name, "must be an integer ≥ \(min)")
                return nil
            }
            return value
        }
        let raw = q.get("q").map { PersianText.normalize(String($0)) }
        text = (raw?.isEmpty ?? true) ? nil : raw
        if let t = text, t.count > 200 { v.add("q", "must be at most 200 characters") }
        category = q.get("category_code").map { String($0) }
        province = q.get("province_code").map { String($0) }
        brandID = int64("brand_id", min: 1)
        producerID = int64("producer_id", min: 1)
        maxPrice = int64("max_price_rials", min: 1)
        minCapacity = int64("min_capacity", min: 0).map { Int(clamping: $0) }
        do { certificate = try CertificateKind.query(q.get("certificate"), field: "certificate") } catch let e as APIError {
            v.add("certificate", e.errors.first?.message ?? "")
        }
        do { minPackaging = try PackagingLevel.query(q.get("min_packaging_level"), field: "min_packaging_level") } catch let e
            as APIError
        { v.add("min_packaging_level", e.errors.first?.message ?? "") }
        do { status = try ProductStatus.query(q.get("status"), field: "status") } catch let e as APIError {
            v.add("status", e.errors.first?.message ?? "")
        }
        var sort: SearchSort? = nil
        do { sort = try SearchSort.query(q.get("sort"), field: "sort") } catch let e as APIError {
            v.add("sort", e.errors.first?.message ?? "")
        }
        self.sort = sort ?? (text == nil ? .newest : .relevance)
        if self.sort == .relevance && text == nil { self.sort = .newest }
        limit = 20
        if let l = q.get("limit") {
            if let value = Int(l), (1...100).contains(value) {
                limit = value
            } else {
                v.add("limit", "must be an integer from 1 to 100")
            }
        }
        cursor = nil
        fingerprint = ""
        fingerprint = Self.fingerprint(of: self)
        if let c = q.get("cursor") {
            if let parsed = SearchCursor(c), parsed.sort == self.sort, parsed.fingerprint == fingerprint {
                cursor = parsed
            } else {
                v.add("cursor", "is not a cursor of this search")
            }
        }
        try v.throwIfInvalid()
    }
}

/// Opaque position in a result list: keyset for newest and price, offset for relevance.
public struct SearchCursor: Sendable, Equatable {
    public var sort: SearchSort
    public var id: Int64
    public var price: Int64
    public var offset: Int
    /// Which search the cursor belongs to: a cursor is refused by a search with other filters.
    public var fingerprint: String

    public init(sort: SearchSort, id: Int64 = 0, price: Int64 = 0, offset: Int = 0, fingerprint: String) {
        self.sort = sort
        self.id = id
        self.price = price
        self.offset = offset
        self.fingerprint = fingerprint
    }

    public init?(_ text: String) {
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard text.count <= 100, let data = Data(base64Encoded: b64), let plain = String(data: data, encoding: .utf8) else {
            return nil
        }
        let parts = plain.split(separator: ":").map(String.init)
        guard parts.count == 5, let sort = SearchSort(rawValue: parts[0]), let id = Int64(parts[1]), let price = Int64(parts[2]),
            let offset = Int(parts[3]), offset >= 0, offset <= 10_000
        else { return nil }
        self.init(sort: sort, id: id, price: price, offset: offset, fingerprint: parts[4])
    }

    public var encoded: String {
        Data("\(sort.rawValue):\(id):\(price):\(offset):\(fingerprint)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
                of: "=", with: "")
    }
}

/// Supply search: one round trip; PostgreSQL filters, ranks, and builds the JSON of the page.
public struct Search: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let minimumFuzzyLength = 4

    static func escapeLike(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
    }

    static func build(_ query: SearchQuery, principal: Principal?) -> SQL {
        let common = conditions(query, principal: principal)
        let filters = { (extra: [SQL]) in (common + extra).joined(separator: " AND ") }
        // Bound, not literal: the SQL text (its prepared shape) must not change with the page size.
        let limit = SQL.bind(query.limit + 1)
        guard let text = query.text else { return browse(query, filters: filters, limit: limit) }
        return find(text, query, filters: filters, limit: limit)
    }

    /// The conditions every branch of the query shares: who may see the product, then the filters.
    static func conditions(_ query: SearchQuery, principal: Principal?) -> [SQL] {
        var conditions: [SQL] = []
        // Who sees what: everyone sees listed products of verified producers; owners and staff more.
        let readers = Access.rule(for: principal, on: .product)
        if !readers.isUnrestricted { conditions.append(readers.condition(alias: "p")) }
        if let status = query.status { conditions.append("p.status = \(status.rawValue)") }
        if let category = query.category {
            let subtree = Self.escapeLike(category) + ".%"
            conditions.append(
                "p.category_code = ANY(ARRAY(SELECT code FROM categories WHERE code = \(category) "
                    + "OR code LIKE \(subtree)))")
        }
        if let province = query.province { conditions.append("p.province_code = \(province)") }
        if let brand = query.brandID { conditions.append("p.brand_id = \(brand)") }
        if let producer = query.producerID { conditions.append("p.producer_id = \(producer)") }
        if let level = query.minPackaging, level != .none { conditions.append("p.packaging_level >= \(level.rank)") }
        if let price = query.maxPrice { conditions.append("p.price_rials <= \(price)") }
        if let capacity = query.minCapacity, capacity > 0 { conditions.append("p.monthly_capacity >= \(capacity)") }
        if let kind = query.certificate {
            conditions.append(
                """
                EXISTS (SELECT 1 FROM certificates c WHERE c.product_id = p.id AND c.kind = \(kind.rawValue)
                  AND c.status = 'granted' AND c.expires_on >= tehran_today())
                """)
        }
        return conditions
    }

    /// The order of a newest or price listing, and the keyset condition after the cursor if any.
    static func keyset(_ query: SearchQuery) -> (after: [SQL], order: SQL) {
        if query.sort == .price {
            let after: [SQL] = query.cursor.map { c in ["(p.price_rials, p.id) > (\(c.price), \(c.id))"] } ?? []
            return (after, "p.price_rials, p.id")
        }
        return (query.cursor.map { c in ["p.id < \(c.id)"] } ?? [], "p.id DESC")
    }

    /// No text: the filters alone, newest or cheapest first.
    static func browse(_ query: SearchQuery, filters: ([SQL]) -> SQL, limit: SQL) -> SQL {
        let (after, order) = keyset(query)
        let condition = filters(after)
        return """
            WITH hits AS (SELECT p.id, 0 AS tier FROM products p WHERE \(condition.isEmpty ? "true" : condition)
                          ORDER BY \(order) LIMIT \(limit))
            SELECT p.id, p.price_rials, hits.tier, \(unescaped: Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY \(order)
            """
    }

    /// Text: ranked by how well titles match, or any match in newest or price order.
    static func find(_ text: String, _ query: SearchQuery, filters: ([SQL]) -> SQL, limit: SQL) -> SQL {
        let t = SQL.bind(text)
        let like = SQL.bind("%" + Self.escapeLike(text.replacingOccurrences(of: " ", with: "")) + "%")
        let prefix = SQL.bind(Self.escapeLike(text) + "%")
        // Four tiers, best first: the exact title, titles starting with the query, the query anywhere
        // in titles, brand or description (whatever the spacing or ZWNJ), and close words (typos).
        // Typo tolerance needs a word long enough for one wrong letter to leave it recognisable;
        // for shorter queries the trigram candidates are half the catalog and mostly noise.
        let fuzzy = text.replacingOccurrences(of: " ", with: "").unicodeScalars.count >= Self.minimumFuzzyLength
        if query.sort == .relevance {
            var tiers: [(tier: Int, match: SQL)] = [
                (3, "p.title_norm = \(t)"),
                (2, "p.title_norm LIKE \(prefix) AND p.title_norm <> \(t)"),
                (1, "p.search_compact LIKE \(like) AND p.title_norm NOT LIKE \(prefix)"),
            ]
            if fuzzy { tiers.append((0, "\(t) <% p.search_text AND p.search_compact NOT LIKE \(like)")) }
            return ranked(tiers, query, filters: filters, limit: limit)
        }
        let match: SQL = fuzzy ? "(p.search_compact LIKE \(like) OR \(t) <% p.search_text)" : "p.search_compact LIKE \(like)"
        let (after, order) = keyset(query)
        return """
            WITH hits AS (SELECT p.id, 0 AS tier FROM products p WHERE \(filters([match] + after)) \
            ORDER BY \(order) LIMIT \(limit))
            SELECT p.id, p.price_rials, hits.tier, \(unescaped: Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY \(order)
            """
    }

    /// Each tier newest first; the outer LIMIT stops once the page is full, so a common word never
    /// ranks all of its matches. The cursor is (tier, id).
    static func ranked(
        _ tiers: [(tier: Int, match: SQL)], _ query: SearchQuery, filters: ([SQL]) -> SQL, limit: SQL
    ) -> SQL {
        var branches: [SQL] = []
        for (tier, match) in tiers {
            var extra = [match]
            if let c = query.cursor {
                if tier > c.offset { continue }
                if tier == c.offset { extra.append("p.id < \(c.id)") }
            }
            branches.append(
                "(SELECT p.id, \(literal: tier) AS tier FROM products p WHERE \(filters(extra)) "
                    + "ORDER BY p.id DESC LIMIT \(limit))")
        }
        return """
            WITH hits AS (\(branches.joined(separator: " UNION ALL ")) LIMIT \(limit))
            SELECT p.id, p.price_rials, hits.tier, \(unescaped: Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY hits.tier DESC, p.id DESC
            """
    }

    /// One prepared statement per filter shape (which filters, sort, cursor tier and reader rule
    /// are present; values are bound). Text shapes keep custom plans (PostgreSQL still plans them
    /// per call, but skips parsing); filter-only ones may go generic. A shape costs PostgreSQL up
    /// to ~270 kB per connection (the four-tier one, measured), so 32 of them stay under ~9 MB;
    /// beyond the cap a rare shape runs unnamed, as before.
    static let shapes = PreparedShapes(prefix: "search", limit: 32)

    func run(_ query: SearchQuery, principal: Principal?) async throws -> String {
        let rows = try await db.rows(Self.build(query, principal: principal), shapes: Self.shapes)
        let decoded = try rows.map { try $0.decode((Int64, Int64, Int, String).self) }
        let page = decoded.prefix(query.limit)
        var next: String? = nil
        if decoded.count > query.limit, let last = page.last {
            // For relevance the cursor's `offset` slot carries the tier of the last item.
            next =
                SearchCursor(sort: query.sort, id: last.0, price: last.1, offset: last.2, fingerprint: query.fingerprint).encoded
        }
        return JSONResponse.page(items: page.lazy.map(\.3), nextCursor: next)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/products") { request, context in
            let query = try SearchQuery(request: request)
            return JSONResponse.raw(try await run(query, principal: context.principal))
        }
    }
}
