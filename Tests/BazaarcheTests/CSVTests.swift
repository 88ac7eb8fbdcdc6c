import BazaarcheCore
import Foundation
import Testing

/// The CSV reader and writer on their own (no database): what Excel writes is read, what the
/// service writes opens in Excel and reads back the same.
@Suite struct CSVTests {
    @Test func readsExcelFilesWithBOMQuotesAndEitherLineEnd() {
        let text = "\u{FEFF}a,b,c\r\n1,\"x, y\",\"he said \"\"hi\"\"\"\r\n\r\n2,\"two\nlines\",\nlast,row,here"
        let parsed = CSV.parse(text)
        #expect(parsed.unclosedQuoteRow == nil)
        #expect(parsed.records.map(\.row) == [1, 2, 3, 4, 5])
        #expect(parsed.records[0].cells == ["a", "b", "c"])  // no BOM in the first heading
        #expect(parsed.records[1].cells == ["1", "x, y", "he said \"hi\""])
        #expect(parsed.records[2].isBlank)  // a blank line keeps its row number
        #expect(parsed.records[3].cells == ["2", "two\nlines", ""])
        #expect(parsed.records[4].cells == ["last", "row", "here"])
        // A lone CR ends a record too (old Mac files).
        #expect(CSV.parse("a\rb").records.map(\.cells) == [["a"], ["b"]])
    }

    @Test func anUnclosedQuoteIsReportedAtTheRowItOpens() {
        let parsed = CSV.parse("a,b\n1,2\n3,\"never closed\n4,5\n")
        #expect(parsed.unclosedQuoteRow == 3)
        #expect(parsed.records.count == 3)
        #expect(parsed.records[2].cells == ["3", "never closed\n4,5\n"])
        #expect(CSV.parse("a,\"b\"\n").unclosedQuoteRow == nil)
    }

    @Test func writesBOMCRLFAndQuotesOnlyWhatNeedsIt() {
        let document = CSV.document(
            header: ["id", "name"],
            rows: [["1", "plain"], ["2", "a,b"], ["3", "say \"x\""], ["4", "two\nlines"], ["5", "crlf\r\nhere"]])
        #expect(document.hasPrefix("\u{FEFF}id,name\r\n1,plain\r\n"))
        #expect(document.contains("2,\"a,b\"\r\n3,\"say \"\"x\"\"\"\r\n4,\"two\nlines\"\r\n5,\"crlf\r\nhere\"\r\n"))
        #expect(document.hasSuffix("\r\n"))
        let back = CSV.parse(document).records.map(\.cells)
        #expect(
            back == [
                ["id", "name"], ["1", "plain"], ["2", "a,b"], ["3", "say \"x\""], ["4", "two\nlines"], ["5", "crlf\r\nhere"],
            ])
    }

    @Test func formulaLikeTextIsNeutralisedButNumbersAreNot() {
        #expect(CSV.field("=HYPERLINK(\"http://evil\")") == "\"'=HYPERLINK(\"\"http://evil\"\")\"")
        #expect(CSV.field("+98 21 1234") == "'+98 21 1234")
        #expect(CSV.field("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0")
        #expect(CSV.field("@SUM(A1)") == "'@SUM(A1)")
        #expect(CSV.field("\tTAB") == "'\tTAB")
        // Negative and signed numbers stay numbers; ordinary text is untouched.
        #expect(CSV.field("-1500") == "-1500")
        #expect(CSV.field("-12.5") == "-12.5")
        #expect(CSV.field("+3") == "+3")
        #expect(CSV.field("-") == "'-")
        #expect(CSV.field("کیک = شیرینی") == "کیک = شیرینی")
        #expect(CSV.field("1405-09-10") == "1405-09-10")
    }

    @Test func wholeNumbersInPersianArabicIndicAndWithSeparators() {
        #expect(CSV.integer("۱۲۰٬۰۰۰") == 120_000)
        #expect(CSV.integer("١٥٠٠٠٠") == 150_000)
        #expect(CSV.integer("1,500,000") == 1_500_000)
        #expect(CSV.integer(" 42 ") == 42)
        #expect(CSV.integer("-7") == -7)
        #expect(CSV.integer("12.5") == nil)
        #expect(CSV.integer("twelve") == nil)
        #expect(CSV.integer("") == nil)
        #expect(CSV.integer("99999999999999999999") == nil)
    }
}
