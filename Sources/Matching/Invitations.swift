import BazaarcheCore
import Foundation
import Orders

public enum InvitationStatus: String, APIEnum { case pending, accepted, declined, withdrawn }

struct InvitationRequest: Decodable {
    var producerId: Int64
    var productId: Int64
    var quantity: Int
    var unitPriceRials: Int64
    var delivery: DeliveryRequest
    var note: String?
}

struct DeclineRequest: Decodable {
    var reason: String
}

/// A pending invitation, locked for its producer's answer.
struct PendingInvitation {
    var demand: Int64
    /// The inviting partner account: the buyer of the order accepting places.
    var account: Int64
    var producer: Int64
    var product: Int64
    var quantity: Int
    var price: Int64
    /// The delivery block (JSON), as validated by the order rules when the invitation was sent.
    var delivery: String
    var note: String?
}

/// An accepted invitation: its JSON with the placed order embedded, and the order's id.
struct AcceptedInvitation {
    var json: String
    var orderID: Int64
}

/// A partner's offer to a matched producer; accepted, it becomes an order placed by the same code
/// and stock rules as POST /v1/orders, at the invitation's price, for the inviting account.
public struct Invitations: Sendable {
    let db: Database
    /// Accepting places an ordinary order, with the same deadlines as every other order.
    let orders: Orders

    public init(db: Database, orders: Orders) {
        self.db = db
        self.orders = orders
    }

    static let json = """
        json_build_object('id', i.id, 'demand_id', i.demand_id, 'partner_id', i.partner_id, 'producer_id', i.producer_id,
          'product_id', i.product_id, 'quantity', i.quantity, 'unit_price_rials', i.unit_price_rials,
          'total_rials', i.quantity::numeric * i.unit_price_rials, 'delivery', i.delivery, 'note', i.note,
          'status', i.status, 'decline_reason', i.decline_reason, 'order_id', i.order_id,
          'created_at', api_time(i.created_at), 'updated_at', api_time(i.updated_at))
        """

    /// The rows `EventLog.record` needs: the invitation, seen by the invited producer (and its
    /// province's staff) and the inviting company.
    static func eventSource(_ ids: [Int64]) -> SQL {
        """
        SELECT i.id, \(unescaped: json), p.province_code, i.producer_id, i.partner_id
        FROM invitations i JOIN producers p ON p.id = i.producer_id WHERE i.id = ANY(\(ids))
        """
    }

    /// Who sees an invitation (alias `i`), `Access`'s rule: its partner company, the invited producer, admins.
    func visibility(_ principal: Principal) -> SQL { principal.access(.invitation).condition(alias: "i") }

    func create(demand id: Int64, _ body: InvitationRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.requireBuyer()
        guard principal.role == .partner, let partner = principal.partnerID else {
            throw APIError.forbidden("Invitations are sent by the demand's partner.")
        }
        var v = Validator()
        v.check((1...1_000_000).contains(body.quantity), "quantity", "must be from 1 to 1000000")
        v.check(
            body.unitPriceRials > 0 && body.unitPriceRials <= 1_000_000_000_000, "unit_price_rials",
            "must be a whole number of rials above 0")
        let note = v.optionalText(body.note, "note", max: 2000)
        try v.throwIfInvalid()
        // The delivery block follows the order rules exactly (it becomes the order's).
        let order = try Orders.validate(
            OrderRequest(
                producerId: body.producerId, lines: [.init(productId: body.productId, quantity: body.quantity)],
                delivery: body.delivery, note: note))
        let delivery = try JSONResponse.encode(order.delivery)
        return try await db.transaction { connection in
            let logger = db.logger
            let owners = principal.access(.demand, to: .own)
            let locked: SQL = """
                SELECT d.status, d.max_unit_price_rials FROM demands d
                WHERE d.id = \(id) AND \(owners.condition(alias: "d")) FOR SHARE
                """
            guard let row = try await connection.query(locked.query, logger: logger).collect().first else {
                throw APIError.notFound("Demand \(id)")
            }
            let (status, maxPrice) = try row.decode((String, Int64).self)
            guard status == "open" else {
                throw APIError(
                    .conflict, code: "demand_not_open", title: "Demand not open",
                    detail: "Demand \(id) is \(status); invitations are sent for open demands.", extra: ["current_status": status]
                )
            }
            var refs = Validator()
            refs.check(
                body.unitPriceRials <= maxPrice, "unit_price_rials",
                "must not exceed the demand's max_unit_price_rials (\(maxPrice))")
            let province = try await connection.query(
                "SELECT 1 FROM provinces WHERE code = \(order.delivery.provinceCode)", logger: logger
            ).collect()
            refs.check(!province.isEmpty, "delivery.province_code", "is not a known province")
            let candidate = try await connection.query(
                """
                SELECT p.min_order_qty FROM demands d JOIN products p ON \(unescaped: Matches.hardFilters())
                WHERE d.id = \(id) AND p.id = \(body.productId) AND p.producer_id = \(body.producerId)
                """, logger: logger
            ).collect()
            if let minOrder = try candidate.first?.decode(Int.self) {
                refs.check(body.quantity >= minOrder, "quantity", "is below the product's minimum order quantity \(minOrder)")
            } else {
                refs.add(
                    "product_id", "is not a product of producer \(body.producerId) that matches this demand (see its matches)")
            }
            try refs.throwIfInvalid()
            let (invitation, json) = try await connection.query(
                """
                INSERT INTO invitations AS i (demand_id, partner_id, account_id, producer_id, product_id, quantity,
                  unit_price_rials,
                  delivery, note)
                VALUES (\(id), \(partner), \(principal.accountID), \(body.producerId), \(body.productId), \(body.quantity),
                  \(body.unitPriceRials), \(delivery)::jsonb, \(note))
                RETURNING i.id, \(unescaped: Self.json)::text
                """, logger: logger
            ).collect()[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "invitation", entityID: invitation,
                provinceCode: nil,
                action: "invitation.created", from: nil, to: "pending")
            try await EventLog.record(
                .invitationCreated, subject: "invitation", from: Self.eventSource([invitation]), on: connection, logger: logger)
            return (invitation, json)
        }
    }

    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .partner, .producer)
        let page = try Page(request: request)
        let status = try InvitationStatus.query(request.uri.queryParameters.get("status"), field: "status")
        let demand = try request.intQuery("demand_id")
        return try await page.read(
            "SELECT i.id, \(unescaped: Self.json)::text FROM invitations i", key: "i.id",
            where: [
                visibility(principal), status.map { "i.status = \($0.rawValue)" }, demand.map { "i.demand_id = \(Int64($0))" },
            ], from: db)
    }

    func get(_ id: Int64, principal: Principal) async throws -> String {
        try principal.require(.admin, .partner, .producer)
        let query: SQL = "SELECT \(unescaped: Self.json)::text FROM invitations i WHERE i.id = \(id) AND \(visibility(principal))"
        return try await db.json(query.query, notFound: "Invitation \(id)")
    }

    /// Locks the demand (shared) and then the invitation, the order demand closing uses, and
    /// checks the producer's right to answer and that the invitation still waits for one.
    func lockPending(_ id: Int64, to target: InvitationStatus, by principal: Principal, on connection: PostgresConnection)
        async throws -> PendingInvitation
    {
        let logger = db.logger
        // Only the invited producer answers (`Access`'s owner rule); anyone else is told nothing exists.
        let answerer = principal.access(.invitation, to: .own).condition(alias: "i")
        let invitation: SQL = "SELECT i.demand_id FROM invitations i WHERE i.id = \(id) AND \(answerer)"
        let demand = try await connection.query(invitation.query, logger: logger).collect()
        guard let demandID = try demand.first?.decode(Int64.self) else { throw APIError.notFound("Invitation \(id)") }
        try await connection.query("SELECT 1 FROM demands WHERE id = \(demandID) FOR SHARE", logger: logger)
        let locked: SQL = """
            SELECT i.account_id, i.producer_id, i.product_id, i.quantity, i.unit_price_rials, i.delivery::text, i.note, i.status
            FROM invitations i WHERE i.id = \(id) AND \(answerer) FOR UPDATE
            """
        guard let row = try await connection.query(locked.query, logger: logger).collect().first else {
            throw APIError.notFound("Invitation \(id)")
        }
        let (account, producer, product, quantity, price, delivery, note, status) =
            try row.decode((Int64, Int64, Int64, Int, Int64, String, String?, String).self)
        guard status == InvitationStatus.pending.rawValue else {
            throw APIError.invalidTransition(entity: "invitation", from: status, to: target.rawValue)
        }
        return PendingInvitation(
            demand: demandID, account: account, producer: producer, product: product, quantity: quantity, price: price,
            delivery: delivery, note: note)
    }

    func accept(_ id: Int64, by principal: Principal) async throws -> AcceptedInvitation {
        guard principal.role == .producer else { throw APIError.forbidden("Invitations are answered by the invited producer.") }
        return try await db.transaction { connection in
            let logger = db.logger
            let i = try await lockPending(id, to: .accepted, by: principal, on: connection)
            // The product must still meet the demand (a certificate may have expired, packaging changed).
            let still = try await connection.query(
                """
                SELECT 1 FROM demands d JOIN products p ON \(unescaped: Matches.hardFilters())
                WHERE d.id = \(i.demand) AND p.id = \(i.product)
                """, logger: logger
            ).collect()
            if still.isEmpty {
                throw APIError(
                    .conflict, code: "no_longer_matches", title: "The product no longer meets the demand",
                    detail:
                        """
                        Product \(i.product) no longer passes demand \(i.demand)'s requirements (listing, certificates,\
                         packaging).
                        """
                )
            }
            let delivery = try JSONBody.decode(DeliveryRequest.self, from: Data(i.delivery.utf8))
            let body = OrderRequest(
                producerId: i.producer, lines: [.init(productId: i.product, quantity: i.quantity)], delivery: delivery,
                note: i.note)
            let placed = try await orders.place(
                body, buyer: i.account, agreedPrices: [i.product: i.price], by: principal, on: connection)
            let order = placed.id
            try await connection.query(
                "UPDATE invitations SET status = 'accepted', order_id = \(order), updated_at = now() WHERE id = \(id)",
                logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "invitation", entityID: id, provinceCode: nil,
                action: "invitation.accepted", from: "pending", to: "accepted", reason: "order \(order)")
            try await EventLog.record(
                .invitationAccepted, subject: "invitation", from: Self.eventSource([id]), on: connection, logger: logger)
            // The order as placed, read from its rows in this transaction (the same JSON as GET /v1/orders/{id}).
            let json = try await connection.query(
                """
                SELECT (\(unescaped: Self.json)::jsonb || jsonb_build_object('order', \(unescaped: Orders.detailJSON)))::text
                FROM invitations i JOIN orders o ON o.id = i.order_id WHERE i.id = \(id)
                """, logger: logger
            ).collect()[0].decode(String.self)
            return AcceptedInvitation(json: json, orderID: order)
        }
    }

    func decline(_ id: Int64, reason: String, by principal: Principal) async throws -> String {
        guard principal.role == .producer else { throw APIError.forbidden("Invitations are answered by the invited producer.") }
        var v = Validator()
        let reason = v.text(reason, "reason", max: 1000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            _ = try await lockPending(id, to: .declined, by: principal, on: connection)
            let json = try await connection.query(
                """
                UPDATE invitations i SET status = 'declined', decline_reason = \(reason), updated_at = now()
                WHERE i.id = \(id) RETURNING \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()[0].decode(String.self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "invitation", entityID: id, provinceCode: nil,
                action: "invitation.declined", from: "pending", to: "declined", reason: reason)
            try await EventLog.record(
                .invitationDeclined, subject: "invitation", from: Self.eventSource([id]), on: connection, logger: db.logger)
            return json
        }
    }

    /// A closed or cancelled demand takes its open offers back (in the demand's transaction).
    static func withdrawPending(demand: Int64, by principal: Principal, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        let withdrawn = try await connection.query(
            """
            UPDATE invitations SET status = 'withdrawn', updated_at = now()
            WHERE demand_id = \(demand) AND status = 'pending' RETURNING id
            """, logger: logger
        ).collect()
        for row in withdrawn {
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "invitation", entityID: try row.decode(Int64.self),
                provinceCode: nil, action: "invitation.withdrawn", from: "pending", to: "withdrawn",
                reason: "demand \(demand) closed")
        }
        if !withdrawn.isEmpty {
            try await EventLog.record(
                .invitationWithdrawn, subject: "invitation", from: eventSource(try withdrawn.map { try $0.decode(Int64.self) }),
                on: connection, logger: logger)
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/demands/{id}/invitations") { request, context in
            let principal = try context.require(.partner)
            let demand = try context.id(what: "Demand")
            let body = try await JSONBody.decode(InvitationRequest.self, from: request, context: context)
            let (id, json) = try await create(demand: demand, body, by: principal)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/invitations/\(id)"])
        }
        routes.reads(
            "/v1/invitations", what: "Invitation", list: { try await list(request: $0, principal: $1) },
            one: { try await get($0, principal: $1) })
        routes.post("/v1/invitations/{id}/accept") { _, context in
            let principal = try context.require(.producer)
            let accepted = try await accept(try context.id(what: "Invitation"), by: principal)
            return JSONResponse.raw(accepted.json, headers: [.location: "/v1/orders/\(accepted.orderID)"])
        }
        routes.post("/v1/invitations/{id}/decline") { request, context in
            let principal = try context.require(.producer)
            let id = try context.id(what: "Invitation")
            let body = try await JSONBody.decode(DeclineRequest.self, from: request, context: context)
            return JSONResponse.raw(try await decline(id, reason: body.reason, by: principal))
        }
    }
}
