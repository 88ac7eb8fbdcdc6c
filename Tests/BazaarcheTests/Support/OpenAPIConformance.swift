import Foundation
import Yams

/// Checks every response the suite receives against docs/openapi.yaml: the operation exists, the
/// status is documented, the content type matches, and the body satisfies the schema (the subset
/// of JSON Schema the document uses).
final class OpenAPIConformance: Sendable {
    static let shared = OpenAPIConformance()

    nonisolated(unsafe) let document: [String: Any]?
    let templates: [(template: String, segments: [String])]

    init() {
        let url = repositoryRoot.appendingPathComponent("docs/openapi.yaml")
        if let text = try? String(contentsOf: url, encoding: .utf8), let loaded = try? Yams.load(yaml: text) as? [String: Any] {
            document = loaded
        } else {
            document = nil
        }
        let paths = (document?["paths"] as? [String: Any]) ?? [:]
        templates = paths.keys.map { ($0, $0.split(separator: "/").map(String.init)) }
            .sorted { $0.segments.filter { $0.hasPrefix("{") }.count < $1.segments.filter { $0.hasPrefix("{") }.count }
    }

    func operation(method: String, path: String) -> [String: Any]? {
        let segments = path.split(separator: "/").map(String.init)
        for (template, parts) in templates where parts.count == segments.count {
            if zip(parts, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) {
                let item = (document?["paths"] as? [String: Any])?[template] as? [String: Any]
                if let op = item?[method.lowercased()] as? [String: Any] { return op }
            }
        }
        return nil
    }

    /// Problems found with one exchange; empty when it conforms. Unknown routes (404/405 from the router)
    /// are not operations and are only checked to be problem+json.
    func check(method: String, path: String, status: Int, contentType: String?, body: String) -> [String] {
        guard let document else { return [] }  // contractIsPresent() fails instead
        let base = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let op = operation(method: method, path: path) else {
            if status == 404 || status == 405 {
                return base == "application/problem+json" ? [] : ["\(status) for an unknown route is not problem+json"]
            }
            return ["\(method) \(path) is not in the OpenAPI document"]
        }
        let responses = op["responses"] as? [String: Any] ?? [:]
        guard let response = (responses[String(status)] ?? responses["default"]) as? [String: Any] else {
            return ["\(method) \(path): status \(status) is not documented"]
        }
        let resolvedResponse = resolve(response, in: document)
        guard let content = resolvedResponse["content"] as? [String: Any] else {
            return body.isEmpty ? [] : ["\(method) \(path) \(status): body present but no content documented"]
        }
        guard let media = content[base] as? [String: Any] else {
            return ["\(method) \(path) \(status): content type \(base) not documented (has \(content.keys.sorted()))"]
        }
        guard base.hasSuffix("json"), let schema = media["schema"] as? [String: Any] else { return [] }
        guard let value = try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) else {
            return ["\(method) \(path) \(status): body is not JSON"]
        }
        var problems: [String] = []
        validate(value, schema, at: "$", problems: &problems)
        return problems.map { "\(method) \(path) \(status): \($0)" }
    }

    func resolve(_ node: [String: Any], in document: [String: Any]) -> [String: Any] {
        guard let ref = node["$ref"] as? String, ref.hasPrefix("#/") else { return node }
        var current: Any? = document
        for part in ref.dropFirst(2).split(separator: "/") { current = (current as? [String: Any])?[String(part)] }
        return resolve(current as? [String: Any] ?? [:], in: document)
    }

    static func kind(of value: Any) -> String {
        if value is NSNull { return "null" }
        if value is String { return "string" }
        if String(describing: type(of: value)) == "__NSCFBoolean" || type(of: value) == Bool.self { return "boolean" }
        if let number = value as? NSNumber {
            let code = String(cString: number.objCType)
            return code == "d" || code == "f"
                ? (number.doubleValue.rounded() == number.doubleValue ? "integer-valued number" : "number") : "integer"
        }
        if value is [Any] { return "array" }
        if value is [String: Any] { return "object" }
        return "unknown"
    }

    func validate(_ value: Any, _ rawSchema: [String: Any], at path: String, problems: inout [String]) {
        let schema = resolve(rawSchema, in: document ?? [:])
        let kind = Self.kind(of: value)
        if let types = schema["type"] {
            let allowed = (types as? [String]) ?? [(types as? String) ?? ""]
            let ok = allowed.contains { t in
                t == kind || (t == "number" && (kind == "integer" || kind == "integer-valued number"))
                    || (t == "integer" && kind == "integer-valued number")
            }
            if !ok {
                problems.append("\(path): expected \(allowed), got \(kind)")
                return
            }
        }
        if let options = schema["enum"] as? [Any] {
            let matches = options.contains { "\($0)" == "\(value)" }
            if !matches && kind != "null" { problems.append("\(path): \(value) not in enum \(options)") }
        }
        switch value {
        case let object as [String: Any]:
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): missing required \(key)")
            }
            for (key, child) in object {
                if let childSchema = properties[key] as? [String: Any] {
                    validate(child, childSchema, at: "\(path).\(key)", problems: &problems)
                } else if (schema["additionalProperties"] as? Bool) == false {
                    problems.append("\(path): unexpected property \(key)")
                }
            }
        case let array as [Any]:
            if let items = schema["items"] as? [String: Any] {
                for (index, element) in array.enumerated() {
                    validate(element, items, at: "\(path)[\(index)]", problems: &problems)
                }
            }
        case let string as String:
            if let format = schema["format"] as? String {
                if format == "date-time" && !string.contains("T") && !string.contains(" ") {
                    problems.append("\(path): \(string) is not a date-time")
                }
                if format == "date" && string.count != 10 { problems.append("\(path): \(string) is not a date") }
            }
            if let pattern = schema["pattern"] as? String, string.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): \(string) does not match \(pattern)")
            }
        default:
            break
        }
    }
}
