import BazaarcheCore
import Catalog
import Foundation

/// GET /v1/demands/{id}/matches: candidates passing the hard filters, ranked by an explained score,
/// and a pool of producers when no single one can supply the quantity.
struct Matches: Sendable {
    let db: Database

    static let defaultLimit = 20
    static let maxLimit = 100
    /// Pool members are chosen among this many candidates with the largest supply.
    static let poolCandidates = 1000

    /// The hard filters for product `p`: listed by a verified producer (`searchable`), same unit,
    /// in the demand's category or one of its sub-categories, packaging at least the minimum,
    /// every required certificate kind granted and unexpired today in Tehran. This form reads
    /// demand `d`'s columns (Demands.producerMatches, invitations); ranking binds the values
    /// instead, so the planner sees them.
    static func hardFilters() -> String {
        hardFilters(
            categories:
                "ARRAY(SELECT c.code FROM categories c WHERE c.code = d.category_code OR c.parent_code = d.category_code)",
            unit: "d.unit", minPackaging: "d.min_packaging_level", required: "d.required_certificates",
            today: "to_char(tehran_today(), 'YYYY-MM-DD')"
        ).render().sql
    }

    /// The bound form: each required kind is its own condition (no per-candidate unnest).
    static func hardFilters(categories: SQL, unit: SQL, minPackaging: SQL, required: [String], today: SQL) -> SQL {
        let certificates: [SQL] = Array(Set(required)).sorted().map { "\nAND coalesce(p.cert_expiry ->> \($0), '') >= \(today)" }
        return hardFilters(categories: categories, unit: unit, minPackaging: minPackaging, certificates: certificates.joined())
    }

    static func hardFilters(categories: SQL, unit: SQL, minPackaging: SQL, required: SQL, today: SQL) -> SQL {
        hardFilters(
            categories: categories, unit: unit, minPackaging: minPackaging,
            certificates:
                "\nAND NOT EXISTS (SELECT 1 FROM unnest(\(required)::text[]) k WHERE coalesce(p.cert_expiry ->> k, '') < \(today))"
        )
    }

    static func hardFilters(categories: SQL, unit: SQL, minPackaging: SQL, certificates: SQL) -> SQL {
        """
        p.searchable AND p.unit = \(unit) AND p.packaging_level >= \(minPackaging)
        AND p.category_code = ANY(\(categories))\(certificates)
        """
    }

    /// A demand as ranking reads it: its own fields, its category with sub-categories, the days
    /// left until needed_by and today's date in Tehran.
    struct Demand {
        var partnerID: Int64
        var categories: [String]
        var unit: String
        var minPackaging: Int
        var required: [String]
        var quantity: Int
        var maxPrice: Int64
        var preferred: [String]
        var days: Int
        var today: String
        var keywords: String?
        /// `prefer_priority_activities`: score the province-priority factor.
        var preferPriority = false
        /// "province|category" for each product category of the demand that an activity flagged
        /// as a priority in a province's approved study in force covers (`priorityKeys`).
        var priorityKeys: [String] = []
        var weights: MatchWeights.Table { MatchWeights.of(preferPriority: preferPriority) }
    }

    struct Row {
        var productID: Int64
        var producerID: Int64
        var title: String
        var province: String
        var price: Int64
        var stock: Int
        var monthlyCapacity: Int
        var minOrder: Int
        var supply: Int
        var breakdown: ScoreBreakdown
    }

    /// What is scored. Matches score listed products at the tier price for the demand's quantity
    /// (`tier_unit_price`, sql/0024) and what they can supply by needed_by; a demand's quotes are
    /// scored by the same parts, with the quoted price and quantity instead (docs/matching.md).
    enum Offers {
        case listed
        /// The quotes of demand `id` (every status; `meets_requirements` says whether the
        /// product still passes the hard filters, which quotes are not filtered by).
        case quotes(demand: Int64)
    }

    /// How one candidate is scored, as SQL over product `p` and its producer's `s`
    /// (producer_order_stats): its supply by needed_by, its unit price, the seven weighted parts in
    /// the order of `partNames`, and the FROM and WHERE that find the candidates.
    struct Scoring {
        var supply: SQL
        var price: SQL
        var parts: [SQL]
        var from: SQL
        var extra: SQL
        var condition: SQL

        /// The score as one expression: the parts added in `partNames` order, so it is the very
        /// float8 that sorting by the sum of the parts' columns compares.
        var score: SQL { parts.map { "(\($0))" }.joined(separator: " + ") }
    }

    static func scoring(_ demand: Demand, offers: Offers = .listed) -> Scoring {
        let words = MatchKeywords.words(demand.keywords)
        let found: [SQL] = words.map { "(strpos(p.search_text, \($0)) > 0)::int" }
        let keywordShare: SQL = words.isEmpty ? "1.0" : "(\(found.joined(separator: " + ")))::float8 / \(literal: words.count)"
        let today = SQL.bind(demand.today)
        let extraKinds = CertificateKind.allCases.map(\.rawValue).filter { !demand.required.contains($0) }
        let extras: [SQL] = extraKinds.map { "(coalesce(p.cert_expiry ->> \($0), '') >= \(today))::int" }
        let extraCount: SQL = extraKinds.isEmpty ? "0" : extras.joined(separator: " + ")
        let days = SQL.bind(demand.days)
        let w = demand.weights
        let province: SQL =
            demand.preferred.isEmpty
            ? "\(w.province)"
            : "CASE WHEN p.province_code = ANY(\(demand.preferred)) THEN \(w.province) ELSE 0 END"
        // Only approved studies reach a score: the keys come from the studies in force (`priorityKeys`).
        let priority: SQL =
            demand.preferPriority && !demand.priorityKeys.isEmpty
            ? """
            CASE WHEN (p.province_code || '|' || p.category_code) = ANY(\(demand.priorityKeys))
              THEN \(w.provincePriority) ELSE 0 END
            """
            : "0"
        let filters = hardFilters(
            categories: "\(demand.categories)", unit: "\(demand.unit)", minPackaging: "\(demand.minPackaging)",
            required: demand.required, today: today)
        let supply: SQL
        let price: SQL
        let from: SQL
        let extra: SQL
        let condition: SQL
        switch offers {
        case .listed:
            supply = "(p.stock + (p.monthly_capacity::bigint * \(days)) / 30)"
            // tier_unit_price unpacks the tiers per call (~9 µs); most products have none. An empty
            // jsonb array or object is 8 bytes (5 stored) and any other larger: testing the size
            // reads no jsonb, where `= '[]'` detoasts a copy per candidate (docs/decisions.md 104).
            let quantity = SQL.bind(demand.quantity)
            price = """
                (CASE WHEN pg_column_size(p.price_tiers) <= 8 THEN p.price_rials
                  ELSE tier_unit_price(p.price_rials, p.price_tiers, \(quantity)::int) END)
                """
            from = "products p"
            extra = ""
            condition = filters
        case .quotes(let id):
            supply = "q.quantity::bigint"
            price = "q.unit_price_rials"
            from = "quotes q JOIN products p ON p.id = q.product_id"
            extra = ", q.id AS quote_id, (\(filters)) AS meets_requirements"
            condition = "q.demand_id = \(id)"
        }
        let parts: [SQL] = [
            "\(w.price) * greatest(0, 1 - (\(price))::float8 / \(demand.maxPrice))",
            "\(w.capacity) * least(1, \(supply)::float8 / \(demand.quantity))",
            "(\(province))::float8",
            """
            \(w.deliveryRecord)
              * coalesce(s.delivered::float8 / nullif(s.delivered + s.failed, 0), \(MatchWeights.deliveryRecordWithoutHistory))
            """,
            """
            \(w.certificates)
              * least(1, (CASE WHEN pg_column_size(p.cert_expiry) <= 8 THEN 0 ELSE \(extraCount) END)::float8
                         / \(Double(MatchWeights.extraCertificatesForFull)))
            """,
            "\(w.keywords) * \(keywordShare)",
            "(\(priority))::float8",
        ]
        return Scoring(supply: supply, price: price, parts: parts, from: from, extra: extra, condition: condition)
    }

    static let partNames = ["price", "capacity", "province", "delivery_record", "certificates", "keywords", "province_priority"]

    /// Scoring SQL for every candidate of `demand` (wrapped as `base`), every value bound. Columns:
    /// product id, producer id, supply, the seven parts, unit_price; quotes add quote_id and
    /// meets_requirements.
    static func scoredCandidates(_ demand: Demand, offers: Offers = .listed) -> SQL {
        let scoring = scoring(demand, offers: offers)
        let parts: [SQL] = zip(scoring.parts, partNames).map { "\($0) AS \(unescaped: $1)" }
        return """
            SELECT p.id, p.producer_id, \(scoring.supply) AS supply,
              \(parts.joined(separator: ",\n  ")),
              \(scoring.price) AS unit_price\(scoring.extra)
            FROM \(scoring.from) LEFT JOIN producer_order_stats s ON s.producer_id = p.producer_id
            WHERE \(scoring.condition)
            """
    }

    func demand(_ id: Int64, principal: Principal) async throws -> Demand {
        try principal.require(.admin, .partner)
        // Matches are for the demand's own company (and admins): `Access`'s owner rule, in the WHERE clause.
        let query: SQL = """
            SELECT d.partner_id, ARRAY(SELECT c.code FROM categories c WHERE c.code = d.category_code
              OR c.parent_code = d.category_code),
              d.unit, d.min_packaging_level::int, d.required_certificates, d.quantity, d.max_unit_price_rials,
                d.preferred_provinces,
              greatest(d.needed_by - tehran_today(), 0), to_char(tehran_today(), 'YYYY-MM-DD'), d.keywords,
              d.prefer_priority_activities
            FROM demands d WHERE d.id = \(id) AND \(principal.access(.demand, to: .own).condition(alias: "d"))
            """
        guard let row = try await db.rows(query.query).first else { throw APIError.notFound("Demand \(id)") }
        let r = try row.decode((Int64, [String], String, Int, [String], Int, Int64, [String], Int, String, String?, Bool).self)
        var demand = Demand(
            partnerID: r.0, categories: r.1, unit: r.2, minPackaging: r.3, required: r.4, quantity: r.5, maxPrice: r.6,
            preferred: r.7, days: r.8, today: r.9, keywords: r.10, preferPriority: r.11)
        if demand.preferPriority { demand.priorityKeys = try await priorityKeys(categories: demand.categories) }
        return demand
    }

    /// The (province, product category) pairs the province-priority factor raises: a priority row
    /// of a province's study in force (its latest approved one; drafts never count) covers the
    /// activity's category and that category's sub-categories.
    func priorityKeys(categories: [String]) async throws -> [String] {
        try await db.rows(
            """
            SELECT DISTINCT cs.province_code || '|' || c.code
            FROM province_current_studies cs
            JOIN province_study_rows r ON r.study_id = cs.id AND r.priority
            JOIN activities a ON a.code = r.activity_code
            JOIN categories c ON c.code = a.category_code OR c.parent_code = a.category_code
            WHERE c.code = ANY(\(categories))
            """
        ).map { try $0.decode(String.self) }
    }

    struct Ranking {
        var count = 0
        var best = 0
        var total = 0
        var byScore: [Row] = []
        /// The largest suppliers, fetched only when no single candidate covers the quantity.
        var bySupply: [Row] = []
    }

    /// One statement scores every candidate once and returns the count, best single supply and
    /// total supply, the first `limit` by score and, when no one candidate covers the quantity,
    /// the `poolCandidates` largest suppliers. Only id, supply and score are kept per candidate
    /// (a narrow row is cheap to store and sort); the breakdown is recomputed, by the same
    /// expressions on the same snapshot, for the rows returned, which are read from the table anyway.
    static func rankQuery(_ demand: Demand, limit: Int) -> SQL {
        let scoring = scoring(demand)
        return """
            WITH base AS MATERIALIZED (SELECT p.id, \(scoring.supply) AS supply, \(scoring.score) AS score
              FROM products p LEFT JOIN producer_order_stats s ON s.producer_id = p.producer_id
              WHERE \(scoring.condition)),
            a AS (SELECT count(*)::int AS n, coalesce(max(supply), 0)::bigint AS best, coalesce(sum(supply), 0)::bigint AS total
              FROM base),
            t AS ((SELECT true AS by_score, id FROM base ORDER BY score DESC, id LIMIT \(literal: limit))
                  UNION ALL
                  (SELECT false, id FROM base WHERE (SELECT best FROM a) < \(demand.quantity)
                   ORDER BY supply DESC, id LIMIT \(literal: poolCandidates)))
            SELECT a.n, a.best, a.total, t.by_score, p.id, p.producer_id, p.title_fa, p.province_code, \(scoring.price),
              p.stock, p.monthly_capacity, p.min_order_qty, \(scoring.supply),
              \(scoring.parts.joined(separator: ",\n  "))
            FROM a LEFT JOIN t ON true LEFT JOIN products p ON p.id = t.id
              LEFT JOIN producer_order_stats s ON s.producer_id = p.producer_id
            """
    }

    func rank(_ demand: Demand, limit: Int) async throws -> Ranking {
        let query = Self.rankQuery(demand, limit: limit).query
        let rows = try await db.transaction { connection in
            // The scored candidates of a whole top-level category (100k+ rows) are kept and sorted
            // in memory. (JIT, which would cost more than the query, is off for every session.)
            try await connection.query("SET LOCAL work_mem = '64MB'", logger: db.logger)
            return try await connection.query(query, logger: db.logger).collect()
        }
        var result = Ranking()
        for row in rows {
            let r = try row.decode(
                (
                    Int, Int64, Int64, Bool?, Int64?, Int64?, String?, String?, Int64?, Int?, Int?, Int?, Int64?, Double?,
                    Double?,
                    Double?, Double?, Double?, Double?, Double?
                ).self)
            result.count = r.0
            result.best = Int(r.1)
            result.total = Int(r.2)
            guard let byScore = r.3, let product = r.4 else { continue }
            let candidate = Row(
                productID: product, producerID: r.5!, title: r.6!, province: r.7!, price: r.8!, stock: r.9!,
                monthlyCapacity: r.10!, minOrder: r.11!, supply: Int(r.12!),
                breakdown: ScoreBreakdown(
                    price: r.13!, capacity: r.14!, province: r.15!, deliveryRecord: r.16!, certificates: r.17!, keywords: r.18!,
                    provincePriority: r.19!))
            if byScore { result.byScore.append(candidate) } else { result.bySupply.append(candidate) }
        }
        return result
    }

    // MARK: response

    struct MatchJSON: Encodable {
        var productId: Int64
        var producerId: Int64
        var titleFa: String
        var provinceCode: String
        var unitPriceRials: Int64
        var stock: Int
        var monthlyCapacity: Int
        var minOrderQty: Int
        var availableByNeededBy: Int
        var canSupplyAlone: Bool
        var score: Double
        var breakdown: ScoreBreakdown
    }

    struct PoolMemberJSON: Encodable {
        var productId: Int64
        var producerId: Int64
        var titleFa: String
        var provinceCode: String
        var quantity: Int
        var share: Double
        var score: Double
    }

    struct PoolJSON: Encodable {
        var coversQuantity: Bool
        var pooledQuantity: Int
        var shortfall: Int
        var producerCount: Int
        var members: [PoolMemberJSON]
    }

    struct ResponseJSON: Encodable {
        var demandId: Int64
        var quantity: Int
        var weights: MatchWeights.Table
        var candidateCount: Int
        var bestSingleSupply: Int
        var totalSupply: Int
        var matches: [MatchJSON]
        var pool: PoolJSON?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(demandId, forKey: .demandId)
            try c.encode(quantity, forKey: .quantity)
            try c.encode(weights, forKey: .weights)
            try c.encode(candidateCount, forKey: .candidateCount)
            try c.encode(bestSingleSupply, forKey: .bestSingleSupply)
            try c.encode(totalSupply, forKey: .totalSupply)
            try c.encode(matches, forKey: .matches)
            try c.encode(pool, forKey: .pool)  // null when one candidate suffices
        }
        enum CodingKeys: String, CodingKey {
            case demandId, quantity, weights, candidateCount, bestSingleSupply, totalSupply, matches, pool
        }
    }

    func matches(_ id: Int64, request: Request, principal: Principal) async throws -> String {
        let limit = try request.intQuery("limit") ?? Self.defaultLimit
        guard (1...Self.maxLimit).contains(limit) else {
            throw APIError.validation(field: "limit", "must be from 1 to \(Self.maxLimit)")
        }
        let demand = try await demand(id, principal: principal)
        // A few more than asked, so the four-decimal rounding cannot reorder the page's edge.
        let ranked = try await rank(demand, limit: limit + 10)
        let page = ranked.byScore.sorted { ($0.breakdown.scoreUnits, -$0.productID) > ($1.breakdown.scoreUnits, -$1.productID) }
            .prefix(limit)
        let matches = page.map { r in
            MatchJSON(
                productId: r.productID, producerId: r.producerID, titleFa: r.title, provinceCode: r.province,
                unitPriceRials: r.price, stock: r.stock, monthlyCapacity: r.monthlyCapacity, minOrderQty: r.minOrder,
                availableByNeededBy: r.supply, canSupplyAlone: r.supply >= demand.quantity, score: r.breakdown.score,
                breakdown: r.breakdown)
        }
        var pool: PoolJSON? = nil
        if ranked.best < demand.quantity {
            let supply = ranked.bySupply
            let byProduct = Dictionary(uniqueKeysWithValues: supply.map { ($0.productID, $0) })
            let selected = Pool.select(
                quantity: demand.quantity,
                candidates: supply.map {
                    Pool.Candidate(
                        productID: $0.productID, producerID: $0.producerID, supply: $0.supply, scoreUnits: $0.breakdown.scoreUnits
                    )
                })
            // The shortfall is against every candidate's supply, not only the largest ones considered.
            let shortfall = max(0, demand.quantity - ranked.total)
            pool = PoolJSON(
                coversQuantity: selected.shortfall == 0, pooledQuantity: selected.covered, shortfall: shortfall,
                producerCount: Set(selected.members.map(\.candidate.producerID)).count,
                members: selected.members.map { m in
                    let r = byProduct[m.candidate.productID]!
                    return PoolMemberJSON(
                        productId: r.productID, producerId: r.producerID, titleFa: r.title, provinceCode: r.province,
                        quantity: m.quantity, share: ScoreBreakdown.round(Double(m.quantity) / Double(demand.quantity)),
                        score: r.breakdown.score)
                })
        }
        let response = ResponseJSON(
            demandId: id, quantity: demand.quantity, weights: demand.weights, candidateCount: ranked.count,
            bestSingleSupply: ranked.best,
            totalSupply: ranked.total, matches: Array(matches), pool: pool)
        return try JSONResponse.encode(response)
    }
}
