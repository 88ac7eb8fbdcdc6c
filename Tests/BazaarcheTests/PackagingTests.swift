import BazaarcheCore
import Foundation
import Testing

@Suite struct PackagingReviewTests {
    /// The issue's abuse: a producer's own `export` claim reached the search filter, demands'
    /// filters and match scores at once.
    @Test func anUnapprovedExportClaimIsInvisibleToFiltersAndScoresUntilApproved() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let jam = try await api.product(
                producer, title: "مربای صادراتی", category: "food.jams_syrups", price: 1_000_000, stock: 50)
            let partner = try await api.token(.partner)
            let demand = try await api.demand(
                partner, #""category_code":"food","quantity":10,"max_unit_price_rials":2000000,"min_packaging_level":"export""#)

            let declared = try await api.call(
                .put, "/v1/products/\(jam)/packaging", json: #"{"level":"export","gtin":"5901234123457"}"#, token: producer.token)
            #expect(declared.status == .ok)
            #expect(declared.string("declared_level") == "export")
            #expect(declared.json["approved_level"] is NSNull)
            #expect(declared.string("review_status") == "pending_review")
            #expect(declared.json["reviewed_at"] is NSNull)
            // Not a fact yet: no filter, match or listing shows it.
            #expect(try await api.searchIDs("min_packaging_level=export").isEmpty)
            #expect(try await api.searchIDs("min_packaging_level=basic").isEmpty)
            #expect(try await api.get("/v1/products/\(jam)").string("packaging_level") == "none")
            let before = try await api.matches(demand, token: partner)
            #expect(matchedProducts(before).isEmpty)
            #expect((before["candidate_count"] as? NSNumber)?.intValue == 0)
            // Anyone may read the declaration, marked as such.
            let publicView = try await api.get("/v1/products/\(jam)/packaging")
            #expect(publicView.string("declared_level") == "export")
            #expect(publicView.string("review_status") == "pending_review")

            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let approved = try await api.review(
                jam, #"{"decision":"approve","level":"export","reason":"inspected"}"#, token: supervisor)
            #expect(approved.status == .ok, "\(approved.text)")
            #expect(approved.string("approved_level") == "export")
            #expect(approved.string("review_status") == "approved")
            #expect(approved.string("review_reason") == "inspected")
            #expect(approved.string("reviewed_at") != nil)
            #expect(try await api.searchIDs("min_packaging_level=export") == [jam])
            #expect(try await api.get("/v1/products/\(jam)").string("packaging_level") == "export")
            let after = try await api.matches(demand, token: partner)
            #expect(matchedProducts(after) == [jam])
            let score = (after["matches"] as? [[String: Any]])?.first?["score"]
            #expect(units(score) > 0)

            // The producer changes its declaration: back to review, the approval still stands.
            let changed = try await api.call(
                .put, "/v1/products/\(jam)/packaging", json: #"{"level":"export","gtin":"4006381333931","materials":["شیشه"]}"#,
                token: producer.token)
            #expect(changed.status == .ok)
            #expect(changed.string("review_status") == "pending_review")
            #expect(changed.string("approved_level") == "export")
            #expect(try await api.searchIDs("min_packaging_level=export") == [jam])
            #expect(matchedProducts(try await api.matches(demand, token: partner)) == [jam])
            // Sending the same declaration again is not a change.
            let same = try await api.call(
                .put, "/v1/products/\(jam)/packaging", json: #"{"level":"export","gtin":"4006381333931","materials":["شیشه"]}"#,
                token: producer.token)
            #expect(same.string("review_status") == "pending_review")
            #expect(same.string("updated_at") == changed.string("updated_at"))

            let audit = try await api.db.rows(
                """
                SELECT action, coalesce(from_status, ''), to_status FROM audit_events
                WHERE entity_type = 'packaging' AND entity_id = \(jam) ORDER BY id
                """)
            let actions = try audit.map { try $0.decode((String, String, String).self) }
            #expect(actions.map(\.0) == ["packaging.declared", "packaging.approved", "packaging.declared"])
            #expect(actions[1].1 == "pending_review" && actions[1].2 == "approved")
        }
    }

    @Test func aRejectedChangeKeepsTheEarlierApprovalAndALowerDeclarationLowersItAtOnce() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let cake = try await api.product(producer)
            try await api.approvedPackaging(cake, "retail", token: producer.token)
            let supervisor = try await api.token(.supervisor, province: "IR-00")

            try await api.must(.put, "/v1/products/\(cake)/packaging", json: #"{"level":"export"}"#, token: producer.token)
            let noReason = try await api.review(cake, #"{"decision":"reject"}"#, token: supervisor)
            #expect(noReason.status == .unprocessableContent)
            #expect(noReason.fields == ["reason"])
            #expect(try await api.get("/v1/products/\(cake)/packaging").string("review_status") == "pending_review")
            let rejected = try await api.review(
                cake, #"{"decision":"reject","reason":"label has no English text"}"#, token: supervisor)
            #expect(rejected.status == .ok)
            #expect(rejected.string("review_status") == "rejected")
            #expect(rejected.string("declared_level") == "export")
            #expect(rejected.string("approved_level") == "retail")
            #expect(rejected.string("review_reason") == "label has no English text")
            #expect(try await api.get("/v1/products/\(cake)").string("packaging_level") == "retail")
            #expect(try await api.searchIDs("min_packaging_level=export").isEmpty)
            #expect(try await api.searchIDs("min_packaging_level=retail") == [cake])
            // A decided declaration is not decided again.
            let twice = try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: supervisor)
            #expect(twice.status == .conflict)
            #expect(twice.code == "invalid_transition")
            #expect(twice.string("current_status") == "rejected")
            #expect(try await api.get("/v1/products/\(cake)").string("packaging_level") == "retail")

            // Declaring less than approved needs no review to take effect.
            let lower = try await api.call(
                .put, "/v1/products/\(cake)/packaging", json: #"{"level":"basic"}"#, token: producer.token)
            #expect(lower.string("approved_level") == "basic")
            #expect(lower.string("review_status") == "pending_review")
            #expect(try await api.searchIDs("min_packaging_level=retail").isEmpty)
            #expect(try await api.get("/v1/products/\(cake)").string("packaging_level") == "basic")
        }
    }

    @Test func onlyTheProvincesSupervisorOrAnAdminApproves() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let cake = try await api.product(producer)
            // Nothing to review yet.
            let admin = try await api.token(.admin)
            #expect(try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: admin).status == .notFound)
            try await api.must(.put, "/v1/products/\(cake)/packaging", json: #"{"level":"export"}"#, token: producer.token)

            let own = try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: producer.token)
            #expect(own.status == .forbidden)
            #expect(
                try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: try await api.token(.partner))
                    .status == .forbidden)
            let elsewhere = try await api.token(.supervisor, province: "IR-23")
            #expect(try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: elsewhere).status == .notFound)
            #expect(try await api.review(cake, #"{"decision":"approve","level":"export"}"#).status == .unauthorized)
            #expect(try await api.review(cake, #"{"decision":"maybe"}"#, token: admin).fields == ["decision"])
            // The old way round review is gone: staff PUT is a declaration like any other.
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            let staffPut = try await api.call(
                .put, "/v1/products/\(cake)/packaging", json: #"{"level":"export","improvement_status":"approved"}"#,
                token: supervisor)
            #expect(staffPut.status == .ok)
            #expect(staffPut.string("review_status") == "pending_review")
            #expect(staffPut.json["approved_level"] is NSNull)
            #expect(try await api.searchIDs("min_packaging_level=export").isEmpty)
            #expect(try await api.get("/v1/products/\(cake)").string("packaging_level") == "none")
            #expect(try await api.db.rows("SELECT 1 FROM audit_events WHERE action = 'packaging.approved'").isEmpty)

            #expect(try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: supervisor).status == .ok)
            let audit = try await api.db.rows(
                "SELECT actor_role, province_code FROM audit_events WHERE action = 'packaging.approved' AND entity_id = \(cake)")
            #expect(try audit.map { try $0.decode((String, String).self) }.map(\.0) == ["supervisor"])
            try await api.must(.post, "/v1/products/\(cake)/transitions", json: #"{"to":"archived"}"#, token: producer.token)
            let archived = try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: supervisor)
            #expect(archived.status == .conflict)
            #expect(archived.code == "product_archived")
        }
    }

    /// The reviewer looked at `basic`; the producer re-declared `export` meanwhile. The approval
    /// names the level it approves, so `export` is never approved unseen.
    @Test func anApprovalOfALevelThatIsNoLongerDeclaredChangesNothing() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let cake = try await api.product(producer)
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            try await api.must(.put, "/v1/products/\(cake)/packaging", json: #"{"level":"basic"}"#, token: producer.token)
            let seen = try await api.get("/v1/products/\(cake)/packaging", token: supervisor)
            #expect(seen.string("declared_level") == "basic")
            try await api.must(.put, "/v1/products/\(cake)/packaging", json: #"{"level":"export"}"#, token: producer.token)

            let noLevel = try await api.review(cake, #"{"decision":"approve"}"#, token: supervisor)
            #expect(noLevel.status == .unprocessableContent)
            #expect(noLevel.fields == ["level"])
            let stale = try await api.review(cake, #"{"decision":"approve","level":"basic"}"#, token: supervisor)
            #expect(stale.status == .conflict, "\(stale.text)")
            #expect(stale.code == "declaration_changed")
            #expect(stale.string("declared_level") == "export")
            let after = try await api.get("/v1/products/\(cake)/packaging", token: supervisor)
            #expect(after.string("review_status") == "pending_review")
            #expect(after.json["approved_level"] is NSNull)
            #expect(after.json["reviewed_at"] is NSNull)
            #expect(try await api.get("/v1/products/\(cake)").string("packaging_level") == "none")
            #expect(try await api.searchIDs("min_packaging_level=basic").isEmpty)
            #expect(
                try await api.db.rows(
                    """
                    SELECT 1 FROM audit_events WHERE entity_type = 'packaging' AND action IN ('packaging.approved',\
                     'packaging.rejected')
                    """
                ).isEmpty)
            // A rejection that names a level is held to it too.
            let staleReject = try await api.review(
                cake, #"{"decision":"reject","level":"basic","reason":"no label"}"#, token: supervisor)
            #expect(staleReject.code == "declaration_changed")
            #expect(
                try await api.get("/v1/products/\(cake)/packaging", token: supervisor).string("review_status") == "pending_review"
            )

            // Reviewed as it now stands, it is approved.
            let approved = try await api.review(cake, #"{"decision":"approve","level":"export"}"#, token: supervisor)
            #expect(approved.status == .ok)
            #expect(approved.string("approved_level") == "export")
            #expect(try await api.searchIDs("min_packaging_level=export") == [cake])
        }
    }

    /// Four eyes: staff may declare packaging, but someone else approves it.
    @Test func staffCannotApproveTheirOwnDeclaration() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let cake = try await api.product(producer)
            let declarer = try await api.token(.supervisor, province: "IR-00")
            let declared = try await api.call(
                .put, "/v1/products/\(cake)/packaging", json: #"{"level":"retail","materials":["شیشه"]}"#, token: declarer)
            #expect(declared.status == .ok)

            let own = try await api.review(cake, #"{"decision":"approve","level":"retail"}"#, token: declarer)
            #expect(own.status == .forbidden, "\(own.text)")
            #expect(own.code == "own_declaration")
            #expect(try await api.get("/v1/products/\(cake)/packaging").json["approved_level"] is NSNull)
            #expect(try await api.get("/v1/products/\(cake)").string("packaging_level") == "none")
            #expect(try await api.searchIDs("min_packaging_level=retail").isEmpty)
            #expect(try await api.db.rows("SELECT 1 FROM audit_events WHERE action = 'packaging.approved'").isEmpty)

            // An admin's own declaration is no different.
            let admin = try await api.token(.admin)
            try await api.must(.put, "/v1/products/\(cake)/packaging", json: #"{"level":"retail"}"#, token: admin)
            #expect(
                try await api.review(cake, #"{"decision":"approve","level":"retail"}"#, token: admin).code == "own_declaration")
            // Now the admin declared it: the supervisor who declared before may approve it.
            let other = try await api.review(cake, #"{"decision":"approve","level":"retail"}"#, token: declarer)
            #expect(other.status == .ok, "\(other.text)")
            #expect(try await api.searchIDs("min_packaging_level=retail") == [cake])
            let audit = try await api.db.rows(
                """
                SELECT a.login FROM audit_events e JOIN accounts a ON a.id = e.actor_account_id
                WHERE e.action = 'packaging.approved' AND e.entity_id = \(cake)
                """)
            #expect(try audit.map { try $0.decode(String.self) }.allSatisfy { $0.hasPrefix("supervisor.") })
            #expect(audit.count == 1)
        }
    }
}
