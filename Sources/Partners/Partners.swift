import BazaarcheCore
import Foundation

/// شناسه ملی of a legal entity: 11 digits; the last is a check digit over the first ten, each offset
/// by the tenth digit plus 2 and weighted 29, 27, 23, 19, 17, 29, 27, 23, 19, 17, modulo 11.
public enum LegalNationalID {
    static let weights = [29, 27, 23, 19, 17, 29, 27, 23, 19, 17]

    public static func isValid(_ id: String) -> Bool {
        let digits = id.compactMap { $0.isASCII ? $0.wholeNumberValue : nil }
        guard id.count == 11, digits.count == 11 else { return false }
        return digits[10] == checkDigit(digits)
    }

    static func checkDigit(_ digits: [Int]) -> Int {
        let offset = digits[9] + 2
        let r = (0..<10).reduce(0) { $0 + (digits[$1] + offset) * weights[$1] } % 11
        return r == 10 ? 0 : r
    }

    /// Completes ten digits with their check digit (tests and demo data).
    public static func withCheckDigit(_ ten: String) -> String {
        ten + String(checkDigit(ten.compactMap(\.wholeNumberValue)))
    }
}

public enum PartnerKind: String, APIEnum {
    case leadFirm = "lead_firm"
    case upstreamBuyer = "upstream_buyer"
    case exporter, retailer
}

struct ContactRequest: Decodable {
    var name: String?
    var phone: String?
    var email: String?
}

struct PartnerRequest: Decodable {
    var legalNationalId: String
    var name: String
    var kind: PartnerKind
    var provinceCode: String
    var contact: ContactRequest?
}

/// Partner companies: created by admins; each partner account belongs to one.
public struct Partners: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let json = """
        json_build_object('id', t.id, 'legal_national_id', t.legal_national_id, 'name', t.name, 'kind', t.kind,
          'province_code', t.province_code,
          'contact', json_build_object('name', t.contact_name, 'phone', t.contact_phone, 'email', t.contact_email),
          'created_at', api_time(t.created_at))
        """

    func create(_ body: PartnerRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin)
        var v = Validator()
        let legalID = Digits.ascii(body.legalNationalId.trimmingCharacters(in: .whitespaces))
        v.check(
            LegalNationalID.isValid(legalID), "legal_national_id",
            "must be a valid 11-digit legal entity national ID (check digit)")
        let name = v.text(body.name, "name", max: 200)
        v.check(ProvinceCode.isWellFormed(body.provinceCode), "province_code", "must be a province code like IR-00")
        let contactName = v.optionalText(body.contact?.name, "contact.name", max: 200)
        let phone = v.optionalText(body.contact?.phone, "contact.phone", max: 20).map(Phone.normalize)
        if let phone { v.check(Phone.isValid(phone), "contact.phone", "must be an 11-digit phone number starting with 0") }
        let email = v.optionalText(body.contact?.email, "contact.email", max: 200)
        if let email {
            let parts = email.split(separator: "@")
            v.check(
                parts.count == 2 && parts[1].contains(".") && !email.contains(" "), "contact.email", "must be an email address")
        }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO partners AS t (legal_national_id, name, kind, province_code, contact_name, contact_phone,
                  contact_email)
                VALUES (\(legalID), \(name), \(body.kind.rawValue), \(body.provinceCode), \(contactName), \(phone), \(email))
                RETURNING t.id, \(unescaped: Self.json)::text
                """, logger: db.logger
            ).collect()
            let (id, json) = try rows[0].decode((Int64, String).self)
            try await Audit.record(
                on: connection, logger: db.logger, actor: principal, entityType: "partner", entityID: id,
                provinceCode: body.provinceCode, action: "partner.created", from: nil, to: body.kind.rawValue)
            return (id, json)
        }
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/partners", for: .admin, decoding: PartnerRequest.self) { try await create($0, by: $1) }
        routes.get("/v1/partners") { request, context in
            _ = try context.require(.admin)
            let page = try Page(request: request)
            let kind = try PartnerKind.query(request.uri.queryParameters.get("kind"), field: "kind")
            let rows = try await db.rows(
                """
                SELECT t.id, \(unescaped: Self.json)::text FROM partners t
                WHERE t.id > \(page.after ?? 0) AND (\(kind?.rawValue)::text IS NULL OR t.kind = \(kind?.rawValue))
                ORDER BY t.id LIMIT \(page.limit + 1)
                """)
            return JSONResponse.raw(try page.body(rows: rows))
        }
        routes.get("/v1/partners/{id}") { _, context in
            let principal = try context.require(.admin, .partner)
            let id = try context.id(what: "Partner")
            // A partner sees its own company only; others do not learn that the id exists.
            let query: SQL = """
                SELECT \(unescaped: Self.json)::text FROM partners t WHERE t.id = \(id)
                  AND \(principal.access(.partner).condition(alias: "t"))
                """
            return JSONResponse.raw(try await db.json(query.query, notFound: "Partner \(id)"))
        }
    }
}
