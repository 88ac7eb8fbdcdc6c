import BazaarcheCore
import Foundation

/// `GET /v1/events`: the caller's events, oldest first, with a cursor, as Stripe's event list.
/// An integration that was offline pages from its last cursor and misses nothing still kept.
public struct EventFeed: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// An event (alias `e`) as the feed and webhook deliveries show it.
    public static let json = """
        json_build_object('id', 'evt_' || e.id, 'type', e.type, 'created_at', api_time(e.occurred_at),
          'subject', json_build_object('type', e.subject_type, 'id', e.subject_id), 'data', e.data)
        """

    func list(request: Request, principal: Principal) async throws -> String {
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        // `type=order.placed,order.accepted` or `type=order.*`.
        var exact: [String] = []
        var prefixes: [String] = []
        for item in (q.get("type") ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !item.isEmpty {
            if item.hasSuffix(".*") {
                let prefix = String(item.dropLast(1))
                guard EventType.allCases.contains(where: { $0.rawValue.hasPrefix(prefix) }) else {
                    throw APIError.validation(field: "type", "\(item) matches no event type")
                }
                prefixes.append(prefix)
            } else {
                guard EventType(rawValue: item) != nil else {
                    throw APIError.validation(field: "type", "\(item) is not an event type (see the API reference)")
                }
                exact.append(item)
            }
        }
        let filtered = !(exact.isEmpty && prefixes.isEmpty)
        let rule = principal.access(.event)
        let query: SQL = """
            SELECT e.id, \(unescaped: Self.json)::text FROM events e
            WHERE \(rule.condition(alias: "e")) AND e.id > \(page.after ?? 0)
              AND (NOT \(filtered) OR e.type = ANY(\(exact)) OR e.type LIKE ANY(\(prefixes.map { $0 + "%" })))
            ORDER BY e.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/events") { request, context in
            let principal = try context.require(.admin, .supervisor, .producer, .partner)
            return JSONResponse.raw(try await list(request: request, principal: principal))
        }
    }
}
