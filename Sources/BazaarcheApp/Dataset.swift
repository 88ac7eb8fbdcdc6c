import ArgumentParser
import BazaarcheCore
import Foundation

/// Fills a database with a realistic, deterministic data set for benchmarks: producers with valid
/// national IDs across all provinces, products titled from the real category taxonomy with Persian
/// adjectives and place names, packaging levels and granted certificates. Generated inside
/// PostgreSQL (INSERT … SELECT generate_series) so a million products take a minute, not an hour.
struct DatasetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Generate a benchmark data set (skipped when the database already holds that many products).")

    @Option(help: "Number of producers.") var producers = 100_000
    @Option(help: "Number of listed products.") var products = 1_000_000

    func run() async throws {
        let env = try await Environment.prepare(quiet: true)
        defer { env.finish() }
        try await withRunningClient(env.database, logger: env.logger) { client in
            try await env.migrator.migrate(client: client, logger: env.logger)
            let db = Database(client: client, logger: env.logger)
            let existing = try await db.rows("SELECT count(*)::int FROM products").first?.decode(Int.self) ?? 0
            if existing >= products {
                print("dataset: \(existing) products already present; nothing to do")
                return
            }
            let start = ContinuousClock.now
            let producerCount = try await db.rows("SELECT count(*)::int FROM producers").first?.decode(Int.self) ?? 0
            for (label, sql) in Dataset.statements(producers: producers, products: products)
            where !(label == "producers" && producerCount >= producers) {
                let t = ContinuousClock.now
                try await db.execute(PostgresQuery(unsafeSQL: sql))
                print("dataset: \(label) in \(ContinuousClock.now - t)")
            }
            print("dataset: \(producers) producers, \(products) products in \(ContinuousClock.now - start)")
        }
    }
}

enum Dataset {
    static let firstNames = "زهرا فاطمه مریم معصومه سمیه لیلا نرگس مهسا سارا الهام رقیه طاهره صغری پروین علی حسین رضا محمد مهدی حسن"
    static let lastNames = "احمدی محمدی حسینی رضایی کریمی موسوی جعفری صادقی قاسمی باقری نجفی اکبری رحیمی هاشمی عباسی نوری کاظمی سلطانی یزدانی شریفی"
    static let adjectives = "ممتاز خانگی سنتی ارگانیک دست‌ساز اعلا محلی ویژه صادراتی درجه‌یک طبیعی اصیل"
    static let places = "یزد کاشان اصفهان تبریز شیراز اراک قائنات رشت کرمان همدان زنجان سنندج مشهد ساوه محلات خمین لاهیجان بیرجند"

    static func array(_ words: String) -> String {
        "ARRAY[" + words.split(separator: " ").map { "'\($0)'" }.joined(separator: ",") + "]"
    }

    static func statements(producers: Int, products: Int) -> [(String, String)] {
        [
            ("producers", """
            INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills, status,
                                   applied_at, screened_at, verified_at)
            SELECT x.nine || (SELECT CASE WHEN r < 2 THEN r ELSE 11 - r END
                              FROM (SELECT sum(substr(x.nine, i, 1)::int * (11 - i)) % 11 AS r FROM generate_series(1, 9) i) s),
                   (\(array(firstNames)))[1 + x.n % 20], (\(array(lastNames)))[1 + (x.n / 20) % 20],
                   '09' || lpad((300000000 + x.n)::text, 9, '0'),
                   'IR-' || lpad((x.n % 31)::text, 2, '0'), (\(array(places)))[1 + x.n % 18], ARRAY['تولید خانگی'],
                   CASE WHEN x.n % 10 = 0 THEN 'applied' ELSE 'verified' END,
                   now() - make_interval(days => x.n % 300), now() - make_interval(days => x.n % 200),
                   CASE WHEN x.n % 10 = 0 THEN NULL ELSE now() - make_interval(days => x.n % 100) END
            FROM (SELECT n, lpad((200000000 + n)::text, 9, '0') AS nine FROM generate_series(1, \(producers)) n) x
            """),
            // Building the search indexes once after the load is several times faster than
            // maintaining them row by row; their definitions are kept and replayed.
            ("drop search indexes", """
            DO $$ BEGIN
              CREATE TABLE IF NOT EXISTS dataset_saved_indexes AS
                SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'products' AND indexname LIKE 'products_search%';
              EXECUTE (SELECT 'DROP INDEX IF EXISTS ' || string_agg(quote_ident(indexname), ', ') FROM dataset_saved_indexes);
            END $$
            """),
            ("products", """
            INSERT INTO products (producer_id, province_code, title_fa, title_en, description, category_code, unit,
                                  price_rials, stock, monthly_capacity, min_order_qty, status, packaging_level, listed_at, created_at)
            SELECT pr.id, pr.province_code,
                   c.name_fa || ' ' || (\(array(adjectives)))[1 + (g.n / 7) % 12] || ' ' || (\(array(places)))[1 + (g.n / 3) % 18],
                   c.name_en, 'محصول ' || c.name_fa || ' تولید کارگاه خانگی در ' || (\(array(places)))[1 + g.n % 18],
                   c.code, 'piece', 100000 * (1 + (g.n * 7919) % 2000), (g.n * 31) % 500, (g.n * 17) % 1000,
                   1 + g.n % 20, 'listed', (g.n % 4)::smallint, now() - make_interval(mins => g.n::int), now() - make_interval(mins => g.n::int)
            FROM generate_series(1::bigint, \(products)) g(n)
            -- Only verified producers list: every tenth generated producer is an applicant, so the
            -- k-th verified one is number k + k / 9 + 1.
            JOIN LATERAL (SELECT id, province_code FROM producers
                          WHERE id = (SELECT min(id) FROM producers) + ((g.n * 7919) % \(producers * 9 / 10))
                                     + ((g.n * 7919) % \(producers * 9 / 10)) / 9) pr ON true
            JOIN LATERAL (SELECT code, name_fa, name_en FROM categories WHERE parent_code IS NOT NULL
                          ORDER BY code OFFSET g.n % 99 LIMIT 1) c ON true
            """),
            // Fresh statistics first: without them the foreign-key checks of the next insert crawl.
            ("vacuum analyze products", "VACUUM ANALYZE products"),
            ("certificates", """
            INSERT INTO certificates (product_id, kind, number, issuer, issued_on, expires_on, status)
            SELECT p.id, (ARRAY['health_license','halal','inso','handicraft_seal','organic'])[1 + (p.id / 5) % 5], 'B-' || p.id,
                   'سازمان ملی استاندارد', current_date - 200, current_date + (p.id % 700)::int - 100, 'granted'
            FROM products p WHERE p.id % 5 = 0
            """),
            ("rebuild search indexes", """
            DO $$ DECLARE d text; BEGIN
              FOR d IN SELECT indexdef FROM dataset_saved_indexes LOOP EXECUTE d; END LOOP;
              DROP TABLE dataset_saved_indexes;
            END $$
            """),
            ("analyze", "ANALYZE"),
        ]
    }
}
