import BazaarcheCore
import Foundation
import PostgresNIO
import Testing

@testable import Exports

/// Figures as trade statisticians ask for them (issue 17): HS levels, filters, Solar Hijri periods,
/// comparison with a base period, top N with shares, and files. Expected totals are computed here
/// from the shipments each test records, never taken from the service.
@Suite struct TradeStatisticsTests {
    struct Shipment {
        var province: String
        var hs: String
        var country: String
        var cents: Int
        var date: String
    }

    /// Records and clears every shipment (one exporter, one producer per province).
    func record(_ api: API, _ list: [Shipment]) async throws {
        let exporter = try await api.exporterToken()
        let officer = try await api.token(.exportOfficer)
        var producers: [String: Int64] = [:]
        for s in list {
            if producers[s.province] == nil {
                producers[s.province] = try await api.producer(province: s.province, status: .verified).id
            }
            try await api.shipment(
                exporter, producer: producers[s.province]!, hs: s.hs, to: s.country, fob: USD.string(cents: Int64(s.cents)),
                on: s.date, officer: officer)
        }
    }

    /// Sums of cents per key, as dollars, over the shipments that pass `filter`.
    func expected(_ list: [Shipment], where filter: (Shipment) -> Bool = { _ in true }, key: (Shipment) -> String) -> [String:
        String]
    {
        var sums: [String: Int] = [:]
        for s in list where filter(s) { sums[key(s), default: 0] += s.cents }
        return sums.mapValues { USD.string(cents: Int64($0)) }
    }

    /// The rows as key → fob_value_usd, the key joining the given columns with " ".
    func actual(_ figures: [String: Any], _ columns: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for row in figures["rows"] as? [[String: Any]] ?? [] {
            let key = columns.map { row[$0] as? String ?? "-" }.joined(separator: " ")
            #expect(out[key] == nil, "one row per key: \(key)")
            out[key] = row["fob_value_usd"] as? String
        }
        return out
    }

    static let set: [Shipment] = [
        Shipment(province: "IR-23", hs: "080251", country: "DE", cents: 10_000, date: "2026-05-10"),
        Shipment(province: "IR-23", hs: "080252", country: "IQ", cents: 20_050, date: "2026-05-11"),
        Shipment(province: "IR-10", hs: "091020", country: "IQ", cents: 30_000, date: "2026-06-12"),
        Shipment(province: "IR-10", hs: "570110", country: "DE", cents: 40_001, date: "2026-07-13"),
        Shipment(province: "IR-10", hs: "080251", country: "IQ", cents: 5_000, date: "2026-08-01"),
        Shipment(province: "IR-23", hs: "200799", country: "AE", cents: 7_777, date: "2026-03-25"),
    ]

    @Test func hsLevelsAndFiltersAddUpToTheShipments() async throws {
        try await withApp { api in
            try await record(api, Self.set)
            let officer = try await api.token(.exportOfficer)
            let year = "from=1405-01&to=1405-12&period=year"  // whole months: read from the rollups
            let hs4 = try await api.figures(year + "&group_by=hs4", token: officer)
            #expect(actual(hs4, ["hs4"]) == expected(Self.set) { String($0.hs.prefix(4)) })
            let pistachio = try #require((hs4["rows"] as? [[String: Any]])?.first { $0["hs4"] as? String == "0802" })
            #expect((pistachio["hs4_name_en"] as? String)?.hasPrefix("Nuts") == true)
            #expect(pistachio["shipment_count"] as? Int == 3)
            let hs6 = try await api.figures(year + "&group_by=hs6,destination", token: officer)
            #expect(actual(hs6, ["hs6", "destination_country"]) == expected(Self.set) { "\($0.hs) \($0.country)" })
            let iraq = try #require((hs6["rows"] as? [[String: Any]])?.first { $0["destination_country"] as? String == "IQ" })
            #expect(iraq["destination_name_fa"] as? String == "عراق")
            // hs2 and its older name hs_chapter agree.
            let hs2 = try await api.figures(year + "&group_by=hs2", token: officer)
            #expect(actual(hs2, ["hs2"]) == expected(Self.set) { String($0.hs.prefix(2)) })
            #expect(
                actual(try await api.figures(year + "&group_by=hs_chapter", token: officer), ["hs_chapter"])
                    == actual(hs2, ["hs2"]))
            // Prefix filters (two lengths at once), grouped by province.
            let nuts = try await api.figures(year + "&group_by=province&hs=0802,57", token: officer)
            #expect(
                actual(nuts, ["province_code"])
                    == expected(Self.set, where: { $0.hs.hasPrefix("0802") || $0.hs.hasPrefix("57") }) { $0.province })
            // Destination filter with the HS grouping; a partial range (edge days read from shipments).
            let partial = "from=2026-05-11&to=2026-08-01&period=year"
            let toIraq = try await api.figures(partial + "&group_by=hs4&destination=IQ", token: officer)
            #expect(
                actual(toIraq, ["hs4"])
                    == expected(Self.set, where: { $0.country == "IQ" && $0.date >= "2026-05-11" && $0.date <= "2026-08-01" }) {
                        String($0.hs.prefix(4))
                    })
            // Three dimensions and three filters (read from the shipments): the same sums.
            let wide = try await api.figures(
                year + "&group_by=province,hs6,destination&destination=IQ,DE&province_code=IR-10,IR-23&hs=08", token: officer)
            #expect(
                actual(wide, ["province_code", "hs6", "destination_country"])
                    == expected(Self.set, where: { $0.hs.hasPrefix("08") && $0.country != "AE" }) {
                        "\($0.province) \($0.hs) \($0.country)"
                    })
            // By customs office: every fixture shipment goes through Bazargan.
            let offices = try await api.figures(year + "&group_by=customs_office", token: officer)
            #expect(actual(offices, ["customs_office_code"]) == ["bazargan": USD.string(cents: 112_828)])
            #expect((offices["rows"] as? [[String: Any]])?.first?["customs_office_name_fa"] as? String == "گمرک بازرگان")
            // Not a quantity without one recorded: null, with its unit.
            let row = try #require((hs4["rows"] as? [[String: Any]])?.first)
            #expect(row["quantity"] is NSNull && row["quantity_unit"] is NSNull)
        }
    }

    @Test func quantitiesAreSummedWhereTheGroupSharesAUnit() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let maker = try await api.producer(province: "IR-23", status: .verified)
            // (hs, quantity, unit): two carpets in m², saffron in kg, one shipment of pistachios
            // without a quantity.
            let list: [(String, String?, String?)] = [
                ("570110", "12.5", "m2"), ("570110", "3.25", "m2"), ("091020", "2.000", "kg"), ("080251", nil, nil),
            ]
            for (hs, quantity, unit) in list {
                let id = try await api.shipment(exporter, producer: maker.id, hs: hs, on: "2026-10-01", status: "declared")
                if let quantity, let unit {
                    _ = try await api.db.rows(
                        "UPDATE export_shipments SET quantity = \(quantity)::numeric, quantity_unit = \(unit) WHERE id = \(id)")
                }
                _ = try await api.db.rows("UPDATE export_shipments SET producer_confirmed_at = now() WHERE id = \(id)")
                #expect(try await api.clear(id, token: officer).status == .ok)
            }
            for range in ["from=1405-07&to=1405-07", "from=2026-09-30&to=2026-10-02"] {  // rollups, then shipments
                let f = try await api.figures(range + "&period=year&group_by=hs4", token: officer)
                let rows = try #require(f["rows"] as? [[String: Any]])
                let by = Dictionary(uniqueKeysWithValues: rows.map { ($0["hs4"] as? String ?? "", $0) })
                #expect((by["5701"]?["quantity"] as? NSNumber)?.decimalValue == Decimal(string: "15.75"))
                #expect(by["5701"]?["quantity_unit"] as? String == "m2")
                #expect((by["0910"]?["quantity"] as? NSNumber)?.decimalValue == 2)
                #expect(by["0802"]?["quantity"] is NSNull)
                // The total mixes units: no quantity.
                #expect((f["totals"] as? [String: Any])?["quantity"] is NSNull)
            }
        }
    }

    @Test func solarHijriMonthsAndQuartersAtTheirBoundaries() async throws {
        try await withApp { api in
            let list = [
                // 31 Shahrivar 1405
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 100, date: "2026-09-22"),
                // 1 Mehr 1405
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 200, date: "2026-09-23"),
                // 30 Esfand 1403 (a leap year)
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 400, date: "2025-03-20"),
                // 29 Esfand 1404
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 800, date: "2026-03-20"),
            ]
            try await record(api, list)
            let officer = try await api.token(.exportOfficer)
            func total(_ query: String) async throws -> (String, String, String) {
                let f = try await api.figures(query + "&period=year", token: officer)
                return (
                    f["from"] as? String ?? "?", f["to"] as? String ?? "?",
                    (f["totals"] as? [String: Any])?["fob_value_usd"] as? String ?? "?"
                )
            }
            #expect(try await total("from=1405-06&to=1405-06") == ("2026-08-23", "2026-09-22", "1.00"))
            #expect(try await total("from=1405-Q2&to=1405-Q2") == ("2026-06-22", "2026-09-22", "1.00"))
            #expect(try await total("from=1405-07&to=1405-07") == ("2026-09-23", "2026-10-22", "2.00"))
            // Azar 1405 ends on 2026-12-21; until then `to` stops at today.
            let q3End = min(CalendarDate("2026-12-21")!, SolarHijri.today()).description
            #expect(try await total("from=1405-Q3&to=1405-Q3") == ("2026-09-23", q3End, "2.00"))
            // Persian digits, a month as `from` and a quarter as `to`.
            #expect(try await total("from=۱۴۰۵-۰۶&to=۱۴۰۵-Q3") == ("2026-08-23", q3End, "3.00"))
            // Esfand of the leap year 1403 has its 30th day; Esfand 1404 ends on the 29th.
            #expect(try await total("from=1403-12&to=1403-12") == ("2025-02-19", "2025-03-20", "4.00"))
            #expect(try await total("from=1403-Q4&to=1403-Q4").2 == "4.00")
            #expect(try await total("from=1404-12&to=1404-12") == ("2026-02-20", "2026-03-20", "8.00"))
            // A Solar Hijri day.
            #expect(try await total("from=1403-12-30&to=1403-12-30") == ("2025-03-20", "2025-03-20", "4.00"))
            // Months as period labels: the two sides of Shahrivar/Mehr.
            let months = try await api.figures("from=1405-Q2&to=1405-Q3", token: officer)
            #expect(summary(months) == ["1405-06 1 1.00", "1405-07 1 2.00"])
        }
    }

    @Test func growthAgainstThePreviousYearWithZeroAndMissingBases() async throws {
        try await withApp { api in
            let list = [
                // Farvardin 1405 against Farvardin 1404.
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 15_000, date: "2026-04-01"),
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 10_000, date: "2025-04-01"),
                // no base: zero
                Shipment(province: "IR-23", hs: "570110", country: "IQ", cents: 8_000, date: "2026-04-02"),
                // base only
                Shipment(province: "IR-23", hs: "570110", country: "AE", cents: 6_000, date: "2025-04-03"),
                // Farvardin 1402, with nothing at all in Farvardin 1401: the base is missing.
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 1_000, date: "2023-03-25"),
            ]
            try await record(api, list)
            let officer = try await api.token(.exportOfficer)
            let f = try await api.figures("from=1405-01&to=1405-01&group_by=destination&compare=previous_year", token: officer)
            #expect(f["compare_from"] as? String == "2025-03-21")
            #expect(f["compare_to"] as? String == "2025-04-20")
            let rows = try #require(f["rows"] as? [[String: Any]])
            let by = Dictionary(uniqueKeysWithValues: rows.map { ($0["destination_country"] as? String ?? "", $0) })
            #expect(by.count == 3)
            #expect(by["DE"]?["previous_fob_usd"] as? String == "100.00")
            #expect((by["DE"]?["growth_percent"] as? NSNumber)?.decimalValue == 50)
            #expect(by["IQ"]?["previous_fob_usd"] as? String == "0.00")
            #expect(by["IQ"]?["growth_percent"] is NSNull)
            #expect(by["AE"]?["fob_value_usd"] as? String == "0.00")
            #expect(by["AE"]?["shipment_count"] as? Int == 0)
            #expect(by["AE"]?["previous_fob_usd"] as? String == "60.00")
            #expect((by["AE"]?["growth_percent"] as? NSNumber)?.decimalValue == -100)
            let totals = try #require(f["totals"] as? [String: Any])
            #expect(totals["fob_value_usd"] as? String == "230.00")
            #expect(totals["previous_fob_usd"] as? String == "160.00")
            #expect((totals["growth_percent"] as? NSNumber)?.decimalValue == Decimal(string: "43.75"))
            let old = try await api.figures("from=1402-01&to=1402-01&group_by=destination&compare=previous_year", token: officer)
            let row = try #require((old["rows"] as? [[String: Any]])?.first)
            #expect(row["fob_value_usd"] as? String == "10.00")
            #expect(row["previous_fob_usd"] is NSNull)
            #expect(row["growth_percent"] is NSNull)
            // The previous period of Ordibehesht 1405 is Farvardin 1405 (whole months).
            let next = try await api.figures("from=1405-02&to=1405-02&compare=previous_period", token: officer)
            #expect(next["compare_from"] as? String == "2026-03-21")
            #expect(next["compare_to"] as? String == "2026-04-20")
            // Without compare, no comparison fields.
            let plain = try await api.figures("from=1405-01&to=1405-01&group_by=destination", token: officer)
            #expect((plain["rows"] as? [[String: Any]])?.first?["previous_fob_usd"] == nil)
        }
    }

    @Test func topFoldsTheRestIntoOtherAndSharesAddUp() async throws {
        try await withApp { api in
            let values = [("DE", 50_000), ("IQ", 30_000), ("AE", 10_000), ("TR", 7_000), ("CN", 3_001)]
            try await record(
                api, values.map { Shipment(province: "IR-23", hs: "570110", country: $0.0, cents: $0.1, date: "2026-10-05") })
            let officer = try await api.token(.exportOfficer)
            let f = try await api.figures("from=1405-07&to=1405-07&period=year&group_by=destination&top=2", token: officer)
            let rows = try #require(f["rows"] as? [[String: Any]])
            #expect(rows.map { $0["destination_country"] as? String ?? "?" } == ["DE", "IQ", "other"])
            #expect(rows[2]["fob_value_usd"] as? String == USD.string(cents: 20_001))
            #expect(rows[2]["shipment_count"] as? Int == 3)
            #expect(rows[2]["destination_name_en"] as? String == "Other")
            let shares = rows.compactMap { ($0["share_percent"] as? NSNumber)?.decimalValue }
            #expect(shares.count == 3)
            #expect(abs(NSDecimalNumber(decimal: shares.reduce(0, +) - 100).doubleValue) <= 0.02)
            #expect(shares == [50, 30, 20])  // 500.00, 300.00 and 200.01 of 1000.01, rounded to two decimals
            #expect((f["totals"] as? [String: Any])?["fob_value_usd"] as? String == "1000.01")
        }
    }

    @Test func filesOpenInSpreadsheetsWithPersianHeaders() async throws {
        try await withApp { api in
            try await record(api, Array(Self.set.prefix(3)))
            let officer = try await api.token(.exportOfficer)
            let query = "/v1/export-figures?from=1405-01&to=1405-12&period=year&group_by=hs4"
            let fa = try await api.call(.get, query + "&format=csv", token: officer, headers: [.acceptLanguage: "fa-IR,fa;q=0.9"])
            #expect(fa.status == .ok)
            #expect(fa.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(fa.text.unicodeScalars.first == "\u{FEFF}")
            #expect(fa.text.contains("\r\n"))
            let lines = parseCSV(String(fa.text.unicodeScalars.dropFirst()))
            #expect(Array(lines[0].prefix(4)) == ["دوره", "کد سرفصل HS", "سرفصل HS (فارسی)", "سرفصل HS (انگلیسی)"])
            // Excel keeps 0802 (not 802) and 1405 as text: the cells are ="…" formulas.
            #expect(lines[1].prefix(2) == ["=\"1405\"", "=\"0802\""])
            #expect(fa.text.contains("\"=\"\"0802\"\"\","))
            #expect(lines[0].contains("ارزش فوب (دلار)"))
            #expect(lines.last?.first == "جمع")
            // Numbers unformatted: the total is plain digits with a point.
            #expect(lines.last?.contains("600.50") == true)
            let en = try await api.call(.get, query, token: officer, headers: [.accept: "text/csv"])
            #expect(parseCSV(String(en.text.unicodeScalars.dropFirst())).first?.prefix(2) == ["period", "hs4"])
            let xlsx = try await api.call(.get, query + "&format=xlsx", token: officer)
            #expect(xlsx.status == .ok)
            #expect(xlsx.headers[.contentType] == Figures.xlsxType)
            #expect(xlsx.text.hasPrefix("PK"))
        }
    }

    /// Independent sum of cents, as dollars, of the shipments dated in [from, to] (Gregorian text).
    func sum(_ list: [Shipment], _ from: String, _ to: String, where filter: (Shipment) -> Bool = { _ in true }) -> String {
        USD.string(cents: Int64(list.filter { $0.date >= from && $0.date <= to && filter($0) }.reduce(0) { $0 + $1.cents }))
    }

    @Test func previousPeriodOverASpanOfDaysComparesTheWholeRange() async throws {
        try await withApp { api in
            let list = [
                // 2 Farvardin: outside
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 1_000, date: "2026-03-22"),
                // 3 Farvardin: base
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 2_000, date: "2026-03-23"),
                // 1 Ordibehesht: base
                Shipment(province: "IR-23", hs: "570110", country: "IQ", cents: 4_000, date: "2026-04-21"),
                // 2 Ordibehesht
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 8_000, date: "2026-04-22"),
                // 31 Ordibehesht
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 16_000, date: "2026-05-21"),
            ]
            try await record(api, list)
            let officer = try await api.token(.exportOfficer)
            let f = try await api.figures(
                "from=1405-02-02&to=1405-02-31&group_by=destination&compare=previous_period", token: officer)
            #expect(f["compare_from"] as? String == "2026-03-23")
            #expect(f["compare_to"] as? String == "2026-04-21")
            let totals = try #require(f["totals"] as? [String: Any])
            // The base total is every shipment of compare_from…compare_to, 1 Ordibehesht included.
            #expect(totals["previous_fob_usd"] as? String == sum(list, "2026-03-23", "2026-04-21"))
            #expect(totals["previous_fob_usd"] as? String == "60.00")
            #expect(totals["fob_value_usd"] as? String == "240.00")
            // One bucket for the whole range, each destination against its own base.
            let rows = try #require(f["rows"] as? [[String: Any]])
            #expect(rows.map { $0["period"] as? String ?? "?" } == ["1405-02-02/1405-02-31", "1405-02-02/1405-02-31"])
            let by = Dictionary(uniqueKeysWithValues: rows.map { ($0["destination_country"] as? String ?? "", $0) })
            #expect(by["DE"]?["previous_fob_usd"] as? String == "20.00")
            #expect(by["IQ"]?["previous_fob_usd"] as? String == "40.00")
            #expect(by["IQ"]?["fob_value_usd"] as? String == "0.00")
            #expect(rows.allSatisfy { $0["partial"] as? Bool == false })
        }
    }

    @Test func solarHijriMonthsAreComparedAsMonthsInGregorianPeriodsToo() async throws {
        try await withApp { api in
            let list = [
                // 30 Bahman 1404
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 1_000, date: "2026-02-19"),
                // 1 Esfand 1404
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 2_000, date: "2026-02-20"),
                // 29 Esfand 1404
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 4_000, date: "2026-03-20"),
                // Farvardin 1405
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 8_000, date: "2026-03-25"),
                // 31 Farvardin
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 16_000, date: "2026-04-20"),
            ]
            try await record(api, list)
            let officer = try await api.token(.exportOfficer)
            let f = try await api.figures("from=1405-01&to=1405-01&calendar=gregorian&compare=previous_period", token: officer)
            // The month before Farvardin 1405 is Esfand 1404, not 31 days.
            #expect(f["compare_from"] as? String == "2026-02-20")
            #expect(f["compare_to"] as? String == "2026-03-20")
            let totals = try #require(f["totals"] as? [String: Any])
            #expect(totals["previous_fob_usd"] as? String == sum(list, "2026-02-20", "2026-03-20"))
            #expect(totals["fob_value_usd"] as? String == "240.00")
            let rows = try #require(f["rows"] as? [[String: Any]])
            #expect(rows.count == 1)
            #expect(rows.first?["period"] as? String == "2026-03-21/2026-04-20")
            #expect(rows.first?["previous_fob_usd"] as? String == "60.00")
            // Whole Solar Hijri months by month in their own calendar pair month by month.
            let monthly = try await api.figures("from=1405-01&to=1405-01&compare=previous_period", token: officer)
            #expect((monthly["rows"] as? [[String: Any]])?.map { $0["period"] as? String ?? "?" } == ["1405-01"])
        }
    }

    @Test func topTogetherWithCompareKeepsEveryBaseShipment() async throws {
        try await withApp { api in
            let list = [
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 50_000, date: "2026-10-05"),
                Shipment(province: "IR-23", hs: "570110", country: "IQ", cents: 30_000, date: "2026-10-06"),
                Shipment(province: "IR-23", hs: "570110", country: "AE", cents: 10_000, date: "2026-10-07"),
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 20_000, date: "2025-10-05"),
                // base only
                Shipment(province: "IR-23", hs: "570110", country: "TR", cents: 7_000, date: "2025-10-06"),
                Shipment(province: "IR-23", hs: "570110", country: "AE", cents: 3_000, date: "2025-10-07"),
            ]
            try await record(api, list)
            let officer = try await api.token(.exportOfficer)
            let f = try await api.figures(
                "from=1405-07&to=1405-07&group_by=destination&top=1&compare=previous_year", token: officer)
            let rows = try #require(f["rows"] as? [[String: Any]])
            #expect(rows.map { $0["destination_country"] as? String ?? "?" } == ["DE", "other"])
            #expect(rows[0]["previous_fob_usd"] as? String == "200.00")
            // IQ (no base), AE and TR (base only) fold into other, with their base.
            #expect(rows[1]["fob_value_usd"] as? String == "400.00")
            #expect(rows[1]["previous_fob_usd"] as? String == "100.00")
            let totals = try #require(f["totals"] as? [String: Any])
            #expect(totals["previous_fob_usd"] as? String == sum(list, "2025-09-23", "2025-10-22"))
            #expect(totals["previous_fob_usd"] as? String == "300.00")
        }
    }

    @Test func aRangeEndingInTheFutureStopsTodayAndIsPartial() async throws {
        try await withApp { api in
            let today = SolarHijri.today()
            let yearAgo = ReportDate.yearEarlier(today, jalali: true)
            let list = [
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 5_000, date: today.description),
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 2_000, date: yearAgo.description),
                // The day after a year ago: not in the base (the same partial stretch, not the whole month).
                Shipment(province: "IR-23", hs: "570110", country: "DE", cents: 1_000, date: yearAgo.adding(days: 1).description),
            ]
            try await record(api, list)
            let officer = try await api.token(.exportOfficer)
            let month = ReportMonths.key(jalali: true, today)
            let label = String(format: "%04d-%02d", month / 100, month % 100)
            let f = try await api.figures("from=\(label)&to=1479-12&compare=previous_year", token: officer)
            #expect(f["to"] as? String == today.description)
            #expect(f["compare_to"] as? String == yearAgo.description)
            #expect(f["partial"] as? Bool == true)
            let rows = try #require(f["rows"] as? [[String: Any]])
            #expect(rows.map { $0["period"] as? String ?? "?" } == [label])
            #expect(rows.first?["partial"] as? Bool == true)
            #expect(rows.first?["previous_fob_usd"] as? String == "20.00")
            #expect((f["totals"] as? [String: Any])?["previous_fob_usd"] as? String == "20.00")
            // A past month is not partial; a `from` after today is refused.
            let past = try await api.figures("from=1404-01&to=1404-01", token: officer)
            #expect(past["partial"] as? Bool == false)
            let future = try await api.get("/v1/export-figures?from=1479-01&to=1479-12", token: officer)
            #expect(future.status == .unprocessableContent)
            #expect(future.fields == ["from"])
        }
    }

    @Test func dottedHSCodesFilterAsTheirDigits() async throws {
        try await withApp { api in
            try await record(api, Self.set)
            let officer = try await api.token(.exportOfficer)
            let dotted = try await api.figures("from=1405-01&to=1405-12&period=year&group_by=hs6&hs=0802.51", token: officer)
            #expect(dotted["hs"] as? [String] == ["080251"])
            #expect(actual(dotted, ["hs6"]) == expected(Self.set, where: { $0.hs == "080251" }) { $0.hs })
        }
    }

    /// A database of 0026 with counted shipments, migrated: the new rollups equal a fresh
    /// aggregation (the old ones, kept by 0027 for the previous release, are gone since 0030).
    @Test func upgradeFrom0026FillsTheNewRollups() async throws {
        try await withUpgrade(
            from: "0027",
            seed: { client in
                try await seedProducer(client)
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role, producer_id) VALUES ('maker', '!', 'producer', 1)")
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role) VALUES ('officer', '!', 'export_officer')")
                let rows: [(String, String, Int64, String, String?, String?)] = [
                    ("080251", "IQ", 10_000, "2026-05-10", "1250.5", "kg"), ("080252", "DE", 20_050, "2026-05-11", nil, nil),
                    ("570110", "DE", 40_001, "2026-07-13", "3", "m2"), ("091020", "AE", 7_777, "2025-03-20", "2", "kg"),
                ]
                for (n, row) in rows.enumerated() {
                    try await client.query(
                        """
                        INSERT INTO export_shipments (producer_id, recorded_by, hs_code, destination_country, customs_declaration_no,
                          fob_cents, net_weight_kg, export_date, customs_office_code, status, producer_confirmed_at, quantity,
                          quantity_unit)
                        VALUES (1, 1, \(row.0), \(row.1), \("U-\(n)"), \(row.2), 10, \(row.3)::date, 'bazargan', 'declared', now(),
                          \(row.4)::numeric, \(row.5))
                        """)
                }
                try await client.query(
                    "UPDATE export_shipments SET status = 'cleared', verified_by = 2, verified_at = now() WHERE id <> 2")
            },
            check: { client in
                func differences(_ table: String, _ fresh: String) async throws -> Int {
                    try await client.query(
                        PostgresQuery(
                            unsafeSQL: """
                                SELECT ((SELECT count(*) FROM (SELECT * FROM \(table) WHERE shipments <> 0 EXCEPT SELECT * FROM \(fresh)()) a)
                                  + (SELECT count(*) FROM (SELECT * FROM \(fresh)() EXCEPT SELECT * FROM \(table)) b))::int
                                """)
                    ).collect()[0].decode(Int.self)
                }
                func total(_ sql: String) async throws -> String {
                    try await client.query(PostgresQuery(unsafeSQL: sql)).collect()[0].decode(String.self)
                }
                #expect(try await differences("export_figure_rollups", "export_figure_rollups_fresh") == 0)
                // The three counted shipments, at hs4.
                #expect(
                    try await total(
                        "SELECT sum(fob_cents)::text FROM export_figure_rollups WHERE calendar = 'jalali' AND dims = 32"
                    ) == "57778")
                // Clearing after the upgrade keeps the rollups right.
                try await client.query(
                    "UPDATE export_shipments SET status = 'cleared', verified_by = 2, verified_at = now() WHERE id = 2")
                #expect(try await differences("export_figure_rollups", "export_figure_rollups_fresh") == 0)
                #expect(
                    try await total(
                        "SELECT sum(quantity)::text FROM export_figure_rollups WHERE calendar = 'gregorian' AND dims = 0")
                        == "1255.500")
                // The oil-prefix rebuild the previous release calls still rebuilds them.
                try await client.query("DELETE FROM export_figure_rollups")
                try await client.query("SELECT export_rollups_rebuild()")
                #expect(try await differences("export_figure_rollups", "export_figure_rollups_fresh") == 0)
            })
    }

    @Test func badInputsAre422NamingTheField() async throws {
        try await withApp { api in
            let officer = try await api.token(.exportOfficer)
            let cases: [(String, [String])] = [
                ("from=1405-13", ["from"]), ("to=1405-Q5", ["to"]), ("from=1405-00", ["from"]), ("from=1403-12-31", ["from"]),
                ("hs=12a", ["hs[0]"]), ("hs=123", ["hs[0]"]), ("top=0", ["top"]), ("top=x", ["top"]),
                ("compare=tomorrow", ["compare"]), ("destination=IRN", ["destination[0]"]), ("format=pdf", ["format"]),
                ("group_by=hs8", ["group_by[0]"]), ("group_by=hs2,hs4,hs6,province,destination", ["group_by"]),
            ]
            for (query, fields) in cases {
                let reply = try await api.get("/v1/export-figures?" + query, token: officer)
                #expect(reply.status == .unprocessableContent, "\(query)")
                #expect(reply.fields == fields, "\(query)")
            }
        }
    }

    @Test func supervisorsFilterWithinTheirProvinces() async throws {
        try await withApp { api in
            try await record(api, Self.set)
            let tehran = try await api.token(.supervisor, province: "IR-23")
            let own = try await api.figures("from=1405-01&to=1405-12&period=year&group_by=hs4", token: tehran)
            #expect(actual(own, ["hs4"]) == expected(Self.set, where: { $0.province == "IR-23" }) { String($0.hs.prefix(4)) })
            #expect(
                try await api.get("/v1/export-figures?province_code=IR-23,IR-10", token: tehran).status == .forbidden)
        }
    }
}

/// Figures responses are cached per instance (issue 18) and validated against the data version
/// on every request: a write acknowledged to anyone is in the very next answer, and a cached answer
/// never reaches a caller with another scope, format or language.
@Suite struct FiguresCacheTests {
    static let october = "/v1/export-figures?calendar=gregorian&from=2026-10-01&to=2026-10-31&group_by=province"

    func fob(_ reply: Reply) -> String? { (reply.json["totals"] as? [String: Any])?["fob_value_usd"] as? String }

    func confirm(_ api: API, _ id: Int64) async throws {
        _ = try await api.db.rows("UPDATE export_shipments SET producer_confirmed_at = now() WHERE id = \(id)")
    }

    @Test func writesAreInTheVeryNextResponse() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let maker = try await api.producer(province: "IR-23", status: .verified)
            try await api.shipment(exporter, producer: maker.id, fob: "10.00", on: "2026-10-05", officer: officer)
            let first = try await api.get(Self.october, token: officer)
            #expect(fob(first) == "10.00")
            // Unchanged: the same bytes and entity tag (served from the cache).
            let again = try await api.get(Self.october, token: officer)
            #expect(again.text == first.text)
            #expect(again.headers[.eTag] != nil && again.headers[.eTag] == first.headers[.eTag])

            // Cleared one at a time (transition).
            let one = try await api.shipment(exporter, producer: maker.id, fob: "5.00", on: "2026-10-06", status: "declared")
            #expect(fob(try await api.get(Self.october, token: officer)) == "10.00")  // declared: not counted
            try await confirm(api, one)
            #expect(try await api.clear(one, token: officer).status == .ok)
            let cleared = try await api.get(Self.october, token: officer)
            #expect(fob(cleared) == "15.00")
            #expect(cleared.headers[.eTag] != first.headers[.eTag])

            // Cleared in bulk.
            let two = try await api.shipment(exporter, producer: maker.id, fob: "2.50", on: "2026-10-31", status: "declared")
            try await confirm(api, two)
            #expect(
                try await api.post("/v1/export-shipments/clearances", try await api.clearanceItems([two]), token: officer).status
                    == .ok)
            #expect(fob(try await api.get(Self.october, token: officer)) == "17.50")

            // A shipment that stops counting (an operator's correction in SQL) leaves at once.
            _ = try await api.db.rows("DELETE FROM export_shipments WHERE id = \(one)")
            #expect(fob(try await api.get(Self.october, token: officer)) == "12.50")

            // A renamed customs office shows its new name at once.
            let byOffice = "/v1/export-figures?calendar=gregorian&from=2026-10-01&to=2026-10-31&group_by=customs_office"
            let before = try await api.get(byOffice, token: officer)
            #expect(before.text.contains("\"customs_office_code\":\"bazargan\""))
            let admin = try await api.token(.admin)
            #expect(
                try await api.call(.patch, "/v1/customs-offices/bazargan", json: #"{"name_en":"Bazargan Border"}"#, token: admin)
                    .status == .ok)
            #expect(try await api.get(byOffice, token: officer).text.contains("Bazargan Border"))
        }
    }

    /// Readers racing the cache (and each other's computations) while shipments are cleared one by
    /// one: whatever they get, a figures request begun after a clearance was acknowledged has it.
    @Test func concurrentReadersNeverMissAnAcknowledgedClearance() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let maker = try await api.producer(province: "IR-23", status: .verified)
            var declared: [Int64] = []
            for day in 1...6 {
                let id = try await api.shipment(
                    exporter, producer: maker.id, fob: "1.00", on: "2026-10-0\(day)", status: "declared")
                try await confirm(api, id)
                declared.append(id)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<12 {
                            let reply = try await api.get(Self.october, token: officer)
                            #expect(reply.status == .ok)
                        }
                    }
                }
                for (n, id) in declared.enumerated() {
                    #expect(try await api.clear(id, token: officer).status == .ok)
                    #expect(fob(try await api.get(Self.october, token: officer)) == "\(n + 1).00")
                }
                try await group.waitForAll()
            }
        }
    }

    /// The cache itself: bounded in entries and bytes, least recently used out first, never an
    /// entry older than the version asked for.
    @Test func theCacheIsBoundedAndNeverServesAnOlderVersion() {
        func entry(_ version: Int64, bytes: Int = 10) -> FiguresCache.Entry {
            FiguresCache.Entry(version: version, headers: [:], body: ByteBuffer(repeating: 65, count: bytes))
        }
        let cache = FiguresCache(maxEntries: 2, maxBytes: 1 << 20)
        cache.put("a", entry(1))
        cache.put("b", entry(1))
        #expect(cache.get("a", version: 1) != nil)  // a is now the more recently used
        cache.put("c", entry(1))
        #expect(cache.count == 2)
        #expect(cache.get("b", version: 1) == nil && cache.get("a", version: 1) != nil && cache.get("c", version: 1) != nil)
        #expect(cache.get("a", version: 2) == nil)  // older than asked: dropped
        #expect(cache.get("a", version: 1) == nil)
        cache.put("c", entry(5))
        cache.put("c", entry(4))  // a slower computation of an older version does not replace it
        #expect(cache.get("c", version: 5)?.version == 5)
        let small = FiguresCache(maxEntries: 100, maxBytes: 4000)
        small.put("big", entry(1, bytes: 2000))  // over a quarter of the budget: not kept
        #expect(small.count == 0)
        for i in 0..<10 { small.put("k\(i)", entry(1, bytes: 500)) }
        #expect(small.count < 10 && small.get("k9", version: 1) != nil)
        #expect(FiguresCache.matches("W/\"1-x\"", "W/\"1-x\"") && FiguresCache.matches("\"1-x\"", "W/\"1-x\""))
        #expect(FiguresCache.matches("*", "W/\"1-x\"") && !FiguresCache.matches("W/\"2-x\"", "W/\"1-x\""))
    }

    @Test func ifNoneMatchIs304OnlyWhileNothingChanged() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            let maker = try await api.producer(province: "IR-23", status: .verified)
            try await api.shipment(exporter, producer: maker.id, fob: "10.00", on: "2026-10-05", officer: officer)
            let first = try await api.get(Self.october, token: officer)
            let tag = try #require(first.headers[.eTag])
            let same = try await api.call(.get, Self.october, token: officer, headers: [.ifNoneMatch: tag])
            #expect(same.status == .notModified)
            #expect(same.text.isEmpty && same.headers[.eTag] == tag)
            // Another request (CSV) does not match this tag.
            #expect(
                try await api.call(.get, Self.october + "&format=csv", token: officer, headers: [.ifNoneMatch: tag]).status == .ok
            )
            // A shipment cleared in the period: the old tag is no longer current.
            try await api.shipment(exporter, producer: maker.id, fob: "1.00", on: "2026-10-07", officer: officer)
            let changed = try await api.call(.get, Self.october, token: officer, headers: [.ifNoneMatch: tag])
            #expect(changed.status == .ok)
            #expect(fob(changed) == "11.00")
            let newTag = try #require(changed.headers[.eTag])
            #expect(newTag != tag)
            #expect(
                try await api.call(.get, Self.october, token: officer, headers: [.ifNoneMatch: "\"x\", " + newTag]).status
                    == .notModified)
        }
    }

    @Test func cachedFiguresNeverCrossScopesFormatsOrLanguages() async throws {
        try await withApp { api in
            let exporter = try await api.exporterToken()
            let officer = try await api.token(.exportOfficer)
            for (province, fob) in [("IR-23", "10.00"), ("IR-10", "3.00")] {
                let maker = try await api.producer(province: province, status: .verified)
                try await api.shipment(exporter, producer: maker.id, fob: fob, on: "2026-10-05", officer: officer)
            }
            func provinces(_ reply: Reply) -> [String] {
                (reply.json["rows"] as? [[String: Any]] ?? []).compactMap { $0["province_code"] as? String }.sorted()
            }
            let tehran = try await api.token(.supervisor, province: "IR-23")
            let markazi = try await api.token(.supervisor, province: "IR-10")
            // The same URL, one after the other, each twice (the second from the cache).
            for _ in 0..<2 {
                let a = try await api.get(Self.october, token: tehran)
                #expect(provinces(a) == ["IR-23"] && fob(a) == "10.00")
                let b = try await api.get(Self.october, token: markazi)
                #expect(provinces(b) == ["IR-10"] && fob(b) == "3.00")
                let all = try await api.get(Self.october, token: officer)
                #expect(provinces(all) == ["IR-10", "IR-23"] && fob(all) == "13.00")
                // One supervisor's tag is no 304 for the other.
                let tag = try #require(a.headers[.eTag])
                let other = try await api.call(.get, Self.october, token: markazi, headers: [.ifNoneMatch: tag])
                #expect(other.status == .ok && provinces(other) == ["IR-10"])
            }
            // Format and language are part of what is cached.
            let csv = Self.october + "&format=csv"
            let english = try await api.get(csv, token: officer)
            let persian = try await api.call(.get, csv, token: officer, headers: [.acceptLanguage: "fa-IR"])
            let english2 = try await api.get(csv, token: officer)
            #expect(english.text.contains("shipment_count") && !english.text.contains("جمع"))
            #expect(persian.text.contains("جمع") && persian.headers[.contentLanguage] == "fa")
            #expect(english2.text == english.text && english2.headers[.contentLanguage] == nil)
            #expect(english.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(try await api.get(Self.october, token: officer).headers[.contentType]?.hasPrefix("application/json") == true)
        }
    }
}
