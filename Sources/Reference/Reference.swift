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
            let filter = try HSFilter(request)
            let json: String
            if let search = filter.search {
                // A search answers its best matches on one page (no cursor): ranking and keyset
                // paging do not mix, and nobody reads past the first few dozen matches.
                if search.isEmpty {
                    json = JSONResponse.page(items: [String](), nextCursor: nil)
                } else {
                    let sql = Self.search(search, filters: filter.conditions, limit: min(page.limit, Self.searchLimit))
                    let rows = try await db.rows(sql.query).map { try $0.decode(String.self) }
                    json = JSONResponse.page(items: rows, nextCursor: nil)
                }
            } else {
                json = try await page.read(
                    "SELECT \(unescaped: Self.hsKey), \(unescaped: Self.hsJSON)::text FROM hs_codes h", key: Self.hsKey,
                    where: filter.conditions, from: db)
            }
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

    /// The most rows a search (`q`) answers.
    static let searchLimit = 50

    /// What `q` asks for: code prefixes (numbers) and title words (everything else).
    struct HSSearch: Sendable {
        var codes: [String] = []
        var words: [String] = []
        var isEmpty: Bool { codes.isEmpty && words.isEmpty }
    }

    /// `q`, `level` and `parent`: the conditions of both browsing and searching, and the search.
    struct HSFilter: Sendable {
        var conditions: [SQL] = []
        var search: HSSearch? = nil

        init(_ request: Request) throws {
            let q = request.uri.queryParameters
            var v = Validator()
            if let raw = q.get("q") {
                let text = String(raw)
                v.check(text.count <= 200, "q", "must be at most 200 characters")
                v.check(
                    !text.unicodeScalars.contains("\u{0}"), "q",
                    "contains a NUL character (\\u0000), which text fields cannot hold")
                v.check(
                    q.get("cursor") == nil, "cursor", "cannot be combined with q: a search answers its best matches on one page")
                var search = HSSearch()
                for word in Digits.ascii(text).split(whereSeparator: { $0.isWhitespace }).prefix(10).map(String.init) {
                    let code = digits(word)
                    if !code.isEmpty && code.allSatisfy({ $0.isASCII && $0.isNumber }) {
                        search.codes.append(String(code.prefix(6)))
                    } else if word.contains(where: { $0.isLetter || $0.isNumber }) {
                        search.words.append(word)
                    }
                }
                for code in search.codes { conditions.append("starts_with(h.code, \(code))") }
                self.search = search
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
        }
    }

    /// A ranked search. Words are folded by `hs_words` (sql/0026) exactly as the titles' `search_text`,
    /// so each is letters and digits only and safe inside LIKE and regular-expression patterns.
    /// Every word must begin a word of a title (or the words run together must: «کف پوش» finds
    /// «کفپوش»). Best first: the code itself, a title that is the query, titles with each word whole
    /// (an English -s/-es or Persian ها/های plural counts), then the rest; within each, chapters,
    /// then headings, then subheadings, titles that start with the query, tree order. When nothing
    /// matches, titles with a word close to each word of the query (trigrams, `strict_word_similarity`
    /// of at least 0.4: a typo or a missing letter, «زعفرن» for «زعفران»).
    static func search(_ s: HSSearch, filters: [SQL], limit: Int) -> SQL {
        let text = s.words.joined(separator: " ")
        let hasText = !s.words.isEmpty
        let base: SQL = filters.isEmpty ? "true" : filters.joined(separator: " AND ")
        return """
            WITH w AS (SELECT t, string_to_array(t, ' ') AS words FROM (SELECT hs_words(\(text)) AS t) q),
            m AS (
              SELECT k, j, row_number() OVER (ORDER BY tier, CASE WHEN \(hasText) THEN lvl ELSE 0 END, later, k) AS n FROM (
                SELECT \(unescaped: hsKey) AS k, \(unescaped: hsJSON)::text AS j, h.level AS lvl,
                  CASE WHEN h.code = ANY(\(s.codes)) THEN 0
                       WHEN NOT \(hasText) THEN 3
                       WHEN hs_words(h.title_en) = w.t OR hs_words(coalesce(h.title_fa, '')) = w.t THEN 1
                       WHEN NOT EXISTS (SELECT 1 FROM unnest(w.words) x
                                        WHERE (' ' || h.search_text || ' ') !~ (' ' || x || '(s|es|ها|های)? ')) THEN 2
                       ELSE 3 END AS tier,
                  (\(hasText) AND NOT (hs_words(h.title_en) LIKE w.t || '%' OR hs_words(coalesce(h.title_fa, '')) LIKE w.t || '%')) AS later
                FROM hs_codes h, w
                WHERE \(base) AND (NOT \(hasText) OR (w.t <> '' AND (
                  NOT EXISTS (SELECT 1 FROM unnest(w.words) x WHERE (' ' || h.search_text) NOT LIKE '% ' || x || '%')
                  OR (' ' || h.search_text) LIKE '% ' || replace(w.t, ' ', '') || '%')))
              ) ranked ORDER BY n LIMIT \(literal: limit)),
            f AS (
              SELECT k, j, row_number() OVER (ORDER BY s DESC, lvl, k) AS n FROM (
                SELECT \(unescaped: hsKey) AS k, \(unescaped: hsJSON)::text AS j, h.level AS lvl,
                  (SELECT sum(strict_word_similarity(x, h.search_text)) FROM unnest(w.words) x) AS s
                FROM hs_codes h, w
                WHERE NOT EXISTS (SELECT 1 FROM m) AND \(hasText) AND length(replace(w.t, ' ', '')) >= 4 AND \(base)
                  AND NOT EXISTS (SELECT 1 FROM unnest(w.words) x WHERE strict_word_similarity(x, h.search_text) < 0.4)
              ) close ORDER BY n LIMIT \(literal: limit))
            SELECT j FROM (SELECT n, j FROM m UNION ALL SELECT n, j FROM f) hits ORDER BY n
            """
    }
}
