import BazaarcheCore
import Foundation
import Testing

/// The funnel by activity, read against the province study in force.
@Suite struct ActivityFunnelTests {
    @Test func applicantsAreCountedUnderTheirActivitiesBesideTheStudysPriorities() async throws {
        try await withApp { api in
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            // Baking and kilim are Markazi's priorities; pickles is studied but not a priority.
            let rows = """
                [{"activity_code":"food.baking","need_score":80,"advantage_score":70,"capacity_producers":4,
                  "capacity_units_month":900,"priority":true},
                 {"activity_code":"carpets.kilim","need_score":70,"advantage_score":90,"capacity_producers":10,
                  "capacity_units_month":50,"priority":true},
                 {"activity_code":"food.pickles","need_score":40,"advantage_score":30,"capacity_producers":5,
                  "capacity_units_month":300,"priority":false}]
                """
            let study = try await api.study("IR-00", token: implementer, rows: rows)
            try await api.must(
                .post, "/v1/province-studies/\(study)/transitions", json: #"{"to":"approved"}"#, token: supervisor)

            _ = try await api.producer(province: "IR-00", status: .verified, activities: ["food.baking"])
            _ = try await api.producer(province: "IR-00", status: .screened, activities: ["food.baking", "food.pickles"])
            _ = try await api.producer(province: "IR-00", activities: ["food.honey"])
            _ = try await api.producer(province: "IR-00")  // named no activity
            _ = try await api.producer(province: "IR-23", status: .verified, activities: ["food.baking"])  // elsewhere

            let year = SolarHijri.year(of: Date())
            let report = try await api.must(.get, "/v1/reports/funnel/activities?year=\(year)", token: supervisor)
            let order = (report.json["rows"] as? [[String: Any]] ?? []).map { $0["activity_code"] as? String ?? "-" }
            // Priorities first (kilim has no applicant yet), then the rest; honey is outside the
            // study; applicants who named no activity come last.
            #expect(order == ["carpets.kilim", "food.baking", "food.honey", "food.pickles", "-"])
            let byCode = Dictionary(
                uniqueKeysWithValues: (report.json["rows"] as? [[String: Any]] ?? []).map {
                    ($0["activity_code"] as? String ?? "-", $0)
                })
            #expect(byCode["food.baking"]?["applied"] as? Int == 2)
            #expect(byCode["food.baking"]?["verified"] as? Int == 1)
            #expect(byCode["food.baking"]?["percent_of_capacity"] as? Double == 25)
            #expect(byCode["carpets.kilim"]?["applied"] as? Int == 0)
            #expect(byCode["carpets.kilim"]?["priority"] as? Bool == true)
            #expect(byCode["food.honey"]?["priority"] as? Bool == false)
            #expect(byCode["food.honey"]?["study_id"] is NSNull)
            #expect(byCode["-"]?["applied"] as? Int == 1)
            #expect(byCode.count == 5)

            let priorities = try await api.must(
                .get, "/v1/reports/funnel/activities?year=\(year)&priority_only=true", token: supervisor)
            #expect(
                (priorities.json["rows"] as? [[String: Any]] ?? []).compactMap { $0["activity_code"] as? String } == [
                    "carpets.kilim", "food.baking",
                ])
            // Another province's staff read their own province only.
            let tehran = try await api.token(.supervisor, province: "IR-23")
            #expect(
                try await api.get("/v1/reports/funnel/activities?year=\(year)&province_code=IR-00", token: tehran).status
                    == .forbidden)
            let own = try await api.must(.get, "/v1/reports/funnel/activities?year=\(year)", token: tehran)
            #expect(
                (own.json["rows"] as? [[String: Any]] ?? []).map { "\($0["province_code"] ?? "")" } == ["IR-23"])
            #expect(try await api.get("/v1/reports/funnel/activities", token: try await api.token(.partner)).status == .forbidden)
            #expect(
                try await api.get("/v1/reports/funnel/activities?priority_only=maybe", token: supervisor).status
                    == .unprocessableContent)
        }
    }
}
