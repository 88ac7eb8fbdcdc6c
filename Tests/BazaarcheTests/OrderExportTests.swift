import BazaarcheCore
import Foundation
import HTTPTypes
import Testing

extension API {
    /// An order of `quantity` with a delivery address and recipient chosen by the test.
    func order(
        _ partner: String, producer: Int64, product: Int64, quantity: Int, address: String, recipient: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int64 {
        let body = try JSONSerialization.data(withJSONObject: [
            "producer_id": producer, "lines": [["product_id": product, "quantity": quantity]],
            "delivery": [
                "province_code": "IR-23", "city": "تهران", "address": address, "recipient": recipient,
                "phone": "02166554433",
            ],
        ])
        let reply = try await call(
            .post, "/v1/orders", json: String(decoding: body, as: UTF8.self), token: partner,
            headers: [.idempotencyKey: UUID().uuidString], sourceLocation: sourceLocation)
        #expect(reply.status == .created, "order: \(reply.text)", sourceLocation: sourceLocation)
        return try #require(reply.int("id"), sourceLocation: sourceLocation)
    }

    func ordersCSV(_ query: String = "format=csv", token: String, headers: HTTPFields = [:]) async throws -> Reply {
        try await call(.get, "/v1/orders?" + query, token: token, headers: headers)
    }
}

@Suite struct OrderExportTests {
    static let englishHeader = [
        "order_id", "status", "created_at", "created_on_jalali", "partner_id", "producer_id", "producer_province_code",
        "line_no", "product_id", "product_title_fa", "quantity", "unit", "unit_price_rials", "line_total_rials",
        "order_total_rials", "delivery_province_code", "delivery_city", "delivery_address", "delivery_recipient",
        "tracking_code",
    ]

    @Test func theFileOpensInExcelAndReadsBackExactly() async throws {
        try await withApp { api in
            let (producer, product, partner) = try await api.orderParties(price: 1_500_000, stock: 50)
            let address = "خیابان ولیعصر، کوچه \"بهار\", پلاک ۷\nدر پشتی"
            let recipient = "=HYPERLINK(\"http://evil.example\",\"click\")"
            let id = try await api.order(
                partner, producer: producer.id, product: product, quantity: 3, address: address, recipient: recipient)

            let reply = try await api.ordersCSV(token: partner)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(reply.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"orders-") == true)
            #expect(reply.text.hasPrefix("\u{FEFF}order_id,status,created_at,"))
            // CRLF ends every line; the only bare LF is the one inside the quoted address.
            #expect(reply.text.hasSuffix("\r\n"))
            let scalars = Array(reply.text.unicodeScalars)
            let bareLF = scalars.indices.filter { scalars[$0] == "\n" && ($0 == 0 || scalars[$0 - 1] != "\r") }
            #expect(bareLF.count == 1)

            let parsed = CSV.parse(reply.text)
            #expect(parsed.unclosedQuoteRow == nil)
            #expect(parsed.records.first?.cells == Self.englishHeader)
            #expect(parsed.records.count == 2)
            let row = Dictionary(uniqueKeysWithValues: zip(Self.englishHeader, parsed.records[1].cells))
            #expect(row["order_id"] == String(id))
            #expect(row["status"] == "placed")
            #expect(row["producer_id"] == String(producer.id))
            #expect(row["product_id"] == String(product))
            #expect(row["quantity"] == "3")
            #expect(row["unit_price_rials"] == "1500000")
            #expect(row["line_total_rials"] == "4500000")
            #expect(row["order_total_rials"] == "4500000")
            #expect(row["delivery_address"] == address)  // comma, quotes and a line break round-trip
            #expect(row["delivery_city"] == "تهران")
            // The formula-like recipient cannot run in a spreadsheet: it starts with an apostrophe.
            #expect(row["delivery_recipient"] == "'" + recipient)
            #expect(row["created_on_jalali"]?.hasPrefix("14") == true)
            #expect(row["tracking_code"] == "")
        }
    }

    @Test func persianHeadingsAndAcceptHeaderAndFiltersApply() async throws {
        try await withApp { api in
            let (producer, product, partner) = try await api.orderParties(stock: 50)
            let placed = try await api.order(partner, producer: producer.id, lines: [(product, 1)]).int("id") ?? 0
            let accepted = try await api.orderThrough(["accepted"], producer: producer, product: product, partner: partner)

            let persian = try await api.call(
                .get, "/v1/orders", token: partner, headers: [.accept: "text/csv", .acceptLanguage: "fa-IR,fa;q=0.9"])
            #expect(persian.status == .ok)
            #expect(persian.headers[.contentLanguage] == "fa")
            let heading = CSV.parse(persian.text).records.first?.cells ?? []
            #expect(heading.first == "شناسه سفارش")
            #expect(heading.contains("کد رهگیری"))
            #expect(heading.count == Self.englishHeader.count)
            #expect(CSV.parse(persian.text).records.dropFirst().map { $0.cells[0] } == [String(placed), String(accepted)])

            // The JSON list's filters apply to the file.
            let onlyAccepted = try await api.ordersCSV("format=csv&status=accepted", token: partner)
            #expect(CSV.parse(onlyAccepted.text).records.dropFirst().map { $0.cells[0] } == [String(accepted)])
            // JSON is still the default, and asking for JSON wins over a CSV Accept.
            let json = try await api.call(.get, "/v1/orders", token: partner, headers: [.accept: "text/csv, application/json"])
            #expect(json.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(json.items.count == 2)
            let bad = try await api.ordersCSV("format=xlsx", token: partner)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.fields == ["format"])
            // Export officers see no orders, in any format.
            let officer = try await api.token(.exportOfficer)
            #expect(try await api.ordersCSV(token: officer).status == .forbidden)
        }
    }

    @Test func eachCallerSeesOnlyItsOwnOrdersInTheFile() async throws {
        try await withApp { api in
            let (producer, product, partner) = try await api.orderParties(stock: 50)
            let rival = try await api.token(.partner)
            let mine = try await api.order(partner, producer: producer.id, lines: [(product, 1)]).int("id") ?? 0
            let theirs = try await api.order(rival, producer: producer.id, lines: [(product, 2)]).int("id") ?? 0
            let otherSeller = try await api.orderParties(stock: 5)
            let elsewhere =
                try await api.order(
                    partner, producer: otherSeller.producer.id, lines: [(otherSeller.product, 1)]
                ).int("id") ?? 0

            func ids(_ token: String) async throws -> [String] {
                let reply = try await api.ordersCSV(token: token)
                #expect(reply.status == .ok)
                return CSV.parse(reply.text).records.dropFirst().map { $0.cells[0] }
            }
            #expect(try await ids(partner) == [String(mine), String(elsewhere)])
            #expect(try await ids(rival) == [String(theirs)])
            #expect(try await ids(producer.token) == [String(mine), String(theirs)])
            #expect(try await ids(otherSeller.producer.token) == [String(elsewhere)])
            // A producer naming another producer's id still gets only its own (here: none).
            let filtered = try await api.ordersCSV("format=csv&producer_id=\(otherSeller.producer.id)", token: producer.token)
            #expect(CSV.parse(filtered.text).records.count == 1)
            let admin = try await api.token(.admin)
            #expect(try await ids(admin).count == 3)
        }
    }
}
