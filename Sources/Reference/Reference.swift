import BazaarcheCore
import Hummingbird

/// Read-only reference data: provinces, countries, HS chapters, product categories.
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
              'chapter', chapter, 'code', lpad(chapter::text, 2, '0'), 'title_en', title_en, 'reserved', reserved)
              ORDER BY chapter), '[]'))::text FROM hs_chapters
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
    }
}
