import BazaarcheCore
import Foundation
import Onboarding
import Testing

@Suite struct ProgrammeReportTests {
    static func row(_ reply: Reply, _ code: String) -> [String: Any] {
        (reply.json["rows"] as? [[String: Any]] ?? []).first { $0["province_code"] as? String == code } ?? [:]
    }

    /// A course inserted directly (its API is the training part's), with modules of `minutes`.
    static func course(_ api: API, hours: Int, modules: [Int]) async throws -> (course: Int64, modules: [Int64]) {
        let course = try await api.db.rows(
            """
            INSERT INTO courses (title, kind, mode, hours, created_by)
            SELECT 'دوره آزمون', 'general', 'online', \(hours), id FROM accounts ORDER BY id LIMIT 1 RETURNING id
            """)[0].decode(Int64.self)
        var ids: [Int64] = []
        for (i, minutes) in modules.enumerated() {
            ids.append(
                try await api.db.rows(
                    """
                    INSERT INTO course_modules (course_id, position, title, kind, url, minutes)
                    VALUES (\(course), \(i + 1), 'بخش', 'video', 'https://example.org/v', \(minutes)) RETURNING id
                    """)[0].decode(Int64.self))
        }
        return (course, ids)
    }

    /// An enrolment completed `daysAgo` days ago, its modules done then too.
    static func completion(_ api: API, producer: Int64, course: (course: Int64, modules: [Int64]), daysAgo: Int = 0) async throws
    {
        let enrollment = try await api.db.rows(
            """
            INSERT INTO enrollments (course_id, producer_id, enrolled_at, completed_at)
            VALUES (\(course.course), \(producer), now() - make_interval(days => \(daysAgo + 1)::int),
                    now() - make_interval(days => \(daysAgo)::int)) RETURNING id
            """)[0].decode(Int64.self)
        for module in course.modules {
            try await api.db.execute(
                """
                INSERT INTO module_progress (enrollment_id, module_id, completed_at, recorded_by)
                SELECT \(enrollment), \(module), now() - make_interval(days => \(daysAgo)::int), id FROM accounts ORDER BY id LIMIT 1
                """)
        }
    }

    @Test func theReportsNumbersAreWhatHappenedInThePeriod() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let implementer = try await api.token(.implementer, provinces: ["IR-00", "IR-23"])
            let partner = try await api.token(.partner)
            let today = SolarHijri.today()
            let j = SolarHijri.fromGregorian(year: today.year, month: today.month, day: today.day)
            let (year, quarter) = (j.year, (j.month - 1) / 3 + 1)
            try await api.must(.put, "/v1/quotas/\(year)/IR-00", json: #"{"quota":40}"#, token: admin)

            let p1 = try await api.producer(province: "IR-00", status: .verified)
            let p2 = try await api.producer(province: "IR-00", status: .screened)
            _ = try await api.producer(province: "IR-00")
            let p3 = try await api.producer(province: "IR-23", status: .verified)

            // Assessments: whatever the screening fixtures completed, plus one of long ago that must not count.
            try await api.db.execute(
                """
                INSERT INTO assessments (producer_id, assessor_account_id, mode, assessed_on, status, mean_score, completed_at)
                SELECT \(p2.id), id, 'online', current_date - 800, 'completed', 1.00, now() - interval '800 days'
                FROM accounts ORDER BY id LIMIT 1
                """)
            let since = SolarHijri.quarterBounds(year, quarter).start
            let scores = try await api.db.rows(
                """
                SELECT p.province_code, a.mean_score::text, a.completed_at >= \(since) FROM assessments a
                JOIN producers p ON p.id = a.producer_id WHERE a.status = 'completed'
                """
            ).map { try $0.decode((String, String, Bool).self) }
            func expectedMean(_ province: String) -> (Int, String?) {
                let counted = scores.filter { $0.0 == province && $0.2 }.map { Decimal(string: $0.1)! }
                guard !counted.isEmpty else { return (0, nil) }
                var mean = counted.reduce(0, +) / Decimal(counted.count)
                var rounded = Decimal()
                NSDecimalRound(&rounded, &mean, 2, .plain)
                return (counted.count, String(format: "%.2f", NSDecimalNumber(decimal: rounded).doubleValue))
            }
            #expect(expectedMean("IR-00").0 >= 2)

            // Training: 30 + 45 minutes of modules and a 6-hour course without modules in IR-00
            // (7.25 hours, 2 completions); one completion a year and a half ago does not count.
            let online = try await Self.course(api, hours: 3, modules: [30, 45])
            let plain = try await Self.course(api, hours: 6, modules: [])
            try await Self.completion(api, producer: p1.id, course: online)
            try await Self.completion(api, producer: p1.id, course: plain)
            try await Self.completion(api, producer: p2.id, course: plain, daysAgo: 550)
            try await Self.completion(api, producer: p3.id, course: plain)

            // Counselling by topic (one long ago).
            for (producer, topic, day) in [
                (p1.id, "packaging", today), (p2.id, "packaging", today), (p1.id, "standards", today),
                (p1.id, "finance", today.adding(days: -800)), (p3.id, "export", today),
            ] {
                try await api.must(
                    .post, "/v1/producers/\(producer)/counseling-sessions",
                    json: #"{"topic":"\#(topic)","counselor":"مشاور","held_on":"\#(day)"}"#, token: implementer,
                    status: .created)
            }

            // A certificate granted and a packaging level approved, a delivered order, exports (one
            // counted, one still declared), and a loan registered and granted.
            let product = try await api.product(p1)
            let cert = try await api.post(
                "/v1/products/\(product)/certificates",
                #"{"kind":"health_license","number":"12/3456","issuer":"سازمان غذا و دارو","issued_on":"2025-01-01","expires_on":"2030-01-01"}"#,
                token: p1.token)
            let certID = try #require(cert.int("id"))
            try await api.must(.post, "/v1/certificates/\(certID)/transitions", json: #"{"to":"under_review"}"#, token: admin)
            try await api.must(.post, "/v1/certificates/\(certID)/transitions", json: #"{"to":"granted"}"#, token: admin)
            try await api.approvedPackaging(product, "retail", token: p1.token)
            try await api.deliveredOrder(p1, partner: partner)
            try await api.shipment(p1.token, producer: p1.id, fob: "1250.50", on: today.description)
            try await api.shipment(p1.token, producer: p1.id, fob: "99.99", on: today.description, status: "declared")
            try await api.shipment(p3.token, producer: p3.id, fob: "10.00", on: today.description, status: "shipped")
            let loan = try await api.loanReferral(p1.id, token: p1.token)
            try await api.moveLoan(loan, to: "granted", token: implementer)

            for period in ["\(year)", "\(year)-Q\(quarter)"] {
                let report = try await api.get("/v1/reports/programme?period=\(period)", token: admin)
                #expect(report.status == .ok, "\(report.text)")
                #expect(report.string("period") == period)
                #expect((report.json["rows"] as? [[String: Any]])?.count == 31)
                let markazi = Self.row(report, "IR-00")
                #expect(markazi["quota"] as? Int == 40)
                #expect(markazi["applied"] as? Int == 3)
                #expect(markazi["screened"] as? Int == 2)
                #expect(markazi["verified"] as? Int == 1)
                #expect((markazi["percent_of_quota"] as? NSNumber)?.doubleValue == 2.5)
                #expect(markazi["connected"] as? Int == 1)
                #expect(markazi["exporting"] as? Int == 1)
                #expect(markazi["loan_seeking"] as? Int == 1)
                #expect(markazi["loan_granted"] as? Int == 1)
                // Granted on the day of the first delivery counts as a sale with a loan.
                #expect(markazi["first_sale_without_loan"] as? Int == 0)
                let (count, mean) = expectedMean("IR-00")
                #expect(markazi["assessments_completed"] as? Int == count)
                #expect((markazi["assessment_mean_score"] as? NSNumber).map { String(format: "%.2f", $0.doubleValue) } == mean)
                #expect((markazi["training_hours"] as? NSNumber)?.doubleValue == 7.25)
                #expect(markazi["course_completions"] as? Int == 2)
                #expect(markazi["counselling_sessions"] as? Int == 3)
                let topics = markazi["counselling_by_topic"] as? [String: Int] ?? [:]
                #expect(topics["packaging"] == 2 && topics["standards"] == 1 && topics["finance"] == 0)
                #expect(Set(topics.keys) == Set(CounselingTopic.allCases.map(\.rawValue)))
                #expect(markazi["certificates_granted"] as? Int == 1)
                #expect(markazi["packaging_approvals"] as? Int == 1)
                #expect(markazi["producers_delivering"] as? Int == 1)
                #expect(markazi["producers_exporting"] as? Int == 1)
                #expect(markazi["non_oil_export_shipments"] as? Int == 1)
                #expect(markazi["non_oil_export_fob_usd"] as? String == "1250.50")
                #expect(markazi["loans_registered"] as? Int == 1)
                #expect(markazi["loans_granted"] as? Int == 1)
                #expect(markazi["loans_declined"] as? Int == 0)

                let tehran = Self.row(report, "IR-23")
                #expect(tehran["applied"] as? Int == 1)
                #expect((tehran["training_hours"] as? NSNumber)?.doubleValue == 6)
                #expect(tehran["non_oil_export_fob_usd"] as? String == "10.00")
                #expect((tehran["counselling_by_topic"] as? [String: Int])?["export"] == 1)
                #expect(tehran["quota"] is NSNull)

                let totals = report.json["totals"] as? [String: Any] ?? [:]
                #expect(totals["applied"] as? Int == 4)
                #expect(totals["non_oil_export_fob_usd"] as? String == "1260.50")
                #expect((totals["training_hours"] as? NSNumber)?.doubleValue == 13.25)
                #expect(totals["counselling_sessions"] as? Int == 4)
            }

            // The report's funnel is the funnel endpoint's for the same year.
            let funnel = try await api.get("/v1/reports/funnel?year=\(year)", token: admin)
            let yearly = try await api.get("/v1/reports/programme?period=\(year)", token: admin)
            for key in ["quota", "applied", "screened", "verified", "trained", "connected", "exporting", "loan_seeking"] {
                #expect(
                    "\(Self.row(funnel, "IR-00")[key] ?? "-")" == "\(Self.row(yearly, "IR-00")[key] ?? "-")", "\(key)")
            }

            // Another quarter of the year saw none of it.
            let other = quarter == 1 ? 2 : quarter - 1
            let quiet = try await api.get("/v1/reports/programme?period=\(year)-Q\(other)", token: admin)
            let quietRow = Self.row(quiet, "IR-00")
            #expect(quietRow["applied"] as? Int == 0)
            #expect(quietRow["course_completions"] as? Int == 0)
            #expect(quietRow["non_oil_export_fob_usd"] as? String == "0.00")
            #expect(quietRow["quota"] as? Int == 40)
        }
    }

    @Test func eachAccountReadsOnlyItsProvinces() async throws {
        try await withApp { api in
            _ = try await api.producer(province: "IR-00")
            _ = try await api.producer(province: "IR-23")
            let year = SolarHijri.year(of: Date())
            let supervisor = try await api.token(.supervisor, province: "IR-23")
            let own = try await api.get("/v1/reports/programme?period=\(year)", token: supervisor)
            #expect((own.json["rows"] as? [[String: Any]])?.compactMap { $0["province_code"] as? String } == ["IR-23"])
            #expect((own.json["totals"] as? [String: Any])?["applied"] as? Int == 1)
            let foreign = try await api.get("/v1/reports/programme?period=\(year)&province_code=IR-00", token: supervisor)
            #expect(foreign.status == .forbidden)
            #expect(!foreign.text.contains("\"applied\""))

            let implementer = try await api.token(.implementer, provinces: ["IR-00", "IR-10"])
            let reached = try await api.get("/v1/reports/programme?period=\(year)", token: implementer)
            #expect(
                (reached.json["rows"] as? [[String: Any]])?.compactMap { $0["province_code"] as? String } == ["IR-00", "IR-10"])
            let one = try await api.get("/v1/reports/programme?period=\(year)&province_code=IR-10", token: implementer)
            #expect((one.json["rows"] as? [[String: Any]])?.count == 1)
            #expect(
                try await api.get("/v1/reports/programme?period=\(year)&province_code=IR-23", token: implementer).status
                    == .forbidden)

            let officer = try await api.token(.exportOfficer)
            #expect(
                (try await api.get("/v1/reports/programme?period=\(year)", token: officer).json["rows"] as? [Any])?.count == 31)
            let producer = try await api.producer(province: "IR-00")
            #expect(try await api.get("/v1/reports/programme?period=\(year)", token: producer.token).status == .forbidden)
            let partner = try await api.token(.partner)
            #expect(try await api.get("/v1/reports/programme?period=\(year)", token: partner).status == .forbidden)
            #expect(try await api.get("/v1/reports/programme?period=\(year)").status == .unauthorized)
        }
    }

    @Test func csvOpensInExcelWithPersianHeadingsOnRequest() async throws {
        try await withApp { api in
            _ = try await api.producer(province: "IR-00")
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let year = SolarHijri.year(of: Date())
            let persian = try await api.call(
                .get, "/v1/reports/programme?period=\(year)", token: supervisor,
                headers: [.accept: "text/csv", .acceptLanguage: "fa-IR,fa;q=0.9"])
            #expect(persian.status == .ok)
            #expect(persian.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(persian.text.hasPrefix("\u{FEFF}"))
            let lines = persian.text.dropFirst().components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.count == 3)  // heading, Markazi, total
            let heading = lines[0].components(separatedBy: ",")
            #expect(heading.prefix(4) == ["کد استان", "استان", "سهمیه", "ثبت‌نام"])
            #expect(heading.contains("نخستین فروش بدون تسهیلات"))
            #expect(lines[1].hasPrefix("IR-00,مرکزی,,1,"))
            #expect(lines[2].hasPrefix(",جمع,"))

            let english = try await api.get("/v1/reports/programme?period=\(year)&format=csv", token: supervisor)
            #expect(english.text.hasPrefix("\u{FEFF}province_code,province,quota,applied,"))
            #expect(english.text.contains("counselling_standards"))
            #expect(english.text.contains("\r\nIR-00,Markazi,,1,"))
            let columns = english.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }.map {
                $0.components(separatedBy: ",").count
            }
            #expect(Set(columns).count == 1)

            // JSON unless CSV is asked for.
            let json = try await api.call(
                .get, "/v1/reports/programme?period=\(year)", token: supervisor, headers: [.accept: "application/json, text/csv"])
            #expect(json.headers[.contentType]?.hasPrefix("application/json") == true)
        }
    }

    @Test func periodsAreParsedAndBadOnesAre422() async throws {
        #expect(ProgrammePeriod.parse("1405") == ProgrammePeriod(year: 1405, quarter: nil))
        #expect(ProgrammePeriod.parse("۱۴۰۵-Q2") == ProgrammePeriod(year: 1405, quarter: 2))
        #expect(ProgrammePeriod.parse("1405-q4") == ProgrammePeriod(year: 1405, quarter: 4))
        for bad in ["1405-Q5", "1405-Q0", "14050", "1389", "1501", "abc", "1405-Q", "1405-2", "1405-Q12", "", "-Q1"] {
            #expect(ProgrammePeriod.parse(bad) == nil, "\(bad)")
        }
        // Quarters tile the year: Farvardin 1 to Farvardin 1, three months each, in Tehran.
        let year = SolarHijri.yearBounds(1405)
        #expect(SolarHijri.quarterBounds(1405, 1).start == year.start)
        #expect(SolarHijri.quarterBounds(1405, 4).end == year.end)
        for q in 1...3 { #expect(SolarHijri.quarterBounds(1405, q).end == SolarHijri.quarterBounds(1405, q + 1).start) }
        #expect(SolarHijri.tehranDate(of: SolarHijri.quarterBounds(1405, 2).start).description == "2026-06-22")  // 1 Tir 1405

        try await withApp { api in
            let admin = try await api.token(.admin)
            for bad in ["1405-Q5", "14050", "1389", "abc", "1405-Q", "99999999999999999999"] {
                let reply = try await api.get("/v1/reports/programme?period=\(encoded(bad))", token: admin)
                #expect(reply.status == .unprocessableContent, "\(bad): \(reply.text)")
                #expect(reply.fields == ["period"])
            }
            #expect(try await api.get("/v1/reports/programme?period=1405&format=xml", token: admin).fields == ["format"])
            #expect(
                try await api.get("/v1/reports/programme?period=1405&province_code=Markazi", token: admin).fields
                    == ["province_code"])
            #expect(try await api.get("/v1/reports/programme?period=1405&province_code=IR-99", token: admin).status == .notFound)
            let q2 = try await api.get("/v1/reports/programme?period=1405-Q2&province_code=IR-00", token: admin)
            #expect(q2.status == .ok)
            #expect(q2.string("from") == "2026-06-22")
            #expect(q2.string("to") == "2026-09-22")
            #expect(q2.int("quarter") == 2)
        }
    }
}
