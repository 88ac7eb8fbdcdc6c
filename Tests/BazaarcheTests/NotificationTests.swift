import BazaarcheApp
import BazaarcheCore
import Foundation
import Messaging
import Synchronization
import Testing

/// Producer notifications: the inbox, and SMS through the development sink, driven by the
/// dispatcher with a clock of the test's own (the background worker is off in these tests).
@Suite struct NotificationTests {
    /// A Tehran wall-clock time `days` days after today: in the future, so whatever was made now is due.
    static func tehran(_ days: Int, _ hour: Int, _ minute: Int = 0) -> Date {
        let calendar = SolarHijri.gregorianInTehran
        let day = calendar.date(byAdding: .day, value: days, to: calendar.startOfDay(for: Date()))!
        return calendar.date(bySettingHour: hour, minute: minute, second: 0, of: day)!
    }

    static func dispatcher(
        _ api: API, gateway: (any SMSGateway)? = nil, _ adjust: (inout NotificationSettings) -> Void = { _ in }
    ) -> NotificationDispatcher {
        var settings = NotificationSettings()
        adjust(&settings)
        let sms = SMS(db: api.db, gateway: gateway ?? DevelopmentSMSSink(logger: api.db.logger))
        return NotificationDispatcher(db: api.db, sms: sms, settings: settings, sources: .application)
    }

    static func withNotifications(_ body: @Sendable (API) async throws -> Void) async throws {
        try await withApp(configure: { $0.notificationPollSeconds = 0 }, body)
    }

    static func isPersian(_ text: String) -> Bool {
        text.unicodeScalars.contains { (0x0600...0x06FF).contains($0.value) }
            && !text.unicodeScalars.contains { ("a"..."z").contains(Character($0)) || ("A"..."Z").contains(Character($0)) }
    }

    @Test func anOrderPlacedReachesTheInboxAndAPersianSMSAndOnlyThatProducer() async throws {
        try await Self.withNotifications { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let order = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 2)]).int("id"))

            let inbox = try await api.get("/v1/notifications", token: producer.token)
            #expect(inbox.status == .ok)
            #expect(inbox.int("unread_count") == 1)
            let item = try #require(inbox.items.first)
            #expect(inbox.items.count == 1)
            #expect(item["kind"] as? String == "new_order")
            #expect((item["event"] as? [String: Any])?["type"] as? String == "order.placed")
            #expect((item["subject"] as? [String: Any])?["type"] as? String == "order")
            #expect(((item["subject"] as? [String: Any])?["id"] as? NSNumber)?.int64Value == order)
            #expect(item["read_at"] is NSNull)
            let text = try #require(item["text"] as? String)
            #expect(Self.isPersian(text) && Self.isPersian(item["title"] as? String ?? ""))
            #expect(text.contains(NotificationText.persian(String(order))))
            #expect(try await api.get("/v1/notifications/unread-count", token: producer.token).int("unread_count") == 1)

            // Nothing is sent until the worker comes by; then one SMS, in Persian, with the order's number.
            #expect(try await api.notificationSMS(producer.id).isEmpty)
            let round = try await Self.dispatcher(api).run(now: Self.tehran(1, 10))
            #expect(round.sent == 1)
            let sms = try await api.notificationSMS(producer.id)
            #expect(sms.count == 1)
            #expect(sms.first?.status == "sent")
            let body = sms.first?.body ?? ""
            #expect(Self.isPersian(body))
            #expect(body.contains("سفارش"))
            #expect(body.contains(NotificationText.persian(String(order))))
            // A second round sends nothing again.
            #expect(try await Self.dispatcher(api).run(now: Self.tehran(1, 11)).sent == 0)
            #expect(try await api.notificationSMS(producer.id).count == 1)
            #expect(try await api.get("/v1/notifications", token: producer.token).items.first?["sms_status"] as? String == "sent")

            // Another producer sees nothing of it and cannot mark it read.
            let stranger = try await api.producer(status: .verified)
            let theirs = try await api.get("/v1/notifications", token: stranger.token)
            #expect(theirs.items.isEmpty)
            #expect(theirs.int("unread_count") == 0)
            let id = try #require((item["id"] as? NSNumber)?.int64Value)
            let foreign = try await api.post("/v1/notifications/\(id)/read", "", token: stranger.token)
            #expect(foreign.status == .notFound)
            #expect(try await api.get("/v1/notifications/unread-count", token: producer.token).int("unread_count") == 1)
            #expect(try await api.get("/v1/notifications", token: partner).status == .forbidden)
            #expect(try await api.notificationSMS(stranger.id).isEmpty)

            let read = try await api.post("/v1/notifications/\(id)/read", "", token: producer.token)
            #expect(read.status == .ok)
            #expect(read.string("read_at") != nil)
            #expect(try await api.get("/v1/notifications/unread-count", token: producer.token).int("unread_count") == 0)
            #expect(try await api.get("/v1/notifications?unread=true", token: producer.token).items.isEmpty)
            #expect(try await api.get("/v1/notifications", token: producer.token).items.count == 1)
            #expect(try await api.get("/v1/notifications?unread=maybe", token: producer.token).status == .unprocessableContent)

            // Read-all marks the rest; newest first.
            let second = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            let both = try await api.get("/v1/notifications", token: producer.token)
            #expect(both.int("unread_count") == 1)
            #expect(
                both.items.compactMap { (($0["subject"] as? [String: Any])?["id"] as? NSNumber)?.int64Value } == [second, order])
            let all = try await api.post("/v1/notifications/read-all", "", token: producer.token)
            #expect(all.int("marked_read") == 1)
            #expect(try await api.get("/v1/notifications/unread-count", token: producer.token).int("unread_count") == 0)
        }
    }

    @Test func aKindSwitchedOffGoesToTheInboxOnly() async throws {
        try await Self.withNotifications { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let defaults = try await api.get("/v1/me/notification-preferences", token: producer.token)
            #expect(defaults.status == .ok)
            #expect((defaults.json["sms"] as? [String: Bool])?["new_order"] == true)
            #expect(defaults.json["quiet_hours"] as? [String: String] == ["start": "22:00", "end": "08:00"])
            #expect(defaults.int("sms_daily_limit") == 5)

            let put = try await api.call(
                .put, "/v1/me/notification-preferences", json: #"{"sms":{"new_order":false}}"#, token: producer.token)
            #expect(put.status == .ok)
            #expect((put.json["sms"] as? [String: Bool])?["new_order"] == false)
            #expect((put.json["sms"] as? [String: Bool])?["new_invitation"] == true)
            #expect(put.json["quiet_hours"] as? [String: String] == ["start": "22:00", "end": "08:00"])
            // Bad input is refused and changes nothing.
            let bogus = try await api.call(
                .put, "/v1/me/notification-preferences", json: #"{"sms":{"new_order":true,"spam":true}}"#,
                token: producer.token)
            #expect(bogus.status == .unprocessableContent)
            #expect(bogus.fields == ["sms.spam"])
            let badTime = try await api.call(
                .put, "/v1/me/notification-preferences", json: #"{"quiet_hours":{"start":"25:00","end":"08:00"}}"#,
                token: producer.token)
            #expect(badTime.fields == ["quiet_hours.start"])
            let after = try await api.get("/v1/me/notification-preferences", token: producer.token)
            #expect((after.json["sms"] as? [String: Bool])?["new_order"] == false)
            #expect(after.json["quiet_hours"] as? [String: String] == ["start": "22:00", "end": "08:00"])
            #expect(try await api.get("/v1/me/notification-preferences", token: partner).status == .forbidden)

            _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
            let round = try await Self.dispatcher(api).run(now: Self.tehran(1, 10))
            #expect(round.sent == 0)
            #expect(try await api.notificationSMS(producer.id).isEmpty)
            let inbox = try await api.get("/v1/notifications", token: producer.token)
            #expect(inbox.items.count == 1)
            #expect(inbox.items.first?["sms_status"] as? String == "off")
            #expect(
                try await api.db.rows(
                    "SELECT count(*) FROM audit_events WHERE action = 'notification_preferences.updated' AND entity_id = \(producer.id)"
                )[0].decode(Int.self) == 1)
        }
    }

    @Test func quietHoursHoldTheSMSUntilTheyEnd() async throws {
        try await Self.withNotifications { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let order = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            let night = try await Self.dispatcher(api).run(now: Self.tehran(1, 23))
            #expect(night.sent == 0)
            #expect(night.waiting == 1)
            #expect(try await api.notificationSMS(producer.id).isEmpty)
            // The inbox has it at once.
            #expect(try await api.get("/v1/notifications/unread-count", token: producer.token).int("unread_count") == 1)
            #expect(try await Self.dispatcher(api).run(now: Self.tehran(2, 7, 59)).sent == 0)
            #expect(try await api.notificationSMS(producer.id).isEmpty)
            let morning = try await Self.dispatcher(api).run(now: Self.tehran(2, 8, 0))
            #expect(morning.sent == 1)
            let sms = try await api.notificationSMS(producer.id)
            #expect(sms.count == 1)
            #expect(sms.first?.body.contains(NotificationText.persian(String(order))) == true)

            // A producer without quiet hours is told at night.
            let (owl, owlCake, _) = try await api.orderParties(stock: 10)
            let none = try await api.call(
                .put, "/v1/me/notification-preferences", json: #"{"quiet_hours":null}"#, token: owl.token)
            #expect(none.json["quiet_hours"] is NSNull)
            _ = try await api.order(partner, producer: owl.id, lines: [(owlCake, 1)])
            #expect(try await Self.dispatcher(api).run(now: Self.tehran(1, 23)).sent == 1)
            #expect(try await api.notificationSMS(owl.id).count == 1)
        }
    }

    @Test func theDailyLimitHolds() async throws {
        try await Self.withNotifications { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 20)
            for _ in 0..<3 { _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)]) }
            let round = try await Self.dispatcher(api) { $0.smsDailyLimit = 2 }.run(now: Self.tehran(1, 10))
            #expect(round.sent == 2)
            #expect(round.inboxOnly == 1)
            #expect(try await api.notificationSMS(producer.id).count == 2)
            let inbox = try await api.get("/v1/notifications", token: producer.token)
            #expect(inbox.items.count == 3)
            #expect(inbox.items.compactMap { $0["sms_status"] as? String }.sorted() == ["capped", "sent", "sent"])
            // Still the same Tehran day: a new order is inbox only.
            _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
            #expect(try await Self.dispatcher(api) { $0.smsDailyLimit = 2 }.run(now: Self.tehran(1, 20)).sent == 0)
            #expect(try await api.notificationSMS(producer.id).count == 2)
            // The next day has a fresh allowance.
            _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
            #expect(try await Self.dispatcher(api) { $0.smsDailyLimit = 2 }.run(now: Self.tehran(2, 10)).sent == 1)
            #expect(try await api.notificationSMS(producer.id).count == 3)
        }
    }

    @Test func anOrderNearItsDeadlineIsAnnouncedOnce() async throws {
        try await Self.withNotifications { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            let late = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            let answered = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            let early = try #require(try await api.order(partner, producer: producer.id, lines: [(cake, 1)]).int("id"))
            #expect(try await api.moveOrder(answered, #"{"to":"accepted"}"#, token: producer.token).status == .ok)
            let clock = Self.tehran(1, 10)
            for (id, hours) in [(late, 6), (answered, 6), (early, 20)] {
                try await api.db.execute(
                    "UPDATE orders SET expires_at = \(clock)::timestamptz + \(hours)::int * interval '1 hour' WHERE id = \(id)")
            }
            let first = try await Self.dispatcher(api).run(now: clock)
            #expect(first.ordersExpiring == 1)
            let again = try await Self.dispatcher(api).run(now: clock.addingTimeInterval(600))
            #expect(again.ordersExpiring == 0)
            let expiring = try await api.get("/v1/notifications", token: producer.token).items.filter {
                $0["kind"] as? String == "order_expiring"
            }
            #expect(expiring.count == 1)
            #expect(((expiring.first?["subject"] as? [String: Any])?["id"] as? NSNumber)?.int64Value == late)
            #expect((expiring.first?["text"] as? String)?.contains(NotificationText.persian(String(late))) == true)
            #expect(expiring.first?["sms_status"] as? String == "sent")
            let feed = try await api.get("/v1/events?type=order.expiring_soon", token: producer.token)
            #expect(feed.items.count == 1)
            // Two new-order SMS (the third order was accepted before the worker came by) and one reminder.
            let bodies = try await api.notificationSMS(producer.id).map(\.body)
            #expect(bodies.count == 3)
            #expect(bodies.filter { $0.contains("مهلت پذیرش") && $0.contains(NotificationText.persian(String(late))) }.count == 1)
        }
    }

    @Test func aCertificateNearExpiryIsAnnouncedOnce() async throws {
        try await Self.withNotifications { api in
            let producer = try await api.producer(status: .verified)
            let product = try await api.product(producer)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            var ids: [Int64] = []
            for number in ["12/3456", "98/7654"] {
                let cert = try await api.post(
                    "/v1/products/\(product)/certificates",
                    """
                    {"kind":"health_license","number":"\(number)","issuer":"سازمان غذا و دارو","issued_on":"2025-01-01",\
                    "expires_on":"2030-01-01"}
                    """,
                    token: producer.token)
                ids.append(try #require(cert.int("id")))
            }
            // The first is granted (a decision the producer hears of); the second stays under review.
            for step in ["under_review", "granted"] {
                try await api.must(
                    .post, "/v1/certificates/\(ids[0])/transitions", json: #"{"to":"\#(step)"}"#, token: supervisor)
            }
            try await api.must(
                .post, "/v1/certificates/\(ids[1])/transitions", json: #"{"to":"under_review"}"#, token: supervisor)
            let decided = try await api.get("/v1/notifications", token: producer.token).items
            #expect(decided.map { $0["kind"] as? String } == ["certificate_decision"])
            #expect((decided.first?["title"] as? String)?.contains("تأیید") == true)

            let clock = Self.tehran(1, 10)
            let day = SolarHijri.tehranDate(of: clock).adding(days: 20).description
            try await api.db.execute("UPDATE certificates SET expires_on = \(day)::date WHERE id = ANY(\(ids))")
            #expect(try await Self.dispatcher(api).run(now: clock).certificatesExpiring == 1)
            #expect(try await Self.dispatcher(api).run(now: clock.addingTimeInterval(86_400)).certificatesExpiring == 0)
            let expiring = try await api.get("/v1/notifications", token: producer.token).items.filter {
                $0["kind"] as? String == "certificate_expiring"
            }
            #expect(expiring.count == 1)
            #expect(((expiring.first?["subject"] as? [String: Any])?["id"] as? NSNumber)?.int64Value == ids[0])
            let text = expiring.first?["text"] as? String ?? ""
            #expect(Self.isPersian(text) && text.contains("۱۲/۳۴۵۶") && text.contains("تمدید"))
            #expect(
                try await api.db.rows(
                    "SELECT count(*) FROM events WHERE type = 'certificate.expiring_soon' AND subject_id = ANY(\(ids))")[0]
                    .decode(Int.self) == 1)
        }
    }

    @Test func anInvitationReachesTheInvitedProducerOnly() async throws {
        try await Self.withNotifications { api in
            let partner = try await api.token(.partner)
            let maker = try await api.producer(status: .verified)
            let other = try await api.producer(status: .verified)
            let cake = try await api.product(maker, price: 1_500_000, stock: 30)
            let demand = try await api.demand(partner, #""category_code":"food","quantity":20,"max_unit_price_rials":1000000"#)
            let invited = try await api.post(
                "/v1/demands/\(demand)/invitations",
                #"""
                {"producer_id":\#(maker.id),"product_id":\#(cake),"quantity":20,"unit_price_rials":900000,\#
                "delivery":{"province_code":"IR-23","city":"تهران","address":"خیابان آزادی، پلاک ۱","recipient":"انبار مرکزی",\#
                "phone":"02112345678"}}
                """#,
                token: partner)
            let id = try #require(invited.int("id"))
            let items = try await api.get("/v1/notifications", token: maker.token).items
            #expect(items.map { $0["kind"] as? String } == ["new_invitation"])
            let text = items.first?["text"] as? String ?? ""
            #expect(Self.isPersian(text) && text.contains(NotificationText.persian(String(id))) && text.contains("۹۰۰٬۰۰۰ ریال"))
            #expect(try await api.get("/v1/notifications", token: other.token).items.isEmpty)
            #expect(try await Self.dispatcher(api).run(now: Self.tehran(1, 10)).sent == 1)
            #expect(try await api.notificationSMS(maker.id).map(\.body) == ["بازارچه: " + text])
        }
    }

    @Test func aFailedSMSIsRetriedWithBackoffNotLost() async throws {
        try await Self.withNotifications { api in
            let (producer, cake, partner) = try await api.orderParties(stock: 10)
            _ = try await api.order(partner, producer: producer.id, lines: [(cake, 1)])
            let gateway = FlakyGateway(failures: 2)
            let dispatcher = Self.dispatcher(api, gateway: gateway)
            let t0 = Self.tehran(1, 10)
            #expect(try await dispatcher.run(now: t0).failed == 1)
            #expect(try await api.notificationSMS(producer.id).map(\.status) == ["failed"])
            // Not due again before the backoff has passed.
            #expect(try await dispatcher.run(now: t0.addingTimeInterval(30)) == NotificationDispatcher.Round())
            #expect(try await dispatcher.run(now: t0.addingTimeInterval(61)).failed == 1)
            let third = try await dispatcher.run(now: t0.addingTimeInterval(61 + 301))
            #expect(third.sent == 1)
            // One message, delivered on the third attempt; the inbox says so.
            #expect(try await api.notificationSMS(producer.id).map(\.status) == ["sent"])
            #expect(gateway.attempts == 3)
            #expect(try await api.get("/v1/notifications", token: producer.token).items.first?["sms_status"] as? String == "sent")
        }
    }
}

/// A gateway that fails its first `failures` deliveries.
final class FlakyGateway: SMSGateway {
    struct Unavailable: Error {}
    let state: Mutex<(failures: Int, attempts: Int)>
    init(failures: Int) { state = Mutex((failures, 0)) }
    var keepsCodesInOutbox: Bool { true }
    var attempts: Int { state.withLock { $0.attempts } }

    func deliver(to mobile: String, text: String) async throws -> String? {
        let fail = state.withLock { s -> Bool in
            s.attempts += 1
            if s.failures > 0 {
                s.failures -= 1
                return true
            }
            return false
        }
        if fail { throw Unavailable() }
        return "ok-\(attempts)"
    }
}

extension API {
    /// Notification SMS recorded for a producer's mobile, oldest first.
    func notificationSMS(_ producer: Int64) async throws -> [(body: String, status: String)] {
        try await db.rows(
            """
            SELECT body, status FROM sms_messages
            WHERE mobile = (SELECT mobile FROM producers WHERE id = \(producer)) AND purpose = 'producer_notification'
            ORDER BY id
            """
        ).map { try $0.decode((String, String).self) }
    }
}
