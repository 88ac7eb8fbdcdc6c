import BazaarcheCore
import Foundation
import Logging
import PostgresNIO

/// What a producer is told about. Each kind groups the events that make it (sql/0022_notifications.sql)
/// and is what the SMS preferences switch on and off.
public enum NotificationKind: String, APIEnum {
    case newOrder = "new_order"
    case newInvitation = "new_invitation"
    case orderExpiring = "order_expiring"
    case certificateDecision = "certificate_decision"
    case certificateExpiring = "certificate_expiring"
    /// The demand's company accepted or declined the producer's quote.
    case quoteAnswered = "quote_answered"
    case quoteExpiring = "quote_expiring"
}

/// Settings of producer notifications (docs/configuration.md).
public struct NotificationSettings: Sendable {
    /// SMS per producer per Tehran day; past it, notifications go to the inbox only.
    public var smsDailyLimit: Int = 5
    /// A placed order this many hours before its accept-by time, still not accepted, is announced.
    public var orderExpiringHours: Int = 12
    /// A granted certificate this many days before its expiry date is announced.
    public var certificateExpiringDays: Int = 30
    /// Waits before each retry of a failed SMS; after the last one the SMS is given up ('failed').
    public var smsRetryDelays: [Duration] = [.seconds(60), .seconds(300), .seconds(1800), .seconds(7200)]
    /// How long a recorded SMS is leased to the instance sending it before another may retry it.
    public var smsLease: Duration = .seconds(120)
    /// Quiet hours (minutes after midnight, Tehran) for a producer who has not chosen any.
    public var defaultQuietHours: QuietHours? = QuietHours(start: 22 * 60, end: 8 * 60)

    public init() {}
}

/// SMS wait outside [start, end) in Tehran; start > end spans midnight (22:00–08:00).
public struct QuietHours: Sendable, Equatable {
    public var start: Int
    public var end: Int
    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    static var tehranCalendar: Calendar { SolarHijri.gregorianInTehran }

    static func minuteOfDay(_ instant: Date) -> Int {
        let c = tehranCalendar.dateComponents([.hour, .minute], from: instant)
        return c.hour! * 60 + c.minute!
    }

    public func contains(_ instant: Date) -> Bool {
        let m = Self.minuteOfDay(instant)
        return start < end ? (start <= m && m < end) : (m >= start || m < end)
    }

    /// The next moment after `instant` at which quiet hours end.
    public func end(after instant: Date) -> Date {
        let calendar = Self.tehranCalendar
        var day = calendar.startOfDay(for: instant)
        while true {
            let candidate = calendar.date(bySettingHour: end / 60, minute: end % 60, second: 0, of: day)!
            if candidate > instant { return candidate }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
    }

    static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        return h * 60 + m
    }

    static func format(_ minute: Int) -> String { String(format: "%02d:%02d", minute / 60, minute % 60) }
}

/// A producer's notification preferences (defaults when none are stored).
public struct NotificationPreferences: Sendable, Equatable {
    public var smsOff: Set<NotificationKind>
    public var quietHours: QuietHours?

    func json(settings: NotificationSettings) throws -> String {
        struct Body: Encodable {
            var sms: [String: Bool]
            var quietHours: [String: String]?
            var timeZone = "Asia/Tehran"
            var smsDailyLimit: Int
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: JSONKey.self)
                try c.encode(sms, forKey: JSONKey("sms"))
                try c.encode(quietHours, forKey: JSONKey("quiet_hours"))
                try c.encode(timeZone, forKey: JSONKey("time_zone"))
                try c.encode(smsDailyLimit, forKey: JSONKey("sms_daily_limit"))
            }
        }
        let sms = Dictionary(uniqueKeysWithValues: NotificationKind.allCases.map { ($0.rawValue, !smsOff.contains($0)) })
        let quiet = quietHours.map { ["start": QuietHours.format($0.start), "end": QuietHours.format($0.end)] }
        return try JSONResponse.encode(Body(sms: sms, quietHours: quiet, smsDailyLimit: settings.smsDailyLimit))
    }
}

/// `PUT /v1/me/notification-preferences`: members left out keep their value; `quiet_hours: null`
/// turns quiet hours off.
struct PreferencesRequest: Decodable {
    var sms: [String: Bool]?
    var quietHoursGiven = false
    var quietHours: [String: String]?

    enum CodingKeys: String, CodingKey { case sms, quietHours }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sms = try c.decodeIfPresent([String: Bool].self, forKey: .sms)
        quietHoursGiven = c.contains(.quietHours)
        quietHours = try c.decodeIfPresent([String: String].self, forKey: .quietHours)
    }
}

/// The producer's inbox (`/v1/notifications`) and preferences (`/v1/me/notification-preferences`).
/// Notifications are made from events by a trigger (sql/0022_notifications.sql); SMS are sent by
/// `NotificationDispatcher`.
public struct Notifications: Sendable {
    let db: Database
    let settings: NotificationSettings

    public init(db: Database, settings: NotificationSettings) {
        self.db = db
        self.settings = settings
    }

    static let columns = """
        n.id, n.kind, n.event_type, n.event_id, n.subject_type, n.subject_id, n.data::text, api_time(n.created_at),
        api_time(n.read_at), n.sms_status
        """

    struct Item: Encodable {
        var id: Int64
        var kind: String
        var title: String
        var text: String
        var event: [String: String]
        var subject: Subject
        var createdAt: String
        var readAt: String?
        var smsStatus: String

        struct Subject: Encodable {
            var type: String
            var id: Int64
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: JSONKey.self)
            try c.encode(id, forKey: JSONKey("id"))
            try c.encode(kind, forKey: JSONKey("kind"))
            try c.encode(title, forKey: JSONKey("title"))
            try c.encode(text, forKey: JSONKey("text"))
            try c.encode(event, forKey: JSONKey("event"))
            try c.encode(subject, forKey: JSONKey("subject"))
            try c.encode(createdAt, forKey: JSONKey("created_at"))
            try c.encode(readAt, forKey: JSONKey("read_at"))
            try c.encode(smsStatus, forKey: JSONKey("sms_status"))
        }
    }

    static func item(_ row: PostgresRow) throws -> Item {
        let (id, kind, eventType, eventID, subjectType, subjectID, data, created, read, sms) = try row.decode(
            (Int64, String, String, Int64, String, Int64, String, String, String?, String).self)
        let message = NotificationText.render(
            kind: NotificationKind(rawValue: kind) ?? .newOrder, eventType: eventType, subjectID: subjectID,
            data: NotificationText.object(data))
        return Item(
            id: id, kind: kind, title: message.title, text: message.text,
            event: ["id": "evt_\(eventID)", "type": eventType], subject: .init(type: subjectType, id: subjectID),
            createdAt: created, readAt: read, smsStatus: sms)
    }

    func producer(_ principal: Principal) throws -> Int64 {
        guard let producer = principal.producerID else {
            throw APIError.forbidden("Notifications are for producer accounts.")
        }
        return producer
    }

    /// Newest first; the cursor continues with older ones.
    func list(request: Request, principal: Principal) async throws -> String {
        let producer = try producer(principal)
        let page = try Page(request: request)
        var unreadOnly = false
        if let unread = request.uri.queryParameters.get("unread") {
            guard unread == "true" || unread == "false" else {
                throw APIError.validation(field: "unread", "must be true or false")
            }
            unreadOnly = unread == "true"
        }
        let rows = try await db.rows(
            """
            SELECT \(unescaped: Self.columns) FROM notifications n
            WHERE n.producer_id = \(producer) AND n.id < \(page.after ?? Int64.max)
              AND (NOT \(unreadOnly) OR n.read_at IS NULL)
            ORDER BY n.id DESC LIMIT \(page.limit + 1)
            """)
        let items = try rows.map { row in
            let item = try Self.item(row)
            return (key: item.id, json: try JSONResponse.encode(item))
        }
        var body = page.body(items: items)
        // The unread count rides along, so a list refresh also refreshes the badge.
        let unread = try await unreadCount(producer)
        body.removeLast()
        body += ",\"unread_count\":\(unread)}"
        return body
    }

    func unreadCount(_ producer: Int64) async throws -> Int64 {
        try await db.rows(
            "SELECT count(*) FROM notifications WHERE producer_id = \(producer) AND read_at IS NULL")[0].decode(Int64.self)
    }

    /// Marks one read (again: keeps the first read time). Another producer's is 404.
    func markRead(_ id: Int64, principal: Principal) async throws -> String {
        let producer = try producer(principal)
        let rows = try await db.rows(
            """
            WITH marked AS (
              UPDATE notifications SET read_at = coalesce(read_at, now())
              WHERE id = \(id) AND producer_id = \(producer) RETURNING *)
            SELECT \(unescaped: Self.columns) FROM marked n
            """)
        guard let row = rows.first else { throw APIError.notFound("Notification \(id)") }
        return try JSONResponse.encode(try Self.item(row))
    }

    func markAllRead(principal: Principal) async throws -> String {
        let producer = try producer(principal)
        let marked = try await db.rows(
            """
            WITH marked AS (
              UPDATE notifications SET read_at = now() WHERE producer_id = \(producer) AND read_at IS NULL RETURNING 1)
            SELECT count(*) FROM marked
            """)[0].decode(Int64.self)
        return "{\"marked_read\":\(marked),\"unread_count\":0}"
    }

    // MARK: preferences

    static func preferences(
        producer: Int64, on connection: PostgresConnection, settings: NotificationSettings, logger: Logger
    ) async throws -> NotificationPreferences {
        let rows = try await connection.query(
            """
            SELECT sms_off, quiet_start_minute, quiet_end_minute FROM notification_preferences WHERE producer_id = \(producer)
            """, logger: logger
        ).collect()
        guard let row = rows.first else { return NotificationPreferences(smsOff: [], quietHours: settings.defaultQuietHours) }
        let (off, start, end) = try row.decode(([String], Int?, Int?).self)
        return NotificationPreferences(
            smsOff: Set(off.compactMap(NotificationKind.init(rawValue:))),
            quietHours: start.flatMap { s in end.map { QuietHours(start: s, end: $0) } })
    }

    func getPreferences(principal: Principal) async throws -> String {
        let producer = try producer(principal)
        let current = try await db.withConnection { [settings] connection in
            try await Self.preferences(producer: producer, on: connection, settings: settings, logger: db.logger)
        }
        return try current.json(settings: settings)
    }

    func putPreferences(_ body: PreferencesRequest, principal: Principal) async throws -> String {
        let producer = try producer(principal)
        var v = Validator()
        for key in (body.sms ?? [:]).keys.sorted() where NotificationKind(rawValue: key) == nil {
            v.add(
                "sms.\(key)", "is not a notification kind (\(NotificationKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var quiet: QuietHours?
        if body.quietHoursGiven, let given = body.quietHours {
            let start = given["start"].flatMap(QuietHours.parse)
            let end = given["end"].flatMap(QuietHours.parse)
            if start == nil { v.add("quiet_hours.start", "must be a time of day as HH:MM (00:00 to 23:59)") }
            if end == nil { v.add("quiet_hours.end", "must be a time of day as HH:MM (00:00 to 23:59)") }
            for key in given.keys.sorted() where key != "start" && key != "end" {
                v.add("quiet_hours.\(key)", "is not a member of quiet_hours (start, end)")
            }
            if let start, let end {
                if start == end { v.add("quiet_hours.end", "must differ from start; send null for no quiet hours") }
                quiet = QuietHours(start: start, end: end)
            }
        }
        try v.throwIfInvalid()
        let settings = settings
        let quietHours = quiet
        let logger = db.logger
        let updated = try await db.transaction { connection in
            // The row lock serialises two concurrent changes of one producer's preferences.
            try await connection.query(
                """
                INSERT INTO notification_preferences (producer_id, sms_off, quiet_start_minute, quiet_end_minute)
                VALUES (\(producer), '{}', \(settings.defaultQuietHours?.start), \(settings.defaultQuietHours?.end))
                ON CONFLICT (producer_id) DO NOTHING
                """, logger: logger)
            _ = try await connection.query(
                "SELECT 1 FROM notification_preferences WHERE producer_id = \(producer) FOR UPDATE", logger: logger
            ).collect()
            var prefs = try await Self.preferences(producer: producer, on: connection, settings: settings, logger: logger)
            let before = prefs
            for (key, on) in body.sms ?? [:] {
                guard let kind = NotificationKind(rawValue: key) else { continue }
                if on { prefs.smsOff.remove(kind) } else { prefs.smsOff.insert(kind) }
            }
            if body.quietHoursGiven { prefs.quietHours = quietHours }
            let off = NotificationKind.allCases.filter(prefs.smsOff.contains).map(\.rawValue)
            try await connection.query(
                """
                UPDATE notification_preferences SET sms_off = \(off), quiet_start_minute = \(prefs.quietHours?.start),
                  quiet_end_minute = \(prefs.quietHours?.end), updated_at = now()
                WHERE producer_id = \(producer)
                """, logger: logger)
            if prefs != before {
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "notification_preferences",
                    entityID: producer, provinceCode: principal.provinceCode, action: "notification_preferences.updated",
                    from: Self.summary(before), to: Self.summary(prefs))
            }
            return prefs
        }
        return try updated.json(settings: settings)
    }

    static func summary(_ p: NotificationPreferences) -> String {
        let off = NotificationKind.allCases.filter(p.smsOff.contains).map(\.rawValue).joined(separator: ",")
        let quiet = p.quietHours.map { "\(QuietHours.format($0.start))-\(QuietHours.format($0.end))" } ?? "none"
        return "sms_off=[\(off)] quiet=\(quiet)"
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/v1/notifications") { request, context in
            let principal = try context.require(.producer)
            return JSONResponse.raw(try await list(request: request, principal: principal))
        }
        routes.get("/v1/notifications/unread-count") { _, context in
            let principal = try context.require(.producer)
            return JSONResponse.raw("{\"unread_count\":\(try await unreadCount(try producer(principal)))}")
        }
        routes.post("/v1/notifications/read-all") { _, context in
            let principal = try context.require(.producer)
            return JSONResponse.raw(try await markAllRead(principal: principal))
        }
        routes.post("/v1/notifications/{id}/read") { _, context in
            let principal = try context.require(.producer)
            let id = try context.id(what: "Notification")
            return JSONResponse.raw(try await markRead(id, principal: principal))
        }
        routes.get("/v1/me/notification-preferences") { _, context in
            let principal = try context.require(.producer)
            return JSONResponse.raw(try await getPreferences(principal: principal))
        }
        routes.put("/v1/me/notification-preferences") { request, context in
            let principal = try context.require(.producer)
            let body = try await JSONBody.decode(PreferencesRequest.self, from: request, context: context)
            return JSONResponse.raw(try await putPreferences(body, principal: principal))
        }
    }
}

/// The Persian title and text of a notification, the same in the inbox and the SMS. Short, saying
/// what happened and what to do. Never anything secret: only what the event's subject shows.
public enum NotificationText {
    public struct Message: Sendable {
        public var title: String
        public var text: String
        /// The SMS: the service's name, then the text.
        public var sms: String { "بازارچه: " + text }
    }

    static func object(_ json: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
    }

    public static func render(kind: NotificationKind, eventType: String, subjectID: Int64, data: [String: Any]) -> Message {
        let number = persian(String(subjectID))
        switch kind {
        case .newOrder:
            var text = "سفارش تازه شماره \(number)"
            if let total = (data["total_rials"] as? NSNumber)?.int64Value { text += " به مبلغ \(rials(total))" }
            if let deadline = moment(data["expires_at"]) {
                text += ". لطفاً تا \(deadline) بپذیرید یا رد کنید، وگرنه منقضی می‌شود."
            } else {
                text += ". لطفاً آن را بپذیرید یا رد کنید."
            }
            return Message(title: "سفارش تازه", text: text)
        case .orderExpiring:
            var text = "سفارش شماره \(number) هنوز پذیرفته نشده"
            if let deadline = moment(data["expires_at"]) { text += " و مهلت پذیرش آن \(deadline) تمام می‌شود" }
            text += ". لطفاً پیش از آن بپذیرید یا رد کنید، وگرنه منقضی می‌شود."
            return Message(title: "مهلت پذیرش سفارش رو به پایان است", text: text)
        case .newInvitation:
            var text = "یک خریدار شما را به همکاری دعوت کرده است (دعوت شماره \(number))"
            if let quantity = (data["quantity"] as? NSNumber)?.int64Value,
                let price = (data["unit_price_rials"] as? NSNumber)?.int64Value
            {
                text += ": \(persian(grouped(quantity))) واحد، هر واحد \(rials(price))"
            }
            text += ". لطفاً دعوت را بررسی کنید و بپذیرید یا رد کنید."
            return Message(title: "دعوت تازه برای همکاری", text: text)
        case .certificateDecision:
            let name = certificate(data)
            switch eventType {
            case "certificate.granted":
                var text = "\(name) تأیید شد"
                if let until = day(data["expires_on"]) { text += " و تا \(until) معتبر است" }
                return Message(title: "گواهی شما تأیید شد", text: text + ".")
            case "certificate.rejected":
                return Message(
                    title: "درخواست گواهی شما رد شد",
                    text: "\(name) رد شد. برای جزئیات به بخش گواهی‌ها سر بزنید و در صورت نیاز دوباره درخواست دهید.")
            default:
                return Message(
                    title: "گواهی شما باطل شد",
                    text: "\(name) باطل شد و دیگر معتبر نیست. برای جزئیات به بخش گواهی‌ها سر بزنید.")
            }
        case .certificateExpiring:
            var text = certificate(data)
            if let until = day(data["expires_on"]) { text += " در \(until)" } else { text += " به‌زودی" }
            text += " منقضی می‌شود. لطفاً پیش از آن برای تمدید اقدام کنید."
            return Message(title: "گواهی شما به‌زودی منقضی می‌شود", text: text)
        case .quoteAnswered:
            if eventType == "quote.accepted" {
                var text = "پیشنهاد قیمت شماره \(number) پذیرفته شد"
                if let order = (data["order_id"] as? NSNumber)?.int64Value {
                    text += " و سفارش شماره \(persian(String(order))) ثبت شد"
                }
                return Message(title: "پیشنهاد قیمت شما پذیرفته شد", text: text + ". لطفاً سفارش را بررسی کنید و بپذیرید.")
            }
            var text = "پیشنهاد قیمت شماره \(number) رد شد"
            if let reason = data["decline_reason"] as? String { text += ". دلیل: \(reason)" }
            return Message(title: "پیشنهاد قیمت شما رد شد", text: text + ".")
        case .quoteExpiring:
            var text = "پیشنهاد قیمت شماره \(number)"
            if let deadline = moment(data["valid_until"]) { text += " تا \(deadline)" }
            text += " معتبر است. اگر شرایط تغییر کرده، آن را اصلاح یا تمدید کنید."
            return Message(title: "اعتبار پیشنهاد قیمت شما رو به پایان است", text: text)
        }
    }

    static let certificateNames = [
        "inso": "نشان استاندارد ملی ایران", "health_license": "پروانه بهداشت", "halal": "گواهی حلال",
        "iso22000": "گواهی ایزو ۲۲۰۰۰", "handicraft_seal": "مهر اصالت صنایع دستی", "organic": "گواهی محصول ارگانیک",
        "other": "گواهی",
    ]

    static func certificate(_ data: [String: Any]) -> String {
        let name = (data["kind"] as? String).flatMap { certificateNames[$0] } ?? "گواهی"
        guard let number = data["number"] as? String else { return name + " شما" }
        return "\(name) شما به شماره \(persian(number))"
    }

    public static func persian(_ text: String) -> String {
        String(
            text.map { c -> Character in
                guard let d = c.wholeNumberValue, c.isASCII else { return c }
                return Character(UnicodeScalar(0x06F0 + d)!)
            })
    }

    static func grouped(_ n: Int64) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "٬" }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func rials(_ n: Int64) -> String { persian(grouped(n)) + " ریال" }

    static var persianCalendar: Calendar {
        var calendar = Calendar(identifier: .persian)
        calendar.timeZone = SolarHijri.tehran
        return calendar
    }

    /// "۱۴۰۵/۰۲/۱۵ ساعت ۱۴:۳۰" (Solar Hijri, Tehran) from an API timestamp.
    static func moment(_ value: Any?) -> String? {
        guard var text = value as? String else { return nil }
        if let dot = text.firstIndex(of: "."), let zone = text[dot...].firstIndex(where: { $0 == "+" || $0 == "Z" || $0 == "-" })
        {
            text.removeSubrange(dot..<zone)
        }
        guard let instant = ISO8601DateFormatter().date(from: text) else { return nil }
        let c = persianCalendar.dateComponents([.year, .month, .day, .hour, .minute], from: instant)
        return persian(String(format: "%04d/%02d/%02d ساعت %02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!))
    }

    /// "۱۴۰۵/۰۲/۱۵" from an API date (a Gregorian Tehran day).
    static func day(_ value: Any?) -> String? {
        guard let text = value as? String else { return nil }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        let j = SolarHijri.fromGregorian(year: parts[0], month: parts[1], day: parts[2])
        return persian(String(format: "%04d/%02d/%02d", j.year, j.month, j.day))
    }
}
