import BazaarcheCore
import Foundation
import Testing

extension API {
    /// Records a seeking referral as `token` (the producer or staff) and returns its id.
    func loanReferral(
        _ producer: Int64, token: String, code: String = String(format: "%09d", Fixtures.next()), registeredOn: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Int64 {
        let date = registeredOn.map { #","registered_on":"\#($0)""# } ?? ""
        let reply = try await must(
            .post, "/v1/producers/\(producer)/loan-referrals",
            json:
                #"{"seeking":true,"purpose":"equipment","amount_band":"from_500m_to_1b","ministry_tracking_code":"\#(code)"\#(date)}"#,
            token: token, status: .created, sourceLocation: sourceLocation)
        return try #require(reply.int("id"), sourceLocation: sourceLocation)
    }

    @discardableResult
    func moveLoan(
        _ id: Int64, to status: String, decidedOn: String? = nil, token: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let date = decidedOn.map { #","decided_on":"\#($0)""# } ?? ""
        return try await must(
            .post, "/v1/loan-referrals/\(id)/transitions", json: #"{"to":"\#(status)"\#(date)}"#, token: token,
            sourceLocation: sourceLocation)
    }

    /// Places an order of a fresh product of `producer` and has it delivered; returns the order id.
    @discardableResult
    func deliveredOrder(_ producer: (id: Int64, token: String), partner: String) async throws -> Int64 {
        let product = try await self.product(producer, stock: 5)
        return try await orderThrough(
            ["accepted", "packed", "shipped", "delivered"], producer: producer, product: product, partner: partner)
    }
}

@Suite struct LoanReferralTests {
    @Test func producersAndImplementersRecordOnlyImplementersMoveAndEveryMoveIsAudited() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let other = try await api.producer(province: "IR-00", status: .verified)
            let implementer = try await api.token(.implementer, provinces: ["IR-00", "IR-10"])
            let foreignImplementer = try await api.token(.implementer, provinces: ["IR-23"])
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let foreignSupervisor = try await api.token(.supervisor, province: "IR-23")

            // The producer records its own registration; Persian digits are read as digits.
            let recorded = try await api.post(
                "/v1/producers/\(producer.id)/loan-referrals",
                #"{"seeking":true,"purpose":"raw_materials","amount_band":"up_to_500m","ministry_tracking_code":"۱۴۰۵۱۲۳۴۵۶"}"#,
                token: producer.token)
            #expect(recorded.status == .created, "\(recorded.text)")
            #expect(recorded.string("status") == "registered")
            #expect(recorded.string("ministry_tracking_code") == "1405123456")
            #expect(recorded.string("registered_on") == SolarHijri.today().description)
            #expect(recorded.json["decided_on"] is NSNull)
            let id = try #require(recorded.int("id"))

            // One open application at a time; one registration is one referral.
            let second = try await api.post(
                "/v1/producers/\(producer.id)/loan-referrals",
                #"{"seeking":true,"purpose":"equipment","amount_band":"over_5b","ministry_tracking_code":"99999999"}"#,
                token: implementer)
            #expect(second.status == .conflict)
            #expect(second.code == "open_referral_exists")
            let duplicate = try await api.post(
                "/v1/producers/\(other.id)/loan-referrals",
                #"{"seeking":true,"purpose":"equipment","amount_band":"over_5b","ministry_tracking_code":"1405123456"}"#,
                token: implementer)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.fields == ["ministry_tracking_code"])

            // Nobody but the province's implementer (or an admin) records what the ministry decided.
            let path = "/v1/loan-referrals/\(id)/transitions"
            #expect(try await api.post(path, #"{"to":"granted"}"#, token: producer.token).status == .forbidden)
            #expect(try await api.post(path, #"{"to":"granted"}"#, token: supervisor).status == .forbidden)
            #expect(try await api.post(path, #"{"to":"granted"}"#, token: foreignImplementer).status == .notFound)
            #expect(try await api.get("/v1/loan-referrals/\(id)").status == .unauthorized)
            try await api.moveLoan(id, to: "under_review", token: implementer)
            let granted = try await api.moveLoan(id, to: "granted", decidedOn: SolarHijri.today().description, token: implementer)
            #expect(granted.string("status") == "granted")
            #expect(granted.string("decided_on") == SolarHijri.today().description)
            let again = try await api.post(path, #"{"to":"declined"}"#, token: implementer)
            #expect(again.status == .conflict)
            #expect(try await api.get("/v1/loan-referrals/\(id)", token: supervisor).string("status") == "granted")

            // "Does not seek a facility" is a whole answer, with no status to move.
            let notSeeking = try await api.post(
                "/v1/producers/\(other.id)/loan-referrals", #"{"seeking":false}"#, token: implementer)
            #expect(notSeeking.status == .created)
            #expect(notSeeking.json["status"] is NSNull)
            let noStatus = try await api.post(
                "/v1/loan-referrals/\(notSeeking.int("id") ?? 0)/transitions", #"{"to":"granted"}"#, token: implementer)
            #expect(noStatus.status == .conflict)
            #expect(noStatus.code == "not_seeking")

            // Who sees what.
            #expect(try await api.get("/v1/producers/\(producer.id)/loan-referrals", token: supervisor).items.count == 1)
            #expect(try await api.get("/v1/producers/\(producer.id)/loan-referrals", token: other.token).status == .notFound)
            #expect(
                try await api.get("/v1/producers/\(producer.id)/loan-referrals", token: foreignSupervisor).status == .notFound)
            #expect(try await api.get("/v1/loan-referrals/\(id)", token: foreignImplementer).status == .notFound)
            #expect(try await api.get("/v1/loan-referrals?status=granted", token: foreignSupervisor).items.isEmpty)
            #expect(try await api.get("/v1/loan-referrals?status=granted", token: implementer).items.count == 1)
            #expect(try await api.get("/v1/loan-referrals?status=won", token: implementer).status == .unprocessableContent)
            // Supervisors read; they do not record on a producer's behalf.
            #expect(
                try await api.post("/v1/producers/\(other.id)/loan-referrals", #"{"seeking":false}"#, token: supervisor).status
                    == .forbidden)

            // Every move is in the audit trail with its actor's role.
            let audit = try await api.get("/v1/audit-events?entity_type=loan_referral&entity_id=\(id)", token: supervisor)
            #expect(
                audit.items.map {
                    "\($0["actor_role"] as? String ?? "")|\($0["from"] as? String ?? "-")>\($0["to"] as? String ?? "-")"
                }
                    == ["producer|->registered", "implementer|registered>under_review", "implementer|under_review>granted"])
        }
    }

    @Test func badInputIsRefusedAndChangesNothing() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .screened)
            let implementer = try await api.token(.implementer, provinces: ["IR-00"])
            let path = "/v1/producers/\(producer.id)/loan-referrals"
            let missing = try await api.post(path, #"{"seeking":true}"#, token: implementer)
            #expect(missing.status == .unprocessableContent)
            #expect(Set(missing.fields) == ["purpose", "amount_band", "ministry_tracking_code"])
            let shape = try await api.post(
                path, #"{"seeking":true,"purpose":"other","amount_band":"up_to_500m","ministry_tracking_code":"12ab45"}"#,
                token: implementer)
            #expect(Set(shape.fields) == ["purpose_note", "ministry_tracking_code"])
            let future = try await api.post(
                path,
                #"{"seeking":true,"purpose":"workspace","amount_band":"up_to_500m","ministry_tracking_code":"123456","registered_on":"\#(SolarHijri.today().adding(days: 2))"}"#,
                token: implementer)
            #expect(future.fields == ["registered_on"])
            let extra = try await api.post(path, #"{"seeking":false,"purpose":"equipment"}"#, token: implementer)
            #expect(extra.fields == ["purpose"])
            #expect(
                try await api.post(path, #"{"seeking":true,"purpose":"loan","amount_band":"up_to_500m"}"#, token: implementer)
                    .status
                    == .unprocessableContent)
            #expect(try await api.db.rows("SELECT 1 FROM loan_referrals").isEmpty)

            let id = try await api.loanReferral(
                producer.id, token: implementer, registeredOn: SolarHijri.today().adding(days: -3).description)
            let early = try await api.post(
                "/v1/loan-referrals/\(id)/transitions",
                #"{"to":"granted","decided_on":"\#(SolarHijri.today().adding(days: -5))"}"#, token: implementer)
            #expect(early.fields == ["decided_on"])
            let dated = try await api.post(
                "/v1/loan-referrals/\(id)/transitions", #"{"to":"under_review","decided_on":"2026-01-01"}"#, token: implementer)
            #expect(dated.fields == ["decided_on"])
            #expect(try await api.get("/v1/loan-referrals/\(id)", token: implementer).string("status") == "registered")

            // A closed application records nothing.
            let rejected = try await api.producer(province: "IR-00", status: .rejected)
            let closed = try await api.post(
                "/v1/producers/\(rejected.id)/loan-referrals", #"{"seeking":false}"#, token: implementer)
            #expect(closed.status == .conflict)
            #expect(closed.code == "producer_not_eligible")
        }
    }

    /// The plan's own measure. Each case is alone in its province, so each province's count says
    /// whether exactly that producer was counted.
    @Test func theLoanMeasureCountsExactlyTheRightProducers() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let partner = try await api.token(.partner)
            let today = SolarHijri.today()
            let implementer = try await api.token(
                .implementer, provinces: ["IR-01", "IR-02", "IR-03", "IR-04", "IR-05", "IR-06", "IR-07"])

            // IR-01: a loan granted before the first delivery: a sale WITH a loan.
            let withLoan = try await api.producer(province: "IR-01", status: .verified)
            let a = try await api.loanReferral(
                withLoan.id, token: withLoan.token, registeredOn: today.adding(days: -5).description)
            try await api.moveLoan(a, to: "granted", decidedOn: today.adding(days: -3).description, token: implementer)
            try await api.deliveredOrder(withLoan, partner: partner)

            // IR-02: no loan at all, a delivered order: counted.
            let noLoan = try await api.producer(province: "IR-02", status: .verified)
            try await api.deliveredOrder(noLoan, partner: partner)

            // IR-03: verified, an order placed but never delivered: not counted.
            let noDelivery = try await api.producer(province: "IR-03", status: .verified)
            _ = try await api.orderThrough(
                ["accepted", "packed", "shipped"], producer: noDelivery, product: try await api.product(noDelivery),
                partner: partner)

            // IR-04: never verified, though an order of theirs reads delivered (written directly): not counted.
            let unverified = try await api.producer(province: "IR-04", status: .screened)
            try await api.db.execute(
                """
                INSERT INTO orders (partner_account_id, producer_id, province_code, status, total_rials, delivery_province_code,
                  delivery_city, delivery_address, delivery_recipient, delivery_phone, tracking_code)
                SELECT id, \(unverified.id), 'IR-04', 'delivered', 1000, 'IR-23', 'تهران', 'نشانی', 'گیرنده', '02166554433', 'T-1'
                FROM accounts WHERE role = 'partner' LIMIT 1
                """)

            // IR-05: first delivery ten days ago, the loan granted three days ago: the sale came without it.
            let grantedLater = try await api.producer(province: "IR-05", status: .verified)
            let order = try await api.deliveredOrder(grantedLater, partner: partner)
            try await api.db.execute(
                "UPDATE order_events SET occurred_at = now() - interval '10 days' WHERE order_id = \(order) AND to_status = 'delivered'"
            )
            let e = try await api.loanReferral(
                grantedLater.id, token: implementer, registeredOn: today.adding(days: -20).description)
            try await api.moveLoan(e, to: "granted", decidedOn: today.adding(days: -3).description, token: implementer)

            // IR-06: the ministry declined: no loan, counted.
            let declined = try await api.producer(province: "IR-06", status: .verified)
            let f = try await api.loanReferral(declined.id, token: implementer)
            try await api.moveLoan(f, to: "declined", token: implementer)
            try await api.deliveredOrder(declined, partner: partner)

            // IR-07: still under review at the first sale: counted; and a producer that does not seek one.
            let pending = try await api.producer(province: "IR-07", status: .verified)
            let g = try await api.loanReferral(pending.id, token: pending.token)
            try await api.moveLoan(g, to: "under_review", token: implementer)
            try await api.deliveredOrder(pending, partner: partner)
            let notSeeking = try await api.producer(province: "IR-07", status: .verified)
            try await api.must(
                .post, "/v1/producers/\(notSeeking.id)/loan-referrals", json: #"{"seeking":false}"#, token: notSeeking.token,
                status: .created)

            let year = SolarHijri.year(of: Date())
            let report = try await api.get("/v1/reports/funnel?year=\(year)", token: admin)
            let rows = report.json["rows"] as? [[String: Any]] ?? []
            func row(_ code: String) -> [String: Int] {
                let r = rows.first { $0["province_code"] as? String == code } ?? [:]
                return [
                    "first": r["first_sale_without_loan"] as? Int ?? -1, "seeking": r["loan_seeking"] as? Int ?? -1,
                    "granted": r["loan_granted"] as? Int ?? -1, "connected": r["connected"] as? Int ?? -1,
                ]
            }
            #expect(row("IR-01") == ["first": 0, "seeking": 1, "granted": 1, "connected": 1])
            #expect(row("IR-02") == ["first": 1, "seeking": 0, "granted": 0, "connected": 1])
            #expect(row("IR-03") == ["first": 0, "seeking": 0, "granted": 0, "connected": 0])
            #expect(row("IR-04") == ["first": 0, "seeking": 0, "granted": 0, "connected": 1])
            #expect(row("IR-05") == ["first": 1, "seeking": 1, "granted": 1, "connected": 1])
            #expect(row("IR-06") == ["first": 1, "seeking": 1, "granted": 0, "connected": 1])
            #expect(row("IR-07") == ["first": 1, "seeking": 1, "granted": 0, "connected": 1])
            let totals = report.json["totals"] as? [String: Any] ?? [:]
            #expect(totals["first_sale_without_loan"] as? Int == 4)
            #expect(totals["loan_seeking"] as? Int == 4)
            #expect(totals["loan_granted"] as? Int == 2)

            // The implementer's funnel covers its seven provinces only.
            let scoped = try await api.get("/v1/reports/funnel?year=\(year)", token: implementer)
            #expect((scoped.json["rows"] as? [[String: Any]])?.count == 7)
            #expect((scoped.json["totals"] as? [String: Any])?["first_sale_without_loan"] as? Int == 4)
        }
    }
}
