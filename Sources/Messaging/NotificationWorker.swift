import BazaarcheCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The event rows (`EventLog.record`'s source) of orders and certificates by id, from the modules
/// that own them; the sweeps announce those subjects as the API shows them.
public struct NotificationSources: Sendable {
    public var orders: @Sendable ([Int64]) -> SQL
    public var certificates: @Sendable ([Int64]) -> SQL

    public init(orders: @escaping @Sendable ([Int64]) -> SQL, certificates: @escaping @Sendable ([Int64]) -> SQL) {
        self.orders = orders
        self.certificates = certificates
    }
}

/// Sweeps for what is about to lapse (emitting `order.expiring_soon` and `certificate.expiring_soon`
/// once per subject) and sends the SMS of notifications. Every step takes `now`, so tests drive it
/// with a clock of their own. Safe with several instances: the sweeps' marks have primary keys,
/// and SMS are claimed with `FOR UPDATE SKIP LOCKED` and leased while they are sent.
public struct NotificationDispatcher: Sendable {
    let db: Database
    let sms: SMS
    let settings: NotificationSettings
    let sources: NotificationSources

    public init(db: Database, sms: SMS, settings: NotificationSettings, sources: NotificationSources) {
        self.db = db
        self.sms = sms
        self.settings = settings
        self.sources = sources
    }

    public struct Round: Sendable, Equatable {
        public var ordersExpiring = 0
        public var certificatesExpiring = 0
        /// SMS handed to the gateway successfully in this round.
        public var sent = 0
        public var failed = 0
        /// Put off to the end of quiet hours.
        public var waiting = 0
        /// Inbox only: by preference, daily limit, or because the order or invitation was already answered.
        public var inboxOnly = 0

        public init() {}
    }

    /// One round: the sweeps, then every SMS due (in batches).
    @discardableResult
    public func run(now: Date = Date()) async throws -> Round {
        var round = Round()
        round.ordersExpiring = try await sweepExpiringOrders(now: now)
        round.certificatesExpiring = try await sweepExpiringCertificates(now: now)
        while true {
            let (handled, batch) = try await dispatch(now: now, limit: 50)
            round.sent += batch.sent
            round.failed += batch.failed
            round.waiting += batch.waiting
            round.inboxOnly += batch.inboxOnly
            if handled < 50 { break }
        }
        return round
    }

    /// Placed orders within `orderExpiringHours` of their accept-by time: one `order.expiring_soon` each.
    func sweepExpiringOrders(now: Date) async throws -> Int {
        let hours = settings.orderExpiringHours
        let sources = sources
        let logger = db.logger
        return try await db.transaction { connection in
            let ids = try await connection.query(
                """
                INSERT INTO notification_sweeps (event_type, subject_id)
                SELECT 'order.expiring_soon', o.id FROM orders o
                WHERE o.status = 'placed' AND o.expires_at > \(now)::timestamptz
                  AND o.expires_at <= \(now)::timestamptz + \(hours)::int * interval '1 hour'
                ON CONFLICT DO NOTHING RETURNING subject_id
                """, logger: logger
            ).collect().map { try $0.decode(Int64.self) }
            if !ids.isEmpty {
                try await EventLog.record(
                    .orderExpiringSoon, subject: "order", from: sources.orders(ids), on: connection, logger: logger)
            }
            return ids.count
        }
    }

    /// Granted certificates within `certificateExpiringDays` (Tehran days) of expiry: one
    /// `certificate.expiring_soon` each.
    func sweepExpiringCertificates(now: Date) async throws -> Int {
        let days = settings.certificateExpiringDays
        let sources = sources
        let logger = db.logger
        return try await db.transaction { connection in
            let ids = try await connection.query(
                """
                INSERT INTO notification_sweeps (event_type, subject_id)
                SELECT 'certificate.expiring_soon', c.id FROM certificates c
                WHERE c.status = 'granted'
                  AND c.expires_on >= (\(now)::timestamptz AT TIME ZONE 'Asia/Tehran')::date
                  AND c.expires_on <= (\(now)::timestamptz AT TIME ZONE 'Asia/Tehran')::date + \(days)::int
                ON CONFLICT DO NOTHING RETURNING subject_id
                """, logger: logger
            ).collect().map { try $0.decode(Int64.self) }
            if !ids.isEmpty {
                try await EventLog.record(
                    .certificateExpiringSoon, subject: "certificate", from: sources.certificates(ids), on: connection,
                    logger: logger)
            }
            return ids.count
        }
    }

    struct Due {
        var id: Int64
        var producer: Int64
        var kind: NotificationKind
        var eventType: String
        var subjectID: Int64
        var data: String
        var status: String
        var attempts: Int
        var messageID: Int64?
        var messageStatus: String?
        var messageBody: String?
        var mobile: String
        /// The order's or invitation's status now (nil for other subjects).
        var subjectStatus: String?
    }

    /// Claims up to `limit` due SMS, decides each (send, wait for quiet hours to end, or inbox only),
    /// records the ones to send, commits, then sends them. Returns the number claimed.
    func dispatch(now: Date, limit: Int) async throws -> (Int, Round) {
        let settings = settings
        let sms = sms
        let logger = db.logger
        let (claimed, outgoing, decided) = try await db.transaction { connection -> (Int, [(Int64, Int, SMS.Pending)], Round) in
            let rows = try await connection.query(
                """
                SELECT n.id, n.producer_id, n.kind, n.event_type, n.subject_id, n.data::text, n.sms_status, n.sms_attempts,
                  n.sms_message_id, m.status, m.body, p.mobile,
                  CASE n.subject_type WHEN 'order' THEN (SELECT o.status FROM orders o WHERE o.id = n.subject_id)
                    WHEN 'invitation' THEN (SELECT i.status FROM invitations i WHERE i.id = n.subject_id) END
                FROM notifications n JOIN producers p ON p.id = n.producer_id
                LEFT JOIN sms_messages m ON m.id = n.sms_message_id
                WHERE n.sms_status IN ('pending', 'sending') AND n.sms_due_at <= \(now)
                ORDER BY n.sms_due_at, n.id LIMIT \(limit)
                FOR UPDATE OF n SKIP LOCKED
                """, logger: logger
            ).collect()
            var due: [Due] = []
            for row in rows {
                let c = try row.decode(
                    (Int64, Int64, String, String, Int64, String, String, Int, Int64?, String?, String?, String, String?).self)
                due.append(
                    Due(
                        id: c.0, producer: c.1, kind: NotificationKind(rawValue: c.2) ?? .newOrder, eventType: c.3,
                        subjectID: c.4, data: c.5, status: c.6, attempts: c.7, messageID: c.8, messageStatus: c.9,
                        messageBody: c.10, mobile: c.11, subjectStatus: c.12))
            }
            var outgoing: [(Int64, Int, SMS.Pending)] = []
            var round = Round()
            var preferences: [Int64: NotificationPreferences] = [:]
            let lease = now.addingTimeInterval(settings.smsLease.seconds)
            for n in due {
                let prefs: NotificationPreferences
                if let known = preferences[n.producer] {
                    prefs = known
                } else {
                    prefs = try await Notifications.preferences(
                        producer: n.producer, on: connection, settings: settings, logger: logger)
                    preferences[n.producer] = prefs
                }
                // Quiet hours hold first attempts and retries alike; the inbox already has it.
                if let quiet = prefs.quietHours, quiet.contains(now) {
                    try await connection.query(
                        "UPDATE notifications SET sms_due_at = \(quiet.end(after: now)) WHERE id = \(n.id)", logger: logger)
                    round.waiting += 1
                    continue
                }
                if n.status == "sending", let messageID = n.messageID {
                    // A retry, or an instance that died mid-send: resend the recorded message unless it went.
                    if n.messageStatus == "sent" {
                        try await connection.query(
                            "UPDATE notifications SET sms_status = 'sent' WHERE id = \(n.id)", logger: logger)
                        continue
                    }
                    try await connection.query(
                        "UPDATE notifications SET sms_attempts = sms_attempts + 1, sms_due_at = \(lease) WHERE id = \(n.id)",
                        logger: logger)
                    outgoing.append(
                        (n.id, n.attempts + 1, SMS.Pending(id: messageID, mobile: n.mobile, text: n.messageBody ?? "")))
                    continue
                }
                let answered =
                    switch n.kind {
                    case .newOrder, .orderExpiring: n.subjectStatus != nil && n.subjectStatus != "placed"
                    case .newInvitation: n.subjectStatus != nil && n.subjectStatus != "pending"
                    default: false
                    }
                if prefs.smsOff.contains(n.kind) || answered {
                    try await connection.query(
                        "UPDATE notifications SET sms_status = 'off' WHERE id = \(n.id)", logger: logger)
                    round.inboxOnly += 1
                    continue
                }
                // The daily limit, counted atomically: no row back means the limit is reached.
                let day = SolarHijri.tehranDate(of: now).description
                let counted = try await connection.query(
                    """
                    INSERT INTO notification_sms_days AS d (producer_id, day, sent) VALUES (\(n.producer), \(day)::date, 1)
                    ON CONFLICT (producer_id, day) DO UPDATE SET sent = d.sent + 1 WHERE d.sent < \(settings.smsDailyLimit)
                    RETURNING d.sent
                    """, logger: logger
                ).collect()
                if counted.isEmpty || settings.smsDailyLimit <= 0 {
                    try await connection.query(
                        "UPDATE notifications SET sms_status = 'capped' WHERE id = \(n.id)", logger: logger)
                    round.inboxOnly += 1
                    continue
                }
                let message = NotificationText.render(
                    kind: n.kind, eventType: n.eventType, subjectID: n.subjectID, data: NotificationText.object(n.data))
                let pending = try await sms.record(
                    on: connection, mobile: n.mobile, purpose: .producerNotification, text: message.sms)
                try await connection.query(
                    """
                    UPDATE notifications SET sms_status = 'sending', sms_message_id = \(pending.id), sms_attempts = 1,
                      sms_due_at = \(lease)
                    WHERE id = \(n.id)
                    """, logger: logger)
                outgoing.append((n.id, 1, pending))
            }
            return (due.count, outgoing, round)
        }
        var round = decided
        for (id, attempt, message) in outgoing {
            if await sms.send(message) {
                try await db.execute("UPDATE notifications SET sms_status = 'sent', sms_last_error = NULL WHERE id = \(id)")
                round.sent += 1
                continue
            }
            round.failed += 1
            let error =
                try await db.rows("SELECT last_error FROM sms_messages WHERE id = \(message.id)").first?
                .decode(String?.self) ?? nil
            if attempt > settings.smsRetryDelays.count {
                try await db.execute(
                    "UPDATE notifications SET sms_status = 'failed', sms_last_error = \(error) WHERE id = \(id)")
            } else {
                let next = now.addingTimeInterval(settings.smsRetryDelays[attempt - 1].seconds)
                try await db.execute(
                    "UPDATE notifications SET sms_due_at = \(next), sms_last_error = \(error) WHERE id = \(id)")
            }
        }
        return (claimed, round)
    }
}

/// Runs `NotificationDispatcher` every `interval` on each instance.
public struct NotificationWorker: Service {
    let dispatcher: NotificationDispatcher
    let interval: Duration

    public init(dispatcher: NotificationDispatcher, every interval: Duration) {
        self.dispatcher = dispatcher
        self.interval = interval
    }

    public func run() async throws {
        let logger = dispatcher.db.logger
        await Periodic.run(every: interval, logger: logger, failure: "notification round failed") {
            let round = try await dispatcher.run()
            if round != NotificationDispatcher.Round() {
                logger.info(
                    "notifications",
                    metadata: [
                        "orders_expiring": "\(round.ordersExpiring)",
                        "certificates_expiring": "\(round.certificatesExpiring)",
                        "sms_sent": "\(round.sent)", "sms_failed": "\(round.failed)", "sms_waiting": "\(round.waiting)",
                    ])
            }
            return false
        }
    }
}
