import BazaarcheCore
import Foundation
import Testing

@Suite struct QuotaAndFunnelTests {
    @Test func adminsSetQuotasOthersCannot() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let set = try await api.call(.put, "/v1/quotas/1405/IR-00", json: #"{"quota":2000}"#, token: admin)
            #expect(set.status == .ok)
            #expect(set.int("quota") == 2000)
            let changed = try await api.call(.put, "/v1/quotas/1405/IR-00", json: #"{"quota":2100}"#, token: admin)
            #expect(changed.int("quota") == 2100)
            let audit = try await api.get("/v1/audit-events?entity_type=quota", token: admin)
            #expect(
                audit.items.map { "\($0["from"] as? String ?? "-")>\($0["to"] as? String ?? "-")" } == ["->2000", "2000>2100"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            #expect(
                try await api.call(.put, "/v1/quotas/1405/IR-00", json: #"{"quota":1}"#, token: supervisor).status == .forbidden)
            #expect(try await api.call(.put, "/v1/quotas/1405/IR-77", json: #"{"quota":1}"#, token: admin).status == .notFound)
            #expect(
                try await api.call(.put, "/v1/quotas/2026/IR-00", json: #"{"quota":1}"#, token: admin).status
                    == .unprocessableContent)
            #expect(
                try await api.call(.put, "/v1/quotas/1405/IR-00", json: #"{"quota":-5}"#, token: admin).status
                    == .unprocessableContent)
            #expect(try await api.get("/v1/quotas?year=99999999999", token: admin).status == .unprocessableContent)
            let list = try await api.get("/v1/quotas?year=1405", token: supervisor)
            #expect(list.items.count == 1)
            #expect(list.items.first?["quota"] as? Int == 2100)
        }
    }

    @Test func funnelCountsEachStagePerProvince() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let year = SolarHijri.year(of: Date())
            try await api.must(.put, "/v1/quotas/\(year)/IR-00", json: #"{"quota":2000}"#, token: admin)
            _ = try await api.producer(province: "IR-00")
            _ = try await api.producer(province: "IR-00", status: .screened)
            let verified = try await api.producer(province: "IR-00", status: .verified)
            _ = try await api.producer(province: "IR-00", status: .suspended)
            _ = try await api.producer(province: "IR-00", status: .rejected)
            _ = try await api.producer(province: "IR-23", status: .verified)
            let courseID = try #require(
                try await api.post(
                    "/v1/courses", #"{"title":"t","kind":"general","mode":"online","hours":4}"#, token: admin
                ).int("id"))
            let enrollment = try #require(
                try await api.post(
                    "/v1/courses/\(courseID)/enrollments", #"{"producer_id":\#(verified.id)}"#, token: admin
                ).int("id"))
            try await api.must(.post, "/v1/enrollments/\(enrollment)/completion", token: admin)

            let report = try await api.get("/v1/reports/funnel?year=\(year)", token: admin)
            #expect(report.status == .ok)
            let rows = report.json["rows"] as? [[String: Any]] ?? []
            #expect(rows.count == 31)
            let markazi = try #require(rows.first { $0["province_code"] as? String == "IR-00" })
            #expect(markazi["quota"] as? Int == 2000)
            #expect(markazi["applied"] as? Int == 5)
            #expect(markazi["screened"] as? Int == 3)
            #expect(markazi["verified"] as? Int == 2)
            #expect(markazi["rejected"] as? Int == 1)
            #expect(markazi["trained"] as? Int == 1)
            #expect((markazi["percent_of_quota"] as? NSNumber)?.doubleValue == 0.1)
            let totals = report.json["totals"] as? [String: Any] ?? [:]
            #expect(totals["applied"] as? Int == 6)
            #expect(totals["verified"] as? Int == 3)

            let supervisor = try await api.token(.supervisor, province: "IR-23")
            let scoped = try await api.get("/v1/reports/funnel?year=\(year)", token: supervisor)
            let scopedRows = scoped.json["rows"] as? [[String: Any]] ?? []
            #expect(scopedRows.map { $0["province_code"] as? String } == ["IR-23"])
            #expect(scopedRows.first?["verified"] as? Int == 1)

            // Applicants of another plan year are not counted in this one.
            let previous = try await api.get("/v1/reports/funnel?year=\(year - 1)", token: admin)
            #expect((previous.json["totals"] as? [String: Any])?["applied"] as? Int == 0)

            #expect(try await api.get("/v1/reports/funnel", token: verified.token).status == .forbidden)
            #expect(try await api.get("/v1/reports/funnel?year=abc", token: admin).status == .unprocessableContent)
        }
    }
}

@Suite struct AuditTrailTests {
    @Test func supervisorsSeeTheirProvincesEventsOnly() async throws {
        try await withApp { api in
            let markazi = try await api.producer(province: "IR-00", status: .screened)
            let tehran = try await api.producer(province: "IR-23", status: .screened)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let events = try await api.get("/v1/audit-events?entity_type=producer", token: supervisor)
            let ids = Set(events.items.compactMap { ($0["entity_id"] as? NSNumber)?.int64Value })
            #expect(ids == [markazi.id])
            let foreign = try await api.get("/v1/audit-events?entity_type=producer&entity_id=\(tehran.id)", token: supervisor)
            #expect(foreign.items.isEmpty)
            #expect(try await api.get("/v1/audit-events", token: markazi.token).status == .forbidden)
            #expect(try await api.get("/v1/audit-events?entity_id=x", token: supervisor).status == .unprocessableContent)
        }
    }
}
