import BazaarcheCore
import Foundation
import Testing

// Test fixtures of the matching features, shared by the suites that need them.

extension API {
    /// A date `days` after today in Tehran (what needed_by is measured against).
    func tehranDate(plus days: Int) async throws -> String {
        try await db.rows("SELECT (tehran_today() + \(days)::int)::text")[0].decode(String.self)
    }

    /// A certificate on `product`, granted by an admin.
    func grantedCertificate(_ product: Int64, _ producer: String, kind: String, expires: String = "2099-01-01") async throws {
        let cert = try #require(
            try await post(
                "/v1/products/\(product)/certificates",
                #"""
                {"kind":"\#(kind)","number":"N-1","issuer":"سازمان ملی استاندارد","issued_on":"2020-01-01",\#
                "expires_on":"\#(expires)"}
                """#,
                token: producer
            ).int("id"))
        let admin = try await token(.admin)
        #expect(try await post("/v1/certificates/\(cert)/transitions", #"{"to":"under_review"}"#, token: admin).status == .ok)
        #expect(try await post("/v1/certificates/\(cert)/transitions", #"{"to":"granted"}"#, token: admin).status == .ok)
    }

    func demand(_ partner: String, _ fields: String, days: Int = 30) async throws -> Int64 {
        let neededBy = try await tehranDate(plus: days)
        let reply = try await post(
            "/v1/demands", #"{"unit":"piece","needed_by":"\#(neededBy)",\#(fields)}"#, token: partner)
        #expect(reply.status == .created, "demand: \(reply.text)")
        return try #require(reply.int("id"))
    }

    func matches(_ demand: Int64, token: String) async throws -> [String: Any] {
        let reply = try await get("/v1/demands/\(demand)/matches", token: token)
        #expect(reply.status == .ok, "matches: \(reply.text)")
        return reply.json
    }
}
