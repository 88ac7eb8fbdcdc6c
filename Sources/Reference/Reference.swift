import BazaarcheCore
import Foundation
import Hummingbird

/// Read-only reference data: provinces, countries, HS chapters and the HS nomenclature, product categories.
/// Public, identical for every caller, and changed only by migrations, so clients may cache it.
public struct ReferenceData: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let queries: [(path: String, sql: PostgresQuery)] = [
        (
            "/v1/provinces",
            """
            SELECT json_build_object('items', coalesce(json_agg(json_build_object(
              'code', code, 'name_fa', name_fa, 'name_en', name_en) ORDER BY code), '[]'))::text FROM provinces
            """
        ),
        (
            "/v1/countries",
            """
            SELECT json_build_object('items', coalesce(json_agg(json_build_object(
              'alpha2', alpha2, 'alpha3', alpha3, 'numeric', numeric_code, 'name_en', name_en, 'name_fa', name_fa)
              ORDER BY alpha2), '[]'))::text FROM countries
            """
        ),
        (
            "/v1/hs-chapters",
            """
            SELECT json_build_object('items', coalesce(json_agg(json_build_object(
              'chapter', c.chapter, 'code', lpad(c.chapter::text, 2, '0'), 'title_en', c.title_en,
              'title_fa', (SELECT h.title_fa FROM hs_codes h WHERE h.code = lpad(c.chapter::text, 2, '0')),
              'reserved', c.reserved)
              ORDER BY c.chapter), '[]'))::text FROM hs_chapters c
            """
        ),
        (
            "/v1/categories",
            """
            SELECT json_build_object('items', coalesce(json_agg(json_build_object(
              'code', code, 'parent_code', parent_code, 'name_fa', name_fa, 'name_en', name_en)
              ORDER BY coalesce(parent_code, code), parent_code IS NOT NULL, sort_order, code), '[]'))::text FROM categories
            """
        ),
    ]

    public func addRoutes(to routes: inout Routes) {
        for (path, sql) in Self.queries {
            routes.get(path) { _, _ in
                let json = try await db.text(sql) ?? "{\"items\":[]}"
                return JSONResponse.raw(json, headers: [.cacheControl: "public, max-age=3600"])
            }
        }
        routes.get("/v1/hs-codes") { request, _ in
            let page = try Page(request: request)
            let json = try await page.read(
                "SELECT \(unescaped: Self.hsKey), \(unescaped: Self.hsJSON)::text FROM hs_codes h", key: Self.hsKey,
                where: try Self.hsConditions(request), from: db)
            return JSONResponse.raw(json, headers: [.cacheControl: "public, max-age=3600"])
        }
        routes.get("/v1/hs-codes/{code}") { _, context in
            let raw = (context.parameters.get("code") ?? "").removingPercentEncoding ?? ""
            guard let code = Self.hsCode(raw) else { throw APIError.notFound("HS code \(raw)") }
            let json = try await db.text("SELECT \(unescaped: Self.hsJSON)::text FROM hs_codes h WHERE h.code = \(code)")
            guard let json else { throw APIError.notFound("HS code \(raw)") }
            return JSONResponse.raw(json, headers: [.cacheControl: "public, max-age=3600"])
        }
    }

    // MARK: the HS nomenclature

    static let hsJSON = """
        json_build_object('code', h.code, 'level', h.level, 'parent', h.parent, 'section', h.section,
          'title_en', h.title_en, 'title_fa', h.title_fa)
        """

    /// The page key: codes in tree order (a chapter, then its first heading, that heading's
    /// subheadings, the next heading…); unique, since a heading never ends in 00.
    static let hsKey = "(rpad(h.code, 6, '0')::bigint * 10 + h.level)"

    /// Digits of a code as people write it: Persian digits, dots and spaces (`0910.20`) allowed.
    static func digits(_ text: String) -> String {
        Digits.ascii(text).filter { $0 != "." && !$0.isWhitespace }
    }

    /// The nomenclature row a code names: a chapter, heading or subheading as it is; a national
    /// tariff code (7 to 10 digits) resolves to the subheading its first six digits name.
    static func hsCode(_ text: String) -> String? {
        let d = digits(text)
        guard d.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        switch d.count {
        case 2, 4, 6: return d
        case 7...10: return String(d.prefix(6))
        default: return nil
        }
    }

    /// `q` (each word must match: a number is a code prefix, anything else a word of the English
    /// or Persian title, folded like catalogue search), `level` and `parent`.
    static func hsConditions(_ request: Request) throws -> [SQL?] {
        let q = request.uri.queryParameters
        var v = Validator()
        var conditions: [SQL?] = []
        if let raw = q.get("q") {
            let text = String(raw)
            v.check(text.count <= 200, "q", "must be at most 200 characters")
            for word in Digits.ascii(text).split(whereSeparator: { $0.isWhitespace }).prefix(10).map(String.init) {
                let code = digits(word)
                if !code.isEmpty && code.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    conditions.append("starts_with(h.code, \(String(code.prefix(6))))")
                } else {
                    conditions.append("strpos(h.search_key, fa_compact(\(word))) > 0")
                }
            }
        }
        if let raw = q.get("level") {
            let level = String(raw)
            let ok = ["2", "4", "6"].contains(level)
            v.check(ok, "level", "must be one of: 2, 4, 6")
            if ok { conditions.append("h.level = \(Int(level)!)") }
        }
        if let parent = q.get("parent").map({ digits(String($0)) }) {
            let ok = (2...6).contains(parent.count) && parent.allSatisfy { $0.isASCII && $0.isNumber }
            v.check(ok, "parent", "must be 2 to 6 digits")
            if ok { conditions.append("h.parent = \(parent)") }
        }
        try v.throwIfInvalid()
        return conditions
    }
}
