import BazaarcheCore
import Foundation

struct Dimensions: Codable, Sendable {
    var l: Int
    var w: Int
    var h: Int
}

struct PackagingRequest: Decodable {
    var level: PackagingLevel
    var materials: [String]?
    var netWeightG: Int?
    var dimensionsMm: Dimensions?
    var labelLanguages: [String]?
    var gtin: String?
    var improvementStatus: ImprovementStatus?
}

struct CertificateRequest: Decodable {
    var kind: CertificateKind
    var number: String
    var issuer: String
    var issuedOn: CalendarDate
    var expiresOn: CalendarDate
    var documentUrl: String?
}

struct CertificateTransitionRequest: Decodable {
    var to: CertificateStatus
    var reason: String?
}

/// Packaging and quality certificates: what makes a product sellable to demanding buyers.
public struct Quality: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let packagingJSON = """
        json_build_object('product_id', k.product_id, 'level', k.level, 'materials', to_json(k.materials),
          'net_weight_g', k.net_weight_g,
          'dimensions_mm', CASE WHEN k.length_mm IS NULL THEN NULL
                           ELSE json_build_object('l', k.length_mm, 'w', k.width_mm, 'h', k.height_mm) END,
          'label_languages', to_json(k.label_languages), 'gtin', k.gtin, 'improvement_status', k.improvement_status,
          'updated_at', k.updated_at)
        """

    /// Certificate JSON (alias `c`). A granted certificate past its expiry date reads as expired,
    /// computed at read time, so no job has to run.
    static let certificateJSON = """
        json_build_object('id', c.id, 'product_id', c.product_id, 'kind', c.kind, 'number', c.number, 'issuer', c.issuer,
          'issued_on', c.issued_on, 'expires_on', c.expires_on, 'document_url', c.document_url, 'status', c.status,
          'effective_status', CASE WHEN c.status = 'granted' AND c.expires_on < tehran_today() THEN 'expired' ELSE c.status END,
          'created_at', c.created_at, 'updated_at', c.updated_at)
        """

    func putPackaging(productID: Int64, _ body: PackagingRequest, by principal: Principal) async throws -> String {
        try principal.require(.producer, .supervisor, .admin)
        var v = Validator()
        let materials = (body.materials ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        v.check(materials.count <= 20 && materials.allSatisfy { $0.count <= 100 }, "materials", "at most 20 materials of up to 100 characters")
        if let weight = body.netWeightG { v.check((1...100_000_000).contains(weight), "net_weight_g", "must be a positive number of grams") }
        if let d = body.dimensionsMm {
            v.check([d.l, d.w, d.h].allSatisfy { (1...100_000).contains($0) }, "dimensions_mm", "l, w and h must be positive millimetres")
        }
        let languages = body.labelLanguages ?? []
        v.check(
            languages.count <= 20 && languages.allSatisfy { (2...3).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isLowercase } },
            "label_languages", "must be ISO 639 language codes such as fa, en, ar")
        if let gtin = body.gtin { v.check(GTIN.isValid(gtin), "gtin", "must be a GTIN-13 with a valid check digit") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            guard let access = try await Products.access(productID, on: connection, logger: db.logger, lock: true),
                access.owned(by: principal) || (principal.role == .supervisor && principal.provinceCode == access.province)
            else { throw APIError.notFound("Product \(productID)") }
            let current = try await connection.query(
                "SELECT improvement_status FROM product_packaging WHERE product_id = \(productID)", logger: db.logger
            ).collect().first.map { try $0.decode(String.self) } ?? "not_started"
            if access.status == .archived {
                throw APIError.conflict(code: "product_archived", "An archived product cannot be changed.", extra: ["current_status": "archived"])
            }
            let improvement: String
            if principal.supervises(access.province) {
                improvement = body.improvementStatus?.rawValue ?? current
            } else {
                // A producer's change to approved packaging goes back for review; only staff approve.
                if body.improvementStatus == .approved {
                    throw APIError.forbidden("Only a supervisor of the producer's province approves a packaging improvement.")
                }
                improvement = body.improvementStatus?.rawValue ?? (current == "approved" ? "in_progress" : current)
            }
            let rows = try await connection.query(
                """
                INSERT INTO product_packaging AS k (product_id, level, materials, net_weight_g, length_mm, width_mm, height_mm,
                  label_languages, gtin, improvement_status)
                VALUES (\(productID), \(body.level.rawValue), \(materials), \(body.netWeightG), \(body.dimensionsMm?.l),
                  \(body.dimensionsMm?.w), \(body.dimensionsMm?.h), \(languages), \(body.gtin), \(improvement))
                ON CONFLICT (product_id) DO UPDATE SET level = excluded.level, materials = excluded.materials,
                  net_weight_g = excluded.net_weight_g, length_mm = excluded.length_mm, width_mm = excluded.width_mm,
                  height_mm = excluded.height_mm, label_languages = excluded.label_languages, gtin = excluded.gtin,
                  improvement_status = excluded.improvement_status, updated_at = now()
                RETURNING \(unescaped: Self.packagingJSON)::text
                """, logger: db.logger
            ).collect()
            try await connection.query(
                "UPDATE products SET packaging_level = \(body.level.rank), version = version + 1, updated_at = now() WHERE id = \(productID)",
                logger: db.logger)
            if improvement != current {
                try await Audit.record(
                    on: connection, logger: db.logger, actor: principal, entityType: "packaging", entityID: productID,
                    provinceCode: access.province, action: "packaging.improvement_changed", from: current, to: improvement)
            }
            return try rows[0].decode(String.self)
        }
    }

    func getPackaging(productID: Int64, principal: Principal?) async throws -> String {
        try await db.withConnection { connection in
            guard let access = try await Products.access(productID, on: connection, logger: db.logger), access.visible(to: principal) else {
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
            let access = try await Products.owned(productID, by: principal, on: connection, logger: db.logger)
            if access.status == .archived {
                throw APIError.conflict(code: "product_archived", "An archived product cannot be changed.", extra: ["current_status": "archived"])
            }
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
            guard let access = try await Products.access(productID, on: connection, logger: db.logger), access.visible(to: principal) else {
                throw APIError.notFound("Product \(productID)")
            }
            // Buyers see granted certificates (valid or expired); applications, rejections and
            // revocations are between the producer and its supervisors.
            let everything = principal.map { access.owned(by: $0) || $0.supervises(access.province) } ?? false
            return try await connection.query(
                """
                SELECT json_build_object('items', coalesce(json_agg(\(unescaped: Self.certificateJSON) ORDER BY c.id), '[]'),
                  'next_cursor', NULL)::text
                FROM certificates c WHERE c.product_id = \(productID) AND (\(everything) OR c.status = 'granted')
                """, logger: db.logger
            ).collect()[0].decode(String.self)
        }
    }

    func transition(certificateID: Int64, to target: CertificateStatus, reason: String?, by principal: Principal) async throws -> String {
        try principal.require(.supervisor, .admin)
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        if (target == .rejected || target == .revoked) && reason == nil { v.add("reason", "is required when moving to \(target.rawValue)") }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                SELECT c.status, p.province_code FROM certificates c JOIN products p ON p.id = c.product_id
                WHERE c.id = \(certificateID) FOR UPDATE OF c
                """, logger: db.logger
            ).collect()
            guard let row = rows.first else { throw APIError.notFound("Certificate \(certificateID)") }
            let (status, province) = try row.decode((String, String).self)
            guard principal.supervises(province) else { throw APIError.notFound("Certificate \(certificateID)") }
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
        routes.get("/v1/products/{id}/packaging") { _, context in
            JSONResponse.raw(try await getPackaging(productID: try context.id(what: "Product"), principal: context.principal))
        }
        routes.post("/v1/products/{id}/certificates") { request, context in
            let principal = try context.require(.producer, .admin)
            let id = try context.id(what: "Product")
            let body = try await JSONBody.decode(CertificateRequest.self, from: request, context: context)
            let (_, json) = try await addCertificate(productID: id, body, by: principal)
            return JSONResponse.raw(json, status: .created)
        }
        routes.get("/v1/products/{id}/certificates") { _, context in
            JSONResponse.raw(try await listCertificates(productID: try context.id(what: "Product"), principal: context.principal))
        }
        routes.post("/v1/certificates/{id}/transitions") { request, context in
            let principal = try context.require(.supervisor, .admin)
            let id = try context.id(what: "Certificate")
            let body = try await JSONBody.decode(CertificateTransitionRequest.self, from: request, context: context)
            return JSONResponse.raw(try await transition(certificateID: id, to: body.to, reason: body.reason, by: principal))
        }
    }
}
