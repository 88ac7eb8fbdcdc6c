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
    @Option(help: "Number of orders (one line each, over the last two years).") var orders = 1_000_000
    @Option(help: "Number of export shipments (over the last five years).") var shipments = 5_000_000

    func run() async throws {
        let env = try await CommandContext.prepare(quiet: true)
        defer { env.finish() }
        try await withRunningClient(env.database, logger: env.logger) { client in
            try await env.migrator.migrate(client: client, logger: env.logger)
            let db = Database(client: client, logger: env.logger)
            let start = ContinuousClock.now
            let existing = try await db.rows("SELECT count(*)::int FROM products").first?.decode(Int.self) ?? 0
            defer { print("dataset: done in \(ContinuousClock.now - start)") }
            if existing >= products {
                print("dataset: \(existing) products already present")
            } else {
                try await load(db, Dataset.statements(producers: producers, products: products))
            }
            let ordered = try await db.rows("SELECT count(*)::int FROM orders").first?.decode(Int.self) ?? 0
            if ordered >= orders {
                print("dataset: \(ordered) orders already present")
            } else {
                try await load(db, Dataset.orders(orders - ordered))
            }
            let shipped = try await db.rows("SELECT count(*)::int FROM export_shipments").first?.decode(Int.self) ?? 0
            if shipped >= shipments {
                print("dataset: \(shipped) export shipments already present")
            } else {
                try await load(db, Dataset.shipments(shipments))
            }
        }
    }

    /// Runs the steps, one statement each, on one connection (they share temporary tables).
    func load(_ db: Database, _ statements: [(String, String)]) async throws {
        let producerCount = try await db.rows("SELECT count(*)::int FROM producers").first?.decode(Int.self) ?? 0
        try await db.withConnection { connection in
            do {
                for (label, sql) in statements where !(label == "producers" && producerCount >= producers) {
                    let t = ContinuousClock.now
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: db.logger)
                    print("dataset: \(label) in \(ContinuousClock.now - t)")
                }
            } catch {
                // A failed shipments load must not leave the derivation and rollup triggers off.
                _ = try? await connection.query("ALTER TABLE export_shipments ENABLE TRIGGER USER", logger: db.logger)
                throw error
            }
        }
    }
}

enum Dataset {
    static let firstNames =
        "زهرا فاطمه مریم معصومه سمیه لیلا نرگس مهسا سارا الهام رقیه طاهره صغری پروین علی حسین رضا محمد مهدی حسن"
    static let lastNames =
        "احمدی محمدی حسینی رضایی کریمی موسوی جعفری صادقی قاسمی باقری نجفی اکبری رحیمی هاشمی عباسی نوری کاظمی سلطانی یزدانی شریفی"
    static let adjectives = "ممتاز خانگی سنتی ارگانیک دست‌ساز اعلا محلی ویژه صادراتی درجه‌یک طبیعی اصیل"
    static let places = "یزد کاشان اصفهان تبریز شیراز اراک قائنات رشت کرمان همدان زنجان سنندج مشهد ساوه محلات خمین لاهیجان بیرجند"

    static func array(_ words: String) -> String {
        "ARRAY[" + words.split(separator: " ").map { "'\($0)'" }.joined(separator: ",") + "]"
    }

    /// A partner company of the data set and its account (no password: nobody signs in as it).
    /// Values are constants of this file, never input.
    static func company(legalID: String, name: String, kind: String, login: String) -> [(String, String)] {
        [
            (
                "\(kind) company",
                """
                INSERT INTO partners (legal_national_id, name, kind, province_code)
                VALUES ('\(legalID)', '\(name)', '\(kind)', 'IR-23') ON CONFLICT (legal_national_id) DO NOTHING
                """
            ),
            (
                "\(kind) account",
                """
                INSERT INTO accounts (login, password_hash, role, partner_id, company_role)
                SELECT '\(login)', '!', 'partner', id, 'owner' FROM partners WHERE legal_national_id = '\(legalID)'
                ON CONFLICT DO NOTHING
                """
            ),
        ]
    }

    /// Orders of a buyer company over the last two years, one line each (the producer's first
    /// listing) at the listed price, in
    /// every state of the lifecycle (most delivered). Stock is left as generated: these orders are
    /// history, not reservations. Delivery records are recounted at the end.
    static func orders(_ count: Int) -> [(String, String)] {
        company(legalID: "10380284790", name: "خریدار داده آزمون", kind: "upstream_buyer", login: "dataset.buyer") + [
            (
                "orders",
                """
                INSERT INTO orders (partner_account_id, producer_id, province_code, status, total_rials, delivery_province_code,
                  delivery_city, delivery_address, delivery_recipient, delivery_phone, tracking_code, created_at, updated_at)
                SELECT (SELECT id FROM accounts WHERE login = 'dataset.buyer'), p.producer_id, p.province_code,
                  (ARRAY['delivered','delivered','delivered','delivered','delivered','shipped','packed','accepted','placed',
                    'rejected','cancelled'])[1 + g.n % 11],
                  p.price_rials * (1 + g.n % 5), 'IR-' || lpad((g.n % 31)::text, 2, '0'), 'تهران', 'خیابان آزادی، پلاک ' || (g.n %
                    300),
                  'انبار مرکزی', '021' || lpad((g.n % 100000000)::text, 8, '0'),
                  CASE WHEN g.n % 11 BETWEEN 0 AND 5 THEN 'TRK-' || g.n END,
                  now() - make_interval(mins => (g.n * 7919 % 1051200)::int), now()
                FROM generate_series(1::bigint, \(count)) g(n)
                JOIN products p0 ON p0.id = (SELECT min(id) FROM products) + (g.n * 104729 % (SELECT count(*) FROM products))
                JOIN LATERAL (SELECT * FROM products WHERE producer_id = p0.producer_id ORDER BY id LIMIT 1) p ON true
                """
            ),
            (
                "order lines",
                """
                INSERT INTO order_lines (order_id, line_no, product_id, title_fa, unit, quantity, unit_price_rials,
                  line_total_rials)
                SELECT o.id, 1, p.id, p.title_fa, p.unit, o.total_rials / p.price_rials, p.price_rials, o.total_rials
                FROM orders o
                JOIN LATERAL (SELECT * FROM products WHERE producer_id = o.producer_id ORDER BY id LIMIT 1) p ON true
                WHERE o.partner_account_id = (SELECT id FROM accounts WHERE login = 'dataset.buyer')
                  AND NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id)
                """
            ),
            (
                "delivery records",
                """
                INSERT INTO producer_order_stats AS s (producer_id, delivered, failed)
                SELECT producer_id, count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'rejected')
                FROM orders GROUP BY producer_id
                ON CONFLICT (producer_id) DO UPDATE SET delivered = EXCLUDED.delivered, failed = EXCLUDED.failed
                """
            ),
            ("analyze orders", "ANALYZE orders, order_lines, producer_order_stats"),
        ]
    }

    /// Export shipments of home products over the last five years, skewed like real non-oil
    /// exports: a few neighbours and partners take most of them, a handful of HS chapters
    /// dominate, 1% are crude oil (HS 2709), 15% are still only declared. Derived columns are
    /// computed per day rather than per row, the triggers are off during the load, and the rollups
    /// are rebuilt once at the end.
    static func shipments(_ count: Int) -> [(String, String)] {
        company(legalID: "14007655406", name: "بازرگانی صادراتی داده آزمون", kind: "exporter", login: "dataset.exporter") + [
            (
                "officer account",
                """
                INSERT INTO accounts (login, password_hash, role) VALUES ('dataset.officer', '!', 'export_officer')
                  ON CONFLICT DO NOTHING
                """
            ),
            ("triggers off", "ALTER TABLE export_shipments DISABLE TRIGGER USER"),
            (
                "days",
                """
                CREATE TEMP TABLE dataset_days AS
                  SELECT d::date AS day, jalali_month(d::date) AS jm, (extract(year FROM d) * 100 + extract(month
                    FROM d))::int AS gm
                  FROM generate_series(tehran_today() - 1825, tehran_today(), interval '1 day') d
                """
            ),
            (
                "codes",
                """
                CREATE TEMP TABLE dataset_codes AS SELECT * FROM (VALUES
                  (1, '090220', 'food', 4), (2, '080251', 'food', 6), (3, '091020', 'herbal', 5), (4, '200799', 'food', 5),
                  (5, '570110', 'carpets', 8), (6, '570231', 'carpets', 3), (7, '630492', 'textiles', 3), (8, '620442',
                    'textiles', 2),
                  (9, '420221', 'leather', 2), (10, '691390', 'pottery', 3), (11, '701399', 'handicrafts', 2), (12, '711319',
                    'jewellery', 2),
                  (13, '330190', 'herbal', 3), (14, '340111', 'cosmetics', 2), (15, '170490', 'food', 4), (16, '190590', 'food',
                    3),
                  (17, '081320', 'food', 4), (18, '130219', 'herbal', 2), (19, '040690', 'dairy', 2), (20, '740400',
                    'handicrafts', 1),
                  (21, '440290', 'woodwork', 1), (22, '580500', 'textiles', 1), (23, '270900', NULL, 1)) c(n, hs, category,
                    weight)
                """
            ),
            (
                "code weights",
                """
                CREATE TEMP TABLE dataset_pick_code AS
                  SELECT row_number() OVER () - 1 AS slot, c.hs, c.category FROM dataset_codes c, generate_series(1, c.weight)
                """
            ),
            (
                "country weights",
                """
                CREATE TEMP TABLE dataset_pick_country AS
                  SELECT row_number() OVER () - 1 AS slot, c FROM
                    unnest(ARRAY['IQ','IQ','IQ','IQ','IQ','AF','AF','AF','AE','AE','AE','CN','CN',
                    'TR','TR','RU','AM','AZ','OM','QA','KW','PK','IN','DE','DE','TM','TJ','GE','SY','LB','FR','IT','ES','GB','US',
                      'CA','JP','KR','MY','UZ']) c
                """
            ),
            (
                "export shipments",
                """
                INSERT INTO export_shipments (producer_id, recorded_by, recorded_by_partner_id, hs_code, destination_country,
                  customs_declaration_no, fob_cents, net_weight_kg, export_date, customs_office_code, status,
                    producer_confirmed_at,
                  verified_by, verified_at, hs_chapter, province_code, category_code, is_oil, jalali_month, gregorian_month)
                SELECT pr.id, (SELECT id FROM accounts WHERE login = 'dataset.exporter'),
                  (SELECT id FROM partners WHERE legal_national_id = '14007655406'),
                  code.hs, country.c, 'DS-' || g.n, 10000 + (g.n * 7919 % 5000000), (1 + g.n * 31 % 20000) / 10.0, day.day,
                  (ARRAY['bazargan','shahid-rajaee','imam-khomeini-airport','mehran','sarakhs','bandar-anzali'])[1 + g.n % 6],
                  CASE WHEN g.n % 20 < 3 THEN 'declared' WHEN g.n % 2 = 0 THEN 'shipped' ELSE 'cleared' END, now(),
                  -- counted ones name their verifier, as the database requires
                  CASE WHEN g.n % 20 >= 3 THEN (SELECT id FROM accounts WHERE login = 'dataset.officer') END,
                  CASE WHEN g.n % 20 >= 3 THEN now() END,
                  substr(code.hs, 1, 2)::smallint, pr.province_code, code.category, code.hs LIKE '2709%', day.jm, day.gm
                FROM generate_series(1::bigint, \(count)) g(n)
                JOIN dataset_days day ON day.day = tehran_today() - (g.n * 104729 % 1826)::int
                JOIN dataset_pick_code code ON code.slot = g.n * 31 % (SELECT count(*) FROM dataset_pick_code)
                JOIN dataset_pick_country country ON country.slot = g.n * 17 % (SELECT count(*) FROM dataset_pick_country)
                JOIN producers pr ON pr.id = (SELECT min(id) FROM producers) + (g.n * 7919 % (SELECT count(*) FROM producers))
                """
            ),
            ("triggers on", "ALTER TABLE export_shipments ENABLE TRIGGER USER"),
            ("rebuild export rollups", "SELECT export_figure_rollups_rebuild()"),
            ("analyze", "ANALYZE export_shipments, export_figure_rollups"),
        ]
    }

    static func statements(producers: Int, products: Int) -> [(String, String)] {
        [
            (
                "producers",
                """
                INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills, status,
                                       applied_at, screened_at, verified_at)
                SELECT x.nine || (SELECT CASE WHEN r < 2 THEN r ELSE 11 - r END
                                  FROM (SELECT sum(substr(x.nine, i, 1)::int * (11 - i)) % 11 AS r
                                    FROM generate_series(1, 9) i) s),
                       (\(array(firstNames)))[1 + x.n % 20], (\(array(lastNames)))[1 + (x.n / 20) % 20],
                       '09' || lpad((300000000 + x.n)::text, 9, '0'),
                       'IR-' || lpad((x.n % 31)::text, 2, '0'), (\(array(places)))[1 + x.n % 18], ARRAY['تولید خانگی'],
                       CASE WHEN x.n % 10 = 0 THEN 'applied' ELSE 'verified' END,
                       now() - make_interval(days => x.n % 300), now() - make_interval(days => x.n % 200),
                       CASE WHEN x.n % 10 = 0 THEN NULL ELSE now() - make_interval(days => x.n % 100) END
                FROM (SELECT n, lpad((200000000 + n)::text, 9, '0') AS nine FROM generate_series(1, \(producers)) n) x
                """
            ),
            // Building the search indexes once after the load is several times faster than
            // maintaining them row by row; their definitions are kept and replayed.
            (
                "drop search indexes",
                """
                DO $$ BEGIN
                  CREATE TABLE IF NOT EXISTS dataset_saved_indexes AS
                    SELECT indexname, indexdef FROM pg_indexes
                    WHERE tablename = 'products' AND (indexname LIKE 'products_search%' OR indexname = 'products_match_idx');
                  EXECUTE (SELECT 'DROP INDEX IF EXISTS ' || string_agg(quote_ident(indexname), ', ') FROM dataset_saved_indexes);
                END $$
                """
            ),
            (
                "products",
                """
                INSERT INTO products (producer_id, province_code, title_fa, title_en, description, category_code, unit,
                                      price_rials, stock, monthly_capacity, min_order_qty, status, packaging_level, listed_at,
                                        created_at)
                SELECT pr.id, pr.province_code,
                       c.name_fa || ' ' || (\(array(adjectives)))[1 + (g.n / 7) % 12] || ' ' || (\(array(places)))[1 + (g.n / 3) %
                         18],
                       c.name_en, 'محصول ' || c.name_fa || ' تولید کارگاه خانگی در ' || (\(array(places)))[1 + g.n % 18],
                       c.code, 'piece', 100000 * (1 + (g.n * 7919) % 2000), (g.n * 31) % 500, (g.n * 17) % 1000,
                       1 + g.n % 20, 'listed', (g.n % 4)::smallint, now() - make_interval(mins => g.n::int), now() -
                         make_interval(mins => g.n::int)
                FROM generate_series(1::bigint, \(products)) g(n)
                -- Only verified producers list: every tenth generated producer is an applicant, so the
                -- k-th verified one is number k + k / 9 + 1.
                JOIN LATERAL (SELECT id, province_code FROM producers
                              WHERE id = (SELECT min(id) FROM producers) + ((g.n * 7919) % \(producers * 9 / 10))
                                         + ((g.n * 7919) % \(producers * 9 / 10)) / 9) pr ON true
                JOIN LATERAL (SELECT code, name_fa, name_en FROM categories WHERE parent_code IS NOT NULL
                              ORDER BY code OFFSET g.n % 99 LIMIT 1) c ON true
                """
            ),
            // Fresh statistics first: without them the foreign-key checks of the next insert crawl.
            ("vacuum analyze products", "VACUUM ANALYZE products"),
            (
                "certificates",
                """
                INSERT INTO certificates (product_id, kind, number, issuer, issued_on, expires_on, status)
                SELECT p.id, (ARRAY['health_license','halal','inso','handicraft_seal','organic'])[1 + (p.id / 5) % 5], 'B-' ||
                  p.id,
                       'سازمان ملی استاندارد', current_date - 200, current_date + (p.id % 700)::int - 100, 'granted'
                FROM products p WHERE p.id % 5 = 0
                """
            ),
            (
                "rebuild search indexes",
                """
                DO $$ DECLARE d text; BEGIN
                  FOR d IN SELECT indexdef FROM dataset_saved_indexes LOOP EXECUTE d; END LOOP;
                  DROP TABLE dataset_saved_indexes;
                END $$
                """
            ),
            ("analyze", "ANALYZE"),
        ]
    }
}
