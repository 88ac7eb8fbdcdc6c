import BazaarcheCore
import Foundation
import Testing

@testable import Exports

/// `from`/`to` as people say them, base periods, and the XLSX container — without a database.
@Suite struct PeriodInputTests {
    func from(_ text: String) -> String? { ReportDate.parse(text, .from)?.description }
    func to(_ text: String) -> String? { ReportDate.parse(text, .to)?.description }

    @Test func solarHijriMonthsAndQuartersGiveTheirFirstAndLastDays() {
        // Shahrivar (month 6) has 31 days; Mehr (7) starts the next day.
        #expect(from("1405-06") == "2026-08-23")
        #expect(to("1405-06") == "2026-09-22")
        #expect(from("1405-07") == "2026-09-23")
        #expect(to("1405-07") == "2026-10-22")
        #expect(from("1405-Q2") == "2026-06-22")
        #expect(to("1405-Q2") == "2026-09-22")
        #expect(from("1405-Q3") == "2026-09-23")
        // Esfand of the leap year 1403 ends on its 30th (2025-03-20); of 1404 on its 29th.
        #expect(to("1403-12") == "2025-03-20")
        #expect(to("1403-Q4") == "2025-03-20")
        #expect(to("1404-12") == "2026-03-20")
        #expect(from("1404-01") == "2025-03-21")
        // Solar Hijri days: 30 Esfand exists in 1403, not in 1404.
        #expect(from("1403-12-30") == "2025-03-20")
        #expect(from("1404-12-30") == nil)
        #expect(from("1405-06-31") == "2026-09-22")
        #expect(from("1405-07-31") == nil)
        // Persian and Arabic-Indic digits, a lowercase q.
        #expect(from("۱۴۰۵-۰۶") == "2026-08-23")
        #expect(to("١٤٠٥-q2") == "2026-09-22")
    }

    @Test func gregorianInputsAndRefusals() {
        #expect(from("2026-10-22") == "2026-10-22")
        #expect(from("2026-10") == "2026-10-01")
        #expect(to("2026-02") == "2026-02-28")
        #expect(to("2024-02") == "2024-02-29")
        #expect(to("2026-Q4") == "2026-12-31")
        for bad in ["1405-13", "1405-00", "1405-Q5", "1405-Q0", "1405", "14050-01", "1200-01", "2026-13", "2026-02-30", "x", ""] {
            #expect(ReportDate.parse(bad, .from) == nil, "\(bad)")
        }
    }

    @Test func basePeriods() {
        let d = { (s: String) in CalendarDate(s)! }
        // A year earlier: Farvardin 1405 against Farvardin 1404; the last day of Esfand stays the last.
        #expect(ReportDate.yearEarlier(d("2026-03-21"), jalali: true).description == "2025-03-21")
        #expect(ReportDate.yearEarlier(d("2025-03-20"), jalali: true).description == "2024-03-19")  // 30 → 29 Esfand 1402
        // 29 Esfand 1404 → 30 Esfand 1403
        #expect(ReportDate.yearEarlier(d("2026-03-20"), jalali: true).description == "2025-03-20")
        #expect(ReportDate.yearEarlier(d("2024-02-29"), jalali: false).description == "2023-02-28")
        // The period before a whole quarter is the quarter before; before a span of days, as many days.
        let q2 = ReportComparison.previousPeriod.base(from: d("2026-06-22"), to: d("2026-09-22"), jalali: true)
        #expect("\(q2.from) \(q2.to)" == "2026-03-21 2026-06-21")
        let mehr = ReportComparison.previousPeriod.base(from: d("2026-09-23"), to: d("2026-10-22"), jalali: true)
        #expect("\(mehr.from) \(mehr.to)" == "2026-08-23 2026-09-22")
        let days = ReportComparison.previousPeriod.base(from: d("2026-10-05"), to: d("2026-10-14"), jalali: true)
        #expect("\(days.from) \(days.to)" == "2026-09-25 2026-10-04")
        let year = ReportComparison.previousYear.base(from: d("2025-01-01"), to: d("2025-12-31"), jalali: false)
        #expect("\(year.from) \(year.to)" == "2024-01-01 2024-12-31")
    }

    @Test func theCalendarAnInputIsWrittenIn() {
        #expect(ReportDate.writtenInSolarHijri("1405-02") == true)
        #expect(ReportDate.writtenInSolarHijri("۱۴۰۵-Q2") == true)
        #expect(ReportDate.writtenInSolarHijri("1405-02-31") == true)
        #expect(ReportDate.writtenInSolarHijri("2026-10") == false)
        #expect(ReportDate.writtenInSolarHijri("2026-Q4") == false)
        // A Gregorian day names no month of its own.
        #expect(ReportDate.writtenInSolarHijri("2026-10-22") == nil)
    }

    @Test func periodsPairWithTheBaseOnlyWhenWholeAndAsMany() {
        let d = { (s: String) in CalendarDate(s)! }
        func query(_ from: String, _ to: String, _ period: ReportPeriod, _ compare: ReportComparison, jalali: Bool = true)
            -> Figures.Query
        {
            Figures.Query(
                from: d(from), to: d(to), calendar: jalali ? .jalali : .gregorian, period: period, groupBy: [], scope: .nonOil,
                compare: compare, inputJalali: true, today: d("2030-01-01"))
        }
        // Tir..Shahrivar 1405 by month against Farvardin..Khordad: position by position.
        let q = query("2026-06-22", "2026-09-22", .month, .previousPeriod)
        #expect(Figures.pairing(q, base: q.base!) == [140501: 140504, 140502: 140505, 140503: 140506])
        // 2 to 31 Ordibehesht: its base (3 Farvardin to 1 Ordibehesht) is no whole months: one bucket.
        let days = query("2026-04-22", "2026-05-21", .month, .previousPeriod)
        #expect("\(days.base!.from) \(days.base!.to)" == "2026-03-23 2026-04-21")
        #expect(Figures.pairing(days, base: days.base!) == nil)
        // Ordibehesht..Tir by quarter: whole months, not whole quarters: one bucket.
        let quarters = query("2026-04-21", "2026-07-22", .quarter, .previousPeriod)
        #expect(Figures.pairing(quarters, base: quarters.base!) == nil)
        // Farvardin 1405 written in Solar Hijri, periods in Gregorian months: Esfand 1404 is the base,
        // and the Gregorian months (March, April) cut both: one bucket.
        let gregorian = query("2026-03-21", "2026-04-20", .month, .previousPeriod, jalali: false)
        #expect("\(gregorian.base!.from) \(gregorian.base!.to)" == "2026-02-20 2026-03-20")
        #expect(Figures.pairing(gregorian, base: gregorian.base!) == nil)
        // A year earlier pairs a period with the same one a year later, even partial ones.
        let year = query("2026-04-05", "2026-05-10", .month, .previousYear)
        #expect(Figures.pairing(year, base: year.base!) == [140401: 140501, 140402: 140502])
    }

    @Test func codesStayTextInSpreadsheetsAndUserTextIsGuarded() {
        #expect(Cell.code("0802").csvField == "\"=\"\"0802\"\"\"")
        #expect(Cell.code("2026-10").csvField == "\"=\"\"2026-10\"\"\"")
        #expect(Cell.code("1405-02-02/1405-02-31").csvField.hasPrefix("\"=\"\""))
        // Anything but a server-made code goes through the formula guard, even as a code.
        #expect(Cell.code("=HYPERLINK(1)").csvField == "'=HYPERLINK(1)")
        #expect(Cell.code("other").csvField == "other")
        #expect(Cell.text("=1+1").csvField == "'=1+1")
        #expect(Cell.text("0802").csvField == "0802")
        // XML 1.0 has no U+FFFE, U+FFFF or most control characters.
        #expect(XLSX.escape("a\u{FFFE}b\u{FFFF}c\u{1}d") == "abcd")
    }

    @Test func growthAndShares() {
        #expect(Figures.growth(current: "15000", previous: "10000") == 50)
        #expect(Figures.growth(current: "0", previous: "6000") == -100)
        #expect(Figures.growth(current: "8000", previous: "0") == nil)
        #expect(Figures.growth(current: "8000", previous: nil) == nil)
        #expect(Figures.growth(current: "1", previous: "3") == Decimal(string: "-66.67"))
    }

    @Test func xlsxIsAZipOfTheWorkbookParts() throws {
        let sheet = XLSX.Sheet(
            name: "آمار صادرات", rightToLeft: true, header: ["دوره", "ارزش فوب (دلار)"],
            rows: [[.text("1405-07"), .number("1250.75")], [.text("a <b> & \"c\""), .number("3")]])
        let bytes = try XLSX.workbook(sheet)
        #expect(Array(bytes.prefix(4)) == [0x50, 0x4B, 0x03, 0x04])
        // The end-of-central-directory record lists the five parts.
        let end = Array(bytes.suffix(22))
        #expect(Array(end.prefix(4)) == [0x50, 0x4B, 0x05, 0x06])
        #expect(Int(end[10]) | Int(end[11]) << 8 == 5)
        #expect(XLSX.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        let xml = XLSX.sheetXML(sheet)
        #expect(xml.contains("rightToLeft=\"1\""))
        #expect(xml.contains("<c r=\"B2\"><v>1250.75</v></c>"))
        #expect(xml.contains("a &lt;b&gt; &amp; &quot;c&quot;"))
        #expect(XLSX.column(0) == "A" && XLSX.column(25) == "Z" && XLSX.column(26) == "AA")
        // Kept for checking by hand: python3 -c "import openpyxl; openpyxl.load_workbook(...)"
        try Data(bytes).write(to: FileManager.default.temporaryDirectory.appendingPathComponent("bazaarche-figures.xlsx"))
    }
}
