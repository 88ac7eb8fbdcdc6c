import BazaarcheCore
import Foundation
import Testing

@testable import Exports

/// (period, shipment_count, fob_value_usd) per row, for compact comparisons.
func summary(_ figures: [String: Any]) -> [String] {
    (figures["rows"] as? [[String: Any]] ?? []).map { row in
        let keys = ["province_code", "hs_chapter", "destination_country", "category_code"].compactMap { row[$0] as? String }
        return
            ([row["period"] as? String ?? "?"] + keys + [
                "\(row["shipment_count"] ?? "?")", row["fob_value_usd"] as? String ?? "?",
            ])
            .joined(separator: " ")
    }
}

func totals(_ figures: [String: Any]) -> String {
    let t = figures["totals"] as? [String: Any] ?? [:]
    let kg = (t["net_weight_kg"] as? NSNumber).map { String(format: "%.3f", $0.doubleValue) } ?? "?"
    return "\(t["shipment_count"] ?? "?") \(t["fob_value_usd"] ?? "?") \(kg)"
}

@Suite struct ExportTests {
    /// Both sides of the Mehr/Aban 1405 boundary (2026-10-22 is 30 Mehr, 2026-10-23 is 1 Aban), the
    /// last day of Shahrivar, an oil shipment and a declared one.
    func handBuiltSet(_ api: API) async throws -> (exporter: String, tehran: Int64, isfahan: Int64) {
        let exporter = try await api.exporterToken()
        let tehran = try await api.producer(province: "IR-23", status: .verified)
        let isfahan = try await api.producer(province: "IR-10", status: .verified)
        try await api.shipment(
            exporter, producer: tehran.id, hs: "570110", to: "DE", fob: "1000.50", kg: "10.5", on: "2026-10-22")
        try await api.shipment(
            exporter, producer: tehran.id, hs: "200799", to: "IQ", fob: "250.25", kg: "3", on: "2026-10-23", status: "shipped")
        try await api.shipment(
            exporter, producer: isfahan.id, hs: "270900", to: "CN", fob: "99999.99", kg: "1000", on: "2026-10-22")
        try await api.shipment(
            exporter, producer: isfahan.id, hs: "330190", to: "IQ", fob: "10", kg: "0.125", on: "2026-10-20", status: "declared")
        try await api.shipment(exporter, producer: isfahan.id, hs: "200799", to: "AE", fob: "5.05", kg: "1", on: "2026-09-22")
        return (exporter, tehran.id, isfahan.id)
    }

    @Test func figuresAreExactOnAHandBuiltSet() async throws {
        try await withApp { api in
            _ = try await handBuiltSet(api)
            let officer = try await api.token(.exportOfficer)
            let range = "from=2026-09-01&to=2026-10-31"
            let jalali = try await api.figures(range, token: officer)
            #expect(summary(jalali) == ["1405-06 1 5.05", "1405-07 1 1000.50", "1405-08 1 250.25"])
            #expect(totals(jalali) == "3 1255.80 14.500")
            let gregorian = try await api.figures(range + "&calendar=gregorian", token: officer)
            #expect(summary(gregorian) == ["2026-09 1 5.05", "2026-10 2 1250.75"])
            let all = try await api.figures(range + "&scope=all", token: officer)
            #expect(summary(all) == ["1405-06 1 5.05", "1405-07 2 101000.49", "1405-08 1 250.25"])
            #expect(
                summary(try await api.figures(range + "&period=quarter", token: officer)) == [
                    "1405-Q2 1 5.05", "1405-Q3 2 1250.75",
                ])
            #expect(summary(try await api.figures(range + "&period=year", token: officer)) == ["1405 3 1255.80"])
            #expect(
                summary(try await api.figures(range + "&group_by=province,hs_chapter", token: officer)) == [
                    "1405-06 IR-10 20 1 5.05", "1405-07 IR-23 57 1 1000.50", "1405-08 IR-23 20 1 250.25",
                ])
            // Exactly Mehr 1405: served from the rollups alone.
            #expect(summary(try await api.figures("from=2026-09-23&to=2026-10-22", token: officer)) == ["1405-07 1 1000.50"])
            // Three dimensions are read from the shipments; same totals.
            let wide = try await api.figures(range + "&group_by=province,hs_chapter,destination&period=year", token: officer)
            #expect(summary(wide) == ["1405 IR-10 20 AE 1 5.05", "1405 IR-23 20 IQ 1 250.25", "1405 IR-23 57 DE 1 1000.50"])
            #expect(totals(wide) == totals(jalali))
            let row = try #require((wide["rows"] as? [[String: Any]])?.first)
            #expect(row["province_name_fa"] as? String == "اصفهان")
            #expect(row["destination_name_en"] as? String == "United Arab Emirates")
            #expect(try await api.get("/v1/export-figures?group_by=weather", token: officer).fields == ["group_by[0]"])
            #expect(try await api.get("/v1/export-figures?from=2026-10-01&to=2026-09-01", token: officer).fields == ["from"])
            #expect(try await api.get("/v1/export-figures", token: try await api.token(.partner)).status == .forbidden)
        }
    }

    @Test func csvCarriesTheSameRowsAsJSON() async throws {
        try await withApp { api in
            _ = try await handBuiltSet(api)
            let officer = try await api.token(.exportOfficer)
            let query = "from=2026-09-01&to=2026-10-31&group_by=province,hs_chapter&scope=all"
            let json = try await api.figures(query, token: officer)
            let reply = try await api.call(.get, "/v1/export-figures?" + query, token: officer, headers: [.accept: "text/csv"])
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "text/csv; charset=utf-8")
            // UTF-8 with a byte order mark, so Excel reads the Persian names.
            #expect(reply.text.unicodeScalars.first == "\u{FEFF}")
            let lines = parseCSV(String(reply.text.unicodeScalars.dropFirst()))
            let header = try #require(lines.first)
            #expect(
                header == [
                    "period", "province_code", "province_name_fa", "province_name_en", "hs_chapter", "hs_chapter_name_fa",
                    "hs_chapter_name_en", "hs_chapter_title_en", "shipment_count", "fob_value_usd", "net_weight_kg", "quantity",
                    "quantity_unit", "share_percent",
                ])
            let rows = try #require(json["rows"] as? [[String: Any]])
            #expect(lines.count == rows.count + 2)
            for (line, row) in zip(lines.dropFirst(), rows) {
                for (name, cell) in zip(header, line) {
                    // Codes and period labels are written as ="…" so that Excel keeps them as text.
                    let value = cell.hasPrefix("=\"") && cell.hasSuffix("\"") ? String(cell.dropFirst(2).dropLast()) : cell
                    let expected = row[name].map { v in v is NSNull ? "" : (v as? NSNumber).map { "\($0)" } ?? "\(v)" } ?? ""
                    if name == "net_weight_kg" {
                        #expect(Double(value) == (row[name] as? NSNumber)?.doubleValue)
                    } else {
                        #expect(value == expected, "\(name)")
                    }
                }
            }
            let total = try #require(lines.last)
            #expect(total.first == "total")
            #expect(Array(total.suffix(6).prefix(3)) == ["4", "101255.79", "1014.500"])
        }
    }

    @Test func supervisorsReadOnlyTheirProvince() async throws {
        try await withApp { api in
            _ = try await handBuiltSet(api)
            let tehran = try await api.token(.supervisor, province: "IR-23")
            let own = try await api.figures("from=2026-09-01&to=2026-10-31", token: tehran)
            #expect(totals(own) == "2 1250.75 13.500")
            #expect(own["province_code"] as? String == "IR-23")
            #expect(try await api.get("/v1/export-figures?province_code=IR-10", token: tehran).status == .forbidden)
            #expect(try await api.get("/v1/export-figures?province_code=IR-23&group_by=destination", token: tehran).status == .ok)
            let shipments = try await api.get("/v1/export-shipments", token: tehran).items
            #expect(shipments.count == 2)
            #expect(Set(shipments.compactMap { $0["province_code"] as? String }) == ["IR-23"])
        }
    }

    @Test func shipmentsAreValidatedAndOwned() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let maker = try await api.producer(status: .verified)
            // The valid body with `fields` (a JSON fragment) replacing its keys.
            func post(_ fields: String, token: String, key: String) async throws -> Reply {
                var body: [String: Any] = [
                    "producer_id": maker.id, "hs_code": "570110", "destination_country": "DE", "customs_declaration_no": "X-1",
                    "fob_value_usd": "10.00", "net_weight_kg": 1, "export_date": "2026-10-01", "customs_office_code": "bazargan",
                ]
                let changes = try JSONSerialization.jsonObject(with: Data("{\(fields)}".utf8)) as! [String: Any]
                body.merge(changes) { $1 }
                let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
                return try await api.call(
                    .post, "/v1/export-shipments", json: json, token: token, headers: [.idempotencyKey: key])
            }
            #expect(try await post(#""fob_value_usd":"10.005""#, token: exporter, key: "a").fields == ["fob_value_usd"])
            #expect(try await post(#""fob_value_usd":"0.00""#, token: exporter, key: "b").fields == ["fob_value_usd"])
            #expect(try await post(#""hs_code":"57011""#, token: exporter, key: "c").fields == ["hs_code"])
            #expect(try await post(#""hs_code":"770000""#, token: exporter, key: "d").fields == ["hs_code"])  // reserved chapter
            #expect(try await post(#""destination_country":"IR""#, token: exporter, key: "e").fields == ["destination_country"])
            #expect(try await post(#""destination_country":"XX""#, token: exporter, key: "f").fields == ["destination_country"])
            #expect(try await post(#""net_weight_kg":1.0005"#, token: exporter, key: "g").fields == ["net_weight_kg"])
            #expect(try await post(#""fob_value_usd":10"#, token: exporter, key: "h").status.code / 100 == 4)
            let created = try await post(#""hs_code":"۵۷۰۱۱۰""#, token: exporter, key: "ok")
            #expect(created.status == .created)
            #expect(created.string("hs_code") == "570110")
            #expect(created.string("fob_value_usd") == "10.00")
            #expect(created.string("status") == "declared")
            // A retry replays; the same declaration number under a new key is a conflict.
            let replay = try await post(#""hs_code":"۵۷۰۱۱۰""#, token: exporter, key: "ok")
            #expect(replay.int("id") == created.int("id"))
            let duplicate = try await post(#""net_weight_kg":2"#, token: exporter, key: "dup")
            #expect(duplicate.status == .conflict && duplicate.fields == ["customs_declaration_no"])
            // Lead firms do not record exports; producers only their own.
            #expect(try await post(#""net_weight_kg":3"#, token: try await api.token(.partner), key: "k").status == .forbidden)
            let other = try await api.producer(status: .verified)
            #expect(try await post(#""customs_declaration_no":"X-2""#, token: other.token, key: "k").fields == ["producer_id"])
            let own = try await post(#""customs_declaration_no":"X-3""#, token: maker.token, key: "k")
            #expect(own.status == .created)
            // An exporter links only orders its own company bought.
            let product = try await api.product(maker, stock: 5)
            let buyer = try await api.token(.partner)
            let order = try #require(try await api.order(buyer, producer: maker.id, lines: [(product, 1)]).int("id"))
            #expect(
                try await post(#""customs_declaration_no":"X-4","order_id":\#(order)"#, token: exporter, key: "o").fields == [
                    "order_id"
                ])
            // declared → cleared by an export officer (once the producer confirmed), → shipped by the recorder.
            let id = try #require(created.int("id"))
            let officer = try await api.token(.exportOfficer)
            #expect(try await api.post("/v1/export-shipments/\(id)/confirmation", "{}", token: maker.token).status == .ok)
            #expect(
                try await api.post("/v1/export-shipments/\(id)/transitions", #"{"to":"shipped"}"#, token: exporter).status
                    == .conflict)
            #expect(
                try await api.post("/v1/export-shipments/\(id)/transitions", #"{"to":"cleared"}"#, token: maker.token).status
                    == .forbidden)
            #expect(
                try await api.post("/v1/export-shipments/\(id)/transitions", #"{"to":"cleared"}"#, token: other.token).status
                    == .notFound)
            #expect(
                try await api.post("/v1/export-shipments/\(id)/transitions", #"{"to":"cleared"}"#, token: exporter).status
                    == .forbidden)
            #expect(try await api.clear(id, token: officer).status == .ok)
            #expect(try await api.get("/v1/export-shipments/\(id)", token: other.token).status == .notFound)
            #expect(try await api.get("/v1/export-shipments/\(id)", token: maker.token).string("status") == "cleared")
            let audit = try await api.db.rows(
                "SELECT action FROM audit_events WHERE entity_type = 'export_shipment' AND entity_id = \(id) ORDER BY id"
            ).map { try $0.decode(String.self) }
            #expect(
                audit == ["export_shipment.declared", "export_shipment.producer_confirmed", "export_shipment.status_changed"])
            // The producer now counts as exporting in the funnel.
            let admin = try await api.token(.admin)
            let year = SolarHijri.year(of: Date())
            let funnel = try await api.get("/v1/reports/funnel?year=\(year)", token: admin)
            #expect((funnel.json["totals"] as? [String: Any])?["exporting"] as? Int == 1)
        }
    }

    @Test func aRetriedShipmentIsAnsweredAsTheFirstTime() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let maker = try await api.producer(status: .verified)
            func post(hs: String = "570110", fob: String, key: String) async throws -> Reply {
                try await api.call(
                    .post, "/v1/export-shipments",
                    json: """
                        {"producer_id":\(maker.id),"hs_code":"\(hs)","destination_country":"DE","customs_declaration_no":"R-1",
                         "fob_value_usd":"\(fob)","net_weight_kg":1,"export_date":"2026-10-01","customs_office_code":"bazargan"}
                        """, token: exporter, headers: [.idempotencyKey: key])
            }
            let first = try await post(fob: "10.5", key: "r")
            // "10.50" is the same request as "10.5": the fingerprint is the request as understood.
            let again = try await post(fob: "10.50", key: "r")
            #expect(first.status == .created)
            #expect(again.status == .created)
            let id = try #require(first.int("id"))
            let etag = try await api.shipmentETag(id)
            #expect(first.headers[.location] == "/v1/export-shipments/\(id)")
            #expect(first.headers[.eTag] == etag)
            for name in [HTTPField.Name.location, .eTag, .contentType] { #expect(again.headers[name] == first.headers[name]) }
            #expect(again.text == first.text)
            #expect(first.headers[.idempotentReplayed] == nil)
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(try await api.db.rows("SELECT count(*)::int FROM export_shipments")[0].decode(Int.self) == 1)
            // A refusal of the data is stored and replayed as it was; the key stays bound to its request.
            let refused = try await post(hs: "770000", fob: "10.00", key: "bad")  // a reserved HS chapter
            let refusedAgain = try await post(hs: "770000", fob: "10.00", key: "bad")
            #expect(refused.status == .unprocessableContent && refused.fields == ["hs_code"])
            #expect(refusedAgain.status == refused.status && refusedAgain.text == refused.text)
            #expect(refusedAgain.headers[.contentType] == refused.headers[.contentType])
            #expect(refusedAgain.headers[.idempotentReplayed] == "true")
            let reused = try await post(fob: "10.00", key: "bad")
            #expect(reused.status == .unprocessableContent && reused.code == "idempotency_key_reused")
            #expect(try await api.db.rows("SELECT count(*)::int FROM export_shipments")[0].decode(Int.self) == 1)
        }
    }

    @Test func oilPrefixesDecideWhatIsNonOil() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let maker = try await api.producer(status: .verified)
            try await api.shipment(exporter, producer: maker.id, hs: "271012", fob: "40.00", on: "2026-10-01")
            try await api.shipment(exporter, producer: maker.id, hs: "270900", fob: "2.00", on: "2026-10-01")
            let admin = try await api.token(.admin)
            #expect(
                try await api.get("/v1/export-settings/oil-hs-prefixes", token: admin).json["prefixes"] as? [String] == ["2709"])
            let before = try await api.figures("from=2026-10-01&to=2026-10-01", token: admin)
            #expect(totals(before) == "1 40.00 1.000")
            let put = try await api.call(
                .put, "/v1/export-settings/oil-hs-prefixes", json: #"{"prefixes":["2709","2710"]}"#, token: admin)
            #expect(put.json["prefixes"] as? [String] == ["2709", "2710"])
            #expect(totals(try await api.figures("from=2026-10-01&to=2026-10-01", token: admin)) == "0 0.00 0.000")
            #expect(totals(try await api.figures("from=2026-10-01&to=2026-10-01&scope=all", token: admin)) == "2 42.00 2.000")
            #expect(
                try await api.call(.put, "/v1/export-settings/oil-hs-prefixes", json: #"{"prefixes":["x"]}"#, token: admin).fields
                    == ["prefixes[0]"])
            #expect(
                try await api.get("/v1/export-settings/oil-hs-prefixes", token: try await api.token(.exportOfficer)).status
                    == .forbidden)
            let stale = try await api.db.rows(
                "SELECT count(*)::int FROM (SELECT * FROM export_figure_rollups EXCEPT SELECT * FROM export_figure_rollups_fresh()) d"
            )
            #expect(try stale[0].decode(Int.self) == 0)
        }
    }

    /// Rollups equal a fresh aggregation after random inserts and status changes (seeded, so a
    /// failure reproduces), including shipments written concurrently.
    @Test func rollupsStayEqualToAFreshAggregation() async throws {
        try await withApp { api in
            var rng = SeededGenerator(seed: 20_261_128)
            let provinces = ["IR-00", "IR-10", "IR-23", "IR-29"]
            var producers: [Int64] = []
            for province in provinces { producers.append(try await api.producer(province: province, status: .verified).id) }
            let codes = ["570110", "200799", "330190", "270900", "090220", "080251", "271012"]
            let countries = ["DE", "IQ", "AE", "CN", "TR", "AF"]
            try await withThrowingTaskGroup(of: Void.self) { group in
                let ps = producers
                for worker in 0..<4 {
                    let seed = UInt64(worker) + rng.next() % 1000
                    group.addTask {
                        var local = SeededGenerator(seed: seed)
                        for i in 0..<25 {
                            let day = Int(local.next() % 730)
                            let date = try await api.db.rows("SELECT ('2025-01-01'::date + \(day)::int)::text")[0].decode(
                                String.self)
                            let status = ["declared", "cleared", "shipped"][Int(local.next() % 3)]
                            let fob = "\(local.next() % 100000).\(String(format: "%02d", Int(local.next() % 100)))"
                            _ = try await api.db.rows(
                                """
                                INSERT INTO export_shipments (producer_id, recorded_by, hs_code, destination_country,
                                customs_declaration_no,
                                  fob_cents, net_weight_kg, export_date, customs_office_code, status, producer_confirmed_at,
                                  verified_by, verified_at)
                                SELECT \(ps[Int(local.next() % 4)]), (SELECT min(id) FROM accounts),
                                  \(codes[Int(local.next() % UInt64(codes.count))]),
                                  \(countries[Int(local.next() % UInt64(countries.count))]),
                                  \("P-\(worker)-\(i)"), \(USD.cents(fob == "0.00" ? "1.00" : fob) ?? 100),
                                  \(Double(local.next() % 5000) / 1000 + 0.001)::numeric(15,3),
                                  \(date)::date, 'bazargan', \(status), now(),
                                  CASE WHEN \(status) <> 'declared' THEN (SELECT min(id) FROM accounts) END,
                                  CASE WHEN \(status) <> 'declared' THEN now() END
                                """)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Random moves forward, some concurrently.
            let declared = try await api.db.rows("SELECT id FROM export_shipments WHERE status <> 'shipped' ORDER BY id").map {
                try $0.decode(Int64.self)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, id) in declared.enumerated() where n % 2 == 0 {
                    group.addTask {
                        _ = try await api.db.rows(
                            """
                            UPDATE export_shipments SET status = CASE status WHEN 'declared' THEN 'cleared' ELSE 'shipped' END,
                              verified_by = coalesce(verified_by, (SELECT min(id) FROM accounts)), verified_at =
                              coalesce(verified_at, now())
                            WHERE id = \(id)
                            """)
                    }
                }
                try await group.waitForAll()
            }
            // The figures' rollups (sql/0027) are kept by the moves.
            let figureDiff = try await api.db.rows(
                """
                SELECT (SELECT count(*) FROM (SELECT * FROM export_figure_rollups WHERE shipments <> 0 EXCEPT SELECT * FROM
                export_figure_rollups_fresh()) a)::int,
                       (SELECT count(*) FROM (SELECT * FROM export_figure_rollups_fresh() EXCEPT SELECT * FROM
                       export_figure_rollups) b)::int,
                       (SELECT count(*) FROM export_figure_rollups)::int
                """)[0].decode((Int, Int, Int).self)
            #expect(figureDiff.0 == 0)
            #expect(figureDiff.1 == 0)
            #expect(figureDiff.2 > 100)
            // And the figures read from them agree with a direct sum (up to today: figures stop there).
            let officer = try await api.token(.exportOfficer)
            let figures = try await api.figures(
                "from=2025-01-01&to=2026-12-31&scope=all&period=year&group_by=province", token: officer)
            let direct = try await api.db.rows(
                """
                SELECT count(*)::int, sum(fob_cents)::bigint FROM export_shipments
                WHERE status IN ('cleared', 'shipped') AND export_date <= (now() AT TIME ZONE 'Asia/Tehran')::date
                """
            )[0].decode((Int, Int64).self)
            #expect(totals(figures).hasPrefix("\(direct.0) \(USD.string(cents: direct.1)) "))
        }
    }

    @Test func theDashboardIsASelfContainedRightToLeftPage() async throws {
        try await withApp { api in
            let page = try await api.get("/dashboard/exports")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains(#"<html lang="fa" dir="rtl">"#))
            #expect(page.text.contains("صادرات غیرنفتی"))
            #expect(page.text.contains(#"<option value="IR-23">تهران</option>"#))
            // Nothing loads from another origin.
            #expect(!page.text.contains("src=\"http") && !page.text.contains("href=\"http") && !page.text.contains("@import"))
            let months = try #require(page.text.firstMatch(of: /data-months="([0-9,-]+)"/)).1.split(separator: ",")
            #expect(months.count == 12)
        }
    }

    /// The SQL calendar (Nowruz dates shipped as data) agrees with Foundation's Persian calendar
    /// every third day from 1950 to 2100 (the range figures accept), and so do the month starts
    /// the figures compute in Swift.
    @Test func solarHijriMonthsInSQLMatchFoundation() async throws {
        try await withApp { api in
            let rows = try await api.db.rows(
                """
                SELECT d::date::text, jalali_month(d::date)
                FROM generate_series('1950-01-01'::date, '2100-12-31'::date, interval '3 days') d
                """)
            var mismatches: [String] = []
            for row in rows {
                let (day, month) = try row.decode((String, Int).self)
                let date = CalendarDate(day)!
                let j = SolarHijri.fromGregorian(year: date.year, month: date.month, day: date.day)
                if j.year * 100 + j.month != month { mismatches.append("\(day): SQL \(month), Foundation \(j.year)-\(j.month)") }
            }
            #expect(rows.count > 18_000)
            let starts = try await api.db.rows(
                """
                SELECT m, report_month_start('jalali', m)::text FROM (SELECT DISTINCT jalali_month(d::date) AS m FROM\
                 generate_series('1950-01-01'::date, '2100-12-31'::date, interval '9 days') d) x
                """
            ).map { try $0.decode((Int, String).self) }
            #expect(starts.allSatisfy { ReportMonths.start(jalali: true, $0.0).description == $0.1 })
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
            // The boundary the issue names.
            let edge = try await api.db.rows("SELECT jalali_month('2026-10-22'), jalali_month('2026-10-23')")[0].decode(
                (Int, Int).self)
            #expect(edge.0 == 140507 && edge.1 == 140508)
        }
    }

    @Test func usdParsingIsExact() {
        #expect(USD.cents("1000.50") == 100_050)
        #expect(USD.cents("0.1") == 10)
        #expect(USD.cents("7") == 700)
        #expect(USD.cents("1.234") == nil)
        #expect(USD.cents("-1.00") == nil)
        #expect(USD.cents("1e3") == nil)
        #expect(USD.cents(".5") == nil)
        #expect(USD.cents("0.00") == nil)
        #expect(USD.string(cents: 100_050) == "1000.50")
        #expect(USD.string(cents: 5) == "0.05")
        #expect(ReportPeriods.label(key: 140507, period: .month) == "1405-07")
        #expect(ReportPeriods.label(key: 14053, period: .quarter) == "1405-Q3")
        #expect(CSV.line(["a,b", "c\"d", "e"]) == "\"a,b\",\"c\"\"d\",e\r\n")
        #expect(
            ReportPeriods.keys(from: CalendarDate("2026-09-22")!, to: CalendarDate("2026-09-23")!, jalali: true, .quarter) == [
                14052, 14053,
            ])
    }
}

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
func parseCSV(_ text: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var chars = Array(text)[...]
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" {
                if chars.first == "\"" {
                    field.append("\"")
                    chars.removeFirst()
                } else {
                    quoted = false
                }
            } else {
                field.append(c)
            }
        } else if c == "\"" {
            quoted = true
        } else if c == "," {
            record.append(field)
            field = ""
        } else if c == "\r\n" || c == "\n" {
            record.append(field)
            records.append(record)
            record = []
            field = ""
        } else {
            field.append(c)
        }
    }
    if !field.isEmpty || !record.isEmpty {
        record.append(field)
        records.append(record)
    }
    return records
}

/// SplitMix64: a small seedable generator so random tests reproduce.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
