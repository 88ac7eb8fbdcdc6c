import Foundation
import Hummingbird
import NIOCore

/// The body of every `POST …/transitions` that moves a status and may say why.
public struct StatusChange<Status: Decodable & Sendable>: Decodable, Sendable {
    public var to: Status
    public var reason: String?
}

/// JSON in: strict decoding with problem documents that name the offending field.
public enum JSONBody {
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    public static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: AppRequestContext)
        async throws -> T
    {
        try decode(type, from: try await body(of: request, context: context))
    }

    /// For bodies that are optional as a whole (e.g. a reason): nil when the request has none.
    public static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, context: AppRequestContext)
        async throws -> T?
    {
        let data = try await body(of: request, context: context)
        return data.isEmpty ? nil : try decode(type, from: data)
    }

    static func body(of request: Request, context: AppRequestContext) async throws -> Data {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(
                .contentTooLarge, code: "body_too_large", title: "Request body too large",
                detail: "The body exceeds \(context.maxUploadSize) bytes.")
        }
        if let type = request.headers[.contentType],
            !type.lowercased().hasPrefix("application/json") && !type.lowercased().hasPrefix("application/merge-patch+json")
        {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type", title: "Unsupported media type",
                detail: "Send the body as application/json.")
        }
        return Data(buffer.readableBytesView)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if data.range(of: Data("\\u0000".utf8)) != nil {
            throw APIError.validation(field: "body", "contains a NUL character (\\u0000), which text fields cannot hold")
        }
        if data.isEmpty { throw APIError.badRequest(code: "malformed_json", "The request body is empty; send a JSON object.") }
        do {
            return try decoder().decode(T.self, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // Foundation reports a number that does not fit its field (10.5 or 1e30 for an integer) as
            // invalid JSON with no path; tell that apart from real syntax errors and name the field.
            guard let parsed = try? JSONSerialization.jsonObject(with: data) else {
                throw APIError.badRequest(code: "malformed_json", "The request body is not valid JSON.")
            }
            guard parsed is [String: Any] else {
                throw APIError.badRequest(code: "malformed_json", "The request body must be a JSON object.")
            }
            let fields = nonIntegralNumbers(parsed, path: "")
            throw APIError.validation(
                fields.isEmpty
                    ? [FieldError("body", "has a value of the wrong type")]
                    : fields.map { FieldError($0, "must be a whole number within range") })
        } catch let error as DecodingError {
            throw problem(for: error)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest(code: "malformed_json", "The request body is not valid JSON.")
        }
    }

    static func nonIntegralNumbers(_ value: Any, path: String) -> [String] {
        switch value {
        case let object as [String: Any]:
            return object.keys.sorted().flatMap { nonIntegralNumbers(object[$0]!, path: path.isEmpty ? $0 : "\(path).\($0)") }
        case let array as [Any]:
            return array.enumerated().flatMap { nonIntegralNumbers($0.element, path: "\(path)[\($0.offset)]") }
        case let number as NSNumber where String(describing: type(of: number)) != "__NSCFBoolean":
            let d = number.doubleValue
            return d.rounded() != d || abs(d) > 9.2e18 ? [path] : []
        default:
            return []
        }
    }

    static func path(_ codingPath: [any CodingKey], appending key: (any CodingKey)? = nil) -> String {
        var parts: [String] = []
        for key in codingPath + (key.map { [$0] } ?? []) {
            if let index = key.intValue {
                parts.append("[\(index)]")
            } else {
                let name = key.stringValue.snakeCased
                parts.append(parts.isEmpty ? name : "." + name)
            }
        }
        return parts.joined()
    }

    static func problem(for error: DecodingError) -> APIError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return APIError.badRequest(code: "malformed_json", "The request body is not valid JSON.")
        case .dataCorrupted(let context):
            return .validation(field: path(context.codingPath), context.debugDescription)
        case .keyNotFound(let key, let context):
            return .validation(field: path(context.codingPath, appending: key), "is required")
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty {
                return APIError.badRequest(code: "malformed_json", "The request body must be a JSON object.")
            }
            return .validation(field: path(context.codingPath), "must be \(describe(type))")
        case .valueNotFound(let type, let context):
            return .validation(field: path(context.codingPath), "must be \(describe(type)), not null")
        @unknown default:
            return APIError.badRequest(code: "malformed_json", "The request body could not be read.")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "a boolean"
        case is [Any].Type: return "an array"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a valid value"
        }
    }
}

extension String {
    var snakeCased: String {
        var out = ""
        for ch in self {
            if ch.isUppercase {
                out += "_" + ch.lowercased()
            } else {
                out.append(ch)
            }
        }
        return out
    }
}

/// A closed set of values decoded from JSON; unknown values are a 422 naming the allowed ones.
public protocol APIEnum: RawRepresentable<String>, CaseIterable, Sendable, Codable {}

extension APIEnum {
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "must be one of: " + Self.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        self = value
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Parses a query parameter, 422 on an unknown value.
    public static func query(_ value: String?, field: String) throws -> Self? {
        guard let value else { return nil }
        guard let parsed = Self(rawValue: value) else {
            throw APIError.validation(
                field: field, "must be one of: " + allCases.map(\.rawValue).joined(separator: ", "))
        }
        return parsed
    }
}

extension Role: APIEnum {}

/// JSON out, one policy (docs/architecture.md, "JSON policy"):
/// 1. an entity's JSON is built by PostgreSQL (a `json_build_object` constant next to its queries,
///    timestamps through `api_time`) and passed through as bytes (`raw`);
/// 2. a document composed in Swift (problems, figures, bulk results, match results) is an
///    `Encodable` value written by `encode`, the one encoder configuration;
/// 3. JSON PostgreSQL built inside a document composed in Swift (a page of entities) is spliced
///    only by `page`, since an encoder cannot embed JSON text without quoting it.
public enum JSONResponse {
    public static func raw(_ json: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    public static let noContent = Response(status: .noContent)

    /// The one encoder configuration: keys sorted (stable bytes: ETags, stored replies, diffs),
    /// snake_case from Swift's camelCase names (a key that is already snake_case stays as it is),
    /// `/` not escaped. An `Optional` member that must appear as `null` is encoded with `encode`,
    /// not the synthesized `encodeIfPresent` (see `JSONKey`).
    public static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `{"items":[…],"next_cursor":…}` around entity JSON texts built by PostgreSQL: the one
    /// place such JSON is spliced into a document. No encoder on the list and search paths.
    public static func page(items: some Sequence<String>, nextCursor: String?) -> String {
        var out = "{\"items\":["
        var first = true
        for item in items {
            if !first { out += "," }
            out += item
            first = false
        }
        out += "],\"next_cursor\":"
        out += nextCursor.map(string) ?? "null"
        return out + "}"
    }

    /// A string as a JSON string. Cursors (base64) need no escaping and are quoted as they are;
    /// anything else goes through the encoder.
    static func string(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        return (try? encode(text)) ?? "null"
    }
}

/// A key chosen at run time (a problem's extra members, a report's columns per dimension).
public struct JSONKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ name: String) { stringValue = name }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

extension AppRequestContext {
    /// An integer path parameter; a non-number is a 404 (no such resource), not a 500.
    public func id(_ name: String = "id", what: String) throws -> Int64 {
        guard let text = parameters.get(name), let value = Int64(text), value > 0 else {
            throw APIError.notFound(what)
        }
        return value
    }
}

/// Cursor pagination: `limit` (1…200, default 50) and an opaque `cursor` that encodes the last key seen.
public struct Page: Sendable {
    public static let maxLimit = 200
    public var limit: Int
    public var after: Int64?

    public init(request: Request) throws {
        let query = request.uri.queryParameters
        var v = Validator()
        limit = 50
        if let text = query.get("limit") {
            if let value = Int(text), (1...Page.maxLimit).contains(value) {
                limit = value
            } else {
                v.add("limit", "must be an integer from 1 to \(Page.maxLimit)")
            }
        }
        after = nil
        if let cursor = query.get("cursor") {
            if let decoded = Page.decode(cursor) { after = decoded } else { v.add("cursor", "is not a valid cursor") }
        }
        try v.throwIfInvalid()
    }

    public static func encode(_ key: Int64) -> String {
        Data("k\(key)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) -> Int64? {
        var text = cursor
        while text.count % 4 != 0 { text += "=" }
        guard text.count <= 64, let data = Data(base64Encoded: text), let plain = String(data: data, encoding: .utf8),
            plain.hasPrefix("k"), let key = Int64(plain.dropFirst()), key > 0
        else { return nil }
        return key
    }

    /// Reads this page of `select` (rows of key and JSON text, no WHERE clause of its own): the rows
    /// meeting every condition given (nil ones are left out, so no clause is `$n IS NULL OR …`)
    /// whose `key` column is past the cursor, in key order.
    public func read(_ select: SQL, key: String, where conditions: [SQL?], from db: Database) async throws -> String {
        let past: SQL = "\(unescaped: key) > \(after ?? 0)"
        let filter = (conditions.compactMap { $0 } + [past]).joined(separator: " AND ")
        let query: SQL = "\(select) WHERE \(filter) ORDER BY \(unescaped: key) LIMIT \(literal: limit + 1)"
        return try body(rows: try await db.rows(query.query))
    }

    /// Rows of (key bigint, json text) fetched with `LIMIT limit + 1` as a page.
    public func body(rows: [PostgresRow]) throws -> String {
        body(items: try rows.map { try $0.decode((Int64, String).self) }.map { (key: $0.0, json: $0.1) })
    }

    /// Wraps rows fetched with `LIMIT limit + 1` (each a JSON object text plus its key) into {items, next_cursor}.
    public func body(items: [(key: Int64, json: String)]) -> String {
        let shown = items.prefix(limit)
        let next = items.count > limit ? shown.last.map { Page.encode($0.key) } : nil
        return JSONResponse.page(items: shown.lazy.map(\.json), nextCursor: next)
    }
}

extension Request {
    /// A query parameter parsed as an integer, 422 if present and not one.
    public func intQuery(_ name: String) throws -> Int? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text) else { throw APIError.validation(field: name, "must be an integer") }
        return value
    }
}
