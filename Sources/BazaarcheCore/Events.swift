import Logging
import PostgresNIO

/// What happened, for whoever else cares: every event is written in the same transaction as the
/// change it reports (a transactional outbox), so a committed change always has its event and a
/// rolled-back one never does. The feed (`GET /v1/events`) and webhook deliveries read it.
public enum EventType: String, APIEnum {
    case orderPlaced = "order.placed"
    case orderAccepted = "order.accepted"
    case orderRejected = "order.rejected"
    case orderPacked = "order.packed"
    case orderShipped = "order.shipped"
    case orderDelivered = "order.delivered"
    case orderDisputed = "order.disputed"
    case orderDisputeUpheld = "order.dispute_upheld"
    case orderCancelled = "order.cancelled"
    case orderExpired = "order.expired"
    /// A placed order nearing its accept-by time, still not accepted (once per order; docs/integrations.md).
    case orderExpiringSoon = "order.expiring_soon"
    case invitationCreated = "invitation.created"
    case invitationAccepted = "invitation.accepted"
    case invitationDeclined = "invitation.declined"
    case invitationWithdrawn = "invitation.withdrawn"
    /// A producer quoted on a demand, or revised its quote (docs/matching.md, "Quotes").
    case quoteReceived = "quote.received"
    case quoteAccepted = "quote.accepted"
    case quoteDeclined = "quote.declined"
    case quoteWithdrawn = "quote.withdrawn"
    /// An open quote nearing its valid_until (once per quote, by the quote sweep).
    case quoteExpiring = "quote.expiring"
    case quoteExpired = "quote.expired"
    case certificateGranted = "certificate.granted"
    case certificateRejected = "certificate.rejected"
    case certificateRevoked = "certificate.revoked"
    case certificateExpiringSoon = "certificate.expiring_soon"
    case packagingApproved = "packaging.approved"
    case producerScreened = "producer.screened"
    case producerVerified = "producer.verified"
    case producerSuspended = "producer.suspended"
    case exportShipmentCleared = "export_shipment.cleared"
    case exportShipmentRejected = "export_shipment.rejected"
    /// A webhook endpoint turned off after a long run of failed deliveries (docs/integrations.md).
    case webhookEndpointDisabled = "webhook_endpoint.disabled"

    /// The event a status move of `subject` reports, if any.
    public static func move(_ subject: String, to status: String) -> EventType? {
        EventType(rawValue: "\(subject).\(status)")
    }
}

public enum EventLog {
    /// Records `type` for each row `source` yields. `source` is a SELECT returning, in order:
    /// the subject's id (bigint), the subject as the API shows it (json or jsonb), and who may see
    /// the event — the province (text), the producer (bigint) and the partner company (bigint),
    /// each NULL when it does not apply. One statement, whatever the number of rows.
    public static func record(
        _ type: EventType, subject: String, from source: SQL, on connection: PostgresConnection, logger: Logger
    ) async throws {
        #if BAZAARCHE_BENCH_NO_EVENTS
            // Only `scripts/bench-outbox` builds with this flag: the same service without its outbox,
            // to measure what the events cost order placement. Never a production build.
            return
        #endif
        let insert: SQL = """
            INSERT INTO events (type, subject_type, subject_id, data, province_code, producer_id, partner_id)
            SELECT \(type.rawValue), \(subject), s.subject_id, s.data::jsonb, s.province_code, s.producer_id, s.partner_id
            FROM (\(source)) AS s(subject_id, data, province_code, producer_id, partner_id)
            ORDER BY s.subject_id
            """
        try await connection.query(insert.query, logger: logger)
    }
}
