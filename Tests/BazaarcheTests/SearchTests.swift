import BazaarcheCore
import Foundation
import Testing

@Suite struct SearchTests {
    /// Stored titles are typed one way, queries another: each query must find its product.
    static let normalisation: [(stored: String, query: String, why: String)] = [
        ("کیک یزدی خانگی", "كيك", "Arabic kaf and yeh in the query"),
        ("كيك اسفنجی", "کیک اسفنجی", "Arabic letters in the stored title"),
        ("کتاب‌های آشپزی سنتی", "کتابهای آشپزی", "ZWNJ stored, joined query"),
        ("کتابهای قصه", "کتاب های قصه", "joined stored, spaced query"),
        ("کتاب های رنگ آمیزی", "کتاب‌های رنگ", "spaced stored, ZWNJ query"),
        ("مُرَبّای هویج", "مربای هویج", "diacritics stored"),
        ("شیرینی نارگیلی", "شـیـریـنـی", "tatweel in the query"),
        ("عسل ۱۰۰ درصد طبیعی", "عسل 100", "Persian digits stored, ASCII queried"),
        ("روغن کنجد 5 لیتری", "روغن کنجد ۵", "ASCII stored, Persian digits queried"),
        ("زعفران سرگل قائنات", "زعفرن", "one letter missing (typo)"),
        ("گلیم دستباف قشقایی", "قشقایی گلیم", "words in another order"),
        ("Saffron threads Qaenat", "SAFFRON", "Latin, any case"),
    ]

    @Test func persianNormalisationTable() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            var ids: [String: Int64] = [:]
            for row in Self.normalisation {
                ids[row.stored] = try await api.product(producer, title: row.stored, category: "food")
            }
            for row in Self.normalisation {
                let found = try await api.searchIDs("q=" + encoded(row.query))
                #expect(found.contains(ids[row.stored]!), "\(row.why): «\(row.query)» should find «\(row.stored)», got \(found)")
            }
            // And an unrelated query finds none of them.
            #expect(try await api.searchIDs("q=" + encoded("فرش ابریشم")) == [])
        }
    }

    @Test func exactAndPrefixMatchesRankFirst() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let fuzzy = try await api.product(producer, title: "ظرف سفالی برای کیک", category: "pottery")
            let prefix = try await api.product(producer, title: "کیک شکلاتی", category: "food")
            let exact = try await api.product(producer, title: "کیک", category: "food")
            let ranked = try await api.searchIDs("q=" + encoded("کیک"))
            #expect(ranked == [exact, prefix, fuzzy])
        }
    }

    @Test func typoMatchesRankBelowExactWordsAndCursorsCrossTiers() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let typo = try await api.product(producer, title: "زعفرن سرگل")  // tier 0: a letter missing
            let substring = try await api.product(producer, title: "بسته زعفران ممتاز")  // tier 1
            let prefix = try await api.product(producer, title: "زعفران قائنات")  // tier 2
            let exact = try await api.product(producer, title: "زعفران")  // tier 3
            let prefix2 = try await api.product(producer, title: "زعفران نگین")  // tier 2, newer
            #expect(try await api.searchIDs("q=" + encoded("زعفران")) == [exact, prefix2, prefix, substring, typo])
            // Page by one through every tier boundary: same order, nothing skipped or repeated.
            var seen: [Int64] = []
            var cursor: String? = nil
            repeat {
                let reply = try await api.get(
                    "/v1/products?limit=1&q=" + encoded("زعفران") + (cursor.map { "&cursor=\($0)" } ?? ""))
                seen += reply.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                cursor = reply.json["next_cursor"] as? String
            } while cursor != nil && seen.count < 10
            #expect(seen == [exact, prefix2, prefix, substring, typo])
            // Short words get no typo tier (one wrong letter in three is another word).
            _ = try await api.product(producer, title: "کیگ")
            #expect(try await api.searchIDs("q=" + encoded("کیک")) == [])
        }
    }

    @Test func brandNamesAndDescriptionsAreSearchable() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let brand = try #require(
                try await api.post(
                    "/v1/brands", #"{"slug":"bano","name_fa":"بانوی کویر","name_en":"Desert Lady"}"#, token: producer.token
                ).int("id"))
            let id = try await api.product(
                producer, title: "ترشی لیته", category: "food",
                extra: #","brand_id":\#(brand),"description":"با سرکه انگور طبیعی""#)
            #expect(try await api.searchIDs("q=" + encoded("بانوی کویر")) == [id])
            #expect(try await api.searchIDs("q=desert") == [id])
            #expect(try await api.searchIDs("q=" + encoded("سرکه انگور")) == [id])
            // Renaming the brand moves the product to the new name at once.
            try await api.must(.patch, "/v1/brands/\(brand)", json: #"{"name_en":"Kavir Lady"}"#, token: producer.token)
            #expect(try await api.searchIDs("q=kavir") == [id])
        }
    }

    @Test func everyFilter() async throws {
        try await withApp { api in
            let markazi = try await api.producer(province: "IR-00", status: .verified)
            let isfahan = try await api.producer(province: "IR-10", status: .verified)
            let cake = try await api.product(markazi, title: "کیک", category: "food.bakery", price: 1_000_000, capacity: 50)
            let jam = try await api.product(markazi, title: "مربا", category: "food.jams_syrups", price: 3_000_000, capacity: 500)
            let rug = try await api.product(isfahan, title: "گلیم", category: "carpets.kilim", price: 90_000_000, capacity: 2)
            let draft = try await api.product(isfahan, title: "پیش نویس", category: "carpets.kilim", list: false)
            let brand = try #require(
                try await api.post(
                    "/v1/brands", #"{"slug":"naneh","name_fa":"ننه"}"#, token: markazi.token
                ).int("id"))
            try await api.must(.patch, "/v1/products/\(jam)", json: #"{"brand_id":\#(brand)}"#, token: markazi.token)
            try await api.approvedPackaging(jam, "export", token: markazi.token)
            try await api.approvedPackaging(cake, "basic", token: markazi.token)
            let certificate = try #require(
                try await api.post(
                    "/v1/products/\(rug)/certificates",
                    #"""
                    {"kind":"handicraft_seal","number":"H-1","issuer":"میراث فرهنگی","issued_on":"2025-01-01",\#
                    "expires_on":"2035-01-01"}
                    """#,
                    token: isfahan.token
                ).int("id"))
            let admin = try await api.token(.admin)
            try await api.must(
                .post, "/v1/certificates/\(certificate)/transitions", json: #"{"to":"under_review"}"#, token: admin)
            try await api.must(.post, "/v1/certificates/\(certificate)/transitions", json: #"{"to":"granted"}"#, token: admin)

            #expect(Set(try await api.searchIDs("")) == [cake, jam, rug])
            #expect(Set(try await api.searchIDs("category_code=food")) == [cake, jam], "sub-categories included")
            #expect(try await api.searchIDs("category_code=food.bakery") == [cake])
            #expect(try await api.searchIDs("province_code=IR-10") == [rug])
            #expect(try await api.searchIDs("brand_id=\(brand)") == [jam])
            #expect(try await api.searchIDs("producer_id=\(isfahan.id)") == [rug])
            #expect(try await api.searchIDs("certificate=handicraft_seal") == [rug])
            #expect(try await api.searchIDs("min_packaging_level=retail") == [jam])
            #expect(Set(try await api.searchIDs("min_packaging_level=basic")) == [cake, jam])
            #expect(Set(try await api.searchIDs("max_price_rials=3000000")) == [cake, jam])
            #expect(Set(try await api.searchIDs("min_capacity=50")) == [cake, jam])
            #expect(try await api.searchIDs("sort=price") == [cake, jam, rug])
            #expect(try await api.searchIDs("sort=newest") == [rug, jam, cake])
            #expect(try await api.searchIDs("category_code=food&max_price_rials=2000000&province_code=IR-00") == [cake])
            // Every item carries what a partner needs without follow-up calls.
            let item = try await api.get("/v1/products?brand_id=\(brand)").items.first ?? [:]
            #expect((item["brand"] as? [String: Any])?["name_fa"] as? String == "ننه")
            #expect(item["packaging_level"] as? String == "export")
            #expect((item["producer"] as? [String: Any])?["province_code"] as? String == "IR-00")
            // Drafts: only their owner (and staff) see them.
            #expect(!(try await api.searchIDs("")).contains(draft))
            #expect(try await api.searchIDs("status=draft", token: isfahan.token) == [draft])
            #expect(try await api.searchIDs("status=draft", token: markazi.token) == [])
            let supervisor = try await api.token(.supervisor, province: "IR-10")
            #expect(try await api.searchIDs("status=draft", token: supervisor) == [draft])
            let partner = try await api.token(.partner)
            #expect(try await api.searchIDs("status=draft", token: partner) == [])
        }
    }

    @Test func cursorPaginationWalksEveryResultOnce() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            var ids: [Int64] = []
            for i in 0..<7 {
                ids.append(try await api.product(producer, title: "کیک شماره \(i)", price: Int64(1000 + (i * 37) % 5)))
            }
            for sort in ["newest", "price", "relevance"] {
                var seen: [Int64] = []
                var cursor: String? = nil
                repeat {
                    let reply = try await api.get(
                        "/v1/products?limit=3&sort=\(sort)&q=" + encoded("کیک") + (cursor.map { "&cursor=\($0)" } ?? ""))
                    #expect(reply.status == .ok)
                    seen += reply.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                    cursor = reply.json["next_cursor"] as? String
                } while cursor != nil && seen.count < 50
                #expect(seen.count == 7, "\(sort)")
                #expect(Set(seen) == Set(ids), "\(sort)")
            }
        }
    }

    @Test func badParametersAre422() async throws {
        try await withApp { api in
            for query in [
                "sort=cheapest", "certificate=gold", "min_packaging_level=luxury", "max_price_rials=-1", "limit=0",
                "limit=101", "cursor=garbage", "brand_id=abc", "status=sold",
            ] {
                let reply = try await api.get("/v1/products?" + query)
                #expect(reply.status == .unprocessableContent, "\(query)")
            }
            // A cursor from one sort order is refused by another.
            let producer = try await api.producer(status: .verified)
            for i in 0..<3 { _ = try await api.product(producer, title: "کیک \(i)") }
            let first = try await api.get("/v1/products?sort=newest&limit=1")
            let cursor = try #require(first.json["next_cursor"] as? String)
            #expect(try await api.get("/v1/products?sort=price&cursor=\(cursor)").status == .unprocessableContent)
            // SQL and LIKE metacharacters are just text.
            #expect(try await api.searchIDs("q=" + encoded("%' OR 1=1 --")) == [])
            #expect(try await api.searchIDs("q=" + encoded("_")) == [])
            // NUL cannot be stored or searched: a 400, not a 500.
            #expect(try await api.get("/v1/products?q=%00").status == .badRequest)
        }
    }

    // MARK: prepared statements per filter shape

    /// Each search shape is a named prepared statement on every pooled connection (PostgreSQL may
    /// switch it to a generic plan after five runs): results, order and cursors must not change.
    @Test func repeatedSearchesOfManyShapesKeepTheirResults() async throws {
        try await withApp { api in
            let markazi = try await api.producer(province: "IR-00", status: .verified)
            let isfahan = try await api.producer(province: "IR-10", status: .verified)
            var all: [(id: Int64, province: String, category: String, price: Int64, capacity: Int)] = []
            for i in 0..<6 {
                let (owner, province) = i % 2 == 0 ? (markazi, "IR-00") : (isfahan, "IR-10")
                let category = i % 3 == 0 ? "food.bakery" : "food.jams_syrups"
                let price = Int64(1_000_000 * (i + 1))
                let capacity = 10 * (i + 1)
                let id = try await api.product(
                    owner, title: "کیک زعفرانی \(i)", category: category, price: price, capacity: capacity)
                all.append((id, province, category, price, capacity))
            }
            let filters: [(query: String, keep: (Int) -> Bool)] = [
                ("province_code=IR-00", { all[$0].province == "IR-00" }),
                ("category_code=food.bakery", { all[$0].category == "food.bakery" }),
                ("max_price_rials=3000000", { all[$0].price <= 3_000_000 }),
                ("min_capacity=30", { all[$0].capacity >= 30 }),
            ]
            // Every combination of filters, with and without text, in each sort order, three
            // times over: many shapes on a pool of four connections, each run more than once.
            for round in 0..<3 {
                for mask in 0..<(1 << filters.count) {
                    let chosen = filters.indices.filter { mask & (1 << $0) != 0 }
                    let expected = all.indices.filter { i in chosen.allSatisfy { filters[$0].keep(i) } }
                    let base = chosen.map { filters[$0].query }
                    for extra in ["sort=newest", "sort=price", "q=" + encoded("کیک"), "q=" + encoded("زعفرانی")] {
                        let query = (base + [extra]).joined(separator: "&")
                        let found = try await api.searchIDs(query)
                        if extra == "sort=price" {
                            #expect(found == expected.map { all[$0].id }, "round \(round): \(query)")
                        } else {
                            #expect(found == expected.reversed().map { all[$0].id }, "round \(round): \(query)")
                        }
                    }
                }
            }
            // The same search twice returns the same bytes; pages walk every result once, twice.
            let path = "/v1/products?province_code=IR-10&q=" + encoded("کیک")
            let first = try await api.get(path)
            for _ in 0..<7 { #expect(try await api.get(path).text == first.text) }
            for _ in 0..<2 {
                for sort in ["newest", "price", "relevance"] {
                    var seen: [Int64] = []
                    var cursor: String? = nil
                    repeat {
                        let reply = try await api.get(
                            "/v1/products?limit=2&sort=\(sort)&q=" + encoded("کیک") + (cursor.map { "&cursor=\($0)" } ?? ""))
                        seen += reply.items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
                        cursor = reply.json["next_cursor"] as? String
                    } while cursor != nil && seen.count < 20
                    let ordered = sort == "price" ? all.map(\.id) : all.reversed().map(\.id)
                    #expect(seen == ordered, "\(sort)")
                }
            }
        }
    }

    /// The first shapes get a name, prepared once per connection; beyond the cap, queries run
    /// unnamed with the same results.
    @Test func shapesBeyondTheCapRunUnnamed() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let cheap = try await api.product(producer, title: "مربا", price: 1_000_000)
            let dear = try await api.product(producer, title: "گلیم", price: 9_000_000)
            let shapes = PreparedShapes(prefix: "capped_test", limit: 2)
            let queries: [(SQL, [Int64])] = [
                ("SELECT id FROM products WHERE price_rials <= \(5_000_000 as Int64) ORDER BY id", [cheap]),
                ("SELECT id FROM products WHERE price_rials > \(5_000_000 as Int64) ORDER BY id", [dear]),
                ("SELECT id FROM products WHERE title_fa = \("گلیم") ORDER BY id", [dear]),
                ("SELECT id FROM products ORDER BY id LIMIT \(1)", [cheap]),
            ]
            let prepared = try await api.db.withConnection { connection in
                for _ in 0..<7 {
                    for (query, expected) in queries {
                        let ids = try await connection.run(query, shapes: shapes, logger: api.db.logger).map {
                            try $0.decode(Int64.self)
                        }
                        #expect(ids == expected)
                    }
                }
                return try await connection.query(
                    "SELECT name FROM pg_prepared_statements WHERE name LIKE 'capped_test%' ORDER BY name", logger: api.db.logger
                ).collect().map { try $0.decode(String.self) }
            }
            #expect(prepared == ["capped_test_1", "capped_test_2"])
            #expect(shapes.count == 2)
            #expect(shapes.name(of: "SELECT 1") == nil)
            // A shape is named on its third run: one-off combinations never take a name.
            let fresh = PreparedShapes(prefix: "fresh_test", limit: 2)
            #expect(fresh.name(of: "SELECT 1") == nil)
            #expect(fresh.name(of: "SELECT 2") == nil)
            #expect(fresh.name(of: "SELECT 1") == nil)
            #expect(fresh.name(of: "SELECT 1") == "fresh_test_1")
            #expect(fresh.name(of: "SELECT 1") == "fresh_test_1")
            #expect(fresh.count == 1)
        }
    }
}
