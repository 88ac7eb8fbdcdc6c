import BazaarcheCore
import Foundation

struct ProposalRequest: Decodable {
    var note: String?
}

struct DecisionRequest: Decodable {
    var decision: Decision
    var reasons: [String]?
    var note: String?

    enum Decision: String, APIEnum {
        case approve
        case sendBack = "send_back"
    }
}

/// Verification with four eyes: an implementer proposes a screened applicant, the province's
/// supervisor (or an admin) approves it or sends it back with reasons, and nobody decides a
/// proposal they made.
public struct VerificationProposals: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let json = """
        json_build_object('id', v.id, 'producer_id', v.producer_id, 'province_code', p.province_code,
          'producer_name', p.first_name || ' ' || p.last_name, 'status', v.status,
          'proposed_by', v.proposed_by, 'proposed_at', api_time(v.proposed_at), 'note', v.note,
          'decided_by', v.decided_by, 'decided_at', api_time(v.decided_at), 'reasons', to_json(v.reasons),
          'decision_note', v.decision_note)
        """

    func propose(producerID: Int64, _ body: ProposalRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer)
        var v = Validator()
        let note = v.optionalText(body.note, "note", max: 2000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let (province, status) = try await Producers.scope(
                of: producerID, for: principal, on: connection, logger: db.logger, lock: true)
            guard status == .screened else {
                throw APIError.conflict(
                    code: "producer_not_screened", "Only a screened applicant can be proposed for verification.",
                    extra: ["current_status": status.rawValue])
            }
            let pending = try await connection.query(
                "SELECT id FROM verification_proposals WHERE producer_id = \(producerID) AND status = 'pending'",
                logger: db.logger
            ).collect()
            if let existing = try pending.first?.decode(Int64.self) {
                throw APIError.conflict(
                    code: "proposal_pending", "This applicant already has a pending proposal (\(existing)).",
                    extra: ["proposal_id": String(existing)])
            }
            let rows = try await connection.query(
                """
                WITH v AS (
                  INSERT INTO verification_proposals (producer_id, proposed_by, note)
                  VALUES (\(producerID), \(principal.accountID), \(note)) RETURNING *)
                SELECT v.id, \(unescaped: Self.json)::text FROM v JOIN producers p ON p.id = v.producer_id
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "verification_proposal", entityID: id,
                provinceCode: province, action: "verification.proposed", from: nil, to: "pending", reason: note)
            return (id, json)
        }
    }

    func decide(proposalID: Int64, _ body: DecisionRequest, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let reasons = (body.reasons ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        let note = v.optionalText(body.note, "note", max: 2000)
        v.check(reasons.count <= 20, "reasons", "must list at most 20 reasons")
        v.check(reasons.allSatisfy { $0.count <= 500 }, "reasons", "each reason must be at most 500 characters")
        if body.decision == .sendBack && reasons.isEmpty {
            v.add("reasons", "is required when sending a proposal back: say what the implementer must do")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            // The producer first, then the proposal: the order a rejection takes them in, so the two never deadlock.
            let owner = try await connection.query(
                "SELECT producer_id FROM verification_proposals WHERE id = \(proposalID)", logger: logger
            ).collect()
            guard let producerID = try owner.first?.decode(Int64.self) else {
                throw APIError.notFound("Verification proposal \(proposalID)")
            }
            let producer: (province: String, status: ProducerStatus)
            do {
                producer = try await Producers.scope(of: producerID, for: principal, on: connection, logger: logger, lock: true)
            } catch let error as APIError where error.status == .notFound {
                throw APIError.notFound("Verification proposal \(proposalID)")
            }
            let (status, proposer) = try await connection.query(
                "SELECT status, proposed_by FROM verification_proposals WHERE id = \(proposalID) FOR UPDATE", logger: logger
            ).collect()[0].decode((String, Int64?).self)
            guard status == "pending" else {
                throw APIError.conflict(
                    code: "proposal_decided", "This proposal was already \(status.replacingOccurrences(of: "_", with: " ")).",
                    extra: ["current_status": status])
            }
            if proposer == principal.accountID {
                throw APIError(
                    .forbidden, code: "own_proposal", title: "Not allowed for this account",
                    detail: "A proposal is decided by someone other than the account that made it.")
            }
            let outcome = body.decision == .approve ? "approved" : "sent_back"
            let decided = try await connection.query(
                """
                WITH v AS (
                  UPDATE verification_proposals SET status = \(outcome), decided_by = \(principal.accountID),
                    decided_at = now(), reasons = \(reasons), decision_note = \(note)
                  WHERE id = \(proposalID) RETURNING *)
                SELECT \(unescaped: Self.json)::text FROM v JOIN producers p ON p.id = v.producer_id
                """, logger: logger
            ).collect()
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "verification_proposal", entityID: proposalID,
                provinceCode: producer.province, action: "verification.decided", from: "pending", to: outcome,
                reason: reasons.isEmpty ? note : reasons.joined(separator: "; "))
            if body.decision == .approve {
                guard producer.status == .screened else {
                    throw APIError.invalidTransition(entity: "producer", from: producer.status.rawValue, to: "verified")
                }
                try await connection.query(
                    """
                    UPDATE producers SET status = 'verified', verified_at = coalesce(verified_at, now()), updated_at = now()
                    WHERE id = \(producerID)
                    """, logger: logger)
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "producer", entityID: producerID,
                    provinceCode: producer.province, action: "producer.status_changed", from: "screened", to: "verified",
                    reason: "verification proposal \(proposalID) approved")
                try await EventLog.record(
                    .producerVerified, subject: "producer", from: Producers.eventSource(producerID), on: connection,
                    logger: logger)
            }
            return try decided[0].decode(String.self)
        }
    }

    /// The supervisor's queue (`status=pending`, oldest first) and the history.
    func list(request: Request, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        let status = q.get("status").map { String($0) }
        if let status, !["pending", "approved", "sent_back", "withdrawn"].contains(status) {
            throw APIError.validation(field: "status", "must be one of: pending, approved, sent_back, withdrawn")
        }
        var producerID: Int64? = nil
        if let text = q.get("producer_id") {
            guard let value = Int64(text) else { throw APIError.validation(field: "producer_id", "must be an integer") }
            producerID = value
        }
        let province = q.get("province_code").map { String($0) }
        let rule = principal.access(.producer)
        if let province, !rule.allows(Access.Owner(province: province)) {
            throw APIError.forbidden("Staff see proposals of their own provinces only.")
        }
        let query: SQL = """
            SELECT v.id, \(unescaped: Self.json)::text
            FROM verification_proposals v JOIN producers p ON p.id = v.producer_id
            WHERE \(rule.condition(alias: "p")) AND v.id > \(page.after ?? 0)
              AND (\(status)::text IS NULL OR v.status = \(status))
              AND (\(producerID)::bigint IS NULL OR v.producer_id = \(producerID))
              AND (\(province)::text IS NULL OR p.province_code = \(province))
            ORDER BY v.id LIMIT \(page.limit + 1)
            """
        return try page.body(rows: try await db.rows(query.query))
    }

    func get(id: Int64, principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor, .implementer)
        let query: SQL = """
            SELECT \(unescaped: Self.json)::text FROM verification_proposals v JOIN producers p ON p.id = v.producer_id
            WHERE v.id = \(id) AND \(principal.access(.producer).condition(alias: "p"))
            """
        return try await db.json(query.query, notFound: "Verification proposal \(id)")
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/producers/{id}/verification-proposals") { request, context in
            let principal = try context.require(.admin, .implementer)
            let producerID = try context.id(what: "Producer")
            let body = try await JSONBody.decode(ProposalRequest.self, from: request, context: context)
            let (id, json) = try await propose(producerID: producerID, body, by: principal)
            return JSONResponse.raw(json, status: .created, headers: [.location: "/v1/verification-proposals/\(id)"])
        }
        routes.reads(
            "/v1/verification-proposals", what: "Verification proposal", list: { try await list(request: $0, principal: $1) },
            one: { try await get(id: $0, principal: $1) })
        routes.post("/v1/verification-proposals/{id}/decision") { request, context in
            let principal = try context.require(.admin, .supervisor)
            let id = try context.id(what: "Verification proposal")
            let body = try await JSONBody.decode(DecisionRequest.self, from: request, context: context)
            return JSONResponse.raw(try await decide(proposalID: id, body, by: principal))
        }
    }
}
