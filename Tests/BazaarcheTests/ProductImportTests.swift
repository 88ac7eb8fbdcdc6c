import BazaarcheApp
import BazaarcheCore
import Foundation
import HTTPTypes
import Testing

extension API {
    /// Posts a product CSV as `text/csv` to the producer's import.
    func importProducts(
        _ producer: Int64, _ csv: String, dryRun: Bool, token: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let response = try await client.executeRequest(
            uri: "/v1/producers/\(producer)/products/import?dry_run=\(dryRun)", method: .post,
            headers: [.authorization: "Bearer \(token)", .contentType: "text/csv; charset=utf-8"],
            body: ByteBuffer(string: csv))
        let reply = Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
        for problem in OpenAPIConformance.shared.check(
            method: "POST", path: "/v1/producers/\(producer)/products/import", status: Int(reply.status.code),
            contentType: reply.headers[.contentType], body: reply.text)
        {
            Issue.record("OpenAPI: \(problem)", sourceLocation: sourceLocation)
        }
        if reply.status.code >= 500 { Issue.record("server error: \(reply.text)", sourceLocation: sourceLocation) }
        return reply
    }

    func productCount(of producer: Int64) async throws -> Int {
        try await db.rows("SELECT count(*)::int FROM products WHERE producer_id = \(producer)")[0].decode(Int.self)
    }
}

/// "row:field" of a report's errors, in order.
private func rowFields(_ reply: Reply) -> [String] {
    (reply.json["errors"] as? [[String: Any]] ?? []).map { "\($0["row"] as? Int ?? 0):\($0["field"] as? String ?? "")" }
}

@Suite struct ProductImportTests {
    static let header =
        "title_fa,title_en,category_code,unit,price_rials,stock,monthly_capacity,min_order_qty,hs_code,order_increment,"
        + "lead_time_days,suggested_retail_price_rials,price_tiers"

    /// Row `row` (the header is row 1) of a valid catalogue: every third row in Persian digits,
    /// every fifth with Arabic-Indic digits, every seventh with a quoted `1,500,000` price.
    static func goodRow(_ row: Int) -> String {
        switch row % 7 == 0 ? 3 : row % 5 == 0 ? 2 : row % 3 == 0 ? 1 : 0 {
        case 1: return "کلوچه خانگی \(row),,food.bakery,piece,۱۲۰٬۰۰۰,۴۰,۲۰۰,۱۰,190590,۱۰,۳,۱۵۰٬۰۰۰,۲۰:۱۱۰٬۰۰۰;۵۰:۱۰۰٬۰۰۰"
        case 2: return "مربای بالنگ \(row),Citron jam,food.jams_syrups,jar,١٥٠٠٠٠,٣٠,١٠٠,,,,,,"
        case 3: return "نان محلی \(row),,food.bakery,kg,\"1,500,000\",12,,,,,,,"
        default: return "کیک خانگی \(row),Home cake \(row),food.bakery,piece,95000,25,300,5,,5,2,120000,10:90000;50:85000"
        }
    }

    /// 500 products (rows 2…501), with the rows in `replace` swapped in.
    static func file(replacing replace: [Int: String] = [:], lineEnd: String = "\r\n") -> String {
        "\u{FEFF}" + ([header] + (2...501).map { replace[$0] ?? goodRow($0) }).joined(separator: lineEnd) + lineEnd
    }

    static func megabyte(_ config: inout AppConfig) { config.maxBodyBytes = 1 << 20 }

    @Test func aDryRunReportsEveryBadRowWithItsFieldAndChangesNothing() async throws {
        try await withApp(configure: Self.megabyte) { api in
            let producer = try await api.producer(status: .verified)
            _ = try await api.product(producer)
            let before = try await api.productCount(of: producer.id)
            let file = Self.file(replacing: [
                10: "کیک \(10),,food.bakery,piece,ارزان,25,,,,,,,",  // a word for a price
                20: "کیک \(20),,food.no_such_thing,piece,95000,25,,,,,,,",  // unknown category
                30: ",Cake,food.bakery,piece,95000,25,,,,,,,",  // no Persian title
                40: "کیک \(40),,food.bakery,piece,95000,25,,,,,,,10-90000",  // a tier without its colon
                50: "کیک \(50),,food.bakery,piece,95000,25,,,,,,,10:90000;5:85000",  // tiers out of order
                60: "کیک \(60),,food.bakery,barrel,95000,25,,,,,,,",  // no such unit
                70: "کیک \(70),,food.bakery,piece,0,-3,,,,,,,",  // price 0 and negative stock
                80: "کیک \(80),,food.bakery,piece,95000,25,,,,,,,,extra",  // more cells than the header
                90: "کیک \(90),,food.unknown,piece,abc,25,,,,,,,",  // bad price and unknown category at once
                // The last row opens a quote it never closes.
                501: "\"کیک بی‌پایان,,food.bakery,piece,95000,25,,,,,,,",
            ])
            let dry = try await api.importProducts(producer.id, file, dryRun: true, token: producer.token)
            #expect(dry.status == .ok, "\(dry.text.prefix(500))")
            #expect(dry.json["dry_run"] as? Bool == true)
            #expect(dry.json["valid"] as? Bool == false)
            #expect(dry.json["row_count"] as? Int == 499)
            #expect((dry.json["product_ids"] as? [Any])?.isEmpty == true)
            #expect(
                rowFields(dry) == [
                    "10:price_rials", "20:category_code", "30:title_fa", "40:price_tiers",
                    "50:price_tiers[1].min_quantity", "60:unit", "70:price_rials", "70:stock", "80:row",
                    "90:price_rials", "90:category_code", "501:csv",
                ])
            let messages = (dry.json["errors"] as? [[String: Any]] ?? []).map { $0["message"] as? String ?? "" }
            #expect(messages.first == "must be a whole number (got \"ارزان\")")
            #expect(messages.contains("is not a category of the taxonomy (see /v1/categories)"))
            // Nothing of the 489 good rows (or anything else) was kept.
            #expect(try await api.productCount(of: producer.id) == before)

            // The same file for real: refused whole, every row error listed, nothing written.
            let refused = try await api.importProducts(producer.id, file, dryRun: false, token: producer.token)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.code == "csv_rows_invalid")
            #expect(refused.fields.contains("rows[10].price_rials"))
            #expect(refused.fields.contains("rows[501].csv"))
            #expect(refused.fields.count == 12)
            #expect(try await api.productCount(of: producer.id) == before)
        }
    }

    @Test func aCleanFileCreatesExactlyItsProductsAndOneBadRowCreatesNothing() async throws {
        try await withApp(configure: Self.megabyte) { api in
            let producer = try await api.producer(status: .verified)
            let before = try await api.productCount(of: producer.id)

            // One bad row in 500: nothing at all is written.
            let oneBad = Self.file(replacing: [321: "کیک,,food.bakery,piece,95000,بسیار,,,,,,,"])
            let refused = try await api.importProducts(producer.id, oneBad, dryRun: false, token: producer.token)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.code == "csv_rows_invalid")
            #expect(refused.fields == ["rows[321].stock"])
            #expect(try await api.productCount(of: producer.id) == before)

            // A dry run of the clean file (LF line ends this time) is valid and still writes nothing.
            let clean = Self.file(lineEnd: "\n")
            let dry = try await api.importProducts(producer.id, clean, dryRun: true, token: producer.token)
            #expect(dry.status == .ok)
            #expect(dry.json["valid"] as? Bool == true)
            #expect(rowFields(dry).isEmpty, "\(dry.text.prefix(500))")
            #expect(try await api.productCount(of: producer.id) == before)

            let made = try await api.importProducts(producer.id, Self.file(), dryRun: false, token: producer.token)
            #expect(made.status == .created, "\(made.text.prefix(500))")
            let ids = (made.json["product_ids"] as? [NSNumber] ?? []).map(\.int64Value)
            #expect(ids.count == 500)
            #expect(Set(ids).count == 500)
            #expect(try await api.productCount(of: producer.id) == before + 500)
            let drafts = try await api.db.rows(
                "SELECT count(*)::int FROM products WHERE producer_id = \(producer.id) AND status = 'draft'")[0].decode(Int.self)
            #expect(drafts == 500)

            // Row 3 (ids[1]) was written in Persian digits with ٬ separators; row 5 (ids[3]) in
            // Arabic-Indic digits; row 7 (ids[5]) quoted with commas.
            let persian = try await api.get("/v1/products/\(ids[1])", token: producer.token)
            #expect(persian.int("price_rials") == 120_000)
            #expect(persian.int("stock") == 40)
            #expect(persian.int("min_order_qty") == 10)
            #expect(persian.int("order_increment") == 10)
            #expect(persian.int("suggested_retail_price_rials") == 150_000)
            #expect(persian.string("hs_code") == "190590")
            let tiers = persian.json["price_tiers"] as? [[String: Any]] ?? []
            #expect(
                tiers.map { ($0["min_quantity"] as? Int ?? 0, $0["unit_price_rials"] as? Int ?? 0) }.elementsEqual(
                    [(20, 110_000), (50, 100_000)], by: ==))
            let arabicIndic = try await api.get("/v1/products/\(ids[3])", token: producer.token)
            #expect(arabicIndic.int("price_rials") == 150_000)
            #expect(arabicIndic.string("unit") == "jar")
            #expect(arabicIndic.string("title_en") == "Citron jam")
            let quoted = try await api.get("/v1/products/\(ids[5])", token: producer.token)
            #expect(quoted.int("price_rials") == 1_500_000)
            #expect(quoted.string("title_fa") == "نان محلی 7")
        }
    }

    @Test func persianHeadingsUnitsAndAJSONBodyWork() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            let csv =
                "عنوان فارسی,کد دسته,واحد,قیمت (ریال),موجودی,پله‌های قیمت\nعسل کوهستان,food.honey,کیلوگرم,۲٬۵۰۰٬۰۰۰,۸,۱۰:۲٬۴۰۰٬۰۰۰\n"
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ["csv": csv]), as: UTF8.self)
            let made = try await api.call(
                .post, "/v1/producers/\(producer.id)/products/import", json: body, token: producer.token)
            #expect(made.status == .created, "\(made.text)")
            let id = try #require((made.json["product_ids"] as? [NSNumber])?.first?.int64Value)
            let product = try await api.get("/v1/products/\(id)", token: producer.token)
            #expect(product.string("unit") == "kg")
            #expect(product.int("price_rials") == 2_500_000)
            #expect(product.string("status") == "draft")

            // An unknown heading is named (row 1), and nothing is read.
            let unknown = try await api.importProducts(
                producer.id, "title_fa,category_code,unit,price,stock\nکیک,food.bakery,piece,1000,1\n", dryRun: true,
                token: producer.token)
            #expect(unknown.status == .ok)
            #expect(rowFields(unknown) == ["1:price", "1:price_rials"])
        }
    }

    @Test func onlyTheProducerItsProvincesImplementersAndAdminsImport() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00")
            let other = try await api.producer(province: "IR-00")
            let csv = "title_fa,category_code,unit,price_rials,stock\nترشی لیته,food.pickles_preserves,jar,85000,20\n"
            let before = try await api.productCount(of: producer.id)

            // Another province's implementer and another producer: 404, as if the producer did not exist.
            let stranger = try await api.token(.implementer, provinces: ["IR-23"])
            let farAway = try await api.importProducts(producer.id, csv, dryRun: false, token: stranger)
            #expect(farAway.status == .notFound)
            let otherProducer = try await api.importProducts(producer.id, csv, dryRun: false, token: other.token)
            #expect(otherProducer.status == .notFound)
            #expect(try await api.importProducts(producer.id, csv, dryRun: true, token: other.token).status == .notFound)
            // Roles that never list products: 403.
            for role in [Role.supervisor, .partner, .exportOfficer] {
                let token = try await api.token(role, province: role == .supervisor ? "IR-00" : nil)
                #expect(try await api.importProducts(producer.id, csv, dryRun: false, token: token).status == .forbidden)
            }
            #expect(try await api.productCount(of: producer.id) == before)
            #expect(try await api.productCount(of: other.id) == 0)
            #expect(try await api.db.rows("SELECT 1 FROM audit_events WHERE action = 'products.imported'").isEmpty)

            // The producer's own province's implementer imports for it; the products are the producer's.
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let made = try await api.importProducts(producer.id, csv, dryRun: false, token: implementer)
            #expect(made.status == .created, "\(made.text)")
            #expect(try await api.productCount(of: producer.id) == before + 1)
            let audit = try await api.db.rows(
                "SELECT entity_type, entity_id FROM audit_events WHERE action = 'products.imported'")
            #expect(audit.count == 1)
            let (entity, entityID) = try #require(try audit.first?.decode((String, Int64).self))
            #expect(entity == "producer" && entityID == producer.id)
        }
    }

    @Test func aControlCharacterIsTheCellsErrorNotTheFiles() async throws {
        try await withApp(configure: Self.megabyte) { api in
            let producer = try await api.producer(status: .verified)
            let before = try await api.productCount(of: producer.id)
            let file = Self.file(replacing: [
                5: "کیک 5,,food.bak\u{0}ery,piece,95000,25,,,,,,,",  // a NUL in a reference cell
                6: "کیک\u{7} 6,,food.bakery,piece,95000,25,,,,,,,",  // a bell in the title
                7: "کیک 7,,food.bakery,piece,95000,25,,,190\u{0}590,,,,",  // a NUL in the HS code
            ])
            let dry = try await api.importProducts(producer.id, file, dryRun: true, token: producer.token)
            #expect(dry.status == .ok, "\(dry.text.prefix(500))")
            #expect(dry.json["row_count"] as? Int == 500)
            #expect(rowFields(dry) == ["5:category_code", "6:title_fa", "7:hs_code"])
            let messages = (dry.json["errors"] as? [[String: Any]] ?? []).map { $0["message"] as? String ?? "" }
            #expect(messages.allSatisfy { $0 == "must not contain control characters" })
            #expect(try await api.productCount(of: producer.id) == before)
        }
    }
}
