import BazaarcheCore
import Foundation
import Hummingbird

struct StudyRequest: Decodable {
    var provinceCode: String
    var studyYear: Int
    var source: String
    var studiedOn: CalendarDate
    var notes: String?
    var rows: [StudyRowInput]?
}

struct StudyRowInput: Decodable {
    var activityCode: String
    var needScore: Int
    var advantageScore: Int
    var capacityProducers: Int
    var capacityUnitsMonth: Int64
    var priority: Bool?
    var notes: String?
}

struct StudyRowsRequest: Decodable {
    var rows: [StudyRowInput]
}

public enum StudyStatus: String, APIEnum { case draft, approved }

/// One row of a study, checked (the activity's existence is the database's say, checked later).
struct StudyRow: Sendable, Equatable {
    var activityCode: String
    var needScore: Int
    var advantageScore: Int
    var capacityProducers: Int
    var capacityUnitsMonth: Int64
    var priority: Bool
    var notes: String?
}

/// A bad cell or row: `row` is the CSV record number (the header is row 1) or the JSON array index.
struct RowError: Sendable, Equatable, Encodable {
    var row: Int
    var field: String
    var message: String
}

/// Reading a study's table from CSV: the header names the columns (any order, case-insensitive);
/// numbers may be written with Persian or Arabic-Indic digits and thousands separators.
enum StudyCSV {
    static let required = ["activity_code", "need_score", "advantage_score", "capacity_producers", "capacity_units_month"]
    static let optional = ["priority", "notes"]
    static let maxRows = 500

    /// A whole number from a cell: Persian/Arabic-Indic digits, spaces and thousands separators
    /// (`,` `٬`) accepted; no sign (a study's figures are never negative).
    static func integer(_ cell: String) -> Int64? {
        cell.contains(where: { $0 == "-" || $0 == "\u{2212}" }) ? nil : CSV.integer(cell)
    }

    static func boolean(_ cell: String) -> Bool? {
        switch Digits.ascii(cell).trimmingCharacters(in: .whitespaces).lowercased() {
        case "", "false", "no", "0", "n", "خیر", "نه": return false
        case "true", "yes", "1", "y", "بله", "آری", "اولویت": return true
        default: return nil
        }
    }

    /// The valid rows of `text` and every error found (each with its row number and field);
    /// `codes` are the activity codes of every row, valid or not, for the database to check.
    static func parse(_ text: String) -> (
        rows: [(row: Int, value: StudyRow)], codes: [(row: Int, code: String)], errors: [RowError]
    ) {
        let parsed = CSV.parse(text)
        let records = parsed.records.map(\.cells)
        var errors: [RowError] = []
        guard let header = records.first, !header.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            return ([], [], [RowError(row: 1, field: "header", message: "the CSV is empty; the first row names the columns")])
        }
        let names = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for missing in required where !names.contains(missing) {
            errors.append(RowError(row: 1, field: missing, message: "column is missing from the header"))
        }
        for (i, name) in names.enumerated() where !(required + optional).contains(name) {
            errors.append(
                RowError(
                    row: 1, field: name.isEmpty ? "column \(i + 1)" : name,
                    message: "is not a column of a study (" + (required + optional).joined(separator: ", ") + ")"))
        }
        for (i, name) in names.enumerated() where names.firstIndex(of: name) != i && !name.isEmpty {
            errors.append(RowError(row: 1, field: name, message: "appears twice in the header"))
        }
        if let row = parsed.unclosedQuoteRow {
            errors.append(RowError(row: row, field: "csv", message: "a quoted cell is not closed"))
        }
        guard errors.isEmpty else { return ([], [], errors) }
        var rows: [(row: Int, value: StudyRow)] = []
        var codes: [(row: Int, code: String)] = []
        var seen: [String: Int] = [:]
        for (index, record) in records.enumerated().dropFirst() {
            let number = index + 1
            // Past the limit nothing more is checked: a huge file costs no more than a full one.
            if index > maxRows {
                errors.append(RowError(row: number, field: "csv", message: "a study has at most \(maxRows) rows"))
                break
            }
            if record.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            if record.count > names.count {
                errors.append(
                    RowError(row: number, field: "row", message: "has \(record.count) cells; the header has \(names.count)"))
                continue
            }
            func cell(_ name: String) -> String {
                guard let i = names.firstIndex(of: name), i < record.count else { return "" }
                return record[i].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            var rowErrors: [RowError] = []
            func integerCell(_ name: String, _ range: ClosedRange<Int64>) -> Int64 {
                let text = cell(name)
                guard let value = integer(text) else {
                    rowErrors.append(
                        RowError(
                            row: number, field: name,
                            message: text.isEmpty ? "is required" : "must be a whole number (got \"\(text)\")"))
                    return 0
                }
                if !range.contains(value) {
                    rowErrors.append(
                        RowError(row: number, field: name, message: "must be from \(range.lowerBound) to \(range.upperBound)"))
                }
                return value
            }
            let code = cell("activity_code").lowercased()
            if code.isEmpty {
                rowErrors.append(RowError(row: number, field: "activity_code", message: "is required"))
            } else if let first = seen[code] {
                rowErrors.append(RowError(row: number, field: "activity_code", message: "repeats row \(first)"))
            } else {
                seen[code] = number
                codes.append((number, code))
            }
            let need = integerCell("need_score", StudyRules.scores)
            let advantage = integerCell("advantage_score", StudyRules.scores)
            let producers = integerCell("capacity_producers", StudyRules.producers)
            let units = integerCell("capacity_units_month", StudyRules.units)
            let priority = boolean(cell("priority"))
            if priority == nil {
                rowErrors.append(
                    RowError(row: number, field: "priority", message: "must be true or false (yes/no, 1/0, بله/خیر)"))
            }
            let notes = cell("notes")
            if notes.unicodeScalars.count > StudyRules.maxNotes {
                rowErrors.append(
                    RowError(row: number, field: "notes", message: "must be at most \(StudyRules.maxNotes) characters"))
            }
            if rowErrors.isEmpty {
                rows.append(
                    (
                        number,
                        StudyRow(
                            activityCode: code, needScore: Int(need), advantageScore: Int(advantage),
                            capacityProducers: Int(producers), capacityUnitsMonth: units, priority: priority ?? false,
                            notes: notes.isEmpty ? nil : notes)
                    ))
            }
            errors += rowErrors
        }
        return (rows, codes, errors)
    }
}

/// The ranges of a study's numbers (docs/programme.md).
enum StudyRules {
    static let scores: ClosedRange<Int64> = 0...100
    static let producers: ClosedRange<Int64> = 0...10_000_000
    static let units: ClosedRange<Int64> = 0...1_000_000_000_000
    static let maxNotes = 1000
    static let years = 1390...1500

    /// JSON rows, checked; errors name `rows[i].field` (i from 0, as in the array).
    static func check(_ input: [StudyRowInput]) -> (rows: [StudyRow], errors: [FieldError]) {
        var errors: [FieldError] = []
        var rows: [StudyRow] = []
        var seen = Set<String>()
        if input.count > StudyCSV.maxRows { errors.append(FieldError("rows", "a study has at most \(StudyCSV.maxRows) rows")) }
        for (i, r) in input.enumerated() {
            let at = "rows[\(i)]."
            let code = r.activityCode.trimmingCharacters(in: .whitespaces).lowercased()
            if code.isEmpty { errors.append(FieldError(at + "activity_code", "is required")) }
            if !seen.insert(code).inserted { errors.append(FieldError(at + "activity_code", "appears twice in the study")) }
            for (name, value, range) in [
                ("need_score", Int64(r.needScore), scores), ("advantage_score", Int64(r.advantageScore), scores),
                ("capacity_producers", Int64(r.capacityProducers), producers),
                ("capacity_units_month", r.capacityUnitsMonth, units),
            ] where !range.contains(value) {
                errors.append(FieldError(at + name, "must be from \(range.lowerBound) to \(range.upperBound)"))
            }
            let notes = r.notes?.trimmingCharacters(in: .whitespacesAndNewlines)
            if let notes, notes.unicodeScalars.count > maxNotes {
                errors.append(FieldError(at + "notes", "must be at most \(maxNotes) characters"))
            }
            rows.append(
                StudyRow(
                    activityCode: code, needScore: r.needScore, advantageScore: r.advantageScore,
                    capacityProducers: r.capacityProducers, capacityUnitsMonth: r.capacityUnitsMonth,
                    priority: r.priority ?? false, notes: notes?.isEmpty == true ? nil : notes))
        }
        return (rows, errors)
    }
}

/// Province studies (programme phase 0): per province and Solar Hijri year, each activity's need,
/// comparative advantage, capacity and whether the province prioritises it. Entered by the
/// province's implementer (or an admin), approved by the province's supervisor (or an admin) but
/// never by the account that entered it; an approved study is frozen, and a new version replaces
/// it. Approved studies are read by everyone signed in; drafts only by the staff of the province.
public struct Studies: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// The JSON of a study without its rows (alias `s`).
    static let summaryJSON = """
        json_build_object('id', s.id, 'province_code', s.province_code, 'study_year', s.study_year, 'version', s.version,
          'source', s.source, 'studied_on', s.studied_on, 'notes', s.notes, 'status', s.status,
          'current', EXISTS (SELECT 1 FROM province_current_studies cs WHERE cs.id = s.id),
          'entered_by', s.entered_by, 'editors', to_json(s.editors), 'approved_by', s.approved_by,
          'approved_at', api_time(s.approved_at),
          'row_count', (SELECT count(*) FROM province_study_rows r WHERE r.study_id = s.id),
          'priority_count', (SELECT count(*) FROM province_study_rows r WHERE r.study_id = s.id AND r.priority),
          'created_at', api_time(s.created_at), 'updated_at', api_time(s.updated_at))
        """

    /// One row (alias `r`, its activity `a`).
    static let rowJSON = """
        json_build_object('activity_code', r.activity_code, 'activity_name_fa', a.name_fa, 'activity_name_en', a.name_en,
          'category_code', a.category_code, 'need_score', r.need_score, 'advantage_score', r.advantage_score,
          'capacity_producers', r.capacity_producers, 'capacity_units_month', r.capacity_units_month,
          'priority', r.priority, 'notes', r.notes)
        """

    static let detailJSON = """
        (\(summaryJSON)::jsonb || jsonb_build_object('rows', (SELECT coalesce(jsonb_agg(\(rowJSON)::jsonb
          ORDER BY r.priority DESC, r.need_score DESC, r.activity_code), '[]')
          FROM province_study_rows r JOIN activities a ON a.code = r.activity_code WHERE r.study_id = s.id)))
        """

    /// Who reads which studies (alias `s`): approved ones everyone signed in; drafts admins and the
    /// staff (implementers, supervisors) of the study's province.
    static func visible(_ principal: Principal) -> SQL {
        switch principal.role {
        case .admin: return "true"
        case .implementer, .supervisor:
            return "(s.status = 'approved' OR s.province_code = ANY(\(principal.provinceCodes)))"
        default: return "s.status = 'approved'"
        }
    }

    /// Enters and edits a province's studies: admins, and implementers working in it.
    static func canEnter(_ principal: Principal, province: String) -> Bool {
        principal.role == .admin || (principal.role == .implementer && principal.provinceCodes.contains(province))
    }

    /// Approves a province's studies: admins, and the province's supervisor.
    static func canApprove(_ principal: Principal, province: String) -> Bool {
        principal.role == .admin || (principal.role == .supervisor && principal.provinceCodes.contains(province))
    }

    func create(_ body: StudyRequest, by principal: Principal) async throws -> (Int64, String) {
        try principal.require(.admin, .implementer)
        var v = Validator()
        v.check(StudyRules.years.contains(body.studyYear), "study_year", "must be a Solar Hijri year from 1390 to 1500")
        let source = v.text(body.source, "source", max: 500)
        let notes = v.optionalText(body.notes, "notes", max: 4000)
        v.check(body.studiedOn <= SolarHijri.today(), "studied_on", "must not be in the future")
        if !Self.canEnter(principal, province: body.provinceCode) {
            v.add("province_code", "is not a province you work in")
        }
        let checked = StudyRules.check(body.rows ?? [])
        for e in checked.errors { v.add(e.field, e.message) }
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let known = try await connection.query(
                "SELECT 1 FROM provinces WHERE code = \(body.provinceCode)", logger: logger
            ).collect()
            if known.isEmpty { throw APIError.validation(field: "province_code", "is not a known province") }
            try await Self.checkActivities(
                checked.rows.map(\.activityCode), field: { "rows[\($0)].activity_code" }, on: connection, logger: logger)
            // Serialises new versions of one province and year.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext('province-study:' || \(body.provinceCode) || \(body.studyYear)))",
                logger: logger)
            let draft = try await connection.query(
                """
                SELECT id FROM province_studies
                WHERE province_code = \(body.provinceCode) AND study_year = \(body.studyYear) AND status = 'draft'
                """, logger: logger
            ).collect().first.map { try $0.decode(Int64.self) }
            if let draft {
                throw APIError.conflict(
                    code: "draft_exists",
                    "Province \(body.provinceCode) already has a draft study for \(body.studyYear) (id \(draft)); edit or approve it.",
                    extra: ["study_id": String(draft)])
            }
            let id = try await connection.query(
                """
                INSERT INTO province_studies (province_code, study_year, version, source, studied_on, notes, entered_by)
                VALUES (\(body.provinceCode), \(body.studyYear),
                  (SELECT coalesce(max(version), 0) + 1 FROM province_studies
                   WHERE province_code = \(body.provinceCode) AND study_year = \(body.studyYear)),
                  \(source), \(body.studiedOn.description)::date, \(notes), \(principal.accountID))
                RETURNING id
                """, logger: logger
            ).collect()[0].decode(Int64.self)
            try await Self.insert(checked.rows, into: id, on: connection, logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "province_study", entityID: id,
                provinceCode: body.provinceCode, action: "province_study.created", from: nil, to: "draft")
            return (id, try await Self.detail(id, on: connection, logger: logger))
        }
    }

    static func detail(_ id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> String {
        try await connection.query(
            "SELECT \(unescaped: detailJSON)::text FROM province_studies s WHERE s.id = \(id)", logger: logger
        ).collect()[0].decode(String.self)
    }

    /// Refuses codes that are not active activities, naming each one's field.
    static func checkActivities(
        _ codes: [String], field: (Int) -> String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let bad = try await Activities.unknownOrInactive(codes, on: connection, logger: logger)
        guard !bad.isEmpty else { return }
        throw APIError.validation(
            codes.enumerated().filter { bad.contains($0.element) }.map {
                FieldError(field($0.offset), "\"\($0.element)\" is not an active activity (see /v1/activities)")
            })
    }

    static func insert(_ rows: [StudyRow], into id: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO province_study_rows (study_id, activity_code, need_score, advantage_score, capacity_producers,
              capacity_units_month, priority, notes)
            SELECT \(id), u.code, u.need, u.advantage, u.producers, u.units, u.priority, nullif(u.notes, '')
            FROM unnest(\(rows.map(\.activityCode))::text[], \(rows.map(\.needScore))::int[],
              \(rows.map(\.advantageScore))::int[], \(rows.map(\.capacityProducers))::int[],
              \(rows.map(\.capacityUnitsMonth))::bigint[], \(rows.map(\.priority))::bool[],
              \(rows.map { $0.notes ?? "" })::text[]) AS u(code, need, advantage, producers, units, priority, notes)
            """, logger: logger)
    }

    /// Locks a study the caller may edit: 404 when it cannot see it, 403 outside its provinces,
    /// 409 once approved.
    func lockDraft(_ id: Int64, for principal: Principal, on connection: PostgresConnection) async throws -> (
        province: String, rows: Int
    ) {
        let query: SQL = """
            SELECT s.province_code, s.status, (SELECT count(*) FROM province_study_rows r WHERE r.study_id = s.id)::int
            FROM province_studies s WHERE s.id = \(id) AND \(Self.visible(principal)) FOR UPDATE OF s
            """
        guard let row = try await connection.query(query.query, logger: db.logger).collect().first else {
            throw APIError.notFound("Province study \(id)")
        }
        let (province, status, count) = try row.decode((String, String, Int).self)
        guard Self.canEnter(principal, province: province) else {
            throw APIError.forbidden("Only the implementers of \(province) (or an admin) edit its studies.")
        }
        guard status == StudyStatus.draft.rawValue else {
            throw APIError.conflict(
                code: "study_frozen", "An approved study cannot change; create a new version for the year instead.",
                extra: ["current_status": status])
        }
        return (province, count)
    }

    /// Replaces a draft's rows with `rows` (all or nothing).
    func replaceRows(_ id: Int64, _ rows: [StudyRow], by principal: Principal, source: String) async throws -> String {
        try await db.transaction { connection in
            let logger = db.logger
            let (province, before) = try await lockDraft(id, for: principal, on: connection)
            try await connection.query("DELETE FROM province_study_rows WHERE study_id = \(id)", logger: logger)
            try await Self.insert(rows, into: id, on: connection, logger: logger)
            try await connection.query(
                """
                UPDATE province_studies SET updated_at = now(),
                  editors = CASE WHEN \(principal.accountID) = ANY(editors) THEN editors ELSE editors || \(principal.accountID) END
                WHERE id = \(id)
                """, logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "province_study", entityID: id,
                provinceCode: province, action: "province_study.rows_replaced", from: "\(before) rows",
                to: "\(rows.count) rows", reason: source)
            return try await Self.detail(id, on: connection, logger: logger)
        }
    }

    struct JSONCheckReport: Encodable {
        struct Problem: Encodable {
            var field: String
            var message: String
        }
        var dryRun = true
        var valid: Bool
        var rowCount: Int
        var priorityCount: Int
        var errors: [Problem]
    }

    /// JSON rows replace the draft's table; with `dryRun` every problem is reported (200) and
    /// nothing changes, as for the CSV import.
    func putRows(_ id: Int64, _ body: StudyRowsRequest, dryRun: Bool = false, by principal: Principal) async throws
        -> String
    {
        try principal.require(.admin, .implementer)
        if dryRun {
            try await db.transaction { connection in _ = try await lockDraft(id, for: principal, on: connection) }
        }
        var errors = StudyRules.check(body.rows).errors
        let rows = StudyRules.check(body.rows).rows
        let bad = Set(
            try await db.withConnection { [logger = db.logger] connection in
                try await Activities.unknownOrInactive(rows.map(\.activityCode), on: connection, logger: logger)
            })
        for (i, row) in rows.enumerated() where bad.contains(row.activityCode) {
            errors.append(
                FieldError("rows[\(i)].activity_code", "\"\(row.activityCode)\" is not an active activity (see /v1/activities)"))
        }
        if dryRun {
            return try JSONResponse.encode(
                JSONCheckReport(
                    valid: errors.isEmpty, rowCount: rows.count, priorityCount: rows.filter(\.priority).count,
                    errors: errors.map { .init(field: $0.field, message: $0.message) }))
        }
        if !errors.isEmpty { throw APIError.validation(errors) }
        return try await replaceRows(id, rows, by: principal, source: "json")
    }

    struct ImportReport: Encodable {
        var dryRun: Bool
        var valid: Bool
        var rowCount: Int
        var priorityCount: Int
        var errors: [RowError]
        var imported: Bool
    }

    /// CSV import: the file is the study's whole table. A dry run checks every row and changes
    /// nothing; a real run replaces the rows only when every row is valid.
    func importCSV(_ id: Int64, csv: String, dryRun: Bool, by principal: Principal) async throws -> String {
        try principal.require(.admin, .implementer)
        // The study must be one the caller may edit, dry run or not.
        try await db.transaction { connection in _ = try await lockDraft(id, for: principal, on: connection) }
        var (rows, codes, errors) = StudyCSV.parse(csv)
        if !codes.isEmpty {
            let named = codes.map(\.code)
            let bad = Set(
                try await db.withConnection { connection in
                    try await Activities.unknownOrInactive(named, on: connection, logger: db.logger)
                })
            errors += codes.filter { bad.contains($0.code) }.map {
                RowError(
                    row: $0.row, field: "activity_code", message: "\"\($0.code)\" is not an active activity (see /v1/activities)")
            }
            rows.removeAll { bad.contains($0.value.activityCode) }
        }
        errors.sort { ($0.row, $0.field) < ($1.row, $1.field) }
        if errors.isEmpty && rows.isEmpty {
            errors.append(RowError(row: 2, field: "row", message: "the CSV has a header but no rows"))
        }
        let report = ImportReport(
            dryRun: dryRun, valid: errors.isEmpty, rowCount: rows.count, priorityCount: rows.filter(\.value.priority).count,
            errors: errors, imported: false)
        if dryRun { return try JSONResponse.encode(report) }
        guard errors.isEmpty else {
            throw APIError(
                .unprocessableContent, code: "csv_rows_invalid", title: "The CSV has invalid rows",
                detail: "\(Set(errors.map(\.row)).count) row(s) are invalid; nothing was imported. "
                    + "Send it with dry_run=true for the full report.",
                errors: errors.map { FieldError("rows[\($0.row)].\($0.field)", $0.message) })
        }
        return try await replaceRows(id, rows.map(\.value), by: principal, source: "csv")
    }

    func approve(_ id: Int64, reason: String?, by principal: Principal) async throws -> String {
        try principal.require(.admin, .supervisor)
        var v = Validator()
        let reason = v.optionalText(reason, "reason", max: 1000)
        try v.throwIfInvalid()
        return try await db.transaction { connection in
            let logger = db.logger
            let query: SQL = """
                SELECT s.province_code, s.status, s.entered_by = \(principal.accountID) OR \(principal.accountID) = ANY(s.editors),
                  (SELECT count(*) FROM province_study_rows r WHERE r.study_id = s.id)::int
                FROM province_studies s WHERE s.id = \(id) AND \(Self.visible(principal)) FOR UPDATE OF s
                """
            guard let row = try await connection.query(query.query, logger: logger).collect().first else {
                throw APIError.notFound("Province study \(id)")
            }
            let (province, status, ownWork, count) = try row.decode((String, String, Bool, Int).self)
            guard Self.canApprove(principal, province: province) else {
                throw APIError.forbidden("Only the supervisor of \(province) (or an admin) approves its studies.")
            }
            guard status == StudyStatus.draft.rawValue else {
                throw APIError.invalidTransition(entity: "province study", from: status, to: "approved")
            }
            guard !ownWork else {
                throw APIError.conflict(
                    code: "four_eyes", "A study is approved by someone other than the accounts that entered or edited it.")
            }
            guard count > 0 else {
                throw APIError.conflict(code: "study_empty", "A study without rows cannot be approved.")
            }
            try await connection.query(
                """
                UPDATE province_studies SET status = 'approved', approved_by = \(principal.accountID), approved_at = now(),
                  updated_at = now()
                WHERE id = \(id)
                """, logger: logger)
            try await Audit.record(
                on: connection, logger: logger, actor: principal, entityType: "province_study", entityID: id,
                provinceCode: province, action: "province_study.approved", from: "draft", to: "approved", reason: reason)
            return try await Self.detail(id, on: connection, logger: logger)
        }
    }

    func list(request: Request, principal: Principal) async throws -> String {
        let page = try Page(request: request)
        let q = request.uri.queryParameters
        let province = q.get("province_code").map { String($0) }
        let year = try request.intQuery("year")
        let status = try StudyStatus.query(q.get("status"), field: "status")
        return try await page.read(
            "SELECT s.id, \(unescaped: Self.summaryJSON)::text FROM province_studies s", key: "s.id",
            where: [
                Self.visible(principal), province.map { "s.province_code = \($0)" }, year.map { "s.study_year = \($0)" },
                status.map { "s.status = \($0.rawValue)" },
            ], from: db)
    }

    func get(_ id: Int64, principal: Principal) async throws -> String {
        let query: SQL = """
            SELECT \(unescaped: Self.detailJSON)::text FROM province_studies s WHERE s.id = \(id) AND \(Self.visible(principal))
            """
        return try await db.json(query.query, notFound: "Province study \(id)")
    }

    /// The priority activities of the province's study in force (its latest approved one).
    func priorities(province: String) async throws -> String {
        let rows = try await db.rows(
            """
            SELECT json_build_object('province_code', v.code,
              'study', (SELECT json_build_object('id', s.id, 'study_year', s.study_year, 'version', s.version,
                  'source', s.source, 'studied_on', s.studied_on, 'approved_at', api_time(s.approved_at))
                FROM province_current_studies cs JOIN province_studies s ON s.id = cs.id WHERE cs.province_code = v.code),
              'items', coalesce((SELECT json_agg(\(unescaped: Self.rowJSON)
                  ORDER BY r.need_score DESC, r.advantage_score DESC, r.activity_code)
                FROM province_current_studies cs JOIN province_study_rows r ON r.study_id = cs.id AND r.priority
                JOIN activities a ON a.code = r.activity_code WHERE cs.province_code = v.code), '[]'))::text
            FROM provinces v WHERE v.code = \(province)
            """)
        guard let row = rows.first else { throw APIError.notFound("Province \(province)") }
        return try row.decode(String.self)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.create("/v1/province-studies", for: .admin, .implementer, decoding: StudyRequest.self) {
            try await create($0, by: $1)
        }
        routes.reads(
            "/v1/province-studies", what: "Province study", list: { try await list(request: $0, principal: $1) },
            one: { try await get($0, principal: $1) })
        routes.put("/v1/province-studies/{id}/rows") { request, context in
            let principal = try context.require(.admin, .implementer)
            let id = try context.id(what: "Province study")
            let body = try await JSONBody.decode(StudyRowsRequest.self, from: request, context: context)
            let dryRun = try CSV.dryRun(request)
            return JSONResponse.raw(try await putRows(id, body, dryRun: dryRun, by: principal))
        }
        routes.post("/v1/province-studies/{id}/rows/import") { request, context in
            let principal = try context.require(.admin, .implementer)
            let id = try context.id(what: "Province study")
            let dryRun = try CSV.dryRun(request)
            let csv = try await CSV.upload(request, context: context)
            return JSONResponse.raw(try await importCSV(id, csv: csv, dryRun: dryRun, by: principal))
        }
        routes.post("/v1/province-studies/{id}/transitions") { request, context in
            let principal = try context.require(.admin, .supervisor)
            let id = try context.id(what: "Province study")
            let body = try await JSONBody.decode(StatusChange<StudyStatus>.self, from: request, context: context)
            guard body.to == .approved else { throw APIError.validation(field: "to", "a study can only move to approved") }
            return JSONResponse.raw(try await approve(id, reason: body.reason, by: principal))
        }
        routes.get("/v1/provinces/{code}/priorities") { _, context in
            _ = try context.requirePrincipal()
            return JSONResponse.raw(try await priorities(province: context.parameters.get("code") ?? ""))
        }
    }
}
