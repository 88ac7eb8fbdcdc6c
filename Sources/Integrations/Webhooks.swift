import BazaarcheCore
import Foundation

struct EndpointRequest: Decodable, Sendable {
    var url: String
    var eventTypes: [String]
    var description: String?
}

struct EndpointPatch: Decodable, Sendable {
    var url: String?
    var eventTypes: [String]?
    var description: String?
    var enabled: Bool?
}

/// `/v1/webhook-endpoints`: where a partner company (or an admin, for an integration that sees
/// everything) wants events pushed. Every partner account of a company manages its endpoints
/// (decision 15x); admins manage all of them.
public struct WebhookEndpoints: Sendable {
    let db: Database
    let settings: WebhookSettings

    public init(db: Database, settings: WebhookSettings) {
        self.db = db
        self.settings = settings
    }

    /// An endpoint (alias `w`); the secret never appears here, only in the reply that creates it.
    public static let json = """
        json_build_object('id', w.id, 'partner_id', w.partner_id, 'url', w.url, 'event_types', w.event_types,
          'description', w.description, 'enabled', w.enabled, 'disabled_reason', w.disabled_reason,
          'previous_secret_expires_at', api_time(CASE WHEN w.previous_secret_expires_at > now()
            THEN w.previous_secret_expires_at END),
          'created_at', api_time(w.created_at), 'updated_at', api_time(w.updated_at))
        """

    /// A delivery (alias `d`, with its endpoint's event `e`).
    static let deliveryJSON = """
        json_build_object('id', d.id, 'endpoint_id', d.endpoint_id, 'event_id', 'evt_' || d.event_id, 'event_type', e.type,
          'subject', json_build_object('type', d.subject_type, 'id', d.subject_id), 'status', d.status,
          'attempts', d.attempts, 'last_status_code', d.last_status_code, 'last_latency_ms', d.last_latency_ms,
          'last_error', d.last_error, 'last_attempt_at', api_time(d.last_attempt_at),
          'next_attempt_at', api_time(CASE WHEN d.status = 'pending' THEN d.next_attempt_at END),
          'created_at', api_time(d.created_at), 'completed_at', api_time(d.completed_at))
        """

    /// Which endpoints the caller manages: an admin all, a partner account its company's.
    static func scope(_ principal: Principal) throws -> SQL {
        switch principal.role {
        case .admin: return "TRUE"
        case .partner:
            guard let company = principal.partnerID else {
                throw APIError.forbidden("This account belongs to no partner company.")
            }
            // Endpoints receive the whole company's events and hold its signing secret: owners only.
            try principal.requireCompanyOwner()
            return "w.partner_id = \(company)"
        default: throw APIError.forbidden("Webhook endpoints are for partner companies and admins.")
        }
    }

    /// `*`, an event type, or a family such as `order.*`; sorted, without repeats.
    static func eventTypes(_ raw: [String], _ v: inout Validator) -> [String] {
        if raw.isEmpty { v.add("event_types", "must name at least one event type (or \"*\")") }
        if raw.count > 100 { v.add("event_types", "must have at most 100 items") }
        for (i, item) in raw.enumerated() {
            if item == "*" || EventType(rawValue: item) != nil { continue }
            if item.hasSuffix(".*"), !item.dropLast(2).contains("."),
                EventType.allCases.contains(where: { $0.rawValue.hasPrefix(item.dropLast(1)) })
            {
                continue
            }
            v.add("event_types[\(i)]", "\(item.prefix(100)) is not an event type, a family such as order.*, or *")
        }
        return Array(Set(raw)).sorted()
    }

    func checkURL(_ raw: String, _ v: inout Validator) async -> String {
        let url = v.text(raw, "url", max: 2000)
        if !url.isEmpty, let problem = await WebhookAddress.problem(url, allowPrivate: settings.allowPrivate) {
            v.add("url", problem)
        }
        return url
    }

    func create(_ body: EndpointRequest, by principal: Principal) async throws -> (Int64, String) {
        let partner: Int64? = principal.role == .partner ? principal.partnerID : nil
        _ = try Self.scope(principal)
        var v = Validator()
        let url = await checkURL(body.url, &v)
        let types = Self.eventTypes(body.eventTypes, &v)
        let description = v.optionalText(body.description, "description", max: 500)
        try v.throwIfInvalid()
        let secret = WebhookSignature.newSecret()
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO webhook_endpoints AS w (partner_id, created_by, url, event_types, description, secret)
                VALUES (\(partner), \(principal.accountID), \(url), \(types), \(description), \(secret))
                RETURNING w.id, (\(unescaped: Self.json)::jsonb || jsonb_build_object('secret', w.secret))::text
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "webhook_endpoint", entityID: id,
                provinceCode: nil, action: "webhook_endpoint.created", from: nil, to: "enabled")
            return (id, json)
        }
    }

    func one(_ id: Int64, _ principal: Principal) async throws -> String {
        let query: SQL =
            "SELECT \(unescaped: Self.json)::text FROM webhook_endpoints w WHERE w.id = \(id) AND \(try Self.scope(principal))"
        return try await db.json(query.query, notFound: "Webhook endpoint \(id)")
    }

    func update(_ id: Int64, _ patch: EndpointPatch, by principal: Principal) async throws -> String {
        let scope = try Self.scope(principal)
        var v = Validator()
        let url = patch.url == nil ? nil : await checkURL(patch.url!, &v)
        let types = patch.eventTypes.map { Self.eventTypes($0, &v) }
        let description = v.optionalText(patch.description, "description", max: 500)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let lock: SQL = "SELECT w.enabled FROM webhook_endpoints w WHERE w.id = \(id) AND \(scope) FOR UPDATE"
            let current = try await connection.query(lock.query, logger: db.logger).collect()
            guard let wasEnabled = try current.first?.decode(Bool.self) else { throw APIError.notFound("Webhook endpoint \(id)") }
            let enabled = patch.enabled ?? wasEnabled
            // Turning an endpoint back on starts a new failure run.
            let rows = try await connection.query(
                """
                UPDATE webhook_endpoints w SET url = coalesce(\(url), w.url), event_types = coalesce(\(types), w.event_types),
                  description = CASE WHEN \(patch.description != nil) THEN \(description) ELSE w.description END,
                  enabled = \(enabled),
                  disabled_reason = CASE WHEN \(enabled) THEN NULL
                    WHEN \(wasEnabled) THEN 'Disabled by an account of the owner.' ELSE w.disabled_reason END,
                  consecutive_failures = CASE WHEN \(enabled && !wasEnabled) THEN 0 ELSE w.consecutive_failures END,
                  failing_since = CASE WHEN \(enabled && !wasEnabled) THEN NULL ELSE w.failing_since END,
                  updated_at = now()
                WHERE w.id = \(id)
                RETURNING \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()
            if enabled != wasEnabled {
                try await Audit.record(
                    on: connection, logger: db.logger, actor: principal, entityType: "webhook_endpoint", entityID: id,
                    provinceCode: nil, action: enabled ? "webhook_endpoint.enabled" : "webhook_endpoint.disabled",
                    from: wasEnabled ? "enabled" : "disabled", to: enabled ? "enabled" : "disabled")
            }
            return try rows[0].decode(String.self)
        }
    }

    func delete(_ id: Int64, by principal: Principal) async throws {
        let scope = try Self.scope(principal)
        try await db.transaction { connection in
            let delete: SQL = "DELETE FROM webhook_endpoints w WHERE w.id = \(id) AND \(scope) RETURNING w.id"
            let rows = try await connection.query(delete.query, logger: db.logger).collect()
            guard !rows.isEmpty else { throw APIError.notFound("Webhook endpoint \(id)") }
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "webhook_endpoint", entityID: id,
                provinceCode: nil, action: "webhook_endpoint.deleted", from: "enabled", to: nil)
        }
    }

    /// A new secret; the old one keeps signing (as a second `v1=`) for 24 hours.
    func rotate(_ id: Int64, by principal: Principal) async throws -> String {
        let scope = try Self.scope(principal)
        let secret = WebhookSignature.newSecret()
        return try await db.transaction { connection in
            let rotate: SQL = """
                UPDATE webhook_endpoints w SET previous_secret = w.secret, previous_secret_expires_at = now() + interval '24 hours',
                  secret = \(secret), updated_at = now()
                WHERE w.id = \(id) AND \(scope)
                RETURNING (\(unescaped: Self.json)::jsonb || jsonb_build_object('secret', w.secret))::text
                """
            let rows = try await connection.query(rotate.query, logger: db.logger).collect()
            guard let json = try rows.first?.decode(String.self) else { throw APIError.notFound("Webhook endpoint \(id)") }
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "webhook_endpoint", entityID: id,
                provinceCode: nil, action: "webhook_endpoint.secret_rotated", from: nil, to: nil)
            return json
        }
    }

    func deliveries(_ id: Int64, request: Request, principal: Principal) async throws -> String {
        _ = try await one(id, principal)
        let page = try Page(request: request)
        let status = request.uri.queryParameters.get("status")
        if let status, !["pending", "succeeded", "failed"].contains(status) {
            throw APIError.validation(field: "status", "must be one of: pending, succeeded, failed")
        }
        let query: SQL = """
            SELECT d.id, \(unescaped: Self.deliveryJSON)::text
            FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
            WHERE d.endpoint_id = \(id) AND d.id > \(page.after ?? 0)
              AND (\(status)::text IS NULL OR d.status = \(status))
            ORDER BY d.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    /// One delivery with every attempt made.
    func delivery(_ id: Int64, _ deliveryID: Int64, principal: Principal) async throws -> String {
        _ = try await one(id, principal)
        let query: SQL = """
            SELECT (\(unescaped: Self.deliveryJSON)::jsonb || jsonb_build_object('attempt_log', coalesce(
              (SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'attempted_at', api_time(a.attempted_at),
                 'status_code', a.status_code, 'latency_ms', a.latency_ms, 'error', a.error) ORDER BY a.attempt)
               FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb)))::text
            FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
            WHERE d.endpoint_id = \(id) AND d.id = \(deliveryID)
            """
        return try await db.json(query.query, notFound: "Delivery \(deliveryID)")
    }

    /// Sends a delivery again (whatever its status) as soon as a worker is free, with a fresh 3-day
    /// retry window; an attempt in flight finishes first.
    func redeliver(_ id: Int64, _ deliveryID: Int64, by principal: Principal) async throws -> String {
        let lookup: SQL = "SELECT w.enabled FROM webhook_endpoints w WHERE w.id = \(id) AND \(try Self.scope(principal))"
        let enabled = try await db.rows(lookup.query)
        guard let isEnabled = try enabled.first?.decode(Bool.self) else { throw APIError.notFound("Webhook endpoint \(id)") }
        guard isEnabled else {
            throw APIError.conflict(code: "endpoint_disabled", "The endpoint is disabled; enable it first (PATCH enabled: true).")
        }
        let retryFor = settings.retryFor
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(), completed_at = NULL,
                  give_up_at = now() + make_interval(secs => \(retryFor))
                FROM events e
                WHERE d.endpoint_id = \(id) AND d.id = \(deliveryID) AND e.id = d.event_id
                RETURNING \(unescaped: Self.deliveryJSON)::text
                """, logger: db.logger
            ).collect()
            guard let json = try rows.first?.decode(String.self) else { throw APIError.notFound("Delivery \(deliveryID)") }
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "webhook_delivery", entityID: deliveryID,
                provinceCode: nil, action: "webhook_delivery.redelivery_requested", from: nil, to: "pending")
            return json
        }
    }

    public func addRoutes(to routes: inout Routes) {
        let base = "/v1/webhook-endpoints"
        routes.create(base, for: .admin, .partner, decoding: EndpointRequest.self) { try await create($0, by: $1) }
        routes.get(base) { request, context in
            let principal = try context.require(.admin, .partner)
            let page = try Page(request: request)
            let query: SQL = """
                SELECT w.id, \(unescaped: Self.json)::text FROM webhook_endpoints w
                WHERE \(try Self.scope(principal)) AND w.id > \(page.after ?? 0) ORDER BY w.id LIMIT \(page.limit + 1)
                """
            return JSONResponse.raw(try page.body(rows: try await db.rows(query.query)))
        }
        routes.get("\(base)/{id}") { _, context in
            let principal = try context.require(.admin, .partner)
            return JSONResponse.raw(try await one(try context.id(what: "Webhook endpoint"), principal))
        }
        routes.patch("\(base)/{id}") { request, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Webhook endpoint")
            let patch = try await JSONBody.decode(EndpointPatch.self, from: request, context: context)
            return JSONResponse.raw(try await update(id, patch, by: principal))
        }
        routes.delete("\(base)/{id}") { _, context in
            let principal = try context.require(.admin, .partner)
            try await delete(try context.id(what: "Webhook endpoint"), by: principal)
            return JSONResponse.noContent
        }
        routes.post("\(base)/{id}/secret-rotations") { _, context in
            let principal = try context.require(.admin, .partner)
            return JSONResponse.raw(
                try await rotate(try context.id(what: "Webhook endpoint"), by: principal), status: .created)
        }
        routes.get("\(base)/{id}/deliveries") { request, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Webhook endpoint")
            return JSONResponse.raw(try await deliveries(id, request: request, principal: principal))
        }
        routes.get("\(base)/{id}/deliveries/{delivery_id}") { _, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Webhook endpoint")
            let deliveryID = try context.id("delivery_id", what: "Delivery")
            return JSONResponse.raw(try await delivery(id, deliveryID, principal: principal))
        }
        routes.post("\(base)/{id}/deliveries/{delivery_id}/redeliveries") { _, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Webhook endpoint")
            let deliveryID = try context.id("delivery_id", what: "Delivery")
            return JSONResponse.raw(try await redeliver(id, deliveryID, by: principal), status: .accepted)
        }
    }
}
