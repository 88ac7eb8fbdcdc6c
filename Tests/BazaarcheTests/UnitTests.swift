import BazaarcheCore
import Foundation
import Onboarding
import Testing

@Suite struct NationalIDTests {
    @Test(arguments: ["0013542419", "0499370899", "1234567891", "0067749828", "0790419904"])
    func acceptsValidIDs(_ id: String) {
        #expect(NationalID.isValid(id))
    }

    @Test(arguments: [
        "0013542418",  // wrong check digit
        "0000000000", "1111111111",  // repeated digits pass the arithmetic but are never issued
        "001354241", "00135424190",  // wrong length
        "00135424a9", "", "۰۰۱۳۵۴۲۴۱۹",  // not ASCII digits (normalisation happens before validation)
    ])
    func rejectsInvalidIDs(_ id: String) {
        #expect(!NationalID.isValid(id))
    }

    @Test func checkDigitCompletesNineDigits() {
        #expect(NationalID.withCheckDigit("001354241") == "0013542419")
        for n in [123_456_789, 100_000_000, 987_654_321] {
            #expect(NationalID.isValid(NationalID.withCheckDigit(String(n))))
        }
    }

    @Test func persianDigitsAreNormalised() {
        #expect(Digits.ascii("۰۰۱۳۵۴۲۴۱۹") == "0013542419")
        #expect(Digits.ascii("٠٩١٢") == "0912")
    }
}

@Suite struct MobileTests {
    @Test func normalisesAndValidates() {
        #expect(Mobile.normalize("+989121234567") == "09121234567")
        #expect(Mobile.normalize("00989121234567") == "09121234567")
        #expect(Mobile.normalize("۰۹۱۲ ۱۲۳ ۴۵۶۷") == "09121234567")
        #expect(Mobile.isValid("09121234567"))
        for bad in ["9121234567", "0912123456", "091212345678", "08121234567", "0912123456a"] {
            #expect(!Mobile.isValid(Mobile.normalize(bad)), "\(bad)")
        }
    }
}

@Suite struct ProducerStatusTests {
    @Test func allowedMoves() {
        let allowed: Set<String> = [
            "applied>screened", "applied>rejected", "screened>rejected", "screened>verified", "verified>suspended",
            "suspended>verified", "applied>withdrawn", "screened>withdrawn",
        ]
        for from in ProducerStatus.allCases {
            for to in ProducerStatus.allCases {
                #expect(from.canMove(to: to) == allowed.contains("\(from.rawValue)>\(to.rawValue)"), "\(from) → \(to)")
            }
        }
    }

    @Test func reasonsRequiredForRejectionAndSuspension() {
        #expect(ProducerStatus.rejected.needsReason)
        #expect(ProducerStatus.suspended.needsReason)
        #expect(!ProducerStatus.verified.needsReason)
    }
}

@Suite struct ConventionTests {
    @Test func sqlScriptsSplitAtTopLevelSemicolons() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b');
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
            /* block; comment */ INSERT INTO a VALUES ('it''s; fine');
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 3)
        #expect(statements[1].hasSuffix("$$ SELECT 1; $$"))
        #expect(statements[2].contains("'it''s; fine'"))
    }

    @Test func constraintNamesMapToFields() {
        #expect(DatabaseErrors.field(fromConstraint: "producers_national_id_key", table: "producers") == "national_id")
        #expect(DatabaseErrors.field(fromConstraint: "producers_province_code_fkey", table: "producers") == "province_code")
        #expect(DatabaseErrors.field(fromConstraint: "accounts_login_key", table: "accounts") == "login")
    }

    @Test func solarHijriYearBoundsFollowTheCalendar() {
        // 1 Farvardin 1405 = 21 March 2026; 1 Farvardin 1404 = 21 March 2025 (Tehran).
        let (start, end) = SolarHijri.yearBounds(1405)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = SolarHijri.tehran
        #expect(calendar.dateComponents([.year, .month, .day], from: start) == DateComponents(year: 2026, month: 3, day: 21))
        #expect(calendar.dateComponents([.year, .month, .day], from: end) == DateComponents(year: 2027, month: 3, day: 21))
        #expect(SolarHijri.fromGregorian(year: 2026, month: 10, day: 22) == (1405, 7, 30))
        #expect(SolarHijri.fromGregorian(year: 2026, month: 10, day: 23) == (1405, 8, 1))
    }

    @Test func calendarDatesAreStrict() {
        #expect(CalendarDate("2026-02-28") != nil)
        #expect(CalendarDate("2026-02-29") == nil)
        #expect(CalendarDate("2024-02-29") != nil)
        #expect(CalendarDate("2026-13-01") == nil)
        #expect(CalendarDate("2026-1-01") == nil)
    }
}

@Suite struct DatabaseURLTests {
    @Test func sslModesChooseTLS() throws {
        func tls(_ url: String) throws -> String { String(describing: try DatabaseURL.configuration(url).tls) }
        #expect(try tls("postgres://u:p@db.example:5432/app?sslmode=disable").contains("disable"))
        #expect(try tls("postgres://u:p@db.example/app?sslmode=require").contains("require"))
        #expect(try tls("postgres://u:p@db.example/app?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem").contains("require"))
        #expect(try tls("postgres://u:p@db.example/app").contains("prefer"))
        #expect(throws: ConfigError.self) { try DatabaseURL.configuration("postgres://u@db.example/app?sslmode=sometimes") }
    }
}
