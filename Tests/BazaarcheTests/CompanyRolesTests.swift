import BazaarcheCore
import Foundation
import Logging
import Orders
import PostgresNIO
import Testing

/// A partner company buys as a company: its accounts share its orders, each by its role (owner,
/// buyer, viewer); its owners manage its accounts, and it always keeps an enabled owner.
@Suite struct CompanyRolesTests {
    static let delivery =
        #"{"province_code":"IR-23","city":"تهران","address":"خیابان آزادی","recipient":"انبار","phone":"02166554433"}"#

    func ids(_ reply: Reply) -> [Int64] { reply.items.compactMap { ($0["id"] as? NSNumber)?.int64Value } }

    @Test func everyAccountOfTheCompanySeesItsOrdersAndNoOtherCompanyDoes() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, price: 100_000, stock: 50)
            let owner = try await api.partnerToken(role: .owner)
            let buyer = try await api.partnerToken(company: owner.partnerID, role: .buyer)
            let viewer = try await api.partnerToken(company: owner.partnerID, role: .viewer)
            let stranger = try await api.partnerToken(role: .owner)

            let byOwner = try #require(try await api.order(owner.token, producer: seller.id, lines: [(product, 1)]).int("id"))
            let byBuyer = try #require(try await api.order(buyer.token, producer: seller.id, lines: [(product, 2)]).int("id"))
            for token in [owner.token, buyer.token, viewer.token] {
                for order in [byOwner, byBuyer] {
                    #expect(try await api.get("/v1/orders/\(order)", token: token).status == .ok)
                }
                #expect(Set(ids(try await api.get("/v1/orders", token: token))) == [byOwner, byBuyer])
            }
            // Either account of the company moves the other's order (a buyer cancels the owner's).
            let cancelled = try await api.moveOrder(byOwner, #"{"to":"cancelled","reason":"خرید تکراری"}"#, token: buyer.token)
            #expect(cancelled.status == .ok, "\(cancelled.text)")
            // Another company learns nothing.
            for order in [byOwner, byBuyer] {
                #expect(try await api.get("/v1/orders/\(order)", token: stranger.token).status == .notFound)
                let moved = try await api.moveOrder(order, #"{"to":"cancelled","reason":"x"}"#, token: stranger.token)
                #expect(moved.status == .notFound)
            }
            #expect(ids(try await api.get("/v1/orders", token: stranger.token)).isEmpty)
            #expect(try await api.status(ofOrder: byBuyer) == "placed")
            // The order names the buying company, and its events carry it (the company's feed).
            let company = try await api.db.rows("SELECT partner_id FROM orders WHERE id = \(byBuyer)")[0].decode(Int64.self)
            #expect(company == owner.partnerID)
            let eventCompanies = try await api.db.rows(
                "SELECT DISTINCT partner_id FROM events WHERE subject_type = 'order' AND subject_id = ANY(\([byOwner, byBuyer]))"
            ).map { try $0.decode(Int64?.self) }
            #expect(eventCompanies == [owner.partnerID])
        }
    }

    @Test func aViewerReadsButChangesNothing() async throws {
        try await withApp { api in
            let seller = try await api.producer(status: .verified)
            let product = try await api.product(seller, price: 100_000, stock: 50)
            let owner = try await api.partnerToken(role: .owner)
            let viewer = try await api.partnerToken(company: owner.partnerID, role: .viewer)
            let order = try #require(try await api.order(owner.token, producer: seller.id, lines: [(product, 3)]).int("id"))
            let demand = try await api.demand(owner.token, #""category_code":"food","quantity":5,"max_unit_price_rials":1000000"#)
            func counts() async throws -> [Int] {
                let c = try await api.db.rows(
                    """
                    SELECT (SELECT count(*)::int FROM orders), (SELECT count(*)::int FROM demands),
                      (SELECT count(*)::int FROM invitations), (SELECT count(*)::int FROM api_keys),
                      (SELECT count(*)::int FROM webhook_endpoints), (SELECT stock FROM products WHERE id = \(product)),
                      (SELECT count(*)::int FROM accounts WHERE partner_id = \(owner.partnerID))
                    """
                )[0].decode((Int, Int, Int, Int, Int, Int, Int).self)
                return [c.0, c.1, c.2, c.3, c.4, c.5, c.6]
            }
            let before = try await counts()
            // Reads work.
            #expect(try await api.get("/v1/orders/\(order)", token: viewer.token).status == .ok)
            #expect(try await api.get("/v1/demands/\(demand)", token: viewer.token).status == .ok)
            // Every write is 403 company_role.
            let writes: [(HTTPRequest.Method, String, String)] = [
                (
                    .post, "/v1/orders",
                    #"{"producer_id":\#(seller.id),"lines":[{"product_id":\#(product),"quantity":1}],"delivery":\#(Self.delivery)}"#
                ),
                (
                    .post, "/v1/demands",
                    #"{"unit":"piece","needed_by":"2099-01-01","category_code":"food","quantity":5,"max_unit_price_rials":1000}"#
                ),
                (
                    .post, "/v1/demands/\(demand)/invitations",
                    #"""
                    {"producer_id":\#(seller.id),"product_id":\#(product),"quantity":5,"unit_price_rials":90000,\#
                    "delivery":\#(Self.delivery)}
                    """#
                ),
                (.post, "/v1/demands/\(demand)/transitions", #"{"to":"cancelled"}"#),
                (.post, "/v1/orders/\(order)/transitions", #"{"to":"cancelled","reason":"x"}"#),
                (.post, "/v1/api-keys", #"{"name":"ERP","scopes":["orders"]}"#),
                (.post, "/v1/webhook-endpoints", #"{"url":"https://erp.example.com/hook","event_types":["order.*"]}"#),
                (
                    .post, "/v1/partners/\(owner.partnerID)/accounts",
                    #"{"login":"v.\#(Fixtures.next())","password":"password-123","company_role":"owner"}"#
                ),
            ]
            for (method, path, body) in writes {
                let reply = try await api.call(
                    method, path, json: body, token: viewer.token, headers: [.idempotencyKey: UUID().uuidString])
                #expect(
                    reply.status == .forbidden && reply.code == "company_role", "\(method) \(path): \(reply.status) \(reply.text)"
                )
                #expect(reply.json["company_role"] as? String == "viewer")
            }
            #expect(try await counts() == before)
            #expect(try await api.status(ofOrder: order) == "placed")
            let demandStatus = try await api.db.rows("SELECT status FROM demands WHERE id = \(demand)")[0].decode(String.self)
            #expect(demandStatus == "open")
        }
    }

    @Test func aBuyerBuysButManagesNeitherAccountsNorKeys() async throws {
        try await withApp { api in
            let owner = try await api.partnerToken(role: .owner)
            let buyer = try await api.partnerToken(company: owner.partnerID, role: .buyer)
            let key = try await api.must(
                .post, "/v1/api-keys", json: #"{"name":"ERP","scopes":["orders"]}"#, token: owner.token, status: .created)
            let keyID = try #require(key.int("id"))
            let members = try await api.must(.get, "/v1/partners/\(owner.partnerID)/accounts", token: owner.token)
            let ownerAccount = try #require(try await api.get("/v1/me", token: owner.token).int("id"))
            #expect(Set(ids(members)).contains(ownerAccount) && members.items.count == 2)
            let refused: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/partners/\(owner.partnerID)/accounts", nil),
                (
                    .post, "/v1/partners/\(owner.partnerID)/accounts",
                    #"{"login":"b.\#(Fixtures.next())","password":"password-123","company_role":"buyer"}"#
                ),
                (.patch, "/v1/partners/\(owner.partnerID)/accounts/\(ownerAccount)", #"{"company_role":"viewer"}"#),
                (.get, "/v1/api-keys", nil),
                (.post, "/v1/api-keys", #"{"name":"mine","scopes":["orders"]}"#),
                (.delete, "/v1/api-keys/\(keyID)", nil),
                (.get, "/v1/webhook-endpoints", nil),
            ]
            for (method, path, body) in refused {
                let reply = try await api.call(method, path, json: body, token: buyer.token)
                #expect(reply.status == .forbidden && reply.code == "company_role", "\(method) \(path): \(reply.text)")
            }
            let state = try await api.db.rows(
                """
                SELECT (SELECT count(*)::int FROM accounts WHERE partner_id = \(owner.partnerID)),
                  (SELECT company_role FROM accounts WHERE id = \(ownerAccount)),
                  (SELECT count(*)::int FROM api_keys WHERE revoked_at IS NULL AND partner_id = \(owner.partnerID))
                """)[0].decode((Int, String, Int).self)
            #expect(state.0 == 2 && state.1 == "owner" && state.2 == 1)
            // The buyer does buy: it posts a demand.
            _ = try await api.demand(buyer.token, #""category_code":"food","quantity":5,"max_unit_price_rials":1000000"#)
        }
    }

    @Test func anOwnerManagesTheCompanysAccountsAndAlwaysKeepsAnOwner() async throws {
        try await withApp { api in
            let owner = try await api.partnerToken(role: .owner)
            let company = owner.partnerID
            let ownerAccount = try #require(try await api.get("/v1/me", token: owner.token).int("id"))
            let otherOwner = try await api.partnerToken(role: .owner)
            let buyerLogin = "buyer.\(Fixtures.next())"
            let created = try await api.must(
                .post, "/v1/partners/\(company)/accounts",
                json: #"{"login":"\#(buyerLogin)","password":"password-123","company_role":"buyer"}"#, token: owner.token,
                status: .created)
            let buyerAccount = try #require(created.int("id"))
            #expect(created.string("company_role") == "buyer" && created.int("partner_id") == company)
            #expect(created.string("role") == "partner")
            let viewerLogin = "viewer.\(Fixtures.next())"
            let viewer = try await api.must(
                .post, "/v1/partners/\(company)/accounts",
                json: #"{"login":"\#(viewerLogin)","password":"password-123","company_role":"viewer"}"#, token: owner.token,
                status: .created)
            let viewerAccount = try #require(viewer.int("id"))
            // Bad input: weak password, unknown role, duplicate login; nothing is created.
            let weak = try await api.post(
                "/v1/partners/\(company)/accounts",
                #"{"login":"w.\#(Fixtures.next())","password":"short","company_role":"buyer"}"#,
                token: owner.token)
            #expect(weak.status == .unprocessableContent && weak.fields == ["password"])
            let unknownRole = try await api.post(
                "/v1/partners/\(company)/accounts",
                #"{"login":"w.\#(Fixtures.next())","password":"password-123","company_role":"boss"}"#,
                token: owner.token)
            #expect(unknownRole.status == .unprocessableContent || unknownRole.status == .badRequest)
            let duplicate = try await api.post(
                "/v1/partners/\(company)/accounts",
                #"{"login":"\#(buyerLogin)","password":"password-123","company_role":"buyer"}"#,
                token: owner.token)
            #expect(duplicate.status == .conflict)
            let members = try await api.must(.get, "/v1/partners/\(company)/accounts", token: owner.token)
            #expect(ids(members) == [ownerAccount, buyerAccount, viewerAccount])
            // The new accounts sign in and act by their role.
            let buyerToken = try await api.login(buyerLogin)
            #expect(try await api.get("/v1/me", token: buyerToken).string("company_role") == "buyer")
            // Another company's owner reaches none of it.
            for (method, path, body) in [
                (HTTPRequest.Method.get, "/v1/partners/\(company)/accounts", nil as String?),
                (.get, "/v1/partners/\(company)/accounts/\(buyerAccount)", nil),
                (
                    .post, "/v1/partners/\(company)/accounts",
                    #"{"login":"x.\#(Fixtures.next())","password":"password-123","company_role":"owner"}"#
                ),
                (.patch, "/v1/partners/\(company)/accounts/\(buyerAccount)", #"{"company_role":"owner"}"#),
                (.patch, "/v1/partners/\(otherOwner.partnerID)/accounts/\(buyerAccount)", #"{"company_role":"owner"}"#),
            ] {
                let reply = try await api.call(method, path, json: body, token: otherOwner.token)
                #expect(reply.status == .notFound, "\(method) \(path): \(reply.text)")
            }
            // Roles change; the viewer becomes a buyer at once (no new sign-in needed).
            let viewerToken = try await api.login(viewerLogin)
            let promoted = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(viewerAccount)", json: #"{"company_role":"buyer"}"#,
                token: owner.token)
            #expect(promoted.status == .ok && promoted.string("company_role") == "buyer", "\(promoted.text)")
            _ = try await api.demand(viewerToken, #""category_code":"food","quantity":5,"max_unit_price_rials":1000000"#)
            // The last owner cannot step down or be disabled.
            let stepDown = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(ownerAccount)", json: #"{"company_role":"buyer"}"#, token: owner.token
            )
            #expect(stepDown.status == .conflict && stepDown.code == "last_owner", "\(stepDown.text)")
            let admin = try await api.token(.admin)
            let disableLast = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(ownerAccount)", json: #"{"disabled":true,"reason":"leaving"}"#,
                token: admin)
            #expect(disableLast.status == .conflict && disableLast.code == "last_owner")
            #expect(try await api.get("/v1/me", token: owner.token).string("company_role") == "owner")
            // Disabling an account signs it out at once; enabling needs a new sign-in.
            let noReason = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(buyerAccount)", json: #"{"disabled":true}"#, token: owner.token)
            #expect(noReason.status == .unprocessableContent && noReason.fields == ["reason"])
            #expect(try await api.get("/v1/me", token: buyerToken).status == .ok)
            let disabled = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(buyerAccount)",
                json: #"{"disabled":true,"reason":"left the company"}"#,
                token: owner.token)
            #expect(disabled.status == .ok && disabled.json["disabled"] as? Bool == true)
            #expect(try await api.get("/v1/me", token: buyerToken).status == .unauthorized)
            let audited = try await api.db.rows(
                """
                SELECT string_agg(action, ',' ORDER BY id) FROM audit_events
                WHERE entity_type = 'account' AND entity_id = ANY(\([buyerAccount, viewerAccount]))
                """)[0].decode(String.self)
            #expect(audited == "account.created,account.created,account.company_role_changed,account.disabled")
        }
    }

    @Test func twoOwnersDemotingEachOtherAtOnceLeaveOneOwner() async throws {
        try await withApp { api in
            for _ in 0..<3 {
                let first = try await api.partnerToken(role: .owner)
                let second = try await api.partnerToken(company: first.partnerID, role: .owner)
                let firstID = try #require(try await api.get("/v1/me", token: first.token).int("id"))
                let secondID = try #require(try await api.get("/v1/me", token: second.token).int("id"))
                let company = first.partnerID
                async let a = api.call(
                    .patch, "/v1/partners/\(company)/accounts/\(secondID)", json: #"{"company_role":"viewer"}"#,
                    token: first.token)
                async let b = api.call(
                    .patch, "/v1/partners/\(company)/accounts/\(firstID)", json: #"{"company_role":"viewer"}"#,
                    token: second.token)
                let statuses = try await [a.status, b.status]
                // One wins; the other is refused (last_owner), or — when its caller was already demoted
                // before it ran — 403 company_role. Never both.
                #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
                let owners = try await api.db.rows(
                    "SELECT count(*)::int FROM accounts WHERE partner_id = \(company) AND company_role = 'owner' AND NOT disabled"
                )[0].decode(Int.self)
                #expect(owners == 1)
            }
        }
    }

    @Test func theAdminCreatesPartnerAccountsWithACompanyRole() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            let company = try await api.partnerCompany()
            let viewer = try await api.must(
                .post, "/v1/accounts",
                json: #"""
                    {"role":"partner","login":"v.\#(Fixtures.next())","password":"password-123","partner_id":\#(company),\#
                    "company_role":"viewer"}
                    """#, token: admin, status: .created)
            #expect(viewer.string("company_role") == "viewer")
            let owner = try await api.must(
                .post, "/v1/accounts",
                json: #"{"role":"partner","login":"o.\#(Fixtures.next())","password":"password-123","partner_id":\#(company)}"#,
                token: admin, status: .created)
            #expect(owner.string("company_role") == "owner")
            let staff = try await api.post(
                "/v1/accounts",
                #"{"role":"admin","login":"a.\#(Fixtures.next())","password":"password-123","company_role":"owner"}"#,
                token: admin)
            #expect(staff.status == .unprocessableContent && staff.fields == ["company_role"])
            let admins = try await api.get("/v1/accounts?role=admin", token: admin)
            #expect(admins.items.allSatisfy { $0["company_role"] is NSNull })
            // The admin manages any company's accounts.
            #expect(try await api.get("/v1/partners/\(company)/accounts", token: admin).items.count == 2)
            #expect(try await api.get("/v1/partners/999999999/accounts", token: admin).status == .notFound)
        }
    }

    @Test func upgradeGivesEveryOrderItsBuyersCompany() async throws {
        try await withUpgrade(
            from: "0023",
            seed: { client in
                let logger = Logger(label: "seed")
                try await client.query(
                    """
                    WITH c AS (
                      INSERT INTO partners (legal_national_id, name, kind, province_code)
                      VALUES (\(Fixtures.legalID(4242)), 'شرکت پیشین', 'lead_firm', 'IR-23') RETURNING id),
                    a AS (
                      INSERT INTO accounts (login, password_hash, role, partner_id)
                      SELECT 'old.buyer', 'x', 'partner', id FROM c RETURNING id),
                    p AS (
                      INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills, status)
                      VALUES ('0013542419', 'سارا', 'امینی', '09351234567', 'IR-00', 'اراک', '{}', 'applied') RETURNING id)
                    INSERT INTO orders (partner_account_id, producer_id, province_code, status, total_rials,
                      delivery_province_code, delivery_city, delivery_address, delivery_recipient, delivery_phone)
                    SELECT a.id, p.id, 'IR-00', 'placed', 1000, 'IR-23', 'تهران', 'نشانی', 'گیرنده', '02166554433' FROM a, p
                    """, logger: logger)
            },
            check: { client in
                let logger = Logger(label: "check")
                let rows = try await client.query(
                    """
                    SELECT o.partner_id = a.partner_id, a.company_role FROM orders o
                    JOIN accounts a ON a.id = o.partner_account_id
                    """, logger: logger
                ).collect()
                #expect(rows.count == 1)
                let (sameCompany, role) = try rows[0].decode((Bool?, String?).self)
                #expect(sameCompany == true && role == "owner")
            })
    }

    /// Partner accounts from before companies existed have no company (the NOT VALID check of
    /// decision 16): the upgrade must not trip over them, and they keep buying as before.
    @Test func upgradeKeepsCompanylessPartnerAccountsBuying() async throws {
        try await withUpgrade(
            from: "0023",
            seed: { client in
                let logger = Logger(label: "seed")
                // Such rows predate the check; recreate that past by lifting it for the insert.
                try await client.query("ALTER TABLE accounts DROP CONSTRAINT accounts_partner_id_check", logger: logger)
                try await client.query(
                    """
                    INSERT INTO accounts (login, password_hash, role, disabled)
                    VALUES ('legacy.buyer', 'x', 'partner', false), ('legacy.gone', 'x', 'partner', true)
                    """, logger: logger)
                try await client.query(
                    """
                    ALTER TABLE accounts ADD CONSTRAINT accounts_partner_id_check
                      CHECK ((role = 'partner') = (partner_id IS NOT NULL)) NOT VALID
                    """, logger: logger)
            },
            check: { client in
                let logger = Logger(label: "check")
                let rows = try await client.query(
                    "SELECT login, company_role, platform_disabled FROM accounts WHERE login LIKE 'legacy.%' ORDER BY login",
                    logger: logger
                ).collect()
                let accounts = try rows.map { try $0.decode((String, String?, Bool).self) }
                #expect(accounts.map(\.0) == ["legacy.buyer", "legacy.gone"])
                #expect(accounts.map(\.1) == ["owner", "owner"])
                // Disabled before companies existed means disabled by the platform.
                #expect(accounts.map(\.2) == [false, true])
                // The check still holds for new rows.
                await #expect(throws: (any Error).self) {
                    try await client.query(
                        "INSERT INTO accounts (login, password_hash, role) VALUES ('new.partner', 'x', 'partner')",
                        logger: logger)
                }
                // The account signs in as a buyer of the orders it places, and places one.
                let db = Database(client: client, logger: logger)
                let token = "bz_legacy-\(UUID().uuidString)"
                try await client.query(
                    """
                    INSERT INTO access_tokens (token_hash, account_id, expires_at)
                    SELECT sha256(convert_to(\(token), 'UTF8')), id, now() + interval '1 hour' FROM accounts
                    WHERE login = 'legacy.buyer'
                    """, logger: logger)
                let principal = try #require(try await Tokens.principal(for: token, db: db))
                #expect(principal.partnerID == nil && principal.companyRole == .owner)
                #expect(throws: Never.self) { try principal.requireBuyer() }
                let product = try await client.query(
                    """
                    WITH p AS (
                      INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills, status)
                      VALUES ('0013542419', 'سارا', 'امینی', '09351234567', 'IR-00', 'اراک', '{}', 'verified') RETURNING id)
                    INSERT INTO products (producer_id, province_code, title_fa, category_code, unit, price_rials, stock, status)
                    SELECT id, 'IR-00', 'کیک', 'food.confectionery', 'piece', 100000, 10, 'listed' FROM p
                    RETURNING id, producer_id
                    """, logger: logger
                ).collect()[0].decode((Int64, Int64).self)
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                let body = try decoder.decode(
                    OrderRequest.self,
                    from: Data(
                        #"{"producer_id":\#(product.1),"lines":[{"product_id":\#(product.0),"quantity":2}],"delivery":\#(Self.delivery)}"#
                            .utf8))
                let placed = try await db.transaction { connection in
                    try await Orders(db: db).place(try Orders.validate(body), by: principal, on: connection)
                }
                let order = try await client.query(
                    "SELECT partner_account_id = \(principal.accountID), partner_id IS NULL FROM orders WHERE id = \(placed.id)",
                    logger: logger
                ).collect()[0].decode((Bool, Bool).self)
                #expect(order == (true, true))
            })
    }

    @Test func anOwnerCannotUndoThePlatformsDisable() async throws {
        try await withApp { api in
            let owner = try await api.partnerToken(role: .owner)
            let company = owner.partnerID
            let login = "buyer.\(Fixtures.next())"
            let created = try await api.must(
                .post, "/v1/partners/\(company)/accounts",
                json: #"{"login":"\#(login)","password":"password-123","company_role":"buyer"}"#, token: owner.token,
                status: .created)
            let account = try #require(created.int("id"))
            let admin = try await api.token(.admin)
            let disabled = try await api.post("/v1/accounts/\(account)/disable", #"{"reason":"fraud report"}"#, token: admin)
            #expect(disabled.status == .ok, "\(disabled.text)")
            let enable = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(account)", json: #"{"disabled":false}"#, token: owner.token)
            #expect(enable.status == .conflict)
            #expect(enable.code == "disabled_by_platform")
            #expect(
                try await api.get("/v1/partners/\(company)/accounts/\(account)", token: owner.token).json["disabled"] as? Bool
                    == true)
            let signIn = try await api.post("/v1/auth/tokens", #"{"login":"\#(login)","password":"password-123"}"#)
            #expect(signIn.status == .unauthorized)
            // The owner may still change its role; the disable stays.
            let role = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(account)", json: #"{"company_role":"viewer"}"#, token: owner.token)
            #expect(role.status == .ok && role.json["disabled"] as? Bool == true, "\(role.text)")
            // Once the admin enables it, the company's own disable and enable work as before.
            #expect(try await api.post("/v1/accounts/\(account)/enable", "{}", token: admin).status == .ok)
            let own = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(account)", json: #"{"disabled":true,"reason":"on leave"}"#,
                token: owner.token)
            #expect(own.status == .ok)
            let back = try await api.call(
                .patch, "/v1/partners/\(company)/accounts/\(account)", json: #"{"disabled":false}"#, token: owner.token)
            #expect(back.status == .ok && back.json["disabled"] as? Bool == false, "\(back.text)")
        }
    }
}
