import BazaarcheCore
import Foundation
import Testing

@Suite struct DemandTests {
    static let body =
        #"""
        {"category_code":"food","keywords":"کیک خانگی","quantity":500,"unit":"piece","max_unit_price_rials":2000000,\#
        "required_certificates":["health_license"],"min_packaging_level":"retail","preferred_provinces":["IR-00","IR-23"],\#
        "needed_by":"2099-01-01"}
        """#

    @Test func partnersPostAndCloseDemands() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let created = try await api.post("/v1/demands", Self.body, token: partner)
            #expect(created.status == .created)
            #expect(created.string("status") == "open")
            #expect(created.string("min_packaging_level") == "retail")
            #expect(created.json["required_certificates"] as? [String] == ["health_license"])
            let id = try #require(created.int("id"))
            #expect(try await api.get("/v1/demands/\(id)", token: partner).status == .ok)
            #expect(try await api.get("/v1/demands", token: partner).items.count == 1)
            let rival = try await api.token(.partner)
            #expect(try await api.get("/v1/demands/\(id)", token: rival).status == .notFound)
            #expect(try await api.get("/v1/demands", token: rival).items.isEmpty)
            #expect(try await api.post("/v1/demands/\(id)/transitions", #"{"to":"closed"}"#, token: rival).status == .notFound)
            let closed = try await api.post(
                "/v1/demands/\(id)/transitions", #"{"to":"closed","reason":"sourced"}"#, token: partner)
            #expect(closed.string("status") == "closed")
            let again = try await api.post("/v1/demands/\(id)/transitions", #"{"to":"cancelled"}"#, token: partner)
            #expect(again.status == .conflict)
            #expect(again.string("current_status") == "closed")
            let audit = try await api.db.rows(
                "SELECT count(*)::int FROM audit_events WHERE entity_type = 'demand' AND entity_id = \(id)")
            #expect(try audit[0].decode(Int.self) == 2)
        }
    }

    @Test func invalidDemandsAre422() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let past = try await api.post(
                "/v1/demands", Self.body.replacingOccurrences(of: "2099-01-01", with: "2020-01-01"), token: partner)
            #expect(past.fields == ["needed_by"])
            let badCategory = try await api.post(
                "/v1/demands", Self.body.replacingOccurrences(of: #""food""#, with: #""rockets""#), token: partner)
            #expect(badCategory.fields == ["category_code"])
            let badProvince = try await api.post(
                "/v1/demands", Self.body.replacingOccurrences(of: #""IR-23""#, with: #""IR-99""#), token: partner)
            #expect(badProvince.fields == ["preferred_provinces"])
            let badCert = try await api.post(
                "/v1/demands", Self.body.replacingOccurrences(of: "health_license", with: "gold_star"), token: partner)
            #expect(badCert.fields == ["required_certificates[0]"])
            let zero = try await api.post("/v1/demands", Self.body.replacingOccurrences(of: ":500,", with: ":0,"), token: partner)
            #expect(zero.fields == ["quantity"])
            let producer = try await api.producer(status: .verified)
            #expect(try await api.post("/v1/demands", Self.body, token: producer.token).status == .forbidden)
            #expect(try await api.db.rows("SELECT 1 FROM demands").isEmpty)
        }
    }

    @Test func producersSeeOpenDemandsTheyMatch() async throws {
        try await withApp { api in
            let partner = try await api.token(.partner)
            let easy = try #require(
                try await api.post(
                    "/v1/demands",
                    #"""
                    {"category_code":"food","quantity":10,"unit":"piece","max_unit_price_rials":2000000,"needed_by":"2099-01-01"}
                    """#,
                    token: partner
                ).int("id"))
            let strict = try #require(try await api.post("/v1/demands", Self.body, token: partner).int("id"))
            let baker = try await api.producer(status: .verified)
            _ = try await api.product(baker, category: "food.bakery")
            let potter = try await api.producer(status: .verified)
            _ = try await api.product(potter, title: "کاسه سفالی", category: "pottery.earthenware")
            let ids = { (token: String) in
                try await api.get("/v1/demands", token: token).items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
            }
            #expect(try await ids(baker.token) == [easy])
            #expect(try await ids(potter.token) == [])
            #expect(try await api.get("/v1/demands/\(strict)", token: baker.token).status == .notFound)
            // Retail packaging and a valid health licence make the strict demand match too.
            let product = try await api.product(baker, title: "کیک صادراتی", category: "food.bakery")
            try await api.approvedPackaging(product, "retail", token: baker.token)
            let cert = try #require(
                try await api.post(
                    "/v1/products/\(product)/certificates",
                    #"{"kind":"health_license","number":"1","issuer":"x","issued_on":"2025-01-01","expires_on":"2099-01-01"}"#,
                    token: baker.token
                ).int("id"))
            let admin = try await api.token(.admin)
            try await api.must(.post, "/v1/certificates/\(cert)/transitions", json: #"{"to":"under_review"}"#, token: admin)
            try await api.must(.post, "/v1/certificates/\(cert)/transitions", json: #"{"to":"granted"}"#, token: admin)
            #expect(try await ids(baker.token) == [easy, strict])
            try await api.must(.post, "/v1/demands/\(easy)/transitions", json: #"{"to":"cancelled"}"#, token: partner)
            #expect(try await ids(baker.token) == [strict])
        }
    }
}
