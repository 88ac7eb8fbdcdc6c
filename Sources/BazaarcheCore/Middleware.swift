import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Synchronization

/// Every (method, path template) the service serves; used to answer 405 with an Allow header
/// instead of 404 when the path exists under another method.
public final class RouteTable: Sendable {
    private let routes = Mutex<[(method: HTTPRequest.Method, segments: [String])]>([])

    public init() {}

    /// Filled once the routes are registered (middleware has to exist before the routes).
    public func set(_ routes: [(HTTPRequest.Method, String)]) {
        self.routes.withLock { $0 = routes.map { ($0.0, $0.1.split(separator: "/").map(String.init)) } }
    }

    public func allowedMethods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/").map(String.init)
        let routes = self.routes.withLock { $0 }
        return routes.filter { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { $0.first == "{" || $0.first == ":" || $0 == $1 }
        }.map(\.method)
    }
}

/// Router wrapper that records each route in the `RouteTable` as it is registered.
public struct Routes {
    public let router: Router<AppRequestContext>
    public private(set) var registered: [(HTTPRequest.Method, String)] = []

    public init(router: Router<AppRequestContext>) { self.router = router }

    public mutating func on(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response
    ) {
        registered.append((method, path))
        router.on(RouterPath(path), method: method, use: handler)
    }
    public mutating func get(_ path: String, _ h: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        on(.get, path, h)
    }
    public mutating func post(_ path: String, _ h: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        on(.post, path, h)
    }
    public mutating func put(_ path: String, _ h: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        on(.put, path, h)
    }
    public mutating func patch(_ path: String, _ h: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        on(.patch, path, h)
    }
    public mutating func delete(_ path: String, _ h: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        on(.delete, path, h)
    }

    /// `POST path` creating a resource, for callers of `roles`: the body decoded as `Body`,
    /// `create` returns the new id and JSON; 201 with Location `path/<id>`.
    public mutating func create<Body: Decodable & Sendable>(
        _ path: String, for roles: Role..., decoding: Body.Type,
        _ create: @escaping @Sendable (Body, Principal) async throws -> (Int64, String)
    ) {
        post(path) { request, context in
            let principal = try context.require(roles)
            let body = try await JSONBody.decode(Body.self, from: request, context: context)
            let (id, json) = try await create(body, principal)
            return JSONResponse.raw(json, status: .created, headers: [.location: "\(path)/\(id)"])
        }
    }

    /// `POST path` adding a resource to the one its `{id}` names (`what`; 404 when not a number),
    /// for callers of `roles`: the body decoded as `Body`, `create` given the id, the body and
    /// the caller returns the new id and JSON; 201 with that JSON.
    public mutating func create<Body: Decodable & Sendable>(
        _ path: String, under what: String, for roles: Role..., decoding: Body.Type,
        _ create: @escaping @Sendable (Int64, Body, Principal) async throws -> (Int64, String)
    ) {
        post(path) { request, context in
            let principal = try context.require(roles)
            let id = try context.id(what: what)
            let body = try await JSONBody.decode(Body.self, from: request, context: context)
            return JSONResponse.raw(try await create(id, body, principal).1, status: .created)
        }
    }

    /// A collection's two reads for any signed-in caller (`list` and `one` check roles and scope):
    /// `GET path`, a page, and `GET path/{id}` (an id that is not a number is a 404 naming `what`).
    public mutating func reads(
        _ path: String, what: String, list: @escaping @Sendable (Request, Principal) async throws -> String,
        one: @escaping @Sendable (Int64, Principal) async throws -> String
    ) {
        get(path) { request, context in
            JSONResponse.raw(try await list(request, try context.requirePrincipal()))
        }
        get("\(path)/{id}") { _, context in
            JSONResponse.raw(try await one(try context.id(what: what), try context.requirePrincipal()))
        }
    }
}

/// Turns every failure into problem+json: our `APIError`s as they are, Hummingbird's HTTP errors
/// (404, 413, …) re-worded, and anything unexpected into a logged 500 that leaks no internals.
/// Problems are worded in the language `Accept-Language` prefers (English or Persian; see
/// `Localization`), with `Content-Language` and `Vary: Accept-Language`.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let routes: RouteTable

    public init(routes: RouteTable) { self.routes = routes }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let language = Language.negotiate(request.headers[.acceptLanguage])
        return try await Localization.finish(
            try await problems(request, context: context, language: language, next: next), language: language)
    }

    func problems(
        _ request: Request, context: AppRequestContext, language: Language,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            // PostgreSQL text cannot hold NUL: refuse it in the URL before any handler reads it.
            if request.uri.description.contains("%00") {
                throw APIError.badRequest(code: "invalid_character", "The URL contains a NUL character (%00).")
            }
            return try await next(request, context)
        } catch let error as APIError {
            return try error.localizedResponse(language, from: request, context: context)
        } catch let error as HTTPError {
            return try translate(error, request: request).localizedResponse(language, from: request, context: context)
        } catch {
            if let mapped = error as? any HTTPResponseError, !(error is HTTPError) {
                return try mapped.response(from: request, context: context)
            }
            // The pool's own errors (its module is underscored, so matched by name): while
            // PostgreSQL is unreachable it stops trying for a moment ("circuit breaker tripped")
            // or times out waiting for a connection. Either way: 503, retry shortly.
            if String(reflecting: type(of: error)).contains("ConnectionPoolError") {
                context.logger.warning("database unavailable", metadata: ["error": "\(error)"])
                return try APIError.unavailable.localizedResponse(language, from: request, context: context)
            }
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return try APIError(
                .internalServerError, code: "internal_error", title: "Internal server error",
                detail: "An unexpected error occurred; it has been logged with the request id."
            ).localizedResponse(language, from: request, context: context)
        }
    }

    func translate(_ error: HTTPError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            let allowed = routes.allowedMethods(for: request.uri.path)
            if !allowed.isEmpty {
                let allow = allowed.map(\.rawValue).joined(separator: ", ")
                return APIError(
                    .methodNotAllowed, code: "method_not_allowed", title: "Method not allowed",
                    detail: "\(request.method.rawValue) is not supported here; use \(allow).",
                    headers: [.allow: allow])
            }
            return APIError(
                .notFound, code: "route_not_found", title: "Not found",
                detail: "No route matches \(request.method.rawValue) \(request.uri.path).")
        case .contentTooLarge:
            return APIError(.contentTooLarge, code: "body_too_large", title: "Request body too large", detail: error.body)
        default:
            return APIError(
                error.status, code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                title: error.status.reasonPhrase, detail: error.body)
        }
    }
}

/// Request id, access log line and Prometheus metrics for every request.
public struct ObservabilityMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let maxBodyBytes: Int

    public init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.maxBodyBytes = maxBodyBytes
        // Accept a caller's id when it is sane, so one id follows a request through a load balancer.
        let requestID: String
        if let given = request.headers[.requestID], given.count <= 128,
            given.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") })
        {
            requestID = given
        } else {
            requestID = context.id
        }
        context.logger[metadataKey: "request_id"] = .string(requestID)
        let start = ContinuousClock.now
        var response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        response.headers[.requestID] = requestID
        response.headers[.xContentTypeOptions] = "nosniff"
        // The API serves JSON (and one self-contained page that sets its own policy): nothing may
        // frame it, load from it cross-origin as a document, or leak its URLs in a Referer.
        response.headers[.contentSecurityPolicy] =
            response.headers[.contentSecurityPolicy] ?? "default-src 'none'; frame-ancestors 'none'"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.crossOriginResourcePolicy] = "same-origin"
        if request.headers[.xForwardedProto] == "https" {
            response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains"
        }
        response.headers[.cacheControl] = response.headers[.cacheControl] ?? "no-store"
        let route = context.endpointPath ?? "unmatched"
        let status = String(response.status.code)
        let metrics = RequestMetrics.shared.for(route: route, method: request.method.rawValue, status: status)
        metrics.count.increment()
        metrics.duration.recordNanoseconds(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .string(status), "duration_ms": .string(String(format: "%.2f", ms)),
            ])
        return response
    }
}

extension HTTPField.Name {
    public static let requestID = Self("X-Request-Id")!
    public static let xContentTypeOptions = Self("X-Content-Type-Options")!
    public static let idempotencyKey = Self("Idempotency-Key")!
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let crossOriginResourcePolicy = Self("Cross-Origin-Resource-Policy")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
}

/// The request counter and timer per (route, method, status), created once: looking them up in
/// the metrics factory on every request (a lock and a label-keyed map inside) was measurable.
final class RequestMetrics: Sendable {
    static let shared = RequestMetrics()
    struct Key: Hashable { var route: String, method: String, status: String }
    let cache = Mutex<[Key: (count: Counter, duration: Timer)]>([:])

    func `for`(route: String, method: String, status: String) -> (count: Counter, duration: Timer) {
        let key = Key(route: route, method: method, status: status)
        return cache.withLock { cache in
            if let found = cache[key] { return found }
            let dimensions = [("route", route), ("method", method), ("status", status)]
            let made = (
                Counter(label: "bazaarche_http_requests_total", dimensions: dimensions),
                Timer(label: "bazaarche_http_request_duration_seconds", dimensions: dimensions)
            )
            cache[key] = made
            return made
        }
    }
}
