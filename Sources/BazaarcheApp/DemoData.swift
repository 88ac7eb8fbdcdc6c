import Accounts
import BazaarcheCore
import Foundation
import Onboarding

/// A small, realistic data set so a newcomer has something to query. Loaded once: a second run
/// finds the demo admin and does nothing.
public enum DemoData {
    public static let password = "bazaarche-demo"

    struct DemoProducer {
        let first: String, last: String, province: String, city: String, skills: [String], status: String
    }

    static let producers: [DemoProducer] = [
        .init(first: "زهرا", last: "احمدی", province: "IR-00", city: "اراک", skills: ["کیک و شیرینی خانگی"], status: "verified"),
        .init(first: "مریم", last: "کریمی", province: "IR-00", city: "اراک", skills: ["ترشی و شور", "مربا"], status: "verified"),
        .init(first: "فاطمه", last: "رضایی", province: "IR-00", city: "ساوه", skills: ["گلیم‌بافی"], status: "screened"),
        .init(first: "علی", last: "محمدی", province: "IR-00", city: "خمین", skills: ["عسل طبیعی"], status: "applied"),
        .init(first: "سکینه", last: "موسوی", province: "IR-00", city: "محلات", skills: ["گل و گیاه دارویی"], status: "rejected"),
        .init(first: "نرگس", last: "حسینی", province: "IR-23", city: "تهران", skills: ["صابون دست‌ساز"], status: "verified"),
        .init(
            first: "لیلا", last: "صادقی", province: "IR-23", city: "ری", skills: ["لباس محلی", "سوزن‌دوزی"], status: "suspended"),
        .init(first: "رضا", last: "نجفی", province: "IR-10", city: "اصفهان", skills: ["قلمکار", "میناکاری"], status: "verified"),
        .init(first: "سمیه", last: "جعفری", province: "IR-10", city: "کاشان", skills: ["گلاب و عرقیات"], status: "verified"),
        .init(first: "حسن", last: "قاسمی", province: "IR-07", city: "شیراز", skills: ["خاتم‌کاری"], status: "screened"),
        .init(first: "معصومه", last: "باقری", province: "IR-03", city: "تبریز", skills: ["فرش دستباف"], status: "verified"),
        .init(first: "پروین", last: "اکبری", province: "IR-03", city: "مرند", skills: ["خشکبار"], status: "applied"),
    ]

    /// Listings of the verified demo producers (index into `producers`): title, category, unit, price, stock.
    static let products: [(producer: Int, title: String, category: String, unit: String, price: Int64, stock: Int)] = [
        (0, "کیک یزدی خانگی", "food.bakery", "box", 1_200_000, 40),
        (0, "کلوچه سنتی", "food.bakery", "pack", 850_000, 60),
        (1, "ترشی لیته", "food.pickles_preserves", "jar", 950_000, 30),
        (1, "مربای بالنگ", "food.jams_syrups", "jar", 1_400_000, 25),
        (5, "صابون دست‌ساز گلاب", "cosmetics.soap", "piece", 450_000, 120),
        (7, "رومیزی قلمکار اصفهان", "handicrafts.ghalamkar", "piece", 6_500_000, 8),
        (7, "بشقاب میناکاری", "handicrafts.minakari", "piece", 12_000_000, 5),
        (8, "گلاب دو آتشه کاشان", "herbal.rosewater", "bottle", 1_100_000, 80),
        (10, "فرش دستباف تبریز", "carpets.hand_woven_carpet", "piece", 450_000_000, 2),
    ]

    /// Wholesale terms of some demo products (issue 16): volume tiers (JSON as the API takes it),
    /// pack multiple (also the minimum order), lead time in days, suggested retail price.
    static let wholesaleTerms: [String: (tiers: String, increment: Int, leadTime: Int, retail: Int64)] = [
        "کیک یزدی خانگی": (
            #"[{"min_quantity":10,"unit_price_rials":1100000},{"min_quantity":30,"unit_price_rials":1000000}]"#, 1, 3, 1_500_000
        ),
        "صابون دست‌ساز گلاب": (
            #"[{"min_quantity":48,"unit_price_rials":420000},{"min_quantity":96,"unit_price_rials":390000}]"#, 12, 5, 600_000
        ),
        "گلاب دو آتشه کاشان": (
            #"[{"min_quantity":24,"unit_price_rials":1020000},{"min_quantity":60,"unit_price_rials":950000}]"#, 6, 2, 1_400_000
        ),
    ]

    static let staff: [(login: String, role: Role, province: String?)] = [
        ("admin", .admin, nil),
        ("supervisor.markazi", .supervisor, "IR-00"),
        ("supervisor.tehran", .supervisor, "IR-23"),
        ("supervisor.isfahan", .supervisor, "IR-10"),
        ("implementer.demo", .implementer, nil),
        ("officer", .exportOfficer, nil),
        ("partner.demo", .partner, nil),
        ("buyer.demo", .partner, nil),
        ("viewer.demo", .partner, nil),
        ("exporter.demo", .partner, nil),
    ]

    /// The demo company's accounts by role: partner.demo owns it, buyer.demo buys, viewer.demo only reads.
    static let companyRoles: [String: CompanyRole] = ["buyer.demo": .buyer, "viewer.demo": .viewer]

    /// The demo implementer works in every province the demo producers live in.
    static let implementerProvinces = ["IR-00", "IR-03", "IR-07", "IR-10", "IR-23"]

    /// Loads the set unless present; returns the demo logins (login, role) to print.
    @discardableResult
    public static func load(db: Database, accounts: Accounts, logger: Logger) async throws -> [(String, String)] {
        let present = try await db.rows("SELECT 1 FROM accounts WHERE login = 'admin'")
        let hash = try await accounts.hash(password)
        if present.isEmpty {
            try await db.transaction { connection in
                try await insert(passwordHash: hash, on: connection, logger: logger)
            }
        }
        return try await logins(db)
    }

    /// The whole set: partners and staff, plan quotas, courses, producers with their listings and
    /// training, and a year of exports.
    static func insert(passwordHash hash: String, on connection: PostgresConnection, logger: Logger) async throws {
        let (partner, exporter) = try await insertPartners(on: connection, logger: logger)
        let exporterAccount = try await insertStaff(
            partner: partner, exporter: exporter, passwordHash: hash, on: connection, logger: logger)
        let year = SolarHijri.year(of: Date())
        try await connection.query(
            """
            INSERT INTO plan_quotas (year, province_code, quota)
            SELECT \(year), code, CASE code WHEN 'IR-00' THEN 2000 WHEN 'IR-23' THEN 5000 ELSE 1500 END FROM provinces
            ON CONFLICT DO NOTHING
            """, logger: logger)
        let admin = try await connection.query("SELECT id FROM accounts WHERE login = 'admin'", logger: logger)
            .collect()[0].decode(Int64.self)
        try await insertCourses(createdBy: admin, on: connection, logger: logger)
        for (index, p) in producers.enumerated() {
            try await insertProducer(p, index: index, passwordHash: hash, admin: admin, on: connection, logger: logger)
        }
        try await insertShipments(exporter: exporter, recordedBy: exporterAccount, on: connection, logger: logger)
        try await insertDemandWithQuotes(partner: partner, on: connection, logger: logger)
        try await insertLoanReferrals(on: connection, logger: logger)
        // The Markazi directorate inspected its first producer's workshop; the follow-up is open.
        try await connection.query(
            """
            INSERT INTO inspections (province_code, subject_type, subject_id, subject, inspected_on, findings, follow_up_due,
              inspector_id)
            SELECT 'IR-00', 'producer', p.id, p.first_name || ' ' || p.last_name, current_date - 3,
              'کارگاه پاکیزه است؛ برچسب مواد تشکیل‌دهنده روی شیشه‌ها نیست.', current_date + 14, s.id
            FROM producers p, accounts s WHERE p.province_code = 'IR-00' AND s.login = 'supervisor.markazi'
            ORDER BY p.id LIMIT 1
            """, logger: logger)
        try await insertStudy(year: year, on: connection, logger: logger)
    }

    /// Markazi's province study for this year, entered by the implementer and approved by the
    /// province's supervisor (four eyes), and the demo producers' activities. Its numbers are
    /// illustrative, and its source says so: no real study is quoted.
    static func insertStudy(year: Int, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE producers p SET activity_codes = m.codes
            FROM (VALUES ('کیک و شیرینی خانگی', ARRAY['food.baking', 'food.pastry']), ('ترشی و شور', ARRAY['food.pickles', 'food.jams_syrups']),
              ('گلیم‌بافی', ARRAY['carpets.kilim']), ('عسل طبیعی', ARRAY['food.honey']), ('صابون دست‌ساز', ARRAY['cosmetics.soap']),
              ('قلمکار', ARRAY['handicrafts.ghalamkar', 'handicrafts.minakari']), ('گلاب و عرقیات', ARRAY['herbal.rosewater', 'herbal.distillates']),
              ('خاتم‌کاری', ARRAY['handicrafts.khatam']), ('فرش دستباف', ARRAY['carpets.hand_woven']))
              AS m(skill, codes)
            WHERE p.skills[1] = m.skill
            """, logger: logger)
        let study = try await connection.query(
            """
            INSERT INTO province_studies (province_code, study_year, source, studied_on, notes, entered_by)
            SELECT 'IR-00', \(year), 'داده نمایشی بازارچه (نمونه، نه مطالعه واقعی استان)', current_date - 60,
              'ظرفیت ماهانه به واحد رایج هر فعالیت (جعبه، شیشه، متر مربع).', id
            FROM accounts WHERE login = 'implementer.demo'
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(Int64.self)
        try await connection.query(
            """
            INSERT INTO province_study_rows (study_id, activity_code, need_score, advantage_score, capacity_producers,
              capacity_units_month, priority)
            VALUES (\(study), 'food.baking', 80, 70, 300, 6000, true), (\(study), 'food.pickles', 75, 80, 200, 5000, true),
              (\(study), 'carpets.kilim', 60, 85, 150, 400, true), (\(study), 'food.honey', 50, 60, 80, 1500, false),
              (\(study), 'herbal.medicinal', 45, 55, 60, 800, false)
            """, logger: logger)
        let supervisor = try await connection.query(
            """
            UPDATE province_studies SET status = 'approved', approved_at = now(),
              approved_by = (SELECT id FROM accounts WHERE login = 'supervisor.markazi')
            WHERE id = \(study) RETURNING approved_by
            """, logger: logger
        ).collect()[0].decode(Int64.self)
        try await connection.query(
            """
            INSERT INTO audit_events (actor_account_id, actor_role, entity_type, entity_id, province_code, action, from_status,
              to_status)
            VALUES (\(supervisor), 'supervisor', 'province_study', \(study), 'IR-00', 'province_study.approved', 'draft', 'approved')
            """, logger: logger)
    }

    /// The two demo partner companies, a lead firm and an exporter; returns their ids.
    static func insertPartners(
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (partner: Int64, exporter: Int64) {
        let partner = try await connection.query(
            """
            INSERT INTO partners (legal_national_id, name, kind, province_code, contact_name, contact_phone)
            VALUES ('10380284790', 'شرکت پخش سوغات ایرانی', 'lead_firm', 'IR-23', 'واحد تأمین', '02188776655')
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(Int64.self)
        let exporter = try await connection.query(
            """
            INSERT INTO partners (legal_national_id, name, kind, province_code, contact_name, contact_phone)
            VALUES ('14007655406', 'بازرگانی صادراتی پارس', 'exporter', 'IR-10', 'واحد صادرات', '03132223344')
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(Int64.self)
        return (partner, exporter)
    }

    /// The staff accounts (partner accounts belong to their company); returns the exporter's account id.
    static func insertStaff(
        partner: Int64, exporter: Int64, passwordHash hash: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        var exporterAccount: Int64 = 0
        for member in staff {
            let company = member.login == "exporter.demo" ? exporter : partner
            let (id, _) = try await Accounts.insert(
                on: connection, logger: logger, role: member.role, login: member.login, passwordHash: hash,
                provinceCode: member.province, provinceCodes: member.role == .implementer ? implementerProvinces : nil,
                producerID: nil, partnerID: member.role == .partner ? company : nil,
                companyRole: companyRoles[member.login], actor: nil, actorRole: "system")
            if member.login == "exporter.demo" { exporterAccount = id }
        }
        return exporterAccount
    }

    static func insertCourses(createdBy admin: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO courses (title, description, kind, mode, hours, province_code, created_by) VALUES
              ('آموزش عمومی کسب‌وکار خانگی', 'قیمت‌گذاری، ثبت سفارش و فروش اینترنتی',
               'general', 'online', 12, NULL, \(admin)),
              ('بسته‌بندی صادراتی محصولات غذایی', 'استانداردها و برچسب‌گذاری',
               'specialized', 'in_person', 24, 'IR-00', \(admin)),
              ('بهداشت و ایمنی مواد غذایی', 'الزامات پروانه بهداشت',
               'specialized', 'online', 16, NULL, \(admin))
            """, logger: logger)
        // The general course is online with modules and a final assessment (pass mark 60).
        try await connection.query(
            """
            WITH c AS (UPDATE courses SET pass_mark = 60 WHERE kind = 'general' RETURNING id)
            INSERT INTO course_modules (course_id, position, title, kind, url, minutes)
            SELECT c.id, m.position, m.title, m.kind, m.url, m.minutes FROM c, (VALUES
              (1, 'قیمت‌گذاری محصول خانگی', 'video', 'https://example.com/bazaarche/pricing.mp4', 25),
              (2, 'راهنمای ثبت و پیگیری سفارش', 'document', 'https://example.com/bazaarche/orders.pdf', 30),
              (3, 'کارگاه زنده فروش اینترنتی', 'live_session', 'https://example.com/bazaarche/live', 90)
            ) m(position, title, kind, url, minutes)
            """, logger: logger)
    }

    /// Screening evidence: a completed assessment by the implementer, recommending the general
    /// course; a screened applicant has started it (the video watched).
    static func insertAssessment(
        of producer: Int64, status: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            WITH a AS (
              INSERT INTO assessments (producer_id, assessor_account_id, mode, assessed_on, notes)
              SELECT \(producer), i.id, 'in_person', current_date - 30, 'بازدید از کارگاه خانگی'
              FROM accounts i WHERE i.login = 'implementer.demo' RETURNING id),
            s AS (
              INSERT INTO assessment_scores (assessment_id, criterion, score, notes)
              SELECT a.id, v.criterion, v.score, v.notes FROM a, (VALUES
                ('skill_level', 4, 'نمونه‌کارها یکدست و تمیز'), ('production_readiness', 3, NULL),
                ('space_and_equipment', 3, 'فضای کار جدا از آشپزخانه نیست'), ('market_potential', 4, NULL),
                ('motivation', 5, NULL)) v(criterion, score, notes) RETURNING assessment_id)
            INSERT INTO assessment_courses (assessment_id, course_id)
            SELECT a.id, c.id FROM a, courses c WHERE c.kind = 'general'
            """, logger: logger)
        try await connection.query(
            """
            UPDATE assessments a SET status = 'completed', completed_at = now(),
              mean_score = (SELECT round(avg(s.score), 2) FROM assessment_scores s WHERE s.assessment_id = a.id)
            WHERE a.producer_id = \(producer)
            """, logger: logger)
        if status == "screened" {
            try await connection.query(
                """
                WITH e AS (INSERT INTO enrollments (course_id, producer_id)
                  SELECT c.id, \(producer) FROM courses c WHERE c.kind = 'general' RETURNING id, course_id)
                INSERT INTO module_progress (enrollment_id, module_id, completed_at, recorded_by)
                SELECT e.id, m.id, now(), a.id FROM e JOIN course_modules m ON m.course_id = e.course_id AND m.kind = 'video'
                  JOIN accounts a ON a.producer_id = \(producer)
                """, logger: logger)
        }
    }

    /// One producer with its account, its way through vetting to its demo status, its listings and,
    /// once verified, its training.
    static func insertProducer(
        _ p: DemoProducer, index: Int, passwordHash hash: String, admin: Int64, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let nationalID = NationalID.withCheckDigit(String(format: "%09d", 4_120_000_00 + index * 7_919))
        let mobile = String(format: "0912%07d", 1_000_000 + index)
        let id = try await connection.query(
            """
            INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, skills)
            VALUES (\(nationalID), \(p.first), \(p.last), \(mobile), \(p.province), \(p.city), \(p.skills))
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(Int64.self)
        _ = try await Accounts.insert(
            on: connection, logger: logger, role: .producer, login: mobile, passwordHash: hash,
            provinceCode: nil, producerID: id, partnerID: nil, actor: nil, actorRole: "system",
            auditProvince: p.province)
        for status in statusPath(to: p.status) {
            let stamp = status == "suspended" ? "updated_at" : "\(status)_at"
            try await connection.query(
                "UPDATE producers SET status = \(status), \(unescaped: stamp) = now() WHERE id = \(id)",
                logger: logger)
        }
        if ["screened", "verified", "suspended"].contains(p.status) {
            try await insertAssessment(of: id, status: p.status, on: connection, logger: logger)
        }
        // Verification went through four eyes: the implementer proposed, the admin decided.
        if ["screened", "verified", "suspended"].contains(p.status) {
            try await connection.query(
                """
                INSERT INTO verification_proposals (producer_id, proposed_by, note, status, decided_by, decided_at)
                SELECT \(id), i.id, 'ارزیابی شد؛ آمادهٔ تأیید', CASE WHEN \(p.status) = 'screened' THEN 'pending' ELSE 'approved' END,
                  CASE WHEN \(p.status) = 'screened' THEN NULL ELSE \(admin) END,
                  CASE WHEN \(p.status) = 'screened' THEN NULL ELSE now() END
                FROM accounts i WHERE i.login = 'implementer.demo'
                """, logger: logger)
        }
        for item in products where item.producer == index {
            try await connection.query(
                """
                INSERT INTO products (producer_id, province_code, title_fa, category_code, unit, price_rials, stock,
                                      monthly_capacity, min_order_qty, status, listed_at)
                VALUES (\(id), \(p.province), \(item.title), \(item.category), \(item.unit), \(item.price),
                        \(item.stock), \(item.stock * 4), 1, 'listed', now())
                """, logger: logger)
            if let terms = wholesaleTerms[item.title] {
                try await connection.query(
                    """
                    UPDATE products SET price_tiers = \(terms.tiers)::jsonb, order_increment = \(terms.increment),
                      min_order_qty = \(terms.increment), lead_time_days = \(terms.leadTime),
                      suggested_retail_price_rials = \(terms.retail)
                    WHERE producer_id = \(id) AND title_fa = \(item.title)
                    """, logger: logger)
            }
        }
        if p.status == "verified" { try await insertTraining(of: id, admin: admin, on: connection, logger: logger) }
    }

    /// An open demand of the demo company for jars of preserves, with two open quotes from the
    /// producer of the pickles and the jam (docs/matching.md, "Quotes").
    static func insertDemandWithQuotes(partner: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let demand = try await connection.query(
            """
            INSERT INTO demands (partner_id, account_id, category_code, keywords, quantity, unit, max_unit_price_rials, needed_by)
            SELECT \(partner), a.id, 'food', 'ترشی مربا', 40, 'jar', 1500000, tehran_today() + 30
            FROM accounts a WHERE a.login = 'partner.demo'
            RETURNING id
            """, logger: logger
        ).collect()[0].decode(Int64.self)
        for (title, quantity, price, lead, note) in [
            ("ترشی لیته", 20, Int64(900_000), 5, "شیشهٔ ۶۵۰ گرمی، برچسب فارسی"),
            ("مربای بالنگ", 20, Int64(1_350_000), 7, "بدون نگهدارنده"),
        ] {
            try await connection.query(
                """
                WITH q AS (
                  INSERT INTO quotes (demand_id, partner_id, producer_id, product_id, unit_price_rials, quantity, lead_time_days,
                    valid_until, note)
                  SELECT \(demand), \(partner), p.producer_id, p.id, \(price), \(quantity), \(lead),
                    now() + interval '14 days', \(note)
                  FROM products p WHERE p.title_fa = \(title)
                  RETURNING *)
                INSERT INTO quote_versions (quote_id, version, unit_price_rials, quantity, lead_time_days, valid_until, note,
                  created_by)
                SELECT q.id, 1, q.unit_price_rials, q.quantity, q.lead_time_days, q.valid_until, q.note, a.id
                FROM q JOIN accounts a ON a.producer_id = q.producer_id
                """, logger: logger)
        }
    }

    /// The statuses a new (applied) producer passes through to reach `status`.
    static func statusPath(to status: String) -> [String] {
        switch status {
        case "screened": ["screened"]
        case "verified": ["screened", "verified"]
        case "suspended": ["screened", "verified", "suspended"]
        case "rejected": ["rejected"]
        default: []
        }
    }

    /// The general courses completed and one counselling session held.
    static func insertTraining(
        of producer: Int64, admin: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO enrollments (course_id, producer_id, completed_at, assessment_score, assessment_recorded_at,
              assessment_recorded_by)
            SELECT c.id, \(producer), now(), 85, now(), i.id FROM courses c, accounts i
            WHERE c.kind = 'general' AND i.login = 'implementer.demo'
            """, logger: logger)
        // Every module done: the producer watched and read, the implementer recorded the live session.
        try await connection.query(
            """
            INSERT INTO module_progress (enrollment_id, module_id, attended, completed_at, recorded_by)
            SELECT e.id, m.id, CASE WHEN m.kind = 'live_session' THEN true END, now(),
              CASE WHEN m.kind = 'live_session' THEN i.id ELSE a.id END
            FROM enrollments e JOIN course_modules m ON m.course_id = e.course_id
              JOIN accounts a ON a.producer_id = e.producer_id, accounts i
            WHERE e.producer_id = \(producer) AND i.login = 'implementer.demo'
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO counseling_sessions (producer_id, topic, certificate_kind, counselor, held_on, mode, notes, created_by)
            SELECT \(producer), 'standards', 'inso', 'کارشناس استاندارد استان', current_date - 3, 'in_person',
                   'آمادگی برای دریافت نشان استاندارد ملی', i.id
            FROM accounts i WHERE i.login = 'implementer.demo'
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO counseling_sessions (producer_id, topic, counselor, held_on, mode, notes, created_by)
            VALUES (\(producer), 'packaging', 'مشاور بسته‌بندی استان', current_date - 7, 'online',
                    'پیشنهاد بسته‌بندی شیشه‌ای با برچسب دوزبانه', \(admin))
            """, logger: logger)
    }

    /// A year of exports by the exporter: cleared and shipped ones count in figures, a declared one
    /// does not yet, and one crude-oil shipment shows what non-oil leaves out.
    static func insertShipments(
        exporter: Int64, recordedBy account: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO export_shipments (producer_id, product_id, recorded_by, recorded_by_partner_id, hs_code,
              destination_country, customs_declaration_no, fob_cents, net_weight_kg, export_date, customs_office_code,
              status, producer_confirmed_at, verified_by, verified_at)
            SELECT p.producer_id, p.id, \(account), \(exporter),
              CASE WHEN n = 48 THEN '270900' ELSE CASE split_part(p.category_code, '.', 1)
                WHEN 'food' THEN '200799' WHEN 'cosmetics' THEN '340111' WHEN 'herbal' THEN '330190'
                WHEN 'carpets' THEN '570110' ELSE '630499' END END,
              (ARRAY['IQ','AE','AF','CN','TR','DE','OM','QA','AM','RU'])[1 + (n * 7) % 10],
              'DEMO-1405-' || lpad(n::text, 4, '0'),
              (150000 + (n * 7919) % 900000)::bigint * 10, 40 + (n * 37) % 400, tehran_today() - n * 7,
              (ARRAY['bazargan','shahid-rajaee','imam-khomeini-airport','mehran'])[1 + n % 4],
              CASE WHEN n = 3 THEN 'declared' WHEN n % 3 = 0 THEN 'shipped' ELSE 'cleared' END,
              -- Confirmed by their producers; all but the declared one verified by the demo officer.
              now(), CASE WHEN n <> 3 THEN (SELECT id FROM accounts WHERE login = 'officer') END,
              CASE WHEN n <> 3 THEN now() END
            FROM generate_series(1, 48) n
            JOIN LATERAL (SELECT id, producer_id, category_code FROM products WHERE status = 'listed'
                          ORDER BY id OFFSET n % 9 LIMIT 1) p ON true
            """, logger: logger)
    }

    /// Loan referrals (the tracking codes are made up): the verified producers of Markazi, Tehran and
    /// Isfahan, by the order they were inserted in: one granted after review, one that does not seek a
    /// facility, one under review, one declined, one just registered.
    static func insertLoanReferrals(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            WITH v AS (
              SELECT p.id, p.province_code, row_number() OVER (ORDER BY p.id) AS n FROM producers p
              WHERE p.status = 'verified' AND p.province_code IN ('IR-00', 'IR-23', 'IR-10')),
            l AS (
              INSERT INTO loan_referrals AS l (producer_id, seeking, purpose, amount_band, ministry_tracking_code, status,
                registered_on, decided_on, recorded_by)
              SELECT v.id, v.n <> 2, d.purpose, d.band, d.code, d.status, tehran_today() - d.registered, tehran_today() - d.decided,
                (SELECT id FROM accounts WHERE login = 'implementer.demo')
              FROM v JOIN (VALUES
                (1, 'equipment', 'from_500m_to_1b', '140500012345', 'granted', 40, 10),
                (2, NULL, NULL, NULL, NULL, NULL, NULL),
                (3, 'raw_materials', 'up_to_500m', '140500023456', 'under_review', 12, NULL),
                (4, 'workspace', 'from_1b_to_2b', '140500034567', 'declined', 60, 25),
                (5, 'working_capital', 'up_to_500m', '140500045678', 'registered', 2, NULL)
              ) d(n, purpose, band, code, status, registered, decided) ON d.n = v.n
              RETURNING l.id, l.producer_id, l.status)
            INSERT INTO audit_events (actor_account_id, actor_role, entity_type, entity_id, province_code, action, from_status,
              to_status)
            SELECT (SELECT id FROM accounts WHERE login = 'implementer.demo'), 'implementer', 'loan_referral', l.id,
              p.province_code, 'loan_referral.recorded', NULL, coalesce(l.status, 'not_seeking')
            FROM l JOIN producers p ON p.id = l.producer_id ORDER BY l.id
            """, logger: logger)
    }

    /// The staff logins, then the first three producers' (their mobile numbers).
    static func logins(_ db: Database) async throws -> [(String, String)] {
        var logins: [(String, String)] = []
        for member in staff {
            let companyRole = companyRoles[member.login].map { " (\($0.rawValue))" } ?? ""
            logins.append((member.login, member.role.rawValue + companyRole))
        }
        let producerLogins = try await db.rows(
            """
            SELECT a.login FROM accounts a JOIN producers p ON p.id = a.producer_id
            WHERE p.mobile LIKE '09121%' ORDER BY a.id LIMIT 3
            """)
        for row in producerLogins { logins.append((try row.decode(String.self), "producer")) }
        return logins
    }
}
