import BazaarcheCore
import Foundation
import Orders
import ServiceLifecycle

public enum QuoteStatus: String, APIEnum { case open, accepted, declined, withdrawn, expired }

/// A producer's quote (POST /v1/demands/{id}/quotes). Price and lead time may be left out: the
/// product's tier price for the quantity and its lead time are used.
struct QuoteRequest: Decodable {
    var productId: Int64
    var unitPriceRials: Int64?
    var quantity: Int
    var leadTimeDays: Int?
    var validUntil: String?
    var note: String?
}

/// A revision (POST /v1/quotes/{id}/revisions): the fields sent replace the current ones.
struct QuoteRevisionRequest: Decodable {
    var unitPriceRials: Int64?
    var quantity: Int?
    var leadTimeDays: Int?
    var validUntil: String?
    var note: String?
}

/// Accepting a quote places an order: where to deliver and optionally less than quoted (a pool's
/// last member). The version the buyer saw comes as `If-Match` (the quote's ETag).
struct QuoteAcceptRequest: Decodable {
    var delivery: DeliveryRequest
    var quantity: Int?
    var note: String?
}

/// The accept request as understood: the Idempotency-Key fingerprint.
struct QuoteAcceptance: Encodable, Sendable {
    var quoteId: Int64
    var quantity: Int?
    /// The entity tags `If-Match` named (never empty, never `*`).
    var ifMatch: [String]
    var order: OrderRequest
}

/// Terms of one quote version, checked against the demand and the product.
struct QuoteTerms {
    var price: Int64?
    var quantity: Int
    var leadTime: Int?
    var validUntil: Date?
    var note: String?
}

/// Quotes on demands: a verified producer offers one of its products that passes the demand's
/// hard filters; the demand's company compares the quotes (scored like matches, at the quoted
/// price and quantity) and accepts some, each placing an order through `Orders.place`.
public struct Quotes: Sendable {
    let db: Database
    let orders: Orders

    /// Open quotes this close to valid_until are announced once (`quote.expiring`).
    static let expiringNotice: TimeInterval = 24 * 3600
    /// Quotes the sweep expires per transaction.
    static let batchSize = 200
    /// Rows a CSV export holds at most.
    static let csvLimit = 10_000

    public init(db: Database, orders: Orders) {
        self.db = db
        self.orders = orders
    }

    /// An open quote past valid_until reads as expired everywhere, before the sweep comes by.
    static let status = "CASE WHEN q.status = 'open' AND q.valid_until <= now() THEN 'expired' ELSE q.status END"

    /// Units of the demand `demand` (an SQL expression) covered by orders still alive: those of
    /// accepted quotes and of accepted invitations. A rejected, cancelled or expired order, or one
    /// whose dispute was upheld, gives its units back; a disputed one still holds them.
    static func covered(_ demand: String) -> String {
        """
        (SELECT coalesce(sum(c.quantity), 0)::int FROM (
           SELECT cq.accepted_quantity AS quantity, cq.order_id FROM quotes cq
           WHERE cq.demand_id = \(demand) AND cq.status = 'accepted'
           UNION ALL
           SELECT ci.quantity, ci.order_id FROM invitations ci WHERE ci.demand_id = \(demand) AND ci.status = 'accepted'
         ) c JOIN orders co ON co.id = c.order_id
         WHERE co.status NOT IN ('rejected', 'cancelled', 'expired', 'dispute_upheld'))
        """
    }

    static let json = """
        json_build_object('id', q.id, 'demand_id', q.demand_id, 'partner_id', q.partner_id, 'producer_id', q.producer_id,
          'product_id', q.product_id, 'title_fa', (SELECT p.title_fa FROM products p WHERE p.id = q.product_id),
          'province_code', (SELECT pr.province_code FROM producers pr WHERE pr.id = q.producer_id),
          'version', q.version, 'unit_price_rials', q.unit_price_rials, 'quantity', q.quantity,
          'total_rials', q.quantity::numeric * q.unit_price_rials, 'lead_time_days', q.lead_time_days,
          'valid_until', api_time(q.valid_until), 'note', q.note, 'status', \(status),
          'decline_reason', q.decline_reason, 'order_id', q.order_id, 'accepted_quantity', q.accepted_quantity,
          'created_at', api_time(q.created_at), 'updated_at', api_time(q.updated_at))
        """

    /// The quote with every version of its terms, oldest first.
    static let detailJSON = """
        (\(json)::jsonb || jsonb_build_object('versions', (SELECT json_agg(json_build_object('version', v.version,
           'unit_price_rials', v.unit_price_rials, 'quantity', v.quantity, 'lead_time_days', v.lead_time_days,
           'valid_until', api_time(v.valid_until), 'note', v.note, 'created_at', api_time(v.created_at)) ORDER BY v.version)
         FROM quote_versions v WHERE v.quote_id = q.id)))
        """

    /// The rows `EventLog.record` needs: the quote, seen by its producer (and its province's
    /// staff) and the demand's company.
    static func eventSource(_ ids: [Int64]) -> SQL {
        """
        SELECT q.id, \(unescaped: detailJSON), pr.province_code, q.producer_id, q.partner_id
        FROM quotes q JOIN producers pr ON pr.id = q.producer_id WHERE q.id = ANY(\(ids))
        """
    }

    /// Who sees a quote (alias `q`): the quoting producer, the demand's company, admins. The owner
    /// facts are an invitation's (producer_id, partner_id), so `Access`'s invitation rule is the rule.
    func visibility(_ principal: Principal) -> SQL { principal.access(.invitation).condition(alias: "q") }

    static func object(_ json: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
    }

    // MARK: terms

    /// `valid_until`: an ISO 8601 date-time, or a date meaning the end of that day in Tehran.
    static func instant(_ text: String?, field: String, _ v: inout Validator) -> Date? {
        guard let text else { return nil }
        if let date = CalendarDate(text) {
            let start = SolarHijri.gregorianInTehran.date(
                from: DateComponents(year: date.year, month: date.month, day: date.day))!
            return start.addingTimeInterval(86400)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let instant = formatter.date(from: text) { return instant }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let instant = formatter.date(from: text) { return instant }
        v.add(field, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time")
        return nil
    }

    static func checkShape(_ terms: QuoteTerms, _ v: inout Validator) {
        v.check((1...1_000_000).contains(terms.quantity), "quantity", "must be from 1 to 1000000")
        if let price = terms.price {
            v.check(price > 0 && price <= 1_000_000_000_000, "unit_price_rials", "must be a whole number of rials above 0")
        }
        if let lead = terms.leadTime { v.check((0...365).contains(lead), "lead_time_days", "must be from 0 to 365") }
    }

    /// Checks `terms` for `product` of `producer` against open demand `demand` (which the caller
    /// holds locked) and fills in the defaults. 422 naming the field for each term that fails.
    func settle(
        _ terms: QuoteTerms, demand: Int64, product: Int64, producer: Int64, on connection: PostgresConnection
    ) async throws -> QuoteTerms {
        let rows = try await connection.query(
            """
            SELECT p.min_order_qty, p.order_increment, tier_unit_price(p.price_rials, p.price_tiers, \(terms.quantity)::int),
              p.lead_time_days, p.stock::bigint,
              d.quantity, d.max_unit_price_rials, greatest(d.needed_by - tehran_today(), 0),
              ((d.needed_by + 1)::timestamp AT TIME ZONE 'Asia/Tehran'), now()
            FROM demands d JOIN products p ON \(unescaped: Matches.hardFilters())
            WHERE d.id = \(demand) AND p.id = \(product) AND p.producer_id = \(producer)
            """, logger: db.logger
        ).collect()
        guard let row = rows.first else {
            throw APIError.validation(
                field: "product_id",
                "is not a listed product of yours that meets this demand's requirements (category, unit, packaging, certificates)"
            )
        }
        let (minOrder, increment, tierPrice, productLead, supply, wanted, maxPrice, daysLeft, endOfNeededBy, now) =
            try row.decode((Int, Int, Int64, Int?, Int64, Int, Int64, Int, Date, Date).self)
        var t = terms
        t.price = terms.price ?? tierPrice
        t.leadTime = terms.leadTime ?? productLead
        t.validUntil = terms.validUntil ?? endOfNeededBy
        var v = Validator()
        v.check(t.quantity >= minOrder, "quantity", "is below the product's minimum order quantity \(minOrder)")
        v.check(
            t.quantity % max(increment, 1) == 0, "quantity", "must be a multiple of the product's order increment \(increment)")
        v.check(t.quantity <= wanted, "quantity", "must not exceed the demand's quantity \(wanted)")
        v.check(
            Int64(t.quantity) <= supply, "quantity",
            "must not exceed the product's stock (\(supply)): accepting places an order that reserves it now")
        if terms.price == nil && t.price! > maxPrice {
            v.add(
                "unit_price_rials",
                "is required: the product's price for this quantity (\(t.price!)) exceeds the demand's max_unit_price_rials (\(maxPrice))"
            )
        } else {
            v.check(t.price! <= maxPrice, "unit_price_rials", "must not exceed the demand's max_unit_price_rials (\(maxPrice))")
        }
        if let lead = t.leadTime {
            v.check(
                lead <= daysLeft, "lead_time_days",
                "must let the goods arrive by the demand's needed_by (\(daysLeft) days from today)")
        }
        v.check(t.validUntil! > now, "valid_until", "must be in the future")
        v.check(t.validUntil! <= endOfNeededBy, "valid_until", "must not be after the demand's needed_by")
        try v.throwIfInvalid()
        return t
    }

    // MARK: producer

    func create(demand id: Int64, _ body: QuoteRequest, by principal: Principal) async throws -> (Int64, String) {
        guard principal.role == .producer, let producer = principal.producerID else {
            throw APIError.forbidden("Quotes are sent by producers.")
        }
        var v = Validator()
        let asked = QuoteTerms(
            price: body.unitPriceRials, quantity: body.quantity, leadTime: body.leadTimeDays,
            validUntil: Self.instant(body.validUntil, field: "valid_until", &v),
            note: v.optionalText(body.note, "note", max: 2000))
        Self.checkShape(asked, &v)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            // The producer reaches open demands it could supply (Access's rule); closing waits for us.
            let visible: SQL = """
                SELECT d.partner_id FROM demands d WHERE d.id = \(id) AND d.status = 'open'
                  AND \(Demands(db: db).visibility(principal)) FOR SHARE
                """
            guard let partner = try await connection.query(visible.query, logger: logger).collect().first?.decode(Int64.self)
            else { throw APIError.notFound("Demand \(id)") }
            let terms = try await settle(asked, demand: id, product: body.productId, producer: producer, on: connection)
            // An open quote past valid_until no longer holds its place.
            try await expire(
                where: """
                    demand_id = \(id) AND producer_id = \(producer) AND product_id = \(body.productId)
                      AND status = 'open' AND valid_until <= now()
                    """, reason: "past valid_until", actor: principal, on: connection)
            let inserted = try await connection.query(
                """
                INSERT INTO quotes (demand_id, partner_id, producer_id, product_id, unit_price_rials, quantity, lead_time_days,
                  valid_until, note)
                VALUES (\(id), \(partner), \(producer), \(body.productId), \(terms.price!), \(terms.quantity), \(terms.leadTime),
                  \(terms.validUntil!), \(terms.note))
                ON CONFLICT (demand_id, producer_id, product_id) WHERE status = 'open' DO NOTHING
                RETURNING id
                """, logger: logger
            ).collect()
            guard let quote = try inserted.first?.decode(Int64.self) else {
                let existing = try await connection.query(
                    """
                    SELECT id FROM quotes WHERE demand_id = \(id) AND producer_id = \(producer) AND product_id = \(body.productId)
                      AND status = 'open'
                    """, logger: logger
                ).collect().first?.decode(Int64.self)
                throw APIError.conflict(
                    code: "quote_exists",
                    "You already have an open quote for this product on this demand; revise it (POST /v1/quotes/{id}/revisions).",
                    extra: existing.map { ["quote_id": String($0)] } ?? [:])
            }
            try await insertVersion(quote, by: principal, on: connection)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "quote", entityID: quote,
                provinceCode: principal.provinceCode, action: "quote.created", from: nil, to: "open")
            try await EventLog.record(
                .quoteReceived, subject: "quote", from: Self.eventSource([quote]), on: connection, logger: logger)
            return (quote, try await detail(quote, on: connection))
        }
    }

    func insertVersion(_ quote: Int64, by principal: Principal, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO quote_versions (quote_id, version, unit_price_rials, quantity, lead_time_days, valid_until, note, created_by)
            SELECT id, version, unit_price_rials, quantity, lead_time_days, valid_until, note, \(principal.accountID)
            FROM quotes WHERE id = \(quote)
            """, logger: db.logger)
    }

    func detail(_ quote: Int64, on connection: PostgresConnection) async throws -> String {
        try await connection.query(
            "SELECT \(unescaped: Self.detailJSON)::text FROM quotes q WHERE q.id = \(quote)", logger: db.logger
        ).collect()[0].decode(String.self)
    }

    /// The producer's own quote, locked, still open (past valid_until it is expired: 409).
    func lockOwnOpen(_ id: Int64, to target: String, by principal: Principal, on connection: PostgresConnection) async throws
        -> (demand: Int64, product: Int64, producer: Int64, terms: QuoteTerms)
    {
        let own: SQL = """
            SELECT q.demand_id, q.product_id, q.producer_id, \(unescaped: Self.status), q.unit_price_rials, q.quantity,
              q.lead_time_days, q.valid_until, q.note
            FROM quotes q WHERE q.id = \(id) AND \(principal.access(.invitation, to: .own).condition(alias: "q")) FOR UPDATE
            """
        guard let row = try await connection.query(own.query, logger: db.logger).collect().first else {
            throw APIError.notFound("Quote \(id)")
        }
        let (demand, product, producer, status, price, quantity, lead, validUntil, note) =
            try row.decode((Int64, Int64, Int64, String, Int64, Int, Int?, Date, String?).self)
        guard status == QuoteStatus.open.rawValue else {
            throw APIError.invalidTransition(entity: "quote", from: status, to: target)
        }
        return (
            demand, product, producer,
            QuoteTerms(price: price, quantity: quantity, leadTime: lead, validUntil: validUntil, note: note)
        )
    }

    func revise(_ id: Int64, _ body: QuoteRevisionRequest, by principal: Principal) async throws -> String {
        guard principal.role == .producer else { throw APIError.forbidden("Quotes are revised by the quoting producer.") }
        var v = Validator()
        let validUntil = Self.instant(body.validUntil, field: "valid_until", &v)
        let note = v.optionalText(body.note, "note", max: 2000)
        if let quantity = body.quantity { v.check((1...1_000_000).contains(quantity), "quantity", "must be from 1 to 1000000") }
        if let price = body.unitPriceRials {
            v.check(price > 0 && price <= 1_000_000_000_000, "unit_price_rials", "must be a whole number of rials above 0")
        }
        if let lead = body.leadTimeDays { v.check((0...365).contains(lead), "lead_time_days", "must be from 0 to 365") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let current = try await lockOwnOpen(id, to: "open", by: principal, on: connection)
            // The demand still open (closing expires its quotes, so an open quote means an open demand).
            // A price left out keeps the current one, whatever the new quantity.
            var terms = current.terms
            terms.price = body.unitPriceRials ?? terms.price
            terms.quantity = body.quantity ?? terms.quantity
            terms.leadTime = body.leadTimeDays ?? terms.leadTime
            terms.validUntil = validUntil ?? terms.validUntil
            terms.note = body.note == nil ? terms.note : note
            terms = try await settle(
                terms, demand: current.demand, product: current.product, producer: current.producer, on: connection)
            try await connection.query(
                """
                UPDATE quotes SET version = version + 1, unit_price_rials = \(terms.price!), quantity = \(terms.quantity),
                  lead_time_days = \(terms.leadTime), valid_until = \(terms.validUntil!), note = \(terms.note), updated_at = now()
                WHERE id = \(id)
                """, logger: logger)
            try await insertVersion(id, by: principal, on: connection)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "quote", entityID: id,
                provinceCode: principal.provinceCode, action: "quote.revised", from: "open", to: "open")
            try await EventLog.record(
                .quoteReceived, subject: "quote", from: Self.eventSource([id]), on: connection, logger: logger)
            return try await detail(id, on: connection)
        }
    }

    func withdraw(_ id: Int64, by principal: Principal) async throws -> String {
        guard principal.role == .producer else { throw APIError.forbidden("Quotes are withdrawn by the quoting producer.") }
        return try await db.transaction { connection in
            let logger = db.logger
            _ = try await lockOwnOpen(id, to: QuoteStatus.withdrawn.rawValue, by: principal, on: connection)
            try await connection.query(
                "UPDATE quotes SET status = 'withdrawn', updated_at = now() WHERE id = \(id)", logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "quote", entityID: id,
                provinceCode: principal.provinceCode, action: "quote.withdrawn", from: "open", to: "withdrawn")
            try await EventLog.record(
                .quoteWithdrawn, subject: "quote", from: Self.eventSource([id]), on: connection, logger: logger)
            return try await detail(id, on: connection)
        }
    }

    // MARK: partner

    /// Locks the demand of a quote the caller's company may answer (`FOR UPDATE`: acceptances of
    /// one demand run one at a time, so the covered quantity is counted right), then the quote.
    func lockForAnswer(_ id: Int64, to target: QuoteStatus, by principal: Principal, on connection: PostgresConnection)
        async throws
        -> (demand: Int64, status: String, overdue: Bool)
    {
        let logger = db.logger
        let mine: SQL = "SELECT q.demand_id FROM quotes q WHERE q.id = \(id) AND \(visibility(principal))"
        guard let demand = try await connection.query(mine.query, logger: logger).collect().first?.decode(Int64.self) else {
            throw APIError.notFound("Quote \(id)")
        }
        try await connection.query("SELECT 1 FROM demands WHERE id = \(demand) FOR UPDATE", logger: logger)
        let row = try await connection.query(
            "SELECT q.status, q.status = 'open' AND q.valid_until <= now() FROM quotes q WHERE q.id = \(id) FOR UPDATE",
            logger: logger
        ).collect()[0]
        let (status, overdue) = try row.decode((String, Bool).self)
        if overdue {
            throw APIError.conflict(
                code: "quote_expired", "The quote passed its valid_until and can no longer be answered.",
                extra: ["current_status": QuoteStatus.expired.rawValue])
        }
        guard status == QuoteStatus.open.rawValue else {
            throw APIError.invalidTransition(entity: "quote", from: status, to: target.rawValue)
        }
        return (demand, status, overdue)
    }

    /// Places the order for an open quote at its price, for the accepting account, and marks the
    /// quote accepted; runs inside the Idempotency-Key's transaction.
    func accept(_ a: QuoteAcceptance, by principal: Principal, on connection: PostgresConnection) async throws -> (Int64, String)
    {
        let logger = db.logger
        let id = a.quoteId
        let locked = try await lockForAnswer(id, to: .accepted, by: principal, on: connection)
        let row = try await connection.query(
            """
            SELECT q.version, q.producer_id, q.product_id, q.quantity, q.unit_price_rials, d.status, d.quantity,
              \(unescaped: Self.covered("d.id")),
              p.min_order_qty, p.order_increment
            FROM quotes q JOIN demands d ON d.id = q.demand_id JOIN products p ON p.id = q.product_id WHERE q.id = \(id)
            """, logger: logger
        ).collect()[0]
        let (version, producer, product, quoted, price, demandStatus, wanted, covered, minOrder, increment) =
            try row.decode((Int, Int64, Int64, Int, Int64, String, Int, Int, Int, Int).self)
        // The terms accepted are the terms read: a revision in between is a 412, never an acceptance.
        try EntityTag.check(
            a.ifMatch.joined(separator: ", "), version: version, entity: "quote",
            extra: ["current_version": String(version)])
        guard demandStatus == DemandStatus.open.rawValue else {
            throw APIError(
                .conflict, code: "demand_not_open", title: "Demand not open",
                detail: "Demand \(locked.demand) is \(demandStatus); quotes are accepted on open demands.",
                extra: ["current_status": demandStatus])
        }
        let take = a.quantity ?? quoted
        var v = Validator()
        v.check(take <= quoted, "quantity", "must not exceed the quoted quantity \(quoted)")
        if take < quoted {
            v.check(take >= minOrder, "quantity", "is below the product's minimum order quantity \(minOrder)")
            v.check(take % max(increment, 1) == 0, "quantity", "must be a multiple of the product's order increment \(increment)")
        }
        try v.throwIfInvalid()
        let remaining = wanted - covered
        if take > remaining {
            throw APIError.conflict(
                code: "demand_quantity_covered",
                remaining <= 0
                    ? "Demand \(locked.demand)'s quantity (\(wanted)) is already covered by its orders."
                    : "Only \(remaining) of demand \(locked.demand)'s quantity remain uncovered; accept a smaller quantity.",
                extra: ["remaining_quantity": String(max(remaining, 0))])
        }
        // The product must still meet the demand (a certificate may have expired, packaging changed).
        let still = try await connection.query(
            """
            SELECT 1 FROM demands d JOIN products p ON \(unescaped: Matches.hardFilters())
            WHERE d.id = \(locked.demand) AND p.id = \(product)
            """, logger: logger
        ).collect()
        if still.isEmpty {
            throw APIError(
                .conflict, code: "no_longer_matches", title: "The product no longer meets the demand",
                detail:
                    "Product \(product) no longer passes demand \(locked.demand)'s requirements (listing, certificates, packaging)."
            )
        }
        var body = a.order
        body.producerId = producer
        body.lines = [.init(productId: product, quantity: take)]
        let placed = try await orders.place(
            body, buyer: principal.accountID, agreedPrices: [product: price], by: principal, on: connection)
        try await connection.query(
            """
            UPDATE quotes SET status = 'accepted', order_id = \(placed.id), accepted_quantity = \(take),
              accepted_by = \(principal.accountID), updated_at = now()
            WHERE id = \(id)
            """, logger: logger)
        try await Audit.record(
            on: connection, logger: logger, actor: principal, entityType: "quote", entityID: id, provinceCode: nil,
            action: "quote.accepted", from: "open", to: "accepted", reason: "order \(placed.id), quantity \(take)")
        try await EventLog.record(.quoteAccepted, subject: "quote", from: Self.eventSource([id]), on: connection, logger: logger)
        let json = try await connection.query(
            """
            SELECT (\(unescaped: Self.detailJSON) || jsonb_build_object('order', \(placed.json)::jsonb))::text
            FROM quotes q WHERE q.id = \(id)
            """, logger: logger
        ).collect()[0].decode(String.self)
        return (placed.id, json)
    }

    func decline(_ id: Int64, reason: String, by principal: Principal) async throws -> String {
        try principal.requireBuyer()
        var v = Validator()
        let reason = v.text(reason, "reason", max: 1000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            _ = try await lockForAnswer(id, to: .declined, by: principal, on: connection)
            try await connection.query(
                "UPDATE quotes SET status = 'declined', decline_reason = \(reason), updated_at = now() WHERE id = \(id)",
                logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "quote", entityID: id, provinceCode: nil,
                action: "quote.declined", from: "open", to: "declined", reason: reason)
            try await EventLog.record(
                .quoteDeclined, subject: "quote", from: Self.eventSource([id]), on: connection, logger: logger)
            return try await detail(id, on: connection)
        }
    }

    // MARK: expiry

    /// Expires the open quotes `condition` selects (locked here), audited and announced. `actor`
    /// nil: the service itself (the sweep).
    @discardableResult
    func expire(where condition: SQL, reason: String, actor: Principal?, on connection: PostgresConnection) async throws -> Int {
        let logger = db.logger
        let update: SQL = """
            UPDATE quotes SET status = 'expired', updated_at = now()
            WHERE id IN (SELECT id FROM quotes WHERE \(condition) ORDER BY id FOR UPDATE) RETURNING id
            """
        let ids = try await connection.query(update.query, logger: logger).collect().map { try $0.decode(Int64.self) }
        for id in ids.sorted() {
            try await Audit.record(
                on: connection, logger: logger, actor: actor, actorRole: actor == nil ? "system" : nil, entityType: "quote",
                entityID: id, provinceCode: nil, action: "quote.expired", from: "open", to: "expired", reason: reason)
        }
        if !ids.isEmpty {
            try await EventLog.record(
                .quoteExpired, subject: "quote", from: Self.eventSource(ids), on: connection, logger: logger)
        }
        return ids.count
    }

    /// A closed or cancelled demand's open quotes expire with it (in the demand's transaction).
    static func expireOpen(demand: Int64, by principal: Principal, db: Database, on connection: PostgresConnection) async throws {
        try await Quotes(db: db, orders: Orders(db: db)).expire(
            where: "demand_id = \(demand) AND status = 'open'", reason: "demand \(demand) closed", actor: principal,
            on: connection)
    }

    /// Expires open quotes past valid_until and announces, once each, those within
    /// `expiringNotice` of it. Due quotes are taken `FOR UPDATE SKIP LOCKED` in batches, so several
    /// instances split the work and never wait for a quote being answered; the announcement's
    /// "once" is a row in notification_sweeps. `now` (tests) defaults to the database's clock.
    public func sweep(now: Date? = nil) async throws -> (expired: Int, expiring: Int) {
        var expired = 0
        while true {
            let n = try await db.transaction { connection in
                let ids = try await connection.query(
                    """
                    SELECT id FROM quotes WHERE status = 'open' AND valid_until <= coalesce(\(now)::timestamptz, now())
                    ORDER BY id LIMIT \(Self.batchSize) FOR UPDATE SKIP LOCKED
                    """, logger: db.logger
                ).collect().map { try $0.decode(Int64.self) }
                if ids.isEmpty { return 0 }
                return try await expire(
                    where: "id = ANY(\(ids)) AND status = 'open'", reason: "past valid_until", actor: nil, on: connection)
            }
            expired += n
            if n < Self.batchSize { break }
        }
        let expiring = try await db.transaction { connection in
            let ids = try await connection.query(
                """
                INSERT INTO notification_sweeps (event_type, subject_id)
                SELECT 'quote.expiring', q.id FROM quotes q
                WHERE q.status = 'open' AND q.valid_until > coalesce(\(now)::timestamptz, now())
                  AND q.valid_until <= coalesce(\(now)::timestamptz, now()) + \(Self.expiringNotice) * interval '1 second'
                ON CONFLICT DO NOTHING RETURNING subject_id
                """, logger: db.logger
            ).collect().map { try $0.decode(Int64.self) }
            if !ids.isEmpty {
                try await EventLog.record(
                    .quoteExpiring, subject: "quote", from: Self.eventSource(ids), on: connection, logger: db.logger)
            }
            return ids.count
        }
        return (expired, expiring)
    }

    // MARK: reads

    /// The quote and its version (the ETag `If-Match` names to accept it).
    func get(_ id: Int64, principal: Principal) async throws -> (String, Int) {
        try principal.require(.admin, .partner, .producer)
        let query: SQL =
            "SELECT \(unescaped: Self.detailJSON)::text, q.version FROM quotes q WHERE q.id = \(id) AND \(visibility(principal))"
        guard let row = try await db.rows(query.query).first else { throw APIError.notFound("Quote \(id)") }
        return try row.decode((String, Int).self)
    }

    /// Accepting names the version read: `If-Match` with the quote's ETag (`"3"`, the `version`
    /// of GET /v1/quotes/{id} or of the comparison). Without it, or with only `*`, 428.
    static func requireIfMatch(_ request: Request) throws -> [String] {
        let tags = (request.headers[.ifMatch] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty && $0 != "*" }
        guard !tags.isEmpty else {
            throw APIError(
                .preconditionRequired, code: "if_match_required", title: "If-Match is required to accept a quote",
                detail: "Send If-Match with the ETag of the quote as you read it (GET /v1/quotes/{id}: its version in quotes, "
                    + "e.g. \"2\"); `*` names no version.")
        }
        return tags
    }

    func filters(_ request: Request, principal: Principal) throws -> [SQL?] {
        let status = try QuoteStatus.query(request.uri.queryParameters.get("status"), field: "status")
        let demand = try request.intQuery("demand_id")
        return [
            visibility(principal), status.map { "\(unescaped: Self.status) = \($0.rawValue)" },
            demand.map { "q.demand_id = \(Int64($0))" },
        ]
    }

    func list(request: Request, principal: Principal) async throws -> Response {
        try principal.require(.admin, .partner, .producer)
        let conditions = try filters(request, principal: principal)
        if try CSV.requested(request) {
            let query: SQL = """
                SELECT \(unescaped: Self.json)::text FROM quotes q WHERE \(conditions.compactMap { $0 }.joined(separator: " AND "))
                ORDER BY q.id LIMIT \(literal: Self.csvLimit + 1)
                """
            let rows = try await db.rows(query.query).map { try $0.decode(String.self) }
            // Never a silently cut file (decision 93).
            guard rows.count <= Self.csvLimit else {
                throw APIError(
                    .unprocessableContent, code: "export_too_large", title: "Too many rows for one file",
                    detail: "More than \(Self.csvLimit) quotes match; narrow status or demand_id and export in parts.")
            }
            return Self.csv(rows.map { (Self.object($0), nil) }, request: request, filename: "quotes.csv")
        }
        let page = try Page(request: request)
        return JSONResponse.raw(
            try await page.read(
                "SELECT q.id, \(unescaped: Self.json)::text FROM quotes q", key: "q.id", where: conditions, from: db))
    }

    // MARK: comparison

    struct Compared {
        var text: String
        var json: [String: Any]
        var quoteID: Int64
        var productID: Int64
        var producerID: Int64
        var quantity: Int
        var status: String
        var meets: Bool
        var breakdown: ScoreBreakdown
    }

    /// A demand's quotes (all, or those of `status`), each scored like a match at its own price and
    /// quantity, best first.
    func compared(_ demand: Matches.Demand, id: Int64, status: QuoteStatus?) async throws -> [Compared] {
        let query: SQL = """
            WITH base AS MATERIALIZED (\(Matches.scoredCandidates(demand, offers: .quotes(demand: id))))
            SELECT b.quote_id, b.id, b.producer_id, \(unescaped: Self.json)::text, \(unescaped: Self.status), b.meets_requirements,
              b.price, b.capacity, b.province, b.delivery_record, b.certificates, b.keywords, b.province_priority
            FROM base b JOIN quotes q ON q.id = b.quote_id
            WHERE \(status?.rawValue)::text IS NULL OR \(unescaped: Self.status) = \(status?.rawValue)
            """
        var result: [Compared] = []
        for row in try await db.rows(query.query) {
            let r = try row.decode(
                (Int64, Int64, Int64, String, String, Bool, Double, Double, Double, Double, Double, Double, Double).self)
            let breakdown = ScoreBreakdown(
                price: r.6, capacity: r.7, province: r.8, deliveryRecord: r.9, certificates: r.10, keywords: r.11,
                provincePriority: r.12)
            let object = Self.object(r.3)
            result.append(
                Compared(
                    text: r.3, json: object, quoteID: r.0, productID: r.1, producerID: r.2,
                    quantity: (object["quantity"] as? NSNumber)?.intValue ?? 0, status: r.4, meets: r.5, breakdown: breakdown))
        }
        return result.sorted { ($0.breakdown.scoreUnits, -$0.quoteID) > ($1.breakdown.scoreUnits, -$1.quoteID) }
    }

    func compare(_ id: Int64, request: Request, principal: Principal) async throws -> Response {
        let status = try QuoteStatus.query(request.uri.queryParameters.get("status"), field: "status")
        let wantsCSV = try CSV.requested(request)
        let demand = try await Matches(db: db).demand(id, principal: principal)
        let quotes = try await compared(demand, id: id, status: status)
        if wantsCSV {
            return Self.csv(quotes.map { ($0.json, $0.breakdown.score) }, request: request, filename: "demand-\(id)-quotes.csv")
        }
        let covered = try await db.rows("SELECT \(unescaped: Self.covered(String(id)))")[0].decode(Int.self)
        let remaining = max(0, demand.quantity - covered)
        var pool: PoolJSON? = nil
        let open = (status == nil || status == .open ? quotes : try await compared(demand, id: id, status: .open))
            .filter { $0.status == QuoteStatus.open.rawValue && $0.meets }
        if remaining > 0 && !open.isEmpty {
            let byProduct = Dictionary(uniqueKeysWithValues: open.map { ($0.productID, $0) })
            let selected = Pool.select(
                quantity: remaining,
                candidates: open.map {
                    Pool.Candidate(
                        productID: $0.productID, producerID: $0.producerID, supply: $0.quantity,
                        scoreUnits: $0.breakdown.scoreUnits)
                })
            pool = PoolJSON(
                coversQuantity: selected.shortfall == 0, pooledQuantity: selected.covered, shortfall: selected.shortfall,
                producerCount: Set(selected.members.map(\.candidate.producerID)).count,
                members: selected.members.map { m in
                    let q = byProduct[m.candidate.productID]!
                    return PoolMemberJSON(
                        quoteId: q.quoteID, productId: q.productID, producerId: q.producerID, quantity: m.quantity,
                        share: ScoreBreakdown.round(Double(m.quantity) / Double(remaining)), score: q.breakdown.score)
                })
        }
        // Each quote as GET /v1/quotes/{id} shows it (PostgreSQL's JSON), with its score added.
        let items = try quotes.map { q -> String in
            let scored = try JSONResponse.encode(
                ScoredJSON(score: q.breakdown.score, breakdown: q.breakdown, meetsRequirements: q.meets))
            return String(q.text.dropLast()) + "," + String(scored.dropFirst())
        }
        let head = try JSONResponse.encode(
            ComparisonJSON(
                demandId: id, quantity: demand.quantity, acceptedQuantity: covered, remainingQuantity: remaining,
                weights: demand.weights, pool: pool))
        return JSONResponse.raw(String(head.dropLast()) + ",\"quotes\":[" + items.joined(separator: ",") + "]}")
    }

    struct ScoredJSON: Encodable {
        var score: Double
        var breakdown: ScoreBreakdown
        var meetsRequirements: Bool
    }

    struct PoolMemberJSON: Encodable {
        var quoteId: Int64
        var productId: Int64
        var producerId: Int64
        var quantity: Int
        var share: Double
        var score: Double
    }

    struct PoolJSON: Encodable {
        var coversQuantity: Bool
        var pooledQuantity: Int
        var shortfall: Int
        var producerCount: Int
        var members: [PoolMemberJSON]
    }

    struct ComparisonJSON: Encodable {
        var demandId: Int64
        var quantity: Int
        var acceptedQuantity: Int
        var remainingQuantity: Int
        var weights: MatchWeights.Table
        var pool: PoolJSON?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(demandId, forKey: .demandId)
            try c.encode(quantity, forKey: .quantity)
            try c.encode(acceptedQuantity, forKey: .acceptedQuantity)
            try c.encode(remainingQuantity, forKey: .remainingQuantity)
            try c.encode(weights, forKey: .weights)
            try c.encode(pool, forKey: .pool)  // null when nothing remains or no open quote
        }
        enum CodingKeys: String, CodingKey { case demandId, quantity, acceptedQuantity, remainingQuantity, weights, pool }
    }

    /// The quotes as a spreadsheet (UTF-8 with BOM); Persian headings for `Accept-Language: fa`.
    static func csv(_ quotes: [([String: Any], Double?)], request: Request, filename: String) -> Response {
        let columns: [(key: String, en: String, fa: String)] = [
            ("id", "quote_id", "شناسه پیشنهاد"), ("demand_id", "demand_id", "شناسه درخواست"),
            ("product_id", "product_id", "شناسه محصول"), ("title_fa", "title_fa", "عنوان محصول"),
            ("producer_id", "producer_id", "شناسه تولیدکننده"), ("province_code", "province_code", "استان"),
            ("version", "version", "نسخه"), ("quantity", "quantity", "مقدار"),
            ("unit_price_rials", "unit_price_rials", "قیمت واحد (ریال)"), ("total_rials", "total_rials", "جمع (ریال)"),
            ("lead_time_days", "lead_time_days", "زمان تحویل (روز)"), ("valid_until", "valid_until", "معتبر تا"),
            ("status", "status", "وضعیت"), ("order_id", "order_id", "شناسه سفارش"),
            ("accepted_quantity", "accepted_quantity", "مقدار پذیرفته"), ("note", "note", "توضیح"),
            ("created_at", "created_at", "زمان ثبت"),
        ]
        let persian = CSV.persian(request)
        let scored = quotes.contains { $0.1 != nil }
        var header = columns.map { persian ? $0.fa : $0.en }
        if scored { header.append(persian ? "امتیاز" : "score") }
        let rows = quotes.map { (object, score) -> [String] in
            var row = columns.map { column -> String in
                switch object[column.key] {
                case let n as NSNumber: return n.stringValue
                case let s as String: return s
                default: return ""
                }
            }
            if scored { row.append(score.map { String($0) } ?? "") }
            return row
        }
        return CSV.response(CSV.document(header: header, rows: rows), filename: filename, language: persian ? "fa" : nil)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/demands/{id}/quotes") { request, context in
            let principal = try context.require(.producer)
            let demand = try context.id(what: "Demand")
            let body = try await JSONBody.decode(QuoteRequest.self, from: request, context: context)
            let (id, json) = try await create(demand: demand, body, by: principal)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/quotes/\(id)"])
        }
        routes.get("/v1/demands/{id}/quotes") { request, context in
            let principal = try context.require(.admin, .partner)
            return try await compare(try context.id(what: "Demand"), request: request, principal: principal)
        }
        routes.get("/v1/quotes") { request, context in
            try await list(request: request, principal: try context.requirePrincipal())
        }
        routes.get("/v1/quotes/{id}") { _, context in
            let (json, version) = try await get(try context.id(what: "Quote"), principal: try context.requirePrincipal())
            return JSONResponse.raw(json, headers: [.eTag: EntityTag.of(version)])
        }
        routes.post("/v1/quotes/{id}/revisions") { request, context in
            let principal = try context.require(.producer)
            let id = try context.id(what: "Quote")
            let body = try await JSONBody.decode(QuoteRevisionRequest.self, from: request, context: context)
            return JSONResponse.raw(try await revise(id, body, by: principal))
        }
        routes.post("/v1/quotes/{id}/withdraw") { _, context in
            let principal = try context.require(.producer)
            return JSONResponse.raw(try await withdraw(try context.id(what: "Quote"), by: principal))
        }
        routes.post("/v1/quotes/{id}/accept") { request, context in
            let principal = try context.require(.partner)
            try principal.requireBuyer()
            let id = try context.id(what: "Quote")
            return try await Idempotency.post(
                request, context: context, db: db, by: principal, operation: "POST /v1/quotes/{id}/accept",
                decoding: QuoteAcceptRequest.self,
                validate: { body in
                    if let quantity = body.quantity, !(1...1_000_000).contains(quantity) {
                        throw APIError.validation(field: "quantity", "must be from 1 to 1000000")
                    }
                    // The delivery block and note follow the order rules exactly (they become the order's).
                    let order = try Orders.validate(
                        OrderRequest(
                            producerId: 0, lines: [.init(productId: 0, quantity: 1)], delivery: body.delivery, note: body.note))
                    return QuoteAcceptance(
                        quoteId: id, quantity: body.quantity, ifMatch: try Self.requireIfMatch(request), order: order)
                }
            ) { acceptance, connection in
                try await accept(acceptance, by: principal, on: connection)
            } reply: { accepted in
                Idempotency.Reply(status: .ok, json: accepted.1, headers: [.location: "/v1/orders/\(accepted.0)"])
            }
        }
        routes.post("/v1/quotes/{id}/decline") { request, context in
            let principal = try context.require(.partner)
            let id = try context.id(what: "Quote")
            let body = try await JSONBody.decode(DeclineRequest.self, from: request, context: context)
            return JSONResponse.raw(try await decline(id, reason: body.reason, by: principal))
        }
    }
}

/// Runs `Quotes.sweep` every `interval` in the background of each instance. Safe with several
/// instances: see `sweep`.
public struct QuoteSweeper: Service {
    let quotes: Quotes
    let interval: Duration

    public init(quotes: Quotes, every interval: Duration) {
        self.quotes = quotes
        self.interval = interval
    }

    public func run() async throws {
        let logger = quotes.db.logger
        await Periodic.run(every: interval, logger: logger, failure: "quote sweep failed") {
            let (expired, expiring) = try await quotes.sweep()
            if expired + expiring > 0 {
                logger.info("quote deadlines applied", metadata: ["expired": "\(expired)", "expiring": "\(expiring)"])
            }
            return false
        }
    }
}
