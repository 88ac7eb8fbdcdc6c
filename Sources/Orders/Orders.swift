import BazaarcheCore
import Catalog
import Foundation
import ServiceLifecycle

public enum OrderStatus: String, APIEnum {
    case placed, accepted, rejected, packed, shipped, delivered, cancelled, expired, disputed
    case disputeUpheld = "dispute_upheld"

    /// placed → accepted → packed → shipped → delivered; placed → rejected | cancelled | expired;
    /// accepted → cancelled; shipped → disputed → delivered | dispute_upheld.
    public func canMove(to target: OrderStatus) -> Bool {
        switch (self, target) {
        case (.placed, .accepted), (.placed, .rejected), (.accepted, .packed), (.packed, .shipped), (.shipped, .delivered),
            (.placed, .cancelled), (.accepted, .cancelled), (.placed, .expired), (.shipped, .disputed), (.disputed, .delivered),
            (.disputed, .disputeUpheld):
            return true
        default:
            return false
        }
    }

    /// Moves after which the reserved stock goes back on the shelf.
    public var releasesStock: Bool { self == .rejected || self == .cancelled || self == .expired }

    /// Who may make the move: the producer runs fulfilment; the buyer (partner) cancels, confirms
    /// delivery or disputes it. Staff (the province's supervisor, an admin) only settle disputes:
    /// for the producer (`delivered`) or against it (`dispute_upheld`), since otherwise a buyer
    /// could hold a delivery out of the record forever. Nobody moves an order to `placed`, and
    /// only the service itself (the sweeper) to `expired`.
    public func allowed(for role: Role, from current: OrderStatus) -> Bool {
        switch (self, role) {
        case (.accepted, .producer), (.rejected, .producer), (.packed, .producer), (.shipped, .producer): true
        case (.cancelled, .partner), (.delivered, .partner), (.disputed, .partner): true
        case (.delivered, .supervisor), (.delivered, .admin), (.disputeUpheld, .supervisor), (.disputeUpheld, .admin):
            current == .disputed
        default: false
        }
    }

    /// Staff moves settle a dispute; they need a reason.
    public static let staffRoles: Set<Role> = [.supervisor, .admin]
}

/// Why a producer declines an order. Every rejection counts against its delivery record unless
/// the reason is buyer-side and the buyer (or staff) confirms it.
public enum OrderRejectionReason: String, APIEnum {
    // The producer cannot supply.
    case outOfStock = "out_of_stock"
    case cannotMeetTerms = "cannot_meet_terms"
    case capacity
    case otherProducer = "other_producer"
    // The buyer is the problem.
    case buyerUnreachable = "buyer_unreachable"
    case buyerRequest = "buyer_request"
    case suspectedFraud = "suspected_fraud"
    case deliveryAddressInvalid = "delivery_address_invalid"

    /// A buyer-side reason is still the producer's word: the rejection counts as a failure until
    /// the buyer (or staff) confirms it (`orders_rejection_confirmed_at_check` in sql/0011).
    public var isBuyerSide: Bool {
        switch self {
        case .outOfStock, .cannotMeetTerms, .capacity, .otherProducer: false
        case .buyerUnreachable, .buyerRequest, .suspectedFraud, .deliveryAddressInvalid: true
        }
    }
}

/// The order deadlines (BAZAARCHE_ORDER_ACCEPT_HOURS, BAZAARCHE_ORDER_CONFIRM_DAYS).
public struct OrderSettings: Sendable {
    /// A placed order not accepted within this many hours expires.
    public var acceptHours: Int
    /// A shipped order not disputed within this many days counts as delivered.
    public var confirmDays: Int
    /// Orders the sweeper moves per transaction.
    public var batchSize: Int

    public init(acceptHours: Int = 72, confirmDays: Int = 14, batchSize: Int = 200) {
        self.acceptHours = acceptHours
        self.confirmDays = confirmDays
        self.batchSize = batchSize
    }
}

package struct OrderLineRequest: Codable, Sendable {
    package var productId: Int64
    package var quantity: Int
    package init(productId: Int64, quantity: Int) {
        self.productId = productId
        self.quantity = quantity
    }
}

package struct DeliveryRequest: Codable, Sendable {
    package var provinceCode: String
    package var city: String
    package var address: String
    package var recipient: String
    package var phone: String
}

package struct OrderRequest: Codable, Sendable {
    package var producerId: Int64
    package var lines: [OrderLineRequest]
    package var delivery: DeliveryRequest
    package var note: String?
    package init(producerId: Int64, lines: [OrderLineRequest], delivery: DeliveryRequest, note: String?) {
        self.producerId = producerId
        self.lines = lines
        self.delivery = delivery
        self.note = note
    }
}

struct RejectionConfirmationRequest: Decodable {
    var reason: String?
}

struct OrderTransitionRequest: Decodable {
    var to: OrderStatus
    var reason: String?
    var reasonCode: OrderRejectionReason?
    var trackingCode: String?
}

/// What placement made: the order's id, version (its ETag) and detail JSON (built by PostgreSQL).
/// The route decides the response (201, Location, ETag); an accepted invitation links the id.
package struct PlacedOrder: Sendable {
    package var id: Int64
    package var version: Int
    package var json: String
}

/// A product of an order being placed, locked for the placement.
private struct LockedProduct {
    var producer: Int64
    var searchable: Bool
    /// The listed (base) price.
    var listPrice: Int64
    /// The price agreed in an invitation or quote, which overrides list and tier prices.
    var agreedPrice: Int64?
    var tiers: [PriceTier]
    var increment: Int
    var stock: Int
    var minOrder: Int
    var title: String
    var unit: String

    /// The unit price charged for `quantity` and where it came from (order_lines.price_source).
    func charge(for quantity: Int) -> (price: Int64, source: String) {
        if let agreedPrice { return (agreedPrice, "agreed") }
        let price = PriceTiers.unitPrice(base: listPrice, tiers: tiers, quantity: quantity)
        return (price, price == listPrice ? "list" : "tier")
    }
}

/// B2B orders: placement with stock reservation, safe retries, and the fulfilment lifecycle.
public struct Orders: Sendable {
    let db: Database
    let settings: OrderSettings

    public init(db: Database, settings: OrderSettings = OrderSettings()) {
        self.db = db
        self.settings = settings
    }

    static let json = """
        json_build_object('id', o.id, 'partner_account_id', o.partner_account_id, 'producer_id', o.producer_id,
          'province_code', o.province_code, 'status', o.status, 'total_rials', o.total_rials,
          'delivery', json_build_object('province_code', o.delivery_province_code, 'city', o.delivery_city,
             'address', o.delivery_address, 'recipient', o.delivery_recipient, 'phone', o.delivery_phone),
          'note', o.note, 'tracking_code', o.tracking_code,
          'expires_at', api_time(CASE WHEN o.status = 'placed' THEN o.expires_at END),
          'confirm_by', api_time(CASE WHEN o.status = 'shipped' THEN o.confirm_by END),
          'rejection_reason_code', o.rejection_reason_code, 'rejection_confirmed_at', api_time(o.rejection_confirmed_at),
          'lines', (SELECT json_agg(json_build_object('line_no', l.line_no, 'product_id', l.product_id, 'title_fa', l.title_fa,
                       'unit', l.unit, 'quantity', l.quantity, 'unit_price_rials', l.unit_price_rials,
                       'list_price_rials', l.list_price_rials, 'price_source', l.price_source,
                       'line_total_rials', l.line_total_rials) ORDER BY l.line_no)
                    FROM order_lines l WHERE l.order_id = o.id),
          'created_at', api_time(o.created_at), 'updated_at', api_time(o.updated_at))
        """

    /// The order (alias `o`) with its history, as GET /v1/orders/{id} returns it (jsonb): one
    /// definition in sql/0028 shared by the reads, placement (`place_order`) and the outbox events.
    /// Its fields without `history` must stay those of `json` (the list).
    package static let detailJSON = "order_detail_json(o)"

    static func etag(_ version: Int) -> String { EntityTag.of(version) }

    /// The rows `EventLog.record` needs for orders `ids`: the order as GET /v1/orders/{id} shows it,
    /// seen by its province's staff, its producer and the buyer's company.
    package static func eventSource(_ ids: [Int64]) -> SQL {
        """
        SELECT o.id, \(unescaped: detailJSON), o.province_code, o.producer_id, o.partner_id
        FROM orders o WHERE o.id = ANY(\(ids))
        """
    }

    // MARK: placement

    package static func validate(_ body: OrderRequest) throws -> OrderRequest {
        var v = Validator()
        var body = body
        v.check((1...50).contains(body.lines.count), "lines", "must hold 1 to 50 lines")
        var seen = Set<Int64>()
        for (i, line) in body.lines.enumerated() {
            v.check((1...1_000_000).contains(line.quantity), "lines[\(i)].quantity", "must be from 1 to 1000000")
            v.check(
                seen.insert(line.productId).inserted, "lines[\(i)].product_id",
                "appears twice; put the whole quantity on one line")
        }
        body.delivery.city = v.text(body.delivery.city, "delivery.city", max: 100)
        body.delivery.address = v.text(body.delivery.address, "delivery.address", max: 500)
        body.delivery.recipient = v.text(body.delivery.recipient, "delivery.recipient", max: 200)
        body.delivery.phone = Phone.normalize(body.delivery.phone)
        v.check(Phone.isValid(body.delivery.phone), "delivery.phone", "must be an 11-digit Iranian phone number starting with 0")
        body.note = v.optionalText(body.note, "note", max: 2000)
        try v.throwIfInvalid()
        return body
    }

    #if BAZAARCHE_BENCH_NO_EVENTS
        // scripts/bench-outbox: the same service without its outbox (EventLog.record returns at once).
        static let withEvent = false
    #else
        static let withEvent = true
    #endif

    /// Places the order on `connection` (inside the caller's transaction) in one statement,
    /// `place_order` (sql/0028): checks the producer and every line, locks the products in id order
    /// (no deadlocks between orders), reserves stock, writes the order, its lines, history, audit
    /// row and outbox event. An accepted invitation or quote places through here too, for `buyer`
    /// (the inviting partner account) at its `agreedPrices` (by product id) instead of the listed ones.
    /// A refusal leaves the caller's transaction aborted: callers roll back (or to a savepoint).
    package func place(
        _ body: OrderRequest, buyer: Int64? = nil, agreedPrices: [Int64: Int64] = [:], by principal: Principal,
        on connection: PostgresConnection
    ) async throws -> PlacedOrder {
        let agreed = agreedPrices.sorted { $0.key < $1.key }
        do {
            let rows = try await connection.run(
                Prepared<Placement.Place>(
                    buyer ?? principal.accountID, body.producerId, body.delivery.provinceCode, body.delivery.city,
                    body.delivery.address, body.delivery.recipient, body.delivery.phone, body.note,
                    body.lines.map(\.productId), body.lines.map(\.quantity), agreed.map(\.key), agreed.map(\.value),
                    principal.accountID, principal.role.rawValue, settings.acceptHours, Self.withEvent),
                logger: db.logger)
            let (id, version, json) = try rows[0].decode((Int64, Int, String).self)
            return PlacedOrder(id: id, version: version, json: json)
        } catch let error as PSQLError {
            throw Self.refusal(error, body, agreedPrices: agreedPrices)
        }
    }

    /// POST /v1/orders: claims the Idempotency-Key, places and stores the 201 response in one
    /// statement, `place_order_keyed` (sql/0028). A refusal comes back as `Idempotency.Refused`
    /// (the statement rolled back), which Idempotency stores for retries.
    func placeKeyed(
        _ body: OrderRequest, claim: Idempotency.Claim, by principal: Principal, on connection: PostgresConnection
    ) async throws -> Idempotency.Attempt {
        let row: PostgresRow
        do {
            row = try await connection.run(
                Prepared<Placement.PlaceKeyed>(
                    claim.accountID, claim.key, claim.operation, claim.fingerprint, body.producerId,
                    body.delivery.provinceCode, body.delivery.city, body.delivery.address, body.delivery.recipient,
                    body.delivery.phone, body.note, body.lines.map(\.productId), body.lines.map(\.quantity),
                    principal.role.rawValue, settings.acceptHours, Self.withEvent),
                logger: db.logger)[0]
        } catch let error as PSQLError {
            let refusal = Self.refusal(error, body, agreedPrices: [:])
            if let refusal = refusal as? APIError { throw Idempotency.Refused(refusal) }
            throw refusal
        }
        let (claimed, same, status, json, eTag, location, retryAfter) = try row.decode(
            (Bool, Bool?, Int?, String?, String?, String?, String?).self)
        guard claimed, let json, let eTag, let location else {
            return .existing(same: same, status: status, body: json, eTag: eTag, location: location, retryAfter: retryAfter)
        }
        return .done(Idempotency.Reply(status: .created, json: json, headers: [.location: location, .eTag: eTag]))
    }

    /// What `place_order` read when it refused (SQLSTATE BZ001, the DETAIL as JSON): the producer
    /// and the locked products. The checks below run on them to word the refusal, so the rules'
    /// messages have one source.
    private struct Refusal: Decodable {
        struct Producer: Decodable {
            var status: String
            var provinceCode: String
            var knownProvince: Bool
        }
        struct Product: Decodable {
            var id: Int64
            var producerId: Int64
            var searchable: Bool
            var priceRials: Int64
            var stock: Int
            var minOrderQty: Int
            var titleFa: String
            var unit: String
            var priceTiers: [PriceTier]
            var orderIncrement: Int
        }
        var producer: Producer?
        var products: [Product]
    }

    static let refusedState = "BZ001"

    /// The APIError a `place_order` refusal stands for; any other database error unchanged.
    private static func refusal(_ error: PSQLError, _ body: OrderRequest, agreedPrices: [Int64: Int64]) -> any Error {
        guard error.serverInfo?[.sqlState] == refusedState, let detail = error.serverInfo?[.detail] else { return error }
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let refusal = try decoder.decode(Refusal.self, from: Data(detail.utf8))
            try checkProducer(refusal.producer)
            var products: [Int64: LockedProduct] = [:]
            for p in refusal.products {
                products[p.id] = LockedProduct(
                    producer: p.producerId, searchable: p.searchable, listPrice: p.priceRials, agreedPrice: agreedPrices[p.id],
                    tiers: p.priceTiers, increment: p.orderIncrement, stock: p.stock, minOrder: p.minOrderQty, title: p.titleFa,
                    unit: p.unit)
            }
            try checkLines(body, products)
            try checkStock(body, products)
            _ = try total(body, products)
        } catch {
            return error
        }
        // The database refused but no check does: the two disagree, which is a bug of ours.
        return error
    }

    /// The order's producer must be verified (only their products can be ordered) and the delivery
    /// province a known one.
    private static func checkProducer(_ producer: Refusal.Producer?) throws {
        guard let producer else { throw APIError.validation(field: "producer_id", "is not a producer") }
        guard producer.status == "verified" else {
            throw APIError.validation(field: "producer_id", "is not a producer whose products can be ordered")
        }
        if !producer.knownProvince { throw APIError.validation(field: "delivery.province_code", "is not a known province") }
    }

    /// Every line names a listed product of the order's producer, at least its minimum order quantity
    /// and a multiple of its order increment (pack size). A line at an agreed price is exempt from
    /// the increment: the producer accepted that exact quantity (docs/decisions.md).
    private static func checkLines(_ body: OrderRequest, _ products: [Int64: LockedProduct]) throws {
        var v = Validator()
        for (i, line) in body.lines.enumerated() {
            guard let p = products[line.productId], p.producer == body.producerId, p.searchable else {
                v.add("lines[\(i)].product_id", "is not a listed product of producer \(body.producerId)")
                continue
            }
            v.check(line.quantity >= p.minOrder, "lines[\(i)].quantity", "is below the minimum order quantity \(p.minOrder)")
            if p.agreedPrice == nil && line.quantity % p.increment != 0 {
                let below = line.quantity / p.increment * p.increment
                v.add(
                    "lines[\(i)].quantity",
                    below > 0
                        ? "must be a multiple of the order increment \(p.increment) (for example \(below) or \(below + p.increment))"
                        : "must be a multiple of the order increment \(p.increment)")
            }
        }
        try v.throwIfInvalid()
    }

    /// A conflict naming every line with more ordered than is in stock.
    private static func checkStock(_ body: OrderRequest, _ products: [Int64: LockedProduct]) throws {
        let short = body.lines.filter { products[$0.productId]!.stock < $0.quantity }
        if let first = short.first {
            let available = products[first.productId]!.stock
            throw APIError(
                .conflict, code: "insufficient_stock", title: "Not enough stock",
                detail: "Product \(first.productId) has \(available) available; \(first.quantity) were ordered.",
                errors: short.map { line in
                    FieldError(
                        "lines[\(body.lines.firstIndex { $0.productId == line.productId }!)].quantity",
                        "only \(products[line.productId]!.stock) available")
                },
                extra: ["product_id": String(first.productId), "available": String(available)])
        }
    }

    /// The order total; one too large for a bigint is refused, never wrapped.
    private static func total(_ body: OrderRequest, _ products: [Int64: LockedProduct]) throws -> Int64 {
        var total: Int64 = 0
        for line in body.lines {
            let price = products[line.productId]!.charge(for: line.quantity).price
            let (product, overflow) = price.multipliedReportingOverflow(by: Int64(line.quantity))
            let (sum, overflow2) = total.addingReportingOverflow(product)
            if overflow || overflow2 { throw APIError.validation(field: "lines", "the order total is too large") }
            total = sum
        }
        return total
    }

    /// The statements of order placement (sql/0028). Every parameter is cast: the function's
    /// signature must resolve whatever types the bindings carry (NULL note included).
    enum Placement {
        enum Place: StatementSQL {
            static let sql = """
                SELECT placed_id, placed_version, placed_json
                FROM place_order($1::bigint, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text,
                  $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint, $14::text, $15::int, $16::boolean)
                """
        }
        enum PlaceKeyed: StatementSQL {
            static let sql = """
                SELECT claimed, same_request, response_status, response_body, etag, location, retry_after
                FROM place_order_keyed($1::bigint, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::text, $8::text,
                  $9::text, $10::text, $11::text, $12::bigint[], $13::bigint[], $14::text, $15::int, $16::boolean)
                """
        }
    }

    // MARK: lifecycle

    /// Who reaches an order is `Access`'s rule for `.order` (the buying company, its producer, its
    /// province's supervisor, admins); reads and locks put it in the WHERE clause, this checks the row again.
    func visible(
        _ order: (partner: Int64, company: Int64?, producer: Int64, province: String), to principal: Principal
    ) -> Bool {
        principal.access(.order).allows(
            Access.Owner(province: order.province, producer: order.producer, partner: order.company, buyer: order.partner))
    }

    private enum Moved: Sendable {
        case moved(String, Int)
        /// The order was placed but past its accept-by time: it has just been expired instead.
        case expired
    }

    func transition(
        _ id: Int64, _ body: OrderTransitionRequest, ifMatch: String?, by principal: Principal
    ) async throws -> (String, Int) {
        let (reason, tracking) = try Self.validateTransition(body, by: principal)
        let outcome = try await db.transaction { connection -> Moved in
            let order = try await lockForMove(id, to: body.to, ifMatch: ifMatch, by: principal, on: connection)
            if order.overdue {
                // Honest before the sweeper comes by: past its accept-by time the order is expired, whatever was asked.
                try await expire([id], on: connection)
                return .expired
            }
            let current = OrderStatus(rawValue: order.status)!
            guard current.canMove(to: body.to) else {
                throw APIError.invalidTransition(entity: "order", from: current.rawValue, to: body.to.rawValue)
            }
            if body.to.releasesStock { try await releaseStock([id], on: connection) }
            let (json, version) = try await move(
                id, from: order.status, body, reason: reason, tracking: tracking, province: order.province, by: principal,
                on: connection)
            return .moved(json, version)
        }
        switch outcome {
        case .moved(let json, let version): return (json, version)
        case .expired:
            throw APIError.conflict(
                code: "order_expired",
                "The order was not accepted by its accept-by time (expires_at) and has expired; its stock is released.",
                extra: ["current_status": OrderStatus.expired.rawValue])
        }
    }

    /// The move's reason and tracking code, checked against what the target status needs.
    static func validateTransition(
        _ body: OrderTransitionRequest, by principal: Principal
    ) throws -> (reason: String?, tracking: String?) {
        var v = Validator()
        let reason = v.optionalText(body.reason, "reason", max: 1000)
        let tracking = v.optionalText(body.trackingCode, "tracking_code", max: 100)
        if body.to == .shipped && tracking == nil { v.add("tracking_code", "is required to ship") }
        if body.to == .rejected && body.reasonCode == nil {
            v.add("reason_code", "is required to reject: say whether the producer cannot supply or the buyer is the problem")
        }
        if body.to != .rejected && body.reasonCode != nil { v.add("reason_code", "is only given when rejecting") }
        if body.to == .disputed && reason == nil { v.add("reason", "is required to dispute a delivery") }
        let staff = OrderStatus.staffRoles.contains(principal.role)
        if staff && (body.to == .delivered || body.to == .disputeUpheld) && reason == nil {
            v.add("reason", "is required to settle a dispute: say what was decided and why")
        }
        try v.throwIfInvalid()
        return (reason, tracking)
    }

    /// Locks the order if the principal reaches it and may move it to `target`, at the version
    /// `ifMatch` names; `overdue` is a placed order past its accept-by time.
    private func lockForMove(
        _ id: Int64, to target: OrderStatus, ifMatch: String?, by principal: Principal, on connection: PostgresConnection
    ) async throws -> (province: String, status: String, overdue: Bool) {
        let locked: SQL = """
            SELECT o.partner_account_id, o.partner_id, o.producer_id, o.province_code, o.status, o.version,
              o.status = 'placed' AND o.expires_at <= now()
            FROM orders o WHERE o.id = \(id) AND \(principal.access(.order).condition(alias: "o")) FOR UPDATE
            """
        let rows = try await connection.query(locked.query, logger: db.logger).collect()
        guard let row = rows.first else { throw APIError.notFound("Order \(id)") }
        let (partner, company, producer, province, status, version, overdue) = try row.decode(
            (Int64, Int64?, Int64, String, String, Int, Bool).self)
        guard visible((partner, company, producer, province), to: principal) else { throw APIError.notFound("Order \(id)") }
        guard target.allowed(for: principal.role, from: OrderStatus(rawValue: status)!) else {
            if OrderStatus.staffRoles.contains(principal.role) {
                throw APIError.forbidden(
                    "Staff only settle disputes: a disputed order moves to delivered (for the producer) or dispute_upheld.")
            }
            throw APIError.forbidden("The \(principal.role.rawValue) role cannot move an order to \(target.rawValue).")
        }
        try EntityTag.check(ifMatch, version: version, entity: "order", extra: ["current_status": status])
        return (province, status, overdue)
    }

    /// Writes the move (status, tracking code, confirm-by time, rejection reason), its history
    /// event and audit row; returns the order's detail JSON and new version.
    private func move(
        _ id: Int64, from status: String, _ body: OrderTransitionRequest, reason: String?, tracking: String?,
        province: String, by principal: Principal, on connection: PostgresConnection
    ) async throws -> (String, Int) {
        let logger = db.logger
        let code = body.reasonCode?.rawValue
        try await connection.query(
            """
            UPDATE orders SET status = \(body.to.rawValue), updated_at = now(), version = version + 1,
              tracking_code = CASE WHEN \(body.to.rawValue) = 'shipped' THEN \(tracking) ELSE tracking_code END,
              confirm_by = CASE WHEN \(body.to.rawValue) = 'shipped'
                             THEN now() + make_interval(days => \(settings.confirmDays)::int)
                           ELSE confirm_by END,
              rejection_reason_code = \(code)
            WHERE id = \(id)
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO order_events (order_id, actor_account_id, actor_role, from_status, to_status, reason, reason_code,
              tracking_code)
            VALUES (\(id), \(principal.accountID), \(principal.role.rawValue), \(status), \(body.to.rawValue), \(reason),
              \(code), \(tracking))
            """, logger: logger)
        let staff = OrderStatus.staffRoles.contains(principal.role)
        try await Audit.record(
            on: connection, logger: logger, actor: principal, entityType: "order", entityID: id, provinceCode: province,
            action: staff ? "order.dispute_resolved" : "order.status_changed", from: status, to: body.to.rawValue,
            reason: [code, reason].compactMap { $0 }.joined(separator: ": ").nilIfEmpty)
        if let type = EventType.move("order", to: body.to.rawValue) {
            try await EventLog.record(type, subject: "order", from: Self.eventSource([id]), on: connection, logger: logger)
        }
        return try await connection.query(
            "SELECT \(unescaped: Self.detailJSON)::text, o.version FROM orders o WHERE o.id = \(id)", logger: logger
        ).collect()[0].decode((String, Int).self)
    }

    /// The buyer (or the province's supervisor, or an admin) confirms a rejection's buyer-side
    /// reason, which takes it out of the producer's failures. Until then it counts: the code is
    /// the producer's own word. Confirming again changes nothing.
    func confirmRejection(_ id: Int64, reason: String?, by principal: Principal) async throws -> (String, Int) {
        try principal.require(.partner, .supervisor, .admin)
        try principal.requireBuyer()
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if OrderStatus.staffRoles.contains(principal.role) && reason == nil {
            v.add("reason", "is required when staff confirm a rejection reason on the buyer's behalf")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let locked: SQL = """
                SELECT o.partner_account_id, o.partner_id, o.producer_id, o.province_code, o.status, o.rejection_reason_code,
                  o.rejection_confirmed_at IS NOT NULL
                FROM orders o WHERE o.id = \(id) AND \(principal.access(.order).condition(alias: "o")) FOR UPDATE
                """
            let rows = try await connection.query(locked.query, logger: logger).collect()
            guard let row = rows.first else { throw APIError.notFound("Order \(id)") }
            let (partner, company, producer, province, status, code, confirmed) = try row.decode(
                (Int64, Int64?, Int64, String, String, String?, Bool).self)
            guard visible((partner, company, producer, province), to: principal) else { throw APIError.notFound("Order \(id)") }
            guard status == OrderStatus.rejected.rawValue, let code, OrderRejectionReason(rawValue: code)?.isBuyerSide == true
            else {
                throw APIError.conflict(
                    code: "rejection_not_confirmable",
                    "Only an order rejected for a buyer-side reason (buyer_unreachable, buyer_request, suspected_fraud, "
                        + "delivery_address_invalid) has a reason to confirm.",
                    extra: ["current_status": status])
            }
            if !confirmed {
                try await connection.query(
                    """
                    UPDATE orders SET rejection_confirmed_at = now(), updated_at = now(), version = version + 1
                    WHERE id = \(id)
                    """, logger: logger)
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "order", entityID: id, provinceCode: province,
                    action: "order.rejection_confirmed", from: status, to: status,
                    reason: [code, reason].compactMap { $0 }.joined(separator: ": "))
            }
            return try await connection.query(
                "SELECT \(unescaped: Self.detailJSON)::text, o.version FROM orders o WHERE o.id = \(id)", logger: logger
            ).collect()[0].decode((String, Int).self)
        }
    }

    /// Puts the reserved quantities of `ids` back. Runs once per order: the caller holds the order
    /// rows locked and moves them to a final status. Products are locked in id order first, as
    /// placement does, so the two never deadlock.
    func releaseStock(_ ids: [Int64], on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            SELECT 1 FROM products WHERE id IN (SELECT product_id FROM order_lines WHERE order_id = ANY(\(ids)))
            ORDER BY id FOR UPDATE
            """, logger: db.logger)
        try await connection.query(
            """
            UPDATE products p SET stock = p.stock + l.quantity, version = p.version + 1
            FROM (SELECT product_id, sum(quantity)::int AS quantity FROM order_lines
                  WHERE order_id = ANY(\(ids)) GROUP BY product_id) l
            WHERE p.id = l.product_id
            """, logger: db.logger)
    }

    /// Moves locked orders on the service's own authority (actor role `system`), with the order
    /// history and the audit trail written as for any other move.
    func systemMove(
        _ ids: [Int64], from: OrderStatus, to: OrderStatus, action: String, reason: String, on connection: PostgresConnection
    ) async throws {
        let logger = db.logger
        try await connection.query(
            """
            UPDATE orders SET status = \(to.rawValue), updated_at = now(), version = version + 1
            WHERE id = ANY(\(ids)) AND status = \(from.rawValue)
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO order_events (order_id, actor_account_id, actor_role, from_status, to_status, reason)
            SELECT id, NULL, 'system', \(from.rawValue), \(to.rawValue), \(reason) FROM unnest(\(ids)::bigint[]) AS id ORDER BY id
            """, logger: logger)
        // One statement for the whole batch; the same row Audit.record writes.
        try await connection.query(
            """
            INSERT INTO audit_events (actor_account_id, actor_role, entity_type, entity_id, province_code, action,
              from_status, to_status, reason)
            SELECT NULL, 'system', 'order', o.id, o.province_code, \(action), \(from.rawValue), \(to.rawValue), \(reason)
            FROM orders o WHERE o.id = ANY(\(ids)) ORDER BY o.id
            """, logger: logger)
        if let type = EventType.move("order", to: to.rawValue) {
            try await EventLog.record(type, subject: "order", from: Self.eventSource(ids), on: connection, logger: logger)
        }
    }

    /// Takes the delivery-record rows of the orders' producers, in producer order, before a batch
    /// moves them: the stats trigger would otherwise upsert them in whatever order the UPDATE
    /// visits the orders, and two instances confirming at once could deadlock on them. A missing
    /// row is created (zeros), so new producers are locked in the same order too.
    func lockDeliveryRecords(of ids: [Int64], on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO producer_order_stats AS s (producer_id, delivered, failed)
            SELECT DISTINCT producer_id, 0, 0 FROM orders WHERE id = ANY(\(ids)) ORDER BY producer_id
            ON CONFLICT (producer_id) DO UPDATE SET delivered = s.delivered
            """, logger: db.logger)
    }

    /// Expires placed orders (locked by the caller) and releases their stock. Expiry does not touch
    /// the producer's delivery record.
    func expire(_ ids: [Int64], on connection: PostgresConnection) async throws {
        try await releaseStock(ids, on: connection)
        try await systemMove(
            ids, from: .placed, to: .expired, action: "order.expired", reason: "not accepted by its accept-by time",
            on: connection)
    }

    // MARK: sweeping

    /// Expires placed orders past their accept-by time and confirms shipped orders past their
    /// confirm-by time, in batches of `settings.batchSize`, one transaction each. Due rows are taken
    /// `FOR UPDATE SKIP LOCKED`, so several instances sweeping at once split the work and never
    /// wait for (or move) an order someone is moving right now. `now` (tests) defaults to the
    /// database's clock.
    public func sweep(now: Date? = nil) async throws -> (expired: Int, confirmed: Int) {
        var expired = 0
        var confirmed = 0
        while true {
            let n = try await db.transaction { connection in
                let ids = try await dueOrders(status: .placed, deadline: "expires_at", now: now, on: connection)
                if !ids.isEmpty { try await expire(ids, on: connection) }
                return ids.count
            }
            expired += n
            if n < settings.batchSize { break }
        }
        while true {
            let n = try await db.transaction { connection in
                let ids = try await dueOrders(status: .shipped, deadline: "confirm_by", now: now, on: connection)
                if !ids.isEmpty {
                    try await lockDeliveryRecords(of: ids, on: connection)
                    try await systemMove(
                        ids, from: .shipped, to: .delivered, action: "order.auto_confirmed",
                        reason: "auto-confirmed: not disputed by its confirm-by time", on: connection)
                }
                return ids.count
            }
            confirmed += n
            if n < settings.batchSize { break }
        }
        return (expired, confirmed)
    }

    /// `deadline` is one of two fixed column names.
    private func dueOrders(status: OrderStatus, deadline: String, now: Date?, on connection: PostgresConnection) async throws
        -> [Int64]
    {
        try await connection.query(
            """
            SELECT id FROM orders
            WHERE status = \(status.rawValue) AND \(unescaped: deadline) <= coalesce(\(now)::timestamptz, now())
            ORDER BY id LIMIT \(settings.batchSize) FOR UPDATE SKIP LOCKED
            """, logger: db.logger
        ).collect().map { try $0.decode(Int64.self) }
    }

    // MARK: reads

    func get(_ id: Int64, by principal: Principal) async throws -> (String, Int) {
        let query: SQL = """
            SELECT o.partner_account_id, o.partner_id, o.producer_id, o.province_code, \(unescaped: Self.detailJSON)::text,
              o.version
            FROM orders o WHERE o.id = \(id) AND \(principal.access(.order).condition(alias: "o"))
            """
        let rows = try await db.rows(query.query)
        guard let row = rows.first else { throw APIError.notFound("Order \(id)") }
        let (partner, company, producer, province, json, version) = try row.decode(
            (Int64, Int64?, Int64, String, String, Int).self)
        guard visible((partner, company, producer, province), to: principal) else { throw APIError.notFound("Order \(id)") }
        return (json, version)
    }

    static func parseInstant(_ text: String, field: String, endOfDay: Bool) throws -> Date {
        if let date = CalendarDate(text) {
            let start = SolarHijri.gregorianInTehran.date(
                from: DateComponents(year: date.year, month: date.month, day: date.day))!
            return endOfDay ? start.addingTimeInterval(86400) : start
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let instant = formatter.date(from: text) { return instant }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let instant = formatter.date(from: text) { return instant }
        throw APIError.validation(field: field, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time")
    }

    /// The orders a list or an export reads (alias `o`): the caller's reach and the query's filters
    /// (`status`, `producer_id`, `created_from`/`created_to` as Tehran calendar days or instants).
    static func filters(_ request: Request, principal: Principal) throws -> SQL {
        let q = request.uri.queryParameters
        let status = try OrderStatus.query(q.get("status"), field: "status")
        var producer: Int64? = nil
        if let text = q.get("producer_id") {
            guard let value = Int64(text), value > 0 else {
                throw APIError.validation(field: "producer_id", "must be a positive integer")
            }
            producer = value
        }
        // Dates are Tehran calendar days; created_to includes its whole day.
        let from = try q.get("created_from").map { try Self.parseInstant(String($0), field: "created_from", endOfDay: false) }
        let to = try q.get("created_to").map { try Self.parseInstant(String($0), field: "created_to", endOfDay: true) }
        return """
            \(principal.access(.order).condition(alias: "o"))
              AND (\(status?.rawValue)::text IS NULL OR o.status = \(status?.rawValue))
              AND (\(producer)::bigint IS NULL OR o.producer_id = \(producer))
              AND (\(from)::timestamptz IS NULL OR o.created_at >= \(from))
              AND (\(to)::timestamptz IS NULL OR o.created_at < \(to))
            """
    }

    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .producer, .partner)
        let page = try Page(request: request)
        let query: SQL = """
            SELECT o.id, \(unescaped: Self.json)::text FROM orders o
            WHERE \(try Self.filters(request, principal: principal)) AND o.id > \(page.after ?? 0)
            ORDER BY o.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/orders") { request, context in
            let principal = try context.require(.partner)
            try principal.requireBuyer()
            return try await Idempotency.postInOneStatement(
                request, context: context, db: db, by: principal, operation: "POST /v1/orders", decoding: OrderRequest.self,
                validate: Self.validate
            ) { body, claim, connection in
                try await placeKeyed(body, claim: claim, by: principal, on: connection)
            }
        }
        routes.get("/v1/orders") { request, context in
            let principal = try context.requirePrincipal()
            if try CSV.requested(request) { return try await exportCSV(request: request, principal: principal) }
            return JSONResponse.raw(try await list(request: request, principal: principal))
        }
        routes.get("/v1/orders/{id}") { _, context in
            let principal = try context.requirePrincipal()
            let (json, version) = try await get(try context.id(what: "Order"), by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.post("/v1/orders/{id}/transitions") { request, context in
            let principal = try context.require(.producer, .partner, .supervisor, .admin)
            try principal.requireBuyer()
            let id = try context.id(what: "Order")
            let body = try await JSONBody.decode(OrderTransitionRequest.self, from: request, context: context)
            let (json, version) = try await transition(id, body, ifMatch: request.headers[.ifMatch], by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
        routes.post("/v1/orders/{id}/rejection-confirmation") { request, context in
            let principal = try context.require(.partner, .supervisor, .admin)
            let id = try context.id(what: "Order")
            let body = try await JSONBody.decode(RejectionConfirmationRequest.self, from: request, context: context)
            let (json, version) = try await confirmRejection(id, reason: body.reason, by: principal)
            return JSONResponse.raw(json, headers: [.eTag: Self.etag(version)])
        }
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// Runs `Orders.sweep` every `interval` in the background of each instance (started with the
/// server, stopped on graceful shutdown). Safe with several instances: see `sweep`.
public struct OrderSweeper: Service {
    let orders: Orders
    let interval: Duration

    public init(orders: Orders, every interval: Duration) {
        self.orders = orders
        self.interval = interval
    }

    public func run() async throws {
        let logger = orders.db.logger
        await Periodic.run(every: interval, logger: logger, failure: "order sweep failed") {
            let (expired, confirmed) = try await orders.sweep()
            if expired + confirmed > 0 {
                logger.info("order deadlines applied", metadata: ["expired": "\(expired)", "auto_confirmed": "\(confirmed)"])
            }
            return false
        }
    }
}
