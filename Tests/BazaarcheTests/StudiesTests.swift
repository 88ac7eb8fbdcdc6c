import BazaarcheCore
import Foundation
import HTTPTypes
import Testing

/// A JSON string literal for `text` (CSV bodies sent inside JSON).
private func jsonString(_ text: String) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]), as: UTF8.self)
        .dropFirst().dropLast().description
}

extension API {
    /// A draft study of `province` for 1404 entered by `token`, with `rows` (JSON array text).
    func study(_ province: String, token: String, rows: String = "[]") async throws -> Int64 {
        let reply = try await post(
            "/v1/province-studies",
            """
            {"province_code":"\(province)","study_year":1404,"source":"مطالعه نیازسنجی اداره کل تعاون، کار و رفاه اجتماعی",
             "studied_on":"2025-06-01","rows":\(rows)}
            """, token: token)
        #expect(reply.status == .created, "study: \(reply.text)")
        return try #require(reply.int("id"))
    }

    func studyRows(_ id: Int64, token: String) async throws -> [[String: Any]] {
        let reply = try await get("/v1/province-studies/\(id)", token: token)
        #expect(reply.status == .ok, "study \(id): \(reply.text)")
        return reply.json["rows"] as? [[String: Any]] ?? []
    }
}

@Suite struct StudiesTests {
    static let bakingRow =
        #"[{"activity_code":"food.baking","need_score":80,"advantage_score":70,"capacity_producers":120,"capacity_units_month":9000,"priority":true}]"#

    @Test func implementerImportsCSVWithADryRunThatChangesNothing() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let id = try await api.study("IR-00", token: implementer, rows: Self.bakingRow)
            #expect(try await api.studyRows(id, token: implementer).map { $0["activity_code"] as? String } == ["food.baking"])

            // Row 3: a score out of range; row 4: an unknown activity and a word for a number; row 5
            // repeats row 2's activity; row 6: a priority that is not a yes/no. Row 2 is valid, in Persian digits.
            let bad = """
                activity_code,need_score,advantage_score,capacity_producers,capacity_units_month,priority
                food.pastry,۸۵,٧٠,۱۲۰,"۱۲٬۵۰۰",بله
                carpets.kilim,150,60,40,300,no
                food.marzipan,80,sixty,10,100,yes
                food.pastry,10,10,1,1,no
                herbal.rosewater,50,50,5,50,maybe
                """
            let dry = try await api.post(
                "/v1/province-studies/\(id)/rows/import?dry_run=true", #"{"csv":\#(jsonString(bad))}"#, token: implementer)
            #expect(dry.status == .ok, "\(dry.text)")
            #expect(dry.json["dry_run"] as? Bool == true)
            #expect(dry.json["valid"] as? Bool == false)
            #expect(dry.json["imported"] as? Bool == false)
            let errors = (dry.json["errors"] as? [[String: Any]] ?? []).map {
                "\($0["row"] as? Int ?? 0):\($0["field"] as? String ?? "")"
            }
            #expect(
                errors == [
                    "3:need_score", "4:activity_code", "4:advantage_score", "5:activity_code", "6:priority",
                ])
            #expect(
                (dry.json["errors"] as? [[String: Any]])?.first?["message"] as? String == "must be from 0 to 100")
            // Nothing changed.
            #expect(try await api.studyRows(id, token: implementer).map { $0["activity_code"] as? String } == ["food.baking"])

            // A real run of the same file is refused whole.
            let refused = try await api.post(
                "/v1/province-studies/\(id)/rows/import", #"{"csv":\#(jsonString(bad))}"#, token: implementer)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.code == "csv_rows_invalid")
            #expect(refused.fields.contains("rows[3].need_score"))
            #expect(try await api.studyRows(id, token: implementer).map { $0["activity_code"] as? String } == ["food.baking"])

            // A valid file (UTF-8 BOM and CRLF as Excel writes them, Persian digits) in a dry run is
            // reported valid and still changes nothing; the real run replaces the rows.
            let good =
                "\u{FEFF}Activity_Code,need_score,advantage_score,capacity_producers,capacity_units_month,priority,notes\r\n"
                + "food.pastry,۸۵,٧٠,۱۲۰,\"۱۲٬۵۰۰\",بله,\"شیرینی، سوغات\"\r\n"
                + "carpets.kilim,40,60,40,300,no,\r\n"
            let goodDry = try await api.call(
                .post, "/v1/province-studies/\(id)/rows/import?dry_run=true", json: good, token: implementer,
                headers: [.contentType: "text/csv; charset=utf-8"])
            #expect(goodDry.status == .ok)
            #expect(goodDry.json["valid"] as? Bool == true)
            #expect(goodDry.json["row_count"] as? Int == 2)
            #expect(goodDry.json["priority_count"] as? Int == 1)
            #expect(try await api.studyRows(id, token: implementer).map { $0["activity_code"] as? String } == ["food.baking"])
            let imported = try await api.call(
                .post, "/v1/province-studies/\(id)/rows/import", json: good, token: implementer,
                headers: [.contentType: "text/csv"])
            #expect(imported.status == .ok, "\(imported.text)")
            let rows = imported.json["rows"] as? [[String: Any]] ?? []
            #expect(rows.map { $0["activity_code"] as? String } == ["food.pastry", "carpets.kilim"])
            #expect(rows.first?["need_score"] as? Int == 85)
            #expect(rows.first?["advantage_score"] as? Int == 70)
            #expect(rows.first?["capacity_units_month"] as? Int == 12500)
            #expect(rows.first?["priority"] as? Bool == true)
            #expect(rows.first?["notes"] as? String == "شیرینی، سوغات")
            #expect(rows.first?["category_code"] as? String == "food.confectionery")

            // JSON rows: field errors name the array index; an unknown activity is 422 and changes nothing.
            let unknown = try await api.call(
                .put, "/v1/province-studies/\(id)/rows",
                json:
                    #"{"rows":[{"activity_code":"food.nothing","need_score":1,"advantage_score":1,"capacity_producers":1,"capacity_units_month":1}]}"#,
                token: implementer)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.fields == ["rows[0].activity_code"])
            #expect(try await api.studyRows(id, token: implementer).count == 2)

            // Another province's implementer can neither enter for IR-00 nor edit its draft.
            let elsewhere = try await api.token(.implementer, provinces: ["IR-23"])
            let foreign = try await api.post(
                "/v1/province-studies",
                #"{"province_code":"IR-00","study_year":1405,"source":"x","studied_on":"2025-06-01"}"#, token: elsewhere)
            #expect(foreign.status == .unprocessableContent)
            #expect(foreign.fields == ["province_code"])
            let foreignEdit = try await api.call(
                .put, "/v1/province-studies/\(id)/rows", json: #"{"rows":\#(Self.bakingRow)}"#, token: elsewhere)
            #expect(foreignEdit.status == .notFound)  // another province's draft is not theirs to see
            // A supervisor does not enter studies.
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            #expect(
                try await api.call(.put, "/v1/province-studies/\(id)/rows", json: #"{"rows":[]}"#, token: supervisor).status
                    == .forbidden)
            #expect(try await api.studyRows(id, token: implementer).count == 2)
            // A second draft for the same province and year is refused.
            let second = try await api.post(
                "/v1/province-studies",
                #"{"province_code":"IR-00","study_year":1404,"source":"x","studied_on":"2025-06-01"}"#, token: implementer)
            #expect(second.status == .conflict)
            #expect(second.code == "draft_exists")
        }
    }

    @Test func onlyTheProvincesSupervisorApprovesAndNeverTheEnteringAccount() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let id = try await api.study("IR-00", token: implementer, rows: Self.bakingRow)
            let approve = #"{"to":"approved"}"#
            let producer = try await api.producer(province: "IR-00")
            let partner = try await api.token(.partner)

            // A draft is the staff's: producers and partners neither read it nor see its priorities.
            #expect(try await api.get("/v1/province-studies/\(id)", token: producer.token).status == .notFound)
            #expect(try await api.get("/v1/province-studies?province_code=IR-00", token: partner).items.isEmpty)
            let before = try await api.get("/v1/provinces/IR-00/priorities", token: partner)
            #expect(before.status == .ok)
            #expect(before.json["study"] is NSNull)
            #expect(before.items.isEmpty)

            // Another province's supervisor, the implementer, and a producer cannot approve.
            let otherSupervisor = try await api.token(.supervisor, province: "IR-23")
            #expect(
                try await api.post("/v1/province-studies/\(id)/transitions", approve, token: otherSupervisor).status == .notFound)
            #expect(
                try await api.post("/v1/province-studies/\(id)/transitions", approve, token: implementer).status == .forbidden)
            #expect(
                try await api.post("/v1/province-studies/\(id)/transitions", approve, token: producer.token).status == .forbidden)

            // The account that entered a study cannot approve it, even an admin.
            let admin = try await api.token(.admin)
            let adminStudy = try await api.study("IR-01", token: admin, rows: Self.bakingRow)
            let own = try await api.post("/v1/province-studies/\(adminStudy)/transitions", approve, token: admin)
            #expect(own.status == .conflict)
            #expect(own.code == "four_eyes")
            #expect(try await api.get("/v1/province-studies/\(adminStudy)", token: admin).string("status") == "draft")

            // Nor can an admin who edited someone else's draft approve what it wrote.
            let editedStudy = try await api.study("IR-03", token: try await api.token(.implementer, provinces: ["IR-03"]))
            let dry = try await api.call(
                .put, "/v1/province-studies/\(editedStudy)/rows?dry_run=true",
                json:
                    #"{"rows":[{"activity_code":"food.nothing","need_score":101,"advantage_score":1,"capacity_producers":1,"capacity_units_month":1}]}"#,
                token: admin)
            #expect(dry.status == .ok && dry.json["valid"] as? Bool == false, "\(dry.text)")
            #expect(
                Set((dry.json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }) == [
                    "rows[0].need_score", "rows[0].activity_code",
                ])
            #expect(try await api.studyRows(editedStudy, token: admin).isEmpty)  // the dry run changed nothing
            try await api.must(
                .put, "/v1/province-studies/\(editedStudy)/rows", json: #"{"rows":\#(Self.bakingRow)}"#, token: admin)
            let edited = try await api.post("/v1/province-studies/\(editedStudy)/transitions", approve, token: admin)
            #expect(edited.status == .conflict && edited.code == "four_eyes", "\(edited.text)")
            let otherAdmin = try await api.token(.admin)
            try await api.must(.post, "/v1/province-studies/\(editedStudy)/transitions", json: approve, token: otherAdmin)

            // An empty study is not approved.
            let emptyImplementer = try await api.token(.implementer, provinces: ["IR-02"])
            let empty = try await api.study("IR-02", token: emptyImplementer)
            #expect(
                try await api.post("/v1/province-studies/\(empty)/transitions", approve, token: admin).code == "study_empty")

            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let approved = try await api.post("/v1/province-studies/\(id)/transitions", approve, token: supervisor)
            #expect(approved.status == .ok, "\(approved.text)")
            #expect(approved.string("status") == "approved")
            #expect(approved.json["current"] as? Bool == true)
            #expect(approved.json["approved_at"] is String)

            // Now everyone signed in reads it and the province's priorities.
            let seen = try await api.get("/v1/province-studies/\(id)", token: producer.token)
            #expect(seen.status == .ok)
            #expect(try await api.get("/v1/province-studies?province_code=IR-00&year=1404", token: partner).items.count == 1)
            let priorities = try await api.get("/v1/provinces/IR-00/priorities", token: partner)
            #expect((priorities.json["study"] as? [String: Any])?["id"] as? Int == Int(id))
            #expect(priorities.items.map { $0["activity_code"] as? String } == ["food.baking"])
            #expect(try await api.get("/v1/provinces/IR-99/priorities", token: partner).status == .notFound)

            // Approved means frozen: no second approval, no row changes.
            let again = try await api.post("/v1/province-studies/\(id)/transitions", approve, token: admin)
            #expect(again.status == .conflict)
            let frozen = try await api.call(.put, "/v1/province-studies/\(id)/rows", json: #"{"rows":[]}"#, token: implementer)
            #expect(frozen.status == .conflict)
            #expect(frozen.code == "study_frozen")
            #expect(try await api.studyRows(id, token: admin).count == 1)

            // A new version of the year replaces it once approved; until then the old one is in force.
            let v2 = try await api.study("IR-00", token: implementer)
            #expect(try await api.get("/v1/province-studies/\(v2)", token: implementer).int("version") == 2)
            #expect(try await api.get("/v1/province-studies/\(id)", token: partner).json["current"] as? Bool == true)

            let audit = try await api.get("/v1/audit-events?entity_type=province_study&entity_id=\(id)", token: admin)
            #expect(
                audit.items.map { $0["action"] as? String }
                    == ["province_study.created", "province_study.approved"])
            #expect(audit.items.last?["actor_role"] as? String == "supervisor")
        }
    }

    @Test func adminExtendsTheTaxonomyAndApplicationsUseIt() async throws {
        try await withApp { api in
            // Public: applicants pick activities before they have an account.
            let all = try await api.get("/v1/activities")
            #expect(all.status == .ok)
            let pastry = all.items.first { $0["code"] as? String == "food.pastry" }
            #expect(pastry?["category_code"] as? String == "food.confectionery")
            #expect(try await api.get("/v1/activities?category_code=carpets").items.count >= 5)

            let admin = try await api.token(.admin)
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let body =
                #"{"code":"food.kolompeh","category_code":"food.confectionery","name_fa":"کلمپه‌پزی","name_en":"Kolompeh baking"}"#
            #expect(try await api.post("/v1/activities", body, token: implementer).status == .forbidden)
            let created = try await api.post("/v1/activities", body, token: admin)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "/v1/activities/food.kolompeh")
            #expect(try await api.post("/v1/activities", body, token: admin).status == .conflict)
            let badCategory = try await api.post(
                "/v1/activities", #"{"code":"food.x","category_code":"food.nothing","name_fa":"x","name_en":"x"}"#, token: admin)
            #expect(badCategory.fields == ["category_code"])
            let badCode = try await api.post(
                "/v1/activities", #"{"code":"Food Pastry!","category_code":"food","name_fa":"x","name_en":"x"}"#, token: admin)
            #expect(badCode.fields == ["code"])

            // An application names activities; the producer shows them beside the free-text skills.
            func apply(_ activities: String) async throws -> (Reply, String) {
                let n = Fixtures.next()
                let mobile = String(format: "0936%07d", n)
                let reply = try await api.post(
                    "/v1/producer-applications",
                    """
                    {"national_id":"\(Fixtures.nationalID(n))","first_name":"مریم","last_name":"کرمانی","mobile":"\(mobile)",
                     "province_code":"IR-08","city":"کرمان","skills":["کلمپه"],"activities":\(activities)}
                    """)
                return (reply, mobile)
            }
            let (applied, mobile) = try await apply(#"["food.kolompeh"," FOOD.PASTRY","food.pastry"]"#)
            #expect(applied.status == .accepted, "\(applied.text)")
            let code = try await api.smsCode(to: mobile) ?? ""
            try await api.must(
                .post, "/v1/producer-applications/confirmations",
                json:
                    #"{"application_request_id":"\#(applied.string("application_request_id") ?? "")","code":"\#(code)","password":"\#(API.password)"}"#,
                status: .accepted)
            let producerToken = try await api.login(mobile)
            let producerID = try #require(try await api.get("/v1/me", token: producerToken).int("producer_id"))
            let producer = try await api.get("/v1/producers/\(producerID)", token: producerToken)
            #expect(producer.json["activities"] as? [String] == ["food.kolompeh", "food.pastry"])
            #expect(producer.json["skills"] as? [String] == ["کلمپه"])

            // Unknown, too many, or deactivated activities: 422, and no code is sent.
            let (unknown, unknownMobile) = try await apply(#"["food.unknown"]"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.fields == ["activities"])
            #expect(try await api.smsCode(to: unknownMobile) == nil)
            let eleven = (1...11).map { _ in "\"food.pastry\"" }.joined(separator: ",")
            let distinctEleven = try await api.get("/v1/activities").items.prefix(11).map { "\"\($0["code"] as? String ?? "")\"" }
            #expect(try await apply("[\(distinctEleven.joined(separator: ","))]").0.fields == ["activities"])
            #expect(try await apply("[\(eleven)]").0.status == .accepted)  // one activity, named eleven times

            let deactivated = try await api.call(.patch, "/v1/activities/food.kolompeh", json: #"{"active":false}"#, token: admin)
            #expect(deactivated.status == .ok)
            #expect(deactivated.json["active"] as? Bool == false)
            #expect(try await api.get("/v1/activities").items.allSatisfy { $0["code"] as? String != "food.kolompeh" })
            #expect(
                try await api.get("/v1/activities?include_inactive=true").items.contains {
                    $0["code"] as? String == "food.kolompeh"
                })
            #expect(try await apply(#"["food.kolompeh"]"#).0.status == .unprocessableContent)
            let renamed = try await api.call(
                .patch, "/v1/activities/food.kolompeh", json: #"{"name_en":"Kolompeh (Kerman date cookie)"}"#, token: admin)
            #expect(renamed.string("name_en") == "Kolompeh (Kerman date cookie)")
            #expect(
                try await api.call(.patch, "/v1/activities/food.none", json: #"{"active":false}"#, token: admin).status
                    == .notFound)
            #expect(
                try await api.call(.patch, "/v1/activities/food.pastry", json: #"{"active":false}"#, token: implementer).status
                    == .forbidden)

            let audit = try await api.get("/v1/audit-events?entity_type=activity", token: admin)
            #expect(
                audit.items.map { $0["action"] as? String }
                    == ["activity.created", "activity.deactivated", "activity.renamed"])
        }
    }
}

@Suite struct ProvincePriorityMatchingTests {
    /// Two products alike but for price, one in IR-00 and one (cheaper) in IR-23; IR-00's study
    /// flags baking as a priority. docs/matching.md's weights, worked out by hand.
    @Test func onlyAnApprovedStudyRaisesAScoreAndTheBreakdownSaysSo() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let markazi = try await api.producer(province: "IR-00", status: .verified)
            let tehran = try await api.producer(province: "IR-23", status: .verified)
            let a = try await api.product(markazi, title: "کیک خانگی", price: 1_000_000, stock: 100)
            let b = try await api.product(tehran, title: "کیک خانگی", price: 800_000, stock: 100)
            let fields = #""category_code":"food","quantity":100,"max_unit_price_rials":2000000"#
            let preferring = try await api.demand(partner, fields + #","prefer_priority_activities":true"#)
            let plain = try await api.demand(partner, fields)
            #expect(
                try await api.get("/v1/demands/\(preferring)", token: partner).json["prefer_priority_activities"] as? Bool == true
            )
            #expect(
                try await api.get("/v1/demands/\(plain)", token: partner).json["prefer_priority_activities"] as? Bool == false)

            func ranked(_ demand: Int64) async throws -> (weights: [String: Any], rows: [(Int64, Int, [String: Any])]) {
                let response = try await api.matches(demand, token: partner)
                let matches = response["matches"] as? [[String: Any]] ?? []
                let rows = matches.map {
                    (
                        ($0["product_id"] as? NSNumber)?.int64Value ?? 0, units($0["score"]),
                        $0["breakdown"] as? [String: Any] ?? [:]
                    )
                }
                for (_, score, parts) in rows { #expect(parts.values.map(units).reduce(0, +) == score) }
                let weights = response["weights"] as? [String: Any] ?? [:]
                #expect(weights.values.map(units).reduce(0, +) == 10_000)
                return (weights, rows)
            }

            // Without the option: docs/matching.md's weights and scores. a: 0.125 price + 0.25
            // capacity + 0.10 province (none preferred) + 0.075 no history + 0.15 no keywords; b: price 0.15.
            let plainBefore = try await ranked(plain)
            #expect(units(plainBefore.weights["province_priority"]) == 0)
            #expect(units(plainBefore.weights["price"]) == 2500)
            #expect(plainBefore.rows.map(\.0) == [b, a])
            #expect(plainBefore.rows.map(\.1) == [7250, 7000])

            // A draft study flags baking in IR-00: it never reaches a score. The weights are nine
            // tenths of the usual ones plus 0.10 for the factor, which nobody earns yet.
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let study = try await api.study("IR-00", token: implementer, rows: StudiesTests.bakingRow)
            let draft = try await ranked(preferring)
            #expect(units(draft.weights["province_priority"]) == 1000)
            #expect(units(draft.weights["price"]) == 2250)
            #expect(draft.rows.map(\.0) == [b, a])
            #expect(draft.rows.allSatisfy { units($0.2["province_priority"]) == 0 })
            #expect(draft.rows.map(\.1) == [6525, 6300])

            // Approved by the province's supervisor: IR-00's product gains the whole factor and
            // overtakes the cheaper one; the breakdown says why.
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            try await api.must(.post, "/v1/province-studies/\(study)/transitions", json: #"{"to":"approved"}"#, token: supervisor)
            let after = try await ranked(preferring)
            #expect(after.rows.map(\.0) == [a, b])
            #expect(units(after.rows[0].2["province_priority"]) == 1000)
            #expect(units(after.rows[1].2["province_priority"]) == 0)
            #expect(units(after.rows[0].2["delivery_record"]) == 675)  // 0.135 × 0.5
            #expect(after.rows.map(\.1) == [7300, 6525])

            // A newer draft that drops the priority changes nothing until it is approved.
            let v2 = try await api.study(
                "IR-00", token: implementer,
                rows: StudiesTests.bakingRow.replacingOccurrences(of: #""priority":true"#, with: #""priority":false"#))
            #expect(try await ranked(preferring).rows.map(\.1) == [7300, 6525])
            try await api.must(.post, "/v1/province-studies/\(v2)/transitions", json: #"{"to":"approved"}"#, token: supervisor)
            #expect(try await ranked(preferring).rows.map(\.0) == [b, a])

            // A demand that did not ask is never touched by studies.
            let plainAfter = try await ranked(plain)
            #expect(plainAfter.rows.allSatisfy { units($0.2["province_priority"]) == 0 })
            #expect(plainAfter.rows.map(\.1) == [7250, 7000])
        }
    }
}
