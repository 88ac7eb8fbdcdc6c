import BazaarcheCore
import Foundation

public enum LoanPurpose: String, APIEnum {
    case equipment
    case rawMaterials = "raw_materials"
    case workspace
    case workingCapital = "working_capital"
    case other
}

/// Bands of the requested amount in Iranian rials (not toman): up to 500 million, 500 million to
/// 1 billion, 1 to 2 billion, 2 to 5 billion, over 5 billion. Lower bounds exclusive, upper inclusive.
public enum LoanAmountBand: String, APIEnum {
    case upTo500m = "up_to_500m"
    case from500mTo1b = "from_500m_to_1b"
    case from1bTo2b = "from_1b_to_2b"
    case from2bTo5b = "from_2b_to_5b"
    case over5b = "over_5b"
}

/// The ministry's process as the implementer reads it off the ministry's site.
public enum LoanStatus: String, APIEnum {
    case registered
    case underReview = "under_review"
    case granted, declined

    /// registered → under_review → granted | declined; registered → granted | declined. Decisions are final.
    public func canMove(to target: LoanStatus) -> Bool {
        switch (self, target) {
        case (.registered, .underReview), (.registered, .granted), (.registered, .declined), (.underReview, .granted),
            (.underReview, .declined):
            return true
        default:
            return false
        }
    }

    public var isDecision: Bool { self == .granted || self == .declined }
}

struct LoanReferralRequest: Decodable {
    var seeking: Bool
    var purpose: LoanPurpose?
    var purposeNote: String?
    var amountBand: LoanAmountBand?
    var ministryTrackingCode: String?
    var registeredOn: CalendarDate?
}

struct LoanTransitionRequest: Decodable {
    var to: LoanStatus
    var decidedOn: CalendarDate?
    var reason: String?
}

/// Loan referrals (programme item 5): whether a producer seeks a facility and, if so, its
/// registration on the ministry's site and the ministry's decision.
public struct Loans: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// The ministry's tracking code: digits only (Persian or Arabic-Indic digits accepted), 6 to 20.
    public static func trackingCode(_ text: String) -> String? {
        let code = Digits.ascii(text).filter { !$0.isWhitespace && $0 != "-" }
        guard (6...20).contains(code.count), code.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return code
    }

    /// The JSON shape of a referral (alias `l`, its producer `p`).
    static let json = """
        json_build_object('id', l.id, 'producer_id', l.producer_id, 'province_code', p.province_code, 'seeking', l.seeking,
          'purpose', l.purpose, 'purpose_note', l.purpose_note, 'amount_band', l.amount_band,
          'ministry_tracking_code', l.ministry_tracking_code, 'status', l.status, 'registered_on', l.registered_on,
          'decided_on', l.decided_on, 'recorded_by', l.recorded_by, 'created_at', api_time(l.created_at),
          'updated_at', api_time(l.updated_at))
        """

    func record(producerID: Int64, _ body: LoanReferralRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer, .producer)
        var v = Validator()
        let today = SolarHijri.today()
        var code: String? = nil
        var note: String? = nil
        var registeredOn: CalendarDate? = nil
        if body.seeking {
            v.check(body.purpose != nil, "purpose", "is required when seeking is true")
            v.check(body.amountBand != nil, "amount_band", "is required when seeking is true")
            note = v.optionalText(body.purposeNote, "purpose_note", max: 500)
            if body.purpose == .other && note == nil { v.add("purpose_note", "is required when purpose is other") }
            if let given = body.ministryTrackingCode {
                code = Self.trackingCode(given)
                v.check(code != nil, "ministry_tracking_code", "must be the registration's tracking code: 6 to 20 digits")
            } else {
                v.add(
                    "ministry_tracking_code",
                    "is required when seeking is true: register on the ministry's site first, then record its tracking code")
            }
            registeredOn = body.registeredOn ?? today
            if let date = registeredOn { v.check(date <= today, "registered_on", "must not be in the future") }
        } else {
            // "Does not seek a facility" is the whole answer.
            let given: [(String, Bool)] = [
                ("purpose", body.purpose != nil), ("purpose_note", body.purposeNote != nil),
                ("amount_band", body.amountBand != nil), ("ministry_tracking_code", body.ministryTrackingCode != nil),
                ("registered_on", body.registeredOn != nil),
            ]
            for (field, present) in given where present { v.add(field, "must be omitted when seeking is false") }
        }
        try v.throwIfInvalid()
        let status: LoanStatus? = body.seeking ? .registered : nil
        let (trackingCode, purposeNote, registered) = (code, note, registeredOn)
        return try await db.transaction { connection in
            let producer = try await Producers.scope(
                of: producerID, for: principal, on: connection, logger: db.logger, lock: true)
            if producer.status.isClosed {
                throw APIError.conflict(
                    code: "producer_not_eligible", "A rejected or withdrawn application cannot record a loan referral.",
                    extra: ["current_status": producer.status.rawValue])
            }
            if body.seeking {
                let open = try await connection.query(
                    """
                    SELECT id FROM loan_referrals
                    WHERE producer_id = \(producerID) AND status IN ('registered', 'under_review')
                    """, logger: db.logger
                ).collect()
                if let row = open.first {
                    throw APIError.conflict(
                        code: "open_referral_exists",
                        "The producer already has an open loan referral; record the ministry's decision on it first.",
                        extra: ["loan_referral_id": String(try row.decode(Int64.self))])
                }
                let taken = try await connection.query(
                    "SELECT 1 FROM loan_referrals WHERE ministry_tracking_code = \(trackingCode)", logger: db.logger
                ).collect()
                if !taken.isEmpty {
                    throw APIError.conflict(
                        code: "already_exists", "This tracking code is already recorded.", field: "ministry_tracking_code")
                }
            }
            let rows = try await connection.query(
                """
                WITH l AS (
                  INSERT INTO loan_referrals (producer_id, seeking, purpose, purpose_note, amount_band, ministry_tracking_code,
                    status, registered_on, recorded_by)
                  VALUES (\(producerID), \(body.seeking), \(body.purpose?.rawValue), \(purposeNote), \(body.amountBand?.rawValue),
                    \(trackingCode), \(status?.rawValue), \(registered?.description)::date, \(principal.accountID))
                  RETURNING *)
                SELECT l.id, \(unescaped: Self.json)::text FROM l JOIN producers p ON p.id = l.producer_id
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "loan_referral", entityID: id,
                provinceCode: producer.province, action: "loan_referral.recorded", from: nil,
                to: status?.rawValue ?? "not_seeking")
            return (id, json)
        }
    }

    func move(referralID: Int64, _ body: LoanTransitionRequest, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let reason = v.optionalText(body.reason, "reason", max: 1000)
        let today = SolarHijri.today()
        var decidedOn: CalendarDate? = nil
        if body.to.isDecision {
            decidedOn = body.decidedOn ?? today
            if let date = decidedOn { v.check(date <= today, "decided_on", "must not be in the future") }
        } else if body.decidedOn != nil {
            v.add("decided_on", "is given only with a decision (granted or declined)")
        }
        try v.throwIfInvalid()
        let decision = decidedOn
        return try await db.transaction { connection in
            let rows = try await connection.query(
                "SELECT producer_id, status, registered_on::text FROM loan_referrals WHERE id = \(referralID) FOR UPDATE",
                logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Loan referral \(referralID)") }
            let (producerID, current, registered) = try row.decode((Int64, String?, String?).self)
            let producer: (province: String, status: ProducerStatus)
            do {
                producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: db.logger)
            } catch let error as APIError where error.status == .notFound {
                throw APIError.notFound("Loan referral \(referralID)")
            }
            guard let from = current.flatMap(LoanStatus.init(rawValue:)) else {
                throw APIError.conflict(
                    code: "not_seeking", "This referral records that the producer does not seek a facility; it has no status.")
            }
            guard from.canMove(to: body.to) else {
                throw APIError.invalidTransition(entity: "loan referral", from: from.rawValue, to: body.to.rawValue)
            }
            if let decision, let registered = registered.flatMap(CalendarDate.init), decision < registered {
                throw APIError.validation(field: "decided_on", "must not be before the registration (\(registered))")
            }
            let updated = try await connection.query(
                """
                WITH l AS (
                  UPDATE loan_referrals SET status = \(body.to.rawValue), decided_on = \(decision?.description)::date,
                    updated_at = now()
                  WHERE id = \(referralID) RETURNING *)
                SELECT \(unescaped: Self.json)::text FROM l JOIN producers p ON p.id = l.producer_id
                """, logger: db.logger
            ).collect()
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "loan_referral", entityID: referralID,
                provinceCode: producer.province, action: "loan_referral.status_changed", from: from.rawValue,
                to: body.to.rawValue, reason: reason)
            return try updated[0].decode(String.self)
        }
    }

    func listForProducer(producerID: Int64, request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer, .producer)
        return try await Producers.page(
            of: producerID, json: Self.json, from: "loan_referrals l JOIN producers p ON p.id = l.producer_id", alias: "l",
            request: request, principal: principal, db: db)
    }

    /// Staff's follow-up list: referrals of the producers the caller reaches, by status and province.
    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        let status = try LoanStatus.query(q.get("status"), field: "status")
        let province = q.get("province_code").map { String($0) }
        let rule = principal.access(.producer)
        let query: SQL = """
            SELECT l.id, \(unescaped: Self.json)::text FROM loan_referrals l JOIN producers p ON p.id = l.producer_id
            WHERE l.id > \(page.after ?? 0) AND \(rule.condition(alias: "p"))
              AND (\(status?.rawValue)::text IS NULL OR l.status = \(status?.rawValue))
              AND (\(province)::text IS NULL OR p.province_code = \(province))
            ORDER BY l.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    func get(id: Int64, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer, .producer)
        let rule = principal.access(.producer)
        let query: SQL = """
            SELECT \(unescaped: Self.json)::text FROM loan_referrals l JOIN producers p ON p.id = l.producer_id
            WHERE l.id = \(id) AND \(rule.condition(alias: "p"))
            """
        return try await db.json(query.query, notFound: "Loan referral \(id)")
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create(
            "/v1/producers/{id}/loan-referrals", under: "Producer", for: .admin, .implementer, .producer,
            decoding: LoanReferralRequest.self
        ) { try await record(producerID: $0, $1, by: $2) }
        routes.get("/v1/producers/{id}/loan-referrals") { request, context in
            let principal = try context.requirePrincipal()
            return JSONResponse.raw(
                try await listForProducer(producerID: try context.id(what: "Producer"), request: request, principal: principal))
        }
        routes.reads(
            "/v1/loan-referrals", what: "Loan referral", list: { try await list(request: $0, principal: $1) },
            one: { try await get(id: $0, principal: $1) })
        routes.post("/v1/loan-referrals/{id}/transitions") { request, context in
            let principal = try context.require(.admin, .implementer)
            let id = try context.id(what: "Loan referral")
            let body = try await JSONBody.decode(LoanTransitionRequest.self, from: request, context: context)
            return JSONResponse.raw(try await move(referralID: id, body, by: principal))
        }
    }
}
