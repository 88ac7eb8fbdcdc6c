import BazaarcheCore
import Foundation
import Hummingbird
import Testing

@testable import Catalog
@testable import Exports
@testable import Matching

/// The SQL the dynamic builders send, text and values: a change to a builder fails here first,
/// and every value from a request must arrive as a bound parameter, never as SQL text.
@Suite struct SQLRenderingTests {
    /// Runs of white space folded, so expected SQL can be written over several lines.
    static func folded(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }

    static func expectSQL(_ fragment: SQL, _ sql: String, _ values: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let r = fragment.render()
        #expect(folded(r.sql) == folded(sql), sourceLocation: sourceLocation)
        #expect(r.values == values, sourceLocation: sourceLocation)
        #expect(r.binds.count == values.count, sourceLocation: sourceLocation)
    }

    static func request(_ path: String) -> Request {
        Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: path),
            body: RequestBody(buffer: ByteBuffer()))
    }

    static func principal(_ role: Role, province: String? = nil, producer: Int64? = nil) -> Principal {
        Principal(accountID: 1, login: "tester", role: role, provinceCode: province, producerID: producer, partnerID: nil)
    }

    // MARK: the fragment type

    @Test func interpolatedValuesAreBoundAndNilIsNull() {
        let hostile = "x'); DROP TABLE products; --"
        let note: String? = nil
        let query: SQL = "SELECT 1 FROM products p WHERE p.title_norm = \(hostile) AND p.id = \(Int64(7)) AND p.note = \(note)"
        Self.expectSQL(
            query, "SELECT 1 FROM products p WHERE p.title_norm = $1 AND p.id = $2 AND p.note = $3",
            ["'x''); DROP TABLE products; --'", "7", "NULL"])
        #expect(!query.render().sql.contains("DROP"))
        #expect(query.query.sql == query.render().sql)
        #expect(query.query.binds.count == 3)
    }

    @Test func splicedFragmentsAreRenumberedAndASharedValueKeepsItsNumber() {
        let a: SQL = "a = \(1)"
        let b: SQL = "b = \("two")"
        Self.expectSQL(a, "a = $1", ["1"])
        Self.expectSQL(b, "b = $1", ["'two'"])
        Self.expectSQL([a, b, "c IS NULL"].joined(separator: " AND "), "a = $1 AND b = $2 AND c IS NULL", ["1", "'two'"])
        let t = SQL.bind("tea")
        Self.expectSQL(
            "\(a) OR x = \(t) OR y = \(t) OR z = \(3.5)", "a = $1 OR x = $2 OR y = $2 OR z = $3", ["1", "'tea'", "3.5"])
        Self.expectSQL(b + " OR " + a, "b = $1 OR a = $2", ["'two'", "1"])
    }

    @Test func unescapedTextAndIntegerLiteralsAreWrittenAsIs() {
        let json = "json_build_object('id', p.id)"
        Self.expectSQL(
            "SELECT \(unescaped: json) FROM products p LIMIT \(literal: 21)",
            "SELECT json_build_object('id', p.id) FROM products p LIMIT 21", [])
        #expect([SQL]().joined(separator: " AND ").isEmpty)
        #expect(SQL.empty.isEmpty)
        Self.expectSQL(SQL.empty + "x", "x", [])
    }

    // MARK: product search

    @Test func searchWithoutTextFiltersByColumnsNewestFirst() throws {
        let query = try SearchQuery(
            request: Self.request("/v1/products?category_code=03&province_code=11&max_price_rials=500000"))
        Self.expectSQL(
            Search.build(query, principal: nil),
            """
            WITH hits AS (SELECT p.id, 0 AS tier FROM products p
              WHERE p.searchable AND p.category_code = ANY(ARRAY(SELECT code FROM categories WHERE code = $1 OR code LIKE $2))
                AND p.province_code = $3 AND p.price_rials <= $4
              ORDER BY p.id DESC LIMIT $5)
            SELECT p.id, p.price_rials, hits.tier, \(Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY p.id DESC
            """,
            ["'03'", "'03.%'", "'11'", "500000", "21"])
        let everything = try SearchQuery(request: Self.request("/v1/products"))
        Self.expectSQL(
            Search.build(everything, principal: Self.principal(.admin)),
            """
            WITH hits AS (SELECT p.id, 0 AS tier FROM products p WHERE true ORDER BY p.id DESC LIMIT $1)
            SELECT p.id, p.price_rials, hits.tier, \(Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY p.id DESC
            """, ["21"])
    }

    @Test func searchByRelevanceUnionsFourTiersSharingTheirValues() throws {
        let query = try SearchQuery(request: Self.request("/v1/products?q=honey%20comb&status=listed&limit=5"))
        #expect(query.text == "honey comb")
        let branch = { (tier: Int, match: String) in
            """
            (SELECT p.id, \(tier) AS tier FROM products p WHERE (p.searchable OR p.producer_id = $1) AND p.status = $2 AND\
             \(match) ORDER BY p.id DESC LIMIT $4)
            """
        }
        Self.expectSQL(
            Search.build(query, principal: Self.principal(.producer, province: "23", producer: 42)),
            """
            WITH hits AS (\(branch(3, "p.title_norm = $3")) UNION ALL \(branch(2, "p.title_norm LIKE $5 AND p.title_norm <> $3"))
              UNION ALL \(branch(1, "p.search_compact LIKE $6 AND p.title_norm NOT LIKE $5"))
              UNION ALL \(branch(0, "$3 <% p.search_text AND p.search_compact NOT LIKE $6")) LIMIT $4)
            SELECT p.id, p.price_rials, hits.tier, \(Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY hits.tier DESC, p.id DESC
            """,
            ["42", "'listed'", "'honey comb'", "6", "'honey comb%'", "'%honeycomb%'"])
    }

    @Test func searchByPriceAfterACursorKeepsTheKeysetBound() throws {
        let path = "/v1/products?q=a_b&sort=price&min_packaging_level=retail"
        let first = try SearchQuery(request: Self.request(path))
        let cursor = SearchCursor(sort: .price, id: 99, price: 1000, fingerprint: first.fingerprint).encoded
        let query = try SearchQuery(request: Self.request(path + "&cursor=" + cursor))
        #expect(query.cursor != nil)
        // A short word: no typo tier, and LIKE's wildcards in the text are escaped.
        Self.expectSQL(
            Search.build(query, principal: Self.principal(.supervisor, province: "23")),
            """
            WITH hits AS (SELECT p.id, 0 AS tier FROM products p
              WHERE (p.searchable OR p.province_code = $1) AND p.packaging_level >= $2 AND p.search_compact LIKE $3
                AND (p.price_rials, p.id) > ($4, $5)
              ORDER BY p.price_rials, p.id LIMIT $6)
            SELECT p.id, p.price_rials, hits.tier, \(Products.json)::text
            FROM hits JOIN products p ON p.id = hits.id ORDER BY p.price_rials, p.id
            """,
            ["'23'", "2", "'%a\\_b%'", "1000", "99", "21"])
    }

    // MARK: export figures

    @Test func figuresByHSChapterPerQuarterReadRollupsAndThePartialMonth() {
        // 1 Farvardin 1404 to 9 Tir 1404: three whole months from the rollups, Tir's days from shipments.
        let q = Figures.Query(
            from: CalendarDate("2025-03-21")!, to: CalendarDate("2025-06-30")!, calendar: .jalali, period: .quarter,
            groupBy: [.hsChapter], scope: .nonOil, provinces: ["23"])
        Self.expectSQL(
            Figures.query(q),
            """
            WITH f AS (SELECT month, substr(hs_code, 1, 2), shipments, fob_cents, net_weight_kg, quantity_unit, quantity
                FROM export_figure_rollups
                WHERE calendar = $1 AND dims = $2 AND month BETWEEN $3 AND $4 AND NOT is_oil AND province_code = ANY($5)
              UNION ALL
              SELECT jalali_month AS month, substr(hs_code, 1, 2), 1::bigint AS shipments, fob_cents, net_weight_kg,
                coalesce(quantity_unit, '') AS quantity_unit, coalesce(quantity, 0) AS quantity
                FROM export_shipments WHERE status IN ('cleared', 'shipped') AND NOT is_oil AND province_code = ANY($6)
                AND export_date BETWEEN $7::date AND $8::date),
            g AS (SELECT (month / 100) * 10 + (month % 100 - 1) / 3 + 1 AS period, c0,
                    sum(shipments)::bigint AS shipments, sum(fob_cents) AS fob_cents, sum(net_weight_kg) AS net_weight_kg,
                    CASE WHEN min(quantity_unit) = max(quantity_unit) AND min(quantity_unit) <> '' THEN sum(quantity) END AS quantity,
                    CASE WHEN min(quantity_unit) = max(quantity_unit) AND min(quantity_unit) <> '' THEN min(quantity_unit) END
                      AS quantity_unit
                  FROM f AS f(month, c0, shipments, fob_cents, net_weight_kg, quantity_unit, quantity)
                  GROUP BY 1, c0 HAVING sum(shipments) > 0)
            \(Figures.named(q).render().sql)
            """,
            ["'jalali'", "3", "140401", "140403", "[\"23\"]", "[\"23\"]", "'2025-06-22'", "'2025-06-30'"])
    }

    // MARK: matching

    @Test func matchingScoresCandidatesWithEveryDemandValueBound() {
        let demand = Matches.Demand(
            partnerID: 1, categories: ["food.honey"], unit: "kg", minPackaging: 1, required: ["halal", "organic"], quantity: 500,
            maxPrice: 2_000_000, preferred: ["23"], days: 30, today: "2025-07-23", keywords: "honey comb")
        let supply = "(p.stock + (p.monthly_capacity::bigint * $1) / 30)"
        let price = """
            (CASE WHEN pg_column_size(p.price_tiers) <= 8 THEN p.price_rials
              ELSE tier_unit_price(p.price_rials, p.price_tiers, $3::int) END)
            """
        let parts = [
            "$2 * greatest(0, 1 - (\(price))::float8 / $4)",
            "$5 * least(1, \(supply)::float8 / $6)",
            "(CASE WHEN p.province_code = ANY($7) THEN $8 ELSE 0 END)::float8",
            "$9 * coalesce(s.delivered::float8 / nullif(s.delivered + s.failed, 0), $10)",
            """
            $11 * least(1, (CASE WHEN pg_column_size(p.cert_expiry) <= 8 THEN 0 ELSE
                (coalesce(p.cert_expiry ->> $12, '') >= $13)::int + (coalesce(p.cert_expiry ->> $14, '') >= $13)::int
                + (coalesce(p.cert_expiry ->> $15, '') >= $13)::int + (coalesce(p.cert_expiry ->> $16, '') >= $13)::int
                + (coalesce(p.cert_expiry ->> $17, '') >= $13)::int END)::float8 / $18)
            """,
            "$19 * ((strpos(p.search_text, $20) > 0)::int + (strpos(p.search_text, $21) > 0)::int)::float8 / 2",
            "(0)::float8",
        ]
        // Only id, supply and score (the parts' sum, in their order) per candidate; the parts again for the rows returned.
        Self.expectSQL(
            Matches.rankQuery(demand, limit: 30),
            """
            WITH base AS MATERIALIZED (SELECT p.id, \(supply) AS supply, \(parts.map { "(\($0))" }.joined(separator: " + ")) AS score
            FROM products p LEFT JOIN producer_order_stats s ON s.producer_id = p.producer_id
            WHERE p.searchable AND p.unit = $22 AND p.packaging_level >= $23
              AND p.category_code = ANY($24)
              AND coalesce(p.cert_expiry ->> $25, '') >= $13 AND coalesce(p.cert_expiry ->> $26, '') >= $13),
            a AS (SELECT count(*)::int AS n, coalesce(max(supply), 0)::bigint AS best, coalesce(sum(supply), 0)::bigint AS total
            FROM base),
            t AS ((SELECT true AS by_score, id FROM base ORDER BY score DESC, id LIMIT 30)
                  UNION ALL
                  (SELECT false, id FROM base WHERE (SELECT best FROM a) < $27 ORDER BY supply DESC, id LIMIT 1000))
            SELECT a.n, a.best, a.total, t.by_score, p.id, p.producer_id, p.title_fa, p.province_code, \(price), p.stock,
              p.monthly_capacity, p.min_order_qty, \(supply), \(parts.joined(separator: ", "))
            FROM a LEFT JOIN t ON true LEFT JOIN products p ON p.id = t.id
              LEFT JOIN producer_order_stats s ON s.producer_id = p.producer_id
            """,
            [
                "30", "0.25", "500", "2000000", "0.25", "500", "[\"23\"]", "0.1", "0.15", "0.5", "0.1",
                "'inso'", "'2025-07-23'", "'health_license'", "'iso22000'", "'handicraft_seal'", "'other'", "2.0",
                "0.15", "'honey'", "'comb'", "'kg'", "1", "[\"food.honey\"]", "'halal'", "'organic'", "500",
            ])
        // Preferring priority activities: nine tenths of each weight, and the qualifying
        // province|category pairs bound as one array.
        var preferring = demand
        preferring.preferPriority = true
        preferring.priorityKeys = ["IR-00|food.honey"]
        let r = Matches.scoredCandidates(preferring).render()
        #expect(
            Self.folded(r.sql).contains(
                "(CASE WHEN (p.province_code || '|' || p.category_code) = ANY($22) THEN $23 ELSE 0 END)::float8 AS province_priority"
            ))
        #expect(Array(r.values[21...22]) == ["[\"IR-00|food.honey\"]", "0.1"])
        #expect(r.values[1] == "0.225")
        // The demand's own columns, for joins on a demand row: no values at all.
        #expect(!Matches.hardFilters().contains("$"))
        #expect(Matches.hardFilters().contains("p.unit = d.unit AND p.packaging_level >= d.min_packaging_level"))
    }

    // MARK: shipment list

    @Test func shipmentListIsScopedByRoleBeforeItsFilters() throws {
        let request = Self.request("/v1/export-shipments?status=declared&from=2025-01-01&destination_country=ae&limit=10")
        let page = try Page(request: request)
        Self.expectSQL(
            try Shipments.listQuery(request, page: page, principal: Self.principal(.supervisor, province: "23")),
            """
            SELECT s.id, \(Shipments.json)::text FROM export_shipments s WHERE s.province_code = $1 AND s.id > $2
              AND s.status = $3 AND s.destination_country = $4 AND s.export_date >= $5::date ORDER BY s.id LIMIT 11
            """,
            ["'23'", "0", "'declared'", "'AE'", "'2025-01-01'"])
        let mine = Self.request("/v1/export-shipments")
        Self.expectSQL(
            try Shipments.listQuery(
                mine, page: try Page(request: mine), principal: Self.principal(.producer, province: "23", producer: 42)),
            """
            SELECT s.id, \(Shipments.json)::text FROM export_shipments s WHERE s.producer_id = $1 AND s.id > $2 ORDER BY s.id\
             LIMIT 51
            """,
            ["42", "0"])
        let officer = try Shipments.listQuery(mine, page: try Page(request: mine), principal: Self.principal(.exportOfficer))
        Self.expectSQL(
            officer,
            "SELECT s.id, \(Shipments.json)::text FROM export_shipments s WHERE true AND s.id > $1 ORDER BY s.id LIMIT 51", ["0"])
    }
}
