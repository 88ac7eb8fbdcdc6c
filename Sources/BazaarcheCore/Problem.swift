import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// One field-level validation failure, as reported in `errors[]` of a problem document.
public struct FieldError: Sendable, Equatable {
    public var field: String
    public var message: String
    /// The English original, only when `message` is a Persian fallback (see `Localization`).
    public var english: String?
    public init(_ field: String, _ message: String, english: String? = nil) {
        self.field = field
        self.message = message
        self.english = english
    }
}

/// Every error the API returns: an RFC 9457 problem document with a stable `code`.
///
/// Handlers throw these; anything else that escapes a handler is turned into a 500 by
/// `ProblemMiddleware`, so a 500 always means a bug, never bad input.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var title: String
    public var detail: String?
    public var errors: [FieldError]
    /// Extra top-level members, e.g. `current_status` on an invalid transition.
    public var extra: [String: String]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, code: String, title: String, detail: String? = nil,
        errors: [FieldError] = [], extra: [String: String] = [:], headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
        self.extra = extra
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(
            status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body(instance: request.uri.path))))
    }

    /// The problem document as JSON text (written by `JSONResponse.encode`).
    public func body(instance: String) -> String {
        (try? JSONResponse.encode(Document(problem: self, instance: instance))) ?? "{}"
    }

    /// RFC 9457 members, then `code`, `errors` and the extra members; `detail` and `errors` only
    /// when there are any.
    struct Document: Encodable {
        let problem: APIError
        let instance: String

        struct Field: Encodable {
            let field: String
            let message: String
            let messageEn: String?
            enum CodingKeys: String, CodingKey {
                case field
                case message
                case messageEn = "message_en"
            }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(field, forKey: .field)
                try c.encode(message, forKey: .message)
                try c.encodeIfPresent(messageEn, forKey: .messageEn)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: JSONKey.self)
            let slug = problem.code.replacingOccurrences(of: "_", with: "-")
            try c.encode("https://bazaarche.ir/problems/\(slug)", forKey: JSONKey("type"))
            try c.encode(problem.title, forKey: JSONKey("title"))
            try c.encode(Int(problem.status.code), forKey: JSONKey("status"))
            try c.encode(problem.code, forKey: JSONKey("code"))
            try c.encode(instance, forKey: JSONKey("instance"))
            try c.encodeIfPresent(problem.detail, forKey: JSONKey("detail"))
            if !problem.errors.isEmpty {
                try c.encode(
                    problem.errors.map { Field(field: $0.field, message: $0.message, messageEn: $0.english) },
                    forKey: JSONKey("errors"))
            }
            for (key, value) in problem.extra { try c.encode(value, forKey: JSONKey(key)) }
        }
    }
}

extension APIError {
    public static func validation(_ errors: [FieldError], detail: String? = nil) -> APIError {
        APIError(
            .unprocessableContent, code: "validation_failed", title: "The request has invalid fields",
            detail: detail ?? errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), errors: errors)
    }
    public static func validation(field: String, _ message: String) -> APIError {
        .validation([FieldError(field, message)])
    }
    public static func badRequest(code: String = "bad_request", _ detail: String, field: String? = nil) -> APIError {
        APIError(
            .badRequest, code: code, title: "The request is malformed", detail: detail,
            errors: field.map { [FieldError($0, detail)] } ?? [])
    }
    public static let unauthenticated = APIError(
        .unauthorized, code: "unauthenticated", title: "Authentication required",
        detail: "Send a valid bearer token in the Authorization header.",
        headers: [.wwwAuthenticate: "Bearer realm=\"bazaarche\""])
    public static func forbidden(_ detail: String) -> APIError {
        APIError(.forbidden, code: "forbidden", title: "Not allowed for this account", detail: detail)
    }
    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", title: "Not found", detail: "\(what) was not found.")
    }
    public static func conflict(code: String, _ detail: String, field: String? = nil, extra: [String: String] = [:])
        -> APIError
    {
        APIError(
            .conflict, code: code, title: "Conflict with the current state", detail: detail,
            errors: field.map { [FieldError($0, detail)] } ?? [], extra: extra)
    }
    public static func invalidTransition(entity: String, from current: String, to target: String) -> APIError {
        APIError(
            .conflict, code: "invalid_transition", title: "Status transition not allowed",
            detail: "A \(entity) in status \"\(current)\" cannot move to \"\(target)\".",
            extra: ["current_status": current])
    }
    public static let unavailable = APIError(
        .serviceUnavailable, code: "database_unavailable", title: "Service temporarily unavailable",
        detail: "The database cannot be reached; retry shortly.", headers: [.retryAfter: "2"])
}
