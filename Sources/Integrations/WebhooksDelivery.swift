import AsyncHTTPClient
import BazaarcheCore
import Crypto
import Foundation
import NIOCore
import ServiceLifecycle

/// How webhooks behave; the defaults are the documented ones (docs/integrations.md).
public struct WebhookSettings: Sendable {
    /// Development only: http to loopback, and hosts on private addresses (a local receiver).
    public var allowPrivate = false
    /// How long a claimed delivery is reserved for its instance; longer than `timeout`.
    public var lease: Duration = .seconds(30)
    /// One attempt's limit, connection to last byte.
    public var timeout: Duration = .seconds(10)
    /// Retries stop this long after the event (or a manual redelivery).
    public var retryFor: TimeInterval = 3 * 86400
    /// An endpoint none of whose attempts has succeeded for this long is disabled.
    public var disableAfter: TimeInterval = 3 * 86400
    /// Deliveries claimed (and sent concurrently) at a time by one instance.
    public var batch = 10

    public init(allowPrivate: Bool = false) { self.allowPrivate = allowPrivate }

    /// Full jitter over an exponential ceiling: 30 s, 1 min, 2 min, … capped at 6 h, so retries
    /// from many deliveries spread out instead of arriving together.
    public static func backoff(afterAttempt attempt: Int) -> TimeInterval {
        let ceiling = min(6 * 3600, 30 * pow(2, Double(min(attempt, 20) - 1)))
        return max(1, Double.random(in: 0...ceiling))
    }
}

/// `Bazaarche-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; while a
/// rotated-out secret is still valid, a second `v1=` signed with it follows.
public enum WebhookSignature {
    public static func header(body: String, secrets: [String], timestamp: Int) -> String {
        (["t=\(timestamp)"] + secrets.map { "v1=" + sign(body: body, secret: $0, timestamp: timestamp) })
            .joined(separator: ",")
    }

    public static func sign(body: String, secret: String, timestamp: Int) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// A new secret: `whsec_` and 32 random bytes as hex. The whole text is the HMAC key.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return "whsec_" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Sends due deliveries. Each instance claims a batch with `FOR UPDATE SKIP LOCKED` and leases it
/// (committed before any request goes out), so two instances never make the same attempt and a
/// crash only delays the attempt until the lease runs out (at least once). A delivery waits while
/// an earlier one of the same endpoint and subject is pending (in order per subject).
public struct WebhookDeliverer: Sendable {
    let db: Database
    let settings: WebhookSettings
    let client: HTTPClient

    /// Redirects are not followed: a public endpoint could otherwise bounce a delivery inward.
    static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(10))
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(db: Database, settings: WebhookSettings) {
        self.db = db
        self.settings = settings
        self.client = Self.sharedClient
    }

    struct Claimed: Sendable {
        var delivery: Int64
        var attempt: Int
        var eventID: Int64
        var eventType: String
        var endpoint: Int64
        var url: String
        var secrets: [String]
        var body: String
    }

    struct Outcome: Sendable {
        var statusCode: Int?
        var latencyMs: Int
        var error: String?
        var succeeded: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
    }

    /// Claims the deliveries due at `now` and makes one attempt at each; returns how many.
    /// `now` is a parameter so that tests can step through backoff without waiting.
    @discardableResult
    public func deliverDue(now: Date = Date()) async throws -> Int {
        let leaseSeconds = Double(settings.lease.components.seconds)
        let claim: SQL = """
            WITH due AS (
              SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled
              WHERE d.status = 'pending' AND d.next_attempt_at <= \(now)
                AND (d.locked_until IS NULL OR d.locked_until <= \(now))
                AND NOT EXISTS (
                  SELECT 1 FROM webhook_deliveries p
                  WHERE p.endpoint_id = d.endpoint_id AND p.subject_type = d.subject_type AND p.subject_id = d.subject_id
                    AND p.status = 'pending' AND p.event_id < d.event_id)
              ORDER BY d.next_attempt_at, d.id
              LIMIT \(settings.batch)
              FOR UPDATE OF d SKIP LOCKED
            )
            UPDATE webhook_deliveries d
            SET locked_until = \(now)::timestamptz + make_interval(secs => \(leaseSeconds)), attempts = d.attempts + 1
            FROM due, webhook_endpoints w, events e
            WHERE d.id = due.id AND w.id = d.endpoint_id AND e.id = d.event_id
            RETURNING d.id, d.attempts, e.id, e.type, w.id, w.url, w.secret,
              CASE WHEN w.previous_secret_expires_at > \(now) THEN w.previous_secret END,
              \(unescaped: EventFeed.json)::text
            """
        let rows = try await db.rows(claim.query)
        let claimed = try rows.map { row in
            let (delivery, attempt, eventID, type, endpoint, url, secret, previous, body) = try row.decode(
                (Int64, Int, Int64, String, Int64, String, String, String?, String).self)
            return Claimed(
                delivery: delivery, attempt: attempt, eventID: eventID, eventType: type, endpoint: endpoint, url: url,
                secrets: [secret] + (previous.map { [$0] } ?? []), body: body)
        }
        await withTaskGroup(of: Void.self) { group in
            for item in claimed {
                group.addTask {
                    let outcome = await attempt(item, now: now)
                    do {
                        try await record(item, outcome, now: now)
                    } catch {
                        // The lease runs out and the delivery is tried again: at least once.
                        db.logger.warning(
                            "webhook attempt not recorded", metadata: ["delivery": "\(item.delivery)", "error": "\(error)"])
                    }
                }
            }
        }
        return claimed.count
    }

    func attempt(_ item: Claimed, now: Date) async -> Outcome {
        let started = ContinuousClock.now
        func elapsed() -> Int {
            let d = ContinuousClock.now - started
            return Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
        }
        // DNS may have changed since registration: check again right before sending.
        if let problem = await WebhookAddress.problem(item.url, allowPrivate: settings.allowPrivate) {
            return Outcome(statusCode: nil, latencyMs: elapsed(), error: "url \(problem)")
        }
        var request = HTTPClientRequest(url: item.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Bazaarche-Webhooks/1")
        request.headers.add(name: "Bazaarche-Event-Id", value: "evt_\(item.eventID)")
        request.headers.add(name: "Bazaarche-Event-Type", value: item.eventType)
        request.headers.add(name: "Bazaarche-Delivery-Attempt", value: "\(item.attempt)")
        // Signed with the sending time (the receiver compares it with its clock), not the test clock.
        request.headers.add(
            name: "Bazaarche-Signature",
            value: WebhookSignature.header(body: item.body, secrets: item.secrets, timestamp: Int(Date().timeIntervalSince1970)))
        request.body = .bytes(ByteBuffer(string: item.body))
        let prepared = request
        let timeout = settings.timeout
        do {
            let status = try await withDeadline(timeout) { [client] in
                let response = try await client.execute(prepared, timeout: .seconds(timeout.components.seconds))
                // Read (and drop) at most 64 KiB of the answer; only its status matters.
                var seen = 0
                for try await chunk in response.body {
                    seen += chunk.readableBytes
                    if seen > 64 * 1024 { break }
                }
                return Int(response.status.code)
            }
            return Outcome(
                statusCode: status, latencyMs: elapsed(), error: (200..<300).contains(status) ? nil : "answered \(status)")
        } catch {
            let text = error is CancellationError ? "timed out after \(timeout)" : String(describing: error)
            return Outcome(statusCode: nil, latencyMs: elapsed(), error: String(text.prefix(500)))
        }
    }

    /// Writes the attempt and the delivery's next state; only if the lease is still this attempt's.
    func record(_ item: Claimed, _ outcome: Outcome, now: Date) async throws {
        let settings = settings
        try await db.transaction { connection in
            let logger = db.logger
            let inserted = try await connection.query(
                """
                INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)
                SELECT d.id, \(item.attempt), \(now), \(outcome.statusCode), \(outcome.latencyMs), \(outcome.error)
                FROM webhook_deliveries d WHERE d.id = \(item.delivery) AND d.attempts = \(item.attempt) AND d.status = 'pending'
                ON CONFLICT DO NOTHING RETURNING id
                """, logger: logger
            ).collect()
            guard !inserted.isEmpty else { return }
            if outcome.succeeded {
                try await connection.query(
                    """
                    UPDATE webhook_deliveries SET status = 'succeeded', completed_at = \(now), locked_until = NULL,
                      last_status_code = \(outcome.statusCode), last_latency_ms = \(outcome.latencyMs), last_error = NULL,
                      last_attempt_at = \(now)
                    WHERE id = \(item.delivery)
                    """, logger: logger)
                try await connection.query(
                    """
                    UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
                    WHERE id = \(item.endpoint) AND consecutive_failures > 0
                    """, logger: logger)
                return
            }
            let next = now.addingTimeInterval(WebhookSettings.backoff(afterAttempt: item.attempt))
            try await connection.query(
                """
                UPDATE webhook_deliveries SET locked_until = NULL, last_status_code = \(outcome.statusCode),
                  last_latency_ms = \(outcome.latencyMs), last_error = \(outcome.error), last_attempt_at = \(now),
                  status = CASE WHEN \(next) > give_up_at THEN 'failed' ELSE 'pending' END,
                  completed_at = CASE WHEN \(next) > give_up_at THEN \(now) END,
                  next_attempt_at = \(next)
                WHERE id = \(item.delivery)
                """, logger: logger)
            let cutoff = now.addingTimeInterval(-settings.disableAfter)
            let run = try await connection.query(
                """
                UPDATE webhook_endpoints w SET consecutive_failures = w.consecutive_failures + 1,
                  failing_since = coalesce(w.failing_since, \(now))
                WHERE w.id = \(item.endpoint)
                RETURNING w.enabled AND w.failing_since <= \(cutoff)
                """, logger: logger
            ).collect()
            guard try run.first?.decode(Bool.self) == true else { return }
            let disabled = try await connection.query(
                """
                UPDATE webhook_endpoints w SET enabled = false, updated_at = \(now),
                  disabled_reason = 'No delivery has succeeded since ' || api_time(w.failing_since) || ' ('
                    || w.consecutive_failures || ' failed attempts in a row).'
                WHERE w.id = \(item.endpoint) AND w.enabled
                RETURNING w.id
                """, logger: logger
            ).collect()
            if !disabled.isEmpty {
                // The owner learns of it in their event feed (and any other endpoint that wants it).
                try await Audit.record(
                    on: connection, logger: logger, actor: nil, actorRole: "system", entityType: "webhook_endpoint",
                    entityID: item.endpoint, provinceCode: nil, action: "webhook_endpoint.disabled", from: "enabled",
                    to: "disabled", reason: "delivery failures")
                try await EventLog.record(
                    .webhookEndpointDisabled, subject: "webhook_endpoint",
                    from: """
                        SELECT w.id, \(unescaped: WebhookEndpoints.json), NULL::text, NULL::bigint, w.partner_id
                        FROM webhook_endpoints w WHERE w.id = \(item.endpoint)
                        """, on: connection, logger: logger)
            }
        }
    }
}

/// Runs `WebhookDeliverer` in each instance: at once again while batches come back full, else
/// after `every`.
public struct WebhookWorker: Service {
    let deliverer: WebhookDeliverer
    let interval: Duration

    public init(deliverer: WebhookDeliverer, every interval: Duration) {
        self.deliverer = deliverer
        self.interval = interval
    }

    public func run() async throws {
        // A full batch means more are due: the next round starts at once.
        await Periodic.run(every: interval, logger: deliverer.db.logger, failure: "webhook delivery round failed") {
            try await deliverer.deliverDue() >= deliverer.settings.batch
        }
    }
}
