import BazaarcheCore
import Foundation

struct Dimensions: Codable, Sendable {
    var l: Int
    var w: Int
    var h: Int
}

/// A packaging declaration. `improvement_status`, which earlier versions accepted here, is gone:
/// approval is only by review (unknown keys are ignored, as everywhere).
struct PackagingRequest: Decodable {
    var level: PackagingLevel
    var materials: [String]?
    var netWeightG: Int?
    var dimensionsMm: Dimensions?
    var labelLanguages: [String]?
    var gtin: String?
}

struct PackagingReviewRequest: Decodable {
    var decision: PackagingDecision
    /// The declared level the reviewer checked: an approval says what it approves, so a
    /// declaration changed during the review is not approved unseen.
    var level: PackagingLevel?
    var reason: String?
}

struct CertificateRequest: Decodable {
    var kind: CertificateKind
    var number: String
    var issuer: String
    var issuedOn: CalendarDate
    var expiresOn: CalendarDate
    var documentUrl: String?
}

/// Packaging and quality certificates: what makes a product sellable to demanding buyers.
public struct Quality: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// The product whose packaging or certificates `rule` lets the caller change, locked: 404 for
    /// one it does not reach, 409 for an archived one (nothing about it changes any more).
    static func changeable(_ productID: Int64, for rule: Access.Rule, on connection: PostgresConnection, logger: Logger)
        async throws -> ProductAccess
    {
        guard let access = try await Products.access(productID, for: rule, on: connection, logger: logger, lock: true) else {
            throw APIError.notFound("Product \(productID)")
        }
        if access.status == .archived {
            throw APIError.conflict(
                code: "product_archived", "An archived product cannot be changed.", extra: ["current_status": "archived"])
        }
        return access
    }

    /// Packaging JSON (alias `k`): the producer's declaration and, named apart, the approved level
    /// that search, matching and the product's `packaging_level` use.
    static let packagingJSON = """
        json_build_object('product_id', k.product_id, 'declared_level', k.level, 'approved_level', k.approved_level,
          'review_status', k.review_status, 'reviewed_at', api_time(k.reviewed_at), 'review_reason', k.review_reason,
          'materials', to_json(k.materials), 'net_weight_g', k.net_weight_g,
          'dimensions_mm', CASE WHEN k.length_mm IS NULL THEN NULL
                           ELSE json_build_object('l', k.length_mm, 'w', k.width_mm, 'h', k.height_mm) END,
          'label_languages', to_json(k.label_languages), 'gtin', k.gtin, 'updated_at', api_time(k.updated_at))
        """

    /// Certificate JSON (alias `c`). A granted certificate past its expiry date reads as expired,
    /// computed at read time, so no job has to run.
    static let certificateJSON = """
        json_build_object('id', c.id, 'product_id', c.product_id, 'kind', c.kind, 'number', c.number, 'issuer', c.issuer,
          'issued_on', c.issued_on, 'expires_on', c.expires_on, 'document_url', c.document_url, 'status', c.status,
          'effective_status', CASE WHEN c.status = 'granted' AND c.expires_on < tehran_today() THEN 'expired' ELSE c.status END,
          'created_at', api_time(c.created_at), 'updated_at', api_time(c.updated_at))
        """

    /// Event rows for certificates `ids` (seen by the product's producer and province).
    package static func certificateEvents(_ ids: [Int64]) -> SQL {
        """
        SELECT c.id, \(unescaped: certificateJSON), p.province_code, p.producer_id, NULL::bigint
        FROM certificates c JOIN products p ON p.id = c.product_id WHERE c.id = ANY(\(ids))
        """
    }

    /// A declaration, by the producer or by staff alike: approval is only by `reviewPackaging`, so
    /// every approval is an explicit, audited act. The declarer is recorded (`declared_by`) so
    /// that staff never approve their own declaration. A changed declaration goes back to review; the
    /// approved level stays until the next approval, except that a declaration below it lowers it
    /// at once (a claim against the producer's own interest needs no review).
    func putPackaging(productID: Int64, _ body: PackagingRequest, by principal: Principal) async throws -> String {
        try principal.require(.producer, .supervisor, .admin)
        var v = Validator()
        let materials = (body.materials ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        v.check(
            materials.count <= 20 && materials.allSatisfy { $0.count <= 100 }, "materials",
            "at most 20 materials of up to 100 characters")
        if let weight = body.netWeightG {
            v.check((1...100_000_000).contains(weight), "net_weight_g", "must be a positive number of grams")
        }
        if let d = body.dimensionsMm {
            v.check(
                [d.l, d.w, d.h].allSatisfy { (1...100_000).contains($0) }, "dimensions_mm",
                "l, w and h must be positive millimetres")
        }
        let languages = body.labelLanguages ?? []
        v.check(
            languages.count <= 20
                && languages.allSatisfy { (2...3).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isLowercase } },
            "label_languages", "must be ISO 639 language codes such as fa, en, ar")
        if let gtin = body.gtin { v.check(GTIN.isValid(gtin), "gtin", "must be a GTIN-13 with a valid check digit") }
        try v.throwIfInvalid()
        let level = body.level.rawValue
        let (l, w, h) = (body.dimensionsMm?.l, body.dimensionsMm?.w, body.dimensionsMm?.h)
        return try await db.transaction { connection in
            let declarers = principal.access(.product, to: .own).or(principal.access(.product, to: .supervise))
            let access = try await Self.changeable(productID, for: declarers, on: connection, logger: db.logger)
            // The product row lock above serialises every write of this packaging record.
            let current = try await connection.query(
                """
                SELECT review_status, approved_level,
                  (level, materials, net_weight_g, length_mm, width_mm, height_mm, label_languages, gtin)
                    IS NOT DISTINCT FROM (\(level)::text, \(materials)::text[], \(body.netWeightG)::int, \(l)::int, \(w)::int,
                      \(h)::int,
                      \(languages)::text[], \(body.gtin)::text)
                FROM product_packaging WHERE product_id = \(productID)
                """, logger: db.logger
            ).collect().first.map { try $0.decode((String, String?, Bool).self) }
            let unchanged = current?.2 ?? false
            let status = unchanged ? current!.0 : PackagingReviewStatus.pendingReview.rawValue
            var approved = current?.1.flatMap(PackagingLevel.init(rawValue:))
            let lowered = approved.map { body.level < $0 } ?? false
            if lowered { approved = body.level }
            let rows = try await connection.query(
                """
                INSERT INTO product_packaging AS k (product_id, level, materials, net_weight_g, length_mm, width_mm, height_mm,
                  label_languages, gtin, review_status, approved_level, declared_by)
                VALUES (\(productID), \(level), \(materials), \(body.netWeightG), \(l), \(w), \(h), \(languages), \(body.gtin),
                  \(status), \(approved?.rawValue), \(principal.accountID))
                ON CONFLICT (product_id) DO UPDATE SET level = excluded.level, materials = excluded.materials,
                  net_weight_g = excluded.net_weight_g, length_mm = excluded.length_mm, width_mm = excluded.width_mm,
                  height_mm = excluded.height_mm, label_languages = excluded.label_languages, gtin = excluded.gtin,
                  review_status = excluded.review_status, approved_level = excluded.approved_level,
                  declared_by = CASE WHEN \(unchanged) THEN k.declared_by ELSE excluded.declared_by END,
                  updated_at = CASE WHEN \(unchanged) THEN k.updated_at ELSE now() END
                RETURNING \(unescaped: Self.packagingJSON)::text
                """, logger: db.logger
            ).collect()
            if !unchanged {
                try await Audit.record(
                    on: connection, logger: db.logger, actor: principal, entityType: "packaging", entityID: productID,
                    provinceCode: access.province, action: "packaging.declared", from: current?.0, to: status,
                    reason: "declared level \(level)")
            }
            if lowered, let approved {
                try await connection.query(
                    """
                    UPDATE products SET packaging_level = \(approved.rank), version = version + 1, updated_at = now()
                    WHERE id = \(productID)
                    """, logger: db.logger)
                try await Audit.record(
                    on: connection, logger: db.logger, actor: principal, entityType: "packaging", entityID: productID,
                    provinceCode: access.province, action: "packaging.approved_level_lowered", from: current?.1,
                    to: approved.rawValue, reason: "declared below the approved level")
            }
            return try rows[0].decode(String.self)
        }
    }

    /// The review: a supervisor of the product's province (or an admin) approves the declared
    /// level, which becomes the product's `packaging_level`, or rejects the declaration with a
    /// reason, which keeps whatever was approved before. An approval names the level it approves
    /// and is refused when the declaration has moved on since; nobody approves their own.
    func reviewPackaging(productID: Int64, _ body: PackagingReviewRequest, by principal: Principal) async throws -> String {
        try principal.require(.supervisor, .admin)
        var v = Validator()
        let reason = v.optionalText(body.reason, "reason", max: 1000)
        if body.decision == .reject && reason == nil { v.add("reason", "is required to reject a packaging declaration") }
        if body.decision == .approve && body.level == nil {
            v.add("level", "is required to approve: the declared level you reviewed")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let staff = principal.access(.product, to: .supervise)
            let access = try await Self.changeable(productID, for: staff, on: connection, logger: db.logger)
            let rows = try await connection.query(
                "SELECT level, review_status, declared_by FROM product_packaging WHERE product_id = \(productID)",
                logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Packaging of product \(productID)") }
            let (declared, status, declarer) = try row.decode((String, String, Int64?).self)
            let target: PackagingReviewStatus = body.decision == .approve ? .approved : .rejected
            guard status == PackagingReviewStatus.pendingReview.rawValue else {
                throw APIError.invalidTransition(entity: "packaging declaration", from: status, to: target.rawValue)
            }
            if let level = body.level, level.rawValue != declared {
                throw APIError.conflict(
                    code: "declaration_changed",
                    """
                    The declared level is now \(declared), not \(level.rawValue): read the declaration again and review what is\
                     declared.
                    """,
                    extra: ["declared_level": declared, "current_status": status])
            }
            if target == .approved && declarer == principal.accountID {
                throw APIError(
                    .forbidden, code: "own_declaration", title: "Not allowed for this account",
                    detail:
                        "You declared this packaging yourself; another supervisor of the province or an admin must approve it.")
            }
            let json = try await connection.query(
                """
                UPDATE product_packaging k SET review_status = \(target.rawValue), reviewed_at = now(),
                  reviewed_by = \(principal.accountID), review_reason = \(reason),
                  approved_level = CASE WHEN \(target.rawValue) = 'approved' THEN k.level ELSE k.approved_level END
                WHERE k.product_id = \(productID)
                RETURNING \(unescaped: Self.packagingJSON)::text
                """, logger: db.logger
            ).collect()[0].decode(String.self)
            if target == .approved, let level = PackagingLevel(rawValue: declared) {
                try await connection.query(
                    """
                    UPDATE products SET packaging_level = \(level.rank), version = version + 1, updated_at = now()
                    WHERE id = \(productID)
                    """, logger: db.logger)
            }
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "packaging", entityID: productID,
                provinceCode: access.province, action: "packaging.\(target.rawValue)", from: status, to: target.rawValue,
                reason: "level \(declared)" + (reason.map { ": \($0)" } ?? ""))
            if target == .approved {
                let source: SQL = """
                    SELECT k.product_id, \(unescaped: Self.packagingJSON), p.province_code, p.producer_id, NULL::bigint
                    FROM product_packaging k JOIN products p ON p.id = k.product_id WHERE k.product_id = \(productID)
                    """
                try await EventLog.record(
                    .packagingApproved, subject: "packaging", from: source, on: connection, logger: db.logger)
            }
            return json
        }
    }

    func getPackaging(productID: Int64, principal: Principal?) async throws -> String {
        try await db.withConnection { connection in
            let readers = Access.rule(for: principal, on: .product)
            guard try await Products.access(productID, for: readers, on: connection, logger: db.logger) != nil else {
                throw APIError.notFound("Product \(productID)")
            }
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.packagingJSON)::text FROM product_packaging k WHERE k.product_id = \(productID)",
                logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Packaging of product \(productID)") }
            return try row.decode(String.self)
        }
    }

    func addCertificate(productID: Int64, _ body: CertificateRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.producer, .admin)
        var v = Validator()
        let number = v.text(body.number, "number", max: 80)
        let issuer = v.text(body.issuer, "issuer", max: 200)
        v.check(body.expiresOn > body.issuedOn, "expires_on", "must be after issued_on")
        if let url = body.documentUrl { v.check(WebURL.isValid(url), "document_url", "must be an http(s) URL") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let access = try await Self.changeable(
                productID, for: principal.access(.product, to: .own), on: connection, logger: db.logger)
            let (id, json) = try await connection.query(
                """
                INSERT INTO certificates AS c (product_id, kind, number, issuer, issued_on, expires_on, document_url)
                VALUES (\(productID), \(body.kind.rawValue), \(number), \(issuer), \(body.issuedOn.description)::date,
                  \(body.expiresOn.description)::date, \(body.documentUrl))
                RETURNING c.id, \(unescaped: Self.certificateJSON)::text
                """, logger: db.logger
            ).collect()[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "certificate", entityID: id,
                provinceCode: access.province, action: "certificate.applied", from: nil, to: "applied")
            return (id, json)
        }
    }

    func listCertificates(productID: Int64, principal: Principal?) async throws -> String {
        try await db.withConnection { connection in
            let readers = Access.rule(for: principal, on: .product)
            guard let access = try await Products.access(productID, for: readers, on: connection, logger: db.logger) else {
                throw APIError.notFound("Product \(productID)")
            }
            // Buyers see granted certificates (valid or expired); applications, rejections and
            // revocations are between the producer and its supervisors.
            let everything =
                principal.map {
                    $0.access(.product, to: .own).or($0.access(.product, to: .supervise)).allows(access.owner)
                } ?? false
            return try await connection.query(
                """
                SELECT json_build_object('items', coalesce(json_agg(\(unescaped: Self.certificateJSON) ORDER BY c.id), '[]'),
                  'next_cursor', NULL)::text
                FROM certificates c WHERE c.product_id = \(productID) AND (\(everything) OR c.status = 'granted')
                """, logger: db.logger
            ).collect()[0].decode(String.self)
        }
    }

    func transition(certificateID: Int64, to target: CertificateStatus, reason: String?, by principal: Principal) async throws
        -> String
    {
        try principal.require(.supervisor, .admin)
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if (target == .rejected || target == .revoked) && reason == nil {
            v.add("reason", "is required when moving to \(target.rawValue)")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            // Staff of the product's province: others are told nothing exists.
            let staff = principal.access(.product, to: .supervise)
            let query: SQL = """
                SELECT c.status, p.province_code FROM certificates c JOIN products p ON p.id = c.product_id
                WHERE c.id = \(certificateID) AND \(staff.condition(alias: "p")) FOR UPDATE OF c
                """
            let rows = try await connection.query(query.query, logger: db.logger).collect()
            guard let row = rows.first else { throw APIError.notFound("Certificate \(certificateID)") }
            let (status, province) = try row.decode((String, String).self)
            guard staff.allows(Access.Owner(province: province)) else { throw APIError.notFound("Certificate \(certificateID)") }
            let current = CertificateStatus(rawValue: status)!
            guard current.canMove(to: target) else {
                throw APIError.invalidTransition(entity: "certificate", from: current.rawValue, to: target.rawValue)
            }
            let json = try await connection.query(
                """
                UPDATE certificates c SET status = \(target.rawValue), updated_at = now() WHERE c.id = \(certificateID)
                RETURNING \(unescaped: Self.certificateJSON)::text
                """, logger: db.logger
            ).collect()[0].decode(String.self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "certificate", entityID: certificateID,
                provinceCode: province, action: "certificate.status_changed", from: current.rawValue, to: target.rawValue,
                reason: reason)
            if let type = EventType.move("certificate", to: target.rawValue) {
                try await EventLog.record(
                    type, subject: "certificate", from: Self.certificateEvents([certificateID]), on: connection, logger: db.logger
                )
            }
            return json
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.put("/v1/products/{id}/packaging") { request, context in
            let principal = try context.require(.producer, .supervisor, .admin)
            let id = try context.id(what: "Product")
            let body = try await JSONBody.decode(PackagingRequest.self, from: request, context: context)
            return JSONResponse.raw(try await putPackaging(productID: id, body, by: principal))
        }
        routes.post("/v1/products/{id}/packaging/review") { request, context in
            let principal = try context.require(.supervisor, .admin)
            let id = try context.id(what: "Product")
            let body = try await JSONBody.decode(PackagingReviewRequest.self, from: request, context: context)
            return JSONResponse.raw(try await reviewPackaging(productID: id, body, by: principal))
        }
        routes.get("/v1/products/{id}/packaging") { _, context in
            JSONResponse.raw(try await getPackaging(productID: try context.id(what: "Product"), principal: context.principal))
        }
        routes.create(
            "/v1/products/{id}/certificates", under: "Product", for: .producer, .admin, decoding: CertificateRequest.self
        ) { try await addCertificate(productID: $0, $1, by: $2) }
        routes.get("/v1/products/{id}/certificates") { _, context in
            JSONResponse.raw(try await listCertificates(productID: try context.id(what: "Product"), principal: context.principal))
        }
        routes.post("/v1/certificates/{id}/transitions") { request, context in
            let principal = try context.require(.supervisor, .admin)
            let id = try context.id(what: "Certificate")
            let body = try await JSONBody.decode(StatusChange<CertificateStatus>.self, from: request, context: context)
            return JSONResponse.raw(try await transition(certificateID: id, to: body.to, reason: body.reason, by: principal))
        }
    }
}
