import BazaarcheApp
import BazaarcheCore
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite struct HTTPConventionTests {
    @Test func unknownRouteIsProblemJSON() async throws {
        try await withApp { api in
            let reply = try await api.get("/v1/nowhere")
            #expect(reply.status == .notFound)
            #expect(reply.headers[.contentType] == "application/problem+json")
            #expect(reply.code == "route_not_found")
            #expect(reply.int("status") == 404)
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withApp { api in
            let reply = try await api.call(.patch, "/v1/provinces")
            #expect(reply.status == .methodNotAllowed)
            #expect(reply.headers[.allow] == "GET")
            #expect(reply.code == "method_not_allowed")
            let withID = try await api.call(.delete, "/v1/producers/12")
            #expect(withID.status == .methodNotAllowed)
            #expect(withID.headers[.allow] == "GET")
        }
    }

    @Test func malformedJSONIs400() async throws {
        try await withApp { api in
            let reply = try await api.post("/v1/producer-applications", "{not json")
            #expect(reply.status == .badRequest)
            #expect(reply.code == "malformed_json")
            let array = try await api.post("/v1/producer-applications", "[1,2]")
            #expect(array.status == .badRequest)
            let empty = try await api.call(.post, "/v1/auth/tokens", headers: [.contentType: "application/json"])
            #expect(empty.status == .badRequest)
        }
    }

    @Test func wrongTypesAndUnknownEnumsAre422NamingTheField() async throws {
        try await withApp { api in
            let wrongType = try await api.post("/v1/auth/tokens", #"{"login": 12, "password": "x"}"#)
            #expect(wrongType.status == .unprocessableContent)
            #expect(wrongType.fields == ["login"])
            let missing = try await api.post("/v1/auth/tokens", #"{"login": "a"}"#)
            #expect(missing.status == .unprocessableContent)
            #expect(missing.fields == ["password"])
            let admin = try await api.token(.admin)
            let badEnum = try await api.post(
                "/v1/accounts", #"{"role":"emperor","login":"x.y.z","password":"password-123"}"#, token: admin)
            #expect(badEnum.status == .unprocessableContent)
            #expect(badEnum.fields == ["role"])
            #expect(badEnum.text.contains("export_officer"))
            let badNull = try await api.post("/v1/auth/tokens", #"{"login": null, "password": "x"}"#)
            #expect(badNull.status == .unprocessableContent)
        }
    }

    @Test func nonJSONContentTypeIs415() async throws {
        try await withApp { api in
            let reply = try await api.call(
                .post, "/v1/auth/tokens", json: "login=a", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(reply.status == .unsupportedMediaType)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await withApp { api in
            let big = #"{"login":""# + String(repeating: "a", count: 70 * 1024) + #"","password":"x"}"#
            let reply = try await api.post("/v1/auth/tokens", big)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.code == "body_too_large")
        }
    }

    @Test func everyResponseCarriesARequestID() async throws {
        try await withApp { api in
            let generated = try await api.get("/healthz")
            #expect((generated.headers[.requestID] ?? "").count >= 8)
            let echoed = try await api.call(.get, "/healthz", headers: [.requestID: "trace-abc-123"])
            #expect(echoed.headers[.requestID] == "trace-abc-123")
            let unsafe = try await api.call(.get, "/v1/nowhere", headers: [.requestID: "bad id\u{7f}<script>"])
            #expect(unsafe.headers[.requestID] != "bad id\u{7f}<script>")
        }
    }

    @Test func healthReadinessMetricsAndContract() async throws {
        try await withApp { api in
            #expect(try await api.get("/healthz").status == .ok)
            let ready = try await api.get("/readyz")
            #expect(ready.status == .ok)
            #expect(ready.string("status") == "ready")
            _ = try await api.get("/v1/provinces")
            let metrics = try await api.get("/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains("bazaarche_http_requests_total"))
            #expect(metrics.text.contains(#"route="/v1/provinces""#))
            #expect(metrics.text.contains("bazaarche_http_request_duration_seconds_bucket"))
            let contract = try await api.get("/openapi.yaml")
            #expect(contract.status == .ok)
            #expect(contract.text.hasPrefix("openapi: 3.1"))
        }
    }

    @Test func readinessFailsWhenMigrationsArePending() async throws {
        try await withApp { api in
            try await api.db.execute("DELETE FROM schema_migrations WHERE version = 2")
            let ready = try await api.get("/readyz")
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.string("status") == "migrations_pending")
        }
    }

    @Test func paginationParametersAreValidated() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            for query in ["limit=0", "limit=201", "limit=abc", "cursor=%%%", "cursor=bm9wZQ"] {
                let reply = try await api.get("/v1/producers?\(query)", token: admin)
                #expect(reply.status == .unprocessableContent, "\(query)")
            }
        }
    }
}

@Suite struct ContractCheckerTests {
    /// The router and the contract list the same operations, both ways: a route the document does
    /// not describe, or a documented operation nothing serves, fails here.
    @Test func contractAndRouterListTheSameOperations() async throws {
        let checker = OpenAPIConformance.shared
        let paths = try #require(checker.document?["paths"] as? [String: Any], "docs/openapi.yaml must load")
        let documented = Set(
            paths.flatMap { path, item in
                ((item as? [String: Any]) ?? [:]).keys
                    .filter { ["get", "post", "put", "patch", "delete"].contains($0) }
                    .map { "\($0.uppercased()) \(path)" }
            })
        var config = AppConfig()
        config.bcryptCost = 4
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", username: "nobody", password: nil, database: nil, tls: .disable))
        let dependencies = AppDependencies(
            client: client, poolHealth: PoolHealth(), migrator: await TestDatabase.shared.migrator,
            registry: TestDatabase.registry,
            openAPIDocument: nil)
        // Path parameters read `{name}` in both; the router spells them `:name` or `{name}`.
        let served = Set(
            registeredRoutes(config: config, dependencies: dependencies, logger: Logger(label: "routes")).map { route in
                let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(
                    separator: "/")
                return "\(route.method) /\(path)"
            })
        #expect(served.count > 80)
        #expect(served.subtracting(documented).sorted() == [], "served but not in docs/openapi.yaml")
        #expect(documented.subtracting(served).sorted() == [], "in docs/openapi.yaml but not served")
    }

    /// The checker itself must be able to fail, or every conformance assertion above is empty.
    @Test func checkerRejectsDrift() {
        let checker = OpenAPIConformance.shared
        let good = #"{"status":"ok"}"#
        #expect(checker.check(method: "GET", path: "/healthz", status: 200, contentType: "application/json", body: good).isEmpty)
        #expect(
            !checker.check(method: "GET", path: "/healthz", status: 200, contentType: "application/json", body: #"{"status":1}"#)
                .isEmpty)
        #expect(!checker.check(method: "GET", path: "/healthz", status: 418, contentType: "application/json", body: good).isEmpty)
        #expect(
            !checker.check(method: "GET", path: "/v1/undocumented", status: 200, contentType: "application/json", body: good)
                .isEmpty)
        let producer = #"{"id":1,"surprise":true}"#
        #expect(
            !checker.check(method: "GET", path: "/v1/producers/1", status: 200, contentType: "application/json", body: producer)
                .isEmpty)
    }
}
