import AsyncHTTPClient
import BazaarcheCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Where SMS leave the service. Two implementations: the development sink (nothing leaves; the
/// log and `sms_messages` are the delivery) and an HTTP gateway.
public protocol SMSGateway: Sendable {
    /// Hands one message to the gateway; returns the gateway's id for it, if it gives one.
    func deliver(to mobile: String, text: String) async throws -> String?
    /// Whether `sms_messages` may keep the full text of messages that carry one-time codes: only
    /// when that table is the delivery (development), never when a real gateway delivers them.
    var keepsCodesInOutbox: Bool { get }
}

/// Development sink: logs each message and keeps it in `sms_messages`, so `scripts/run` and the
/// tests work offline and a developer can read the codes.
public struct DevelopmentSMSSink: SMSGateway {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }
    public var keepsCodesInOutbox: Bool { true }

    public func deliver(to mobile: String, text: String) async throws -> String? {
        logger.notice("sms (development sink, not sent)", metadata: ["to": .string(mobile), "text": .string(text)])
        return nil
    }
}

public struct SMSGatewayError: Error, CustomStringConvertible {
    public var description: String
}

/// A generic HTTP SMS gateway: `POST <url>` with `Authorization: Bearer <key>` and a JSON body
/// `{"to": "09…", "text": "…"}`; any 2xx is accepted, and an `id` member in a JSON answer is kept.
/// A provider with another API sits behind a small adapter of its own (docs/configuration.md).
public struct HTTPSMSGateway: SMSGateway {
    let url: String
    let key: String
    let client: HTTPClient
    let timeout: TimeAmount

    public init(url: String, key: String, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(10)) {
        self.url = url
        self.key = key
        self.client = client
        self.timeout = timeout
    }

    public var keepsCodesInOutbox: Bool { false }

    struct Payload: Encodable {
        var to: String
        var text: String
    }

    public func deliver(to mobile: String, text: String) async throws -> String? {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(Payload(to: mobile, text: text))))
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw SMSGatewayError(description: "gateway answered \(response.status.code)")
        }
        let answer = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return (answer?["id"]).map { "\($0)" }
    }
}

/// Text messages to producers. Each is recorded in `sms_messages` inside the caller's transaction
/// (so a message exists only for a change that committed), then handed to the gateway after commit.
public struct SMS: Sendable {
    public let db: Database
    public let gateway: any SMSGateway

    public init(db: Database, gateway: any SMSGateway) {
        self.db = db
        self.gateway = gateway
    }

    public enum Purpose: String, Sendable {
        case applicationCode = "application_code"
        case applicationNotice = "application_notice"
        case accountNotice = "account_notice"
        /// A producer notification (Notifications.swift): never a code, nothing secret.
        case producerNotification = "producer_notification"
    }

    public struct Pending: Sendable {
        public var id: Int64
        public var mobile: String
        public var text: String
    }

    /// Records a message on `connection`. `redacted` is what the table keeps when the gateway is a
    /// real one (a one-time code must not sit readable in the database).
    public func record(
        on connection: PostgresConnection, mobile: String, purpose: Purpose, text: String, redacted: String? = nil
    ) async throws -> Pending {
        let stored = gateway.keepsCodesInOutbox ? text : (redacted ?? text)
        let id = try await connection.query(
            "INSERT INTO sms_messages (mobile, purpose, body) VALUES (\(mobile), \(purpose.rawValue), \(stored)) RETURNING id",
            logger: db.logger
        ).collect()[0].decode(Int64.self)
        return Pending(id: id, mobile: mobile, text: text)
    }

    /// Delivers a recorded message and notes the outcome; false when the gateway failed.
    @discardableResult
    public func send(_ message: Pending) async -> Bool {
        do {
            let reference = try await gateway.deliver(to: message.mobile, text: message.text)
            try await db.execute(
                "UPDATE sms_messages SET status = 'sent', sent_at = now(), gateway_id = \(reference) WHERE id = \(message.id)")
            return true
        } catch {
            db.logger.warning("sms delivery failed", metadata: ["sms_id": "\(message.id)", "error": "\(error)"])
            try? await db.execute(
                """
                UPDATE sms_messages SET status = 'failed', last_error = \(String(describing: error).prefix(500).description)
                WHERE id = \(message.id)
                """
            )
            return false
        }
    }
}
