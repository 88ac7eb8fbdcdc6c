import BazaarcheCore
import Foundation

/// A bad cell or row of an import: `row` is the CSV record number (the header is row 1).
struct RowError: Sendable, Equatable, Encodable {
    var row: Int
    var field: String
    var message: String
}

/// Products from a spreadsheet (docs/spreadsheets.md). Each row goes through the same
/// `Products.insert` as `POST /v1/products`, inside a savepoint, so a bad row is reported with its
/// number and field and the others are still checked. A dry run reports every bad row and rolls
/// everything back; a real run is all-or-nothing: one bad row and nothing is written (422
/// `csv_rows_invalid` listing every row's errors).
public struct ProductImport: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// Rows per file: a province office's whole catalogue fits; the import runs in one transaction.
    static let maxRows = 2000

    enum Column: String, CaseIterable {
        case titleFa = "title_fa"
        case titleEn = "title_en"
        case description
        case categoryCode = "category_code"
        case brandId = "brand_id"
        case unit
        case priceRials = "price_rials"
        case stock
        case monthlyCapacity = "monthly_capacity"
        case minOrderQty = "min_order_qty"
        case hsCode = "hs_code"
        case orderIncrement = "order_increment"
        case leadTimeDays = "lead_time_days"
        case suggestedRetailPriceRials = "suggested_retail_price_rials"
        case priceTiers = "price_tiers"

        static let required: [Column] = [.titleFa, .categoryCode, .unit, .priceRials, .stock]

        /// Persian headings a spreadsheet may use instead of the API names.
        var persian: [String] {
            switch self {
            case .titleFa: ["عنوان فارسی", "عنوان"]
            case .titleEn: ["عنوان لاتین", "عنوان انگلیسی"]
            case .description: ["توضیحات"]
            case .categoryCode: ["کد دسته", "دسته"]
            case .brandId: ["شناسه برند"]
            case .unit: ["واحد"]
            case .priceRials: ["قیمت (ریال)", "قیمت ریال", "قیمت"]
            case .stock: ["موجودی"]
            case .monthlyCapacity: ["ظرفیت ماهانه"]
            case .minOrderQty: ["حداقل سفارش"]
            case .hsCode: ["کد تعرفه", "کد hs"]
            case .orderIncrement: ["مضرب سفارش"]
            case .leadTimeDays: ["زمان تحویل (روز)", "زمان تحویل"]
            case .suggestedRetailPriceRials: ["قیمت پیشنهادی خرده فروشی (ریال)", "قیمت پیشنهادی خرده فروشی"]
            case .priceTiers: ["پله های قیمت", "قیمت پلکانی"]
            }
        }

        /// Header text compared loosely: case, Arabic ي/ك, zero-width non-joiners and spacing.
        static func key(_ text: String) -> String {
            var out = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
                .replacingOccurrences(of: "\u{064A}", with: "\u{06CC}").replacingOccurrences(of: "\u{0643}", with: "\u{06A9}")
                .replacingOccurrences(of: "\u{200C}", with: " ")
            while out.contains("  ") { out = out.replacingOccurrences(of: "  ", with: " ") }
            return out
        }

        static let byKey: [String: Column] = {
            var map: [String: Column] = [:]
            for column in allCases {
                map[column.rawValue] = column
                for name in column.persian { map[key(name)] = column }
            }
            return map
        }()
    }

    static let unitNames = ProductUnit.allCases.map(\.rawValue).joined(separator: ", ")
    static let columnNames = Column.allCases.map(\.rawValue).joined(separator: ", ")

    /// Persian names of units, besides the API's own (piece, kg, …).
    static let persianUnits: [String: ProductUnit] = [
        "عدد": .piece, "کیلوگرم": .kg, "گرم": .g, "لیتر": .liter, "میلی لیتر": .ml, "جعبه": .box, "بسته": .pack,
        "شیشه": .jar, "بطری": .bottle, "متر": .meter, "متر مربع": .squareMeter, "دست": .set, "دوجین": .dozen,
        "جفت": .pair,
    ]

    /// One row read from its cells: the request (placeholders where a cell was bad) and the cells' errors.
    static func request(_ cells: [Column: String], row: Int) -> (ProductRequest, [RowError]) {
        var errors: [RowError] = []
        // A control character (a NUL above all, which PostgreSQL text cannot hold) is the cell's
        // error, found before any lookup; the cell then reads as empty. Tabs and line breaks stay.
        var cells = cells
        for column in Column.allCases {
            guard let value = cells[column], value.unicodeScalars.contains(where: Self.isControl) else { continue }
            errors.append(RowError(row: row, field: column.rawValue, message: "must not contain control characters"))
            cells[column] = nil
        }
        let unreadable = Set(errors.map(\.field))
        func text(_ column: Column) -> String? {
            guard !unreadable.contains(column.rawValue) else { return nil }
            guard let value = cells[column]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                if Column.required.contains(column) {
                    errors.append(RowError(row: row, field: column.rawValue, message: "is required"))
                }
                return nil
            }
            return value
        }
        func number(_ column: Column) -> Int64? {
            guard let value = text(column) else { return nil }
            guard let number = CSV.integer(value) else {
                errors.append(RowError(row: row, field: column.rawValue, message: "must be a whole number (got \"\(value)\")"))
                return nil
            }
            return number
        }
        func int(_ column: Column) -> Int? { number(column).flatMap { Int(exactly: $0) } }
        var unit = ProductUnit.piece
        if let value = text(.unit) {
            if let known = ProductUnit(rawValue: value.lowercased()) ?? persianUnits[Column.key(value)] {
                unit = known
            } else {
                errors.append(RowError(row: row, field: "unit", message: "must be one of: \(unitNames)"))
            }
        }
        var tiers: [PriceTier]? = nil
        if let value = text(.priceTiers) {
            tiers = Self.tiers(value)
            if tiers == nil {
                errors.append(
                    RowError(
                        row: row, field: "price_tiers",
                        message: "must be min_quantity:unit_price_rials pairs separated by ; (e.g. 10:95000;50:90000)"))
            }
        }
        let body = ProductRequest(
            titleFa: text(.titleFa) ?? "", titleEn: text(.titleEn), description: text(.description),
            categoryCode: text(.categoryCode) ?? "", brandId: number(.brandId), unit: unit,
            priceRials: number(.priceRials) ?? 1, stock: int(.stock) ?? 0, monthlyCapacity: int(.monthlyCapacity),
            minOrderQty: int(.minOrderQty), hsCode: text(.hsCode).map(Digits.ascii), priceTiers: tiers,
            orderIncrement: int(.orderIncrement), leadTimeDays: int(.leadTimeDays),
            suggestedRetailPriceRials: number(.suggestedRetailPriceRials))
        return (body, errors)
    }

    /// `10:95000;50:90000` (or with ؛, Persian digits, thousands separators): nil when malformed.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control && !["\t", "\n", "\r"].contains(scalar)
    }

    static func tiers(_ cell: String) -> [PriceTier]? {
        var out: [PriceTier] = []
        for part in cell.split(whereSeparator: { $0 == ";" || $0 == "\u{061B}" }) {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let pair = trimmed.split(separator: ":", omittingEmptySubsequences: false)
            guard pair.count == 2, let quantity = CSV.integer(String(pair[0])).flatMap({ Int(exactly: $0) }),
                let price = CSV.integer(String(pair[1]))
            else { return nil }
            out.append(PriceTier(minQuantity: quantity, unitPriceRials: price))
        }
        return out.isEmpty ? nil : out
    }

    struct Report: Encodable {
        var dryRun: Bool
        var valid: Bool
        /// Rows with a product (blank rows are skipped).
        var rowCount: Int
        var errors: [RowError]
        /// The drafts created, in row order (empty on a dry run).
        var productIds: [Int64]
    }

    private struct DryRun: Error {
        let report: Report
    }

    /// Reads the header: which column each cell is, or the header's errors.
    static func header(_ cells: [String]) -> ([Column?], [RowError]) {
        var errors: [RowError] = []
        var columns: [Column?] = []
        for name in cells {
            let key = Column.key(name)
            if key.isEmpty {
                columns.append(nil)
                continue
            }
            guard let column = Column.byKey[key] else {
                errors.append(
                    RowError(row: 1, field: name, message: "is not a column of a product import (\(columnNames))"))
                columns.append(nil)
                continue
            }
            if columns.contains(column) {
                errors.append(RowError(row: 1, field: column.rawValue, message: "appears twice in the header"))
            }
            columns.append(column)
        }
        for missing in Column.required where !columns.contains(missing) {
            errors.append(RowError(row: 1, field: missing.rawValue, message: "column is missing from the header"))
        }
        return (columns, errors)
    }

    /// Checks the file and, unless it is a dry run or a row is bad, creates its products as
    /// drafts of `producerID`. Returns the report (JSON) and whether anything was created.
    func run(producer producerID: Int64, csv: String, dryRun: Bool, by principal: Principal) async throws -> (String, Bool) {
        try principal.require(.producer, .implementer, .admin)
        let logger = db.logger
        // Who may import for whom is settled before the file is read: 404 for a producer out of reach.
        let province = try await db.withConnection { connection in
            try await Self.reachable(producerID, by: principal, on: connection, logger: logger)
        }
        let parsed = CSV.parse(csv)
        // Errors of the file as a whole: a dry run reports them, a real run refuses with them.
        func refuse(_ errors: [RowError]) throws -> (String, Bool) {
            guard dryRun else { throw Self.invalid(errors) }
            let report = Report(dryRun: true, valid: false, rowCount: 0, errors: errors, productIds: [])
            return (try JSONResponse.encode(report), false)
        }
        guard let first = parsed.records.first, !first.isBlank else {
            return try refuse([RowError(row: 1, field: "header", message: "the CSV is empty; the first row names the columns")])
        }
        let (columns, headerErrors) = Self.header(first.cells)
        guard headerErrors.isEmpty else { return try refuse(headerErrors) }
        var records = Array(parsed.records.dropFirst())
        var fileErrors: [RowError] = []
        if let row = parsed.unclosedQuoteRow {
            // The open quote swallowed the rest of the file: that record is not a product.
            records.removeAll { $0.row >= row }
            fileErrors.append(
                RowError(row: row, field: "csv", message: "a quoted cell is not closed; the file was not read past this row"))
        }
        if let over = records.first(where: { $0.row > Self.maxRows + 1 }) {
            records.removeAll { $0.row > Self.maxRows + 1 }
            fileErrors.append(RowError(row: over.row, field: "csv", message: "a file has at most \(Self.maxRows) products"))
        }
        records.removeAll(where: \.isBlank)
        if records.isEmpty && fileErrors.isEmpty {
            return try refuse([RowError(row: 2, field: "row", message: "the CSV has a header but no rows")])
        }
        let problems = fileErrors
        let rows = records
        let outcome: Report
        do {
            outcome = try await db.transaction { connection in
                var errors = problems
                var created: [Int64] = []
                for record in rows {
                    let rowErrors = try await Self.importRow(
                        record, columns: columns, producer: producerID, by: principal, on: connection, logger: logger,
                        created: &created)
                    errors += rowErrors
                }
                // By row; within a row, in the order found.
                errors = errors.enumerated().sorted { ($0.element.row, $0.offset) < ($1.element.row, $1.offset) }.map(\.element)
                let report = Report(
                    dryRun: dryRun, valid: errors.isEmpty, rowCount: rows.count, errors: errors,
                    productIds: dryRun ? [] : created)
                if dryRun { throw DryRun(report: report) }
                guard errors.isEmpty else { throw Self.invalid(errors) }
                try await Audit.record(
                    on: connection, logger: logger, actor: principal, entityType: "producer", entityID: producerID,
                    provinceCode: province, action: "products.imported", from: nil, to: nil,
                    reason: "\(created.count) draft products from a CSV file")
                return report
            }
        } catch let dry as DryRun {
            return (try JSONResponse.encode(dry.report), false)
        }
        return (try JSONResponse.encode(outcome), true)
    }

    /// The producer's province when `principal` may import for it: the producer itself, an
    /// implementer of its province, an admin. 404 otherwise (as `Products.insert` answers); 409
    /// for a rejected applicant.
    static func reachable(_ producerID: Int64, by principal: Principal, on connection: PostgresConnection, logger: Logger)
        async throws -> String
    {
        guard
            let found = try await connection.query(
                "SELECT status, province_code FROM producers WHERE id = \(producerID)", logger: logger
            ).collect().first.map({ try $0.decode((String, String).self) })
        else { throw APIError.notFound("Producer \(producerID)") }
        let (status, province) = found
        let reaches =
            switch principal.role {
            case .admin: true
            case .producer: principal.producerID == producerID
            case .implementer: principal.provinceCodes.contains(province)
            default: false
            }
        guard reaches else { throw APIError.notFound("Producer \(producerID)") }
        if status == "rejected" {
            throw APIError.conflict(
                code: "producer_not_eligible", "A rejected applicant cannot list products.",
                extra: ["current_status": status])
        }
        return province
    }

    /// One row in its own savepoint: its errors (none when the product was created).
    static func importRow(
        _ record: CSV.Record, columns: [Column?], producer: Int64, by principal: Principal,
        on connection: PostgresConnection, logger: Logger, created: inout [Int64]
    ) async throws -> [RowError] {
        let row = record.row
        if record.cells.count > columns.count {
            return [RowError(row: row, field: "row", message: "has \(record.cells.count) cells; the header has \(columns.count)")]
        }
        var cells: [Column: String] = [:]
        for (i, column) in columns.enumerated() where i < record.cells.count {
            if let column { cells[column] = record.cells[i] }
        }
        let (body, cellErrors) = request(cells, row: row)
        func rowErrors(_ error: APIError) -> [RowError] {
            error.errors.isEmpty
                ? [RowError(row: row, field: "row", message: error.detail ?? error.title)]
                : error.errors.map { RowError(row: row, field: $0.field, message: $0.message) }
        }
        /// The category, brand and HS code checked even when other cells are bad, so a dry run shows all.
        func referenceErrors(skipping bad: Set<String>) async throws -> [RowError] {
            do {
                try await Products.checkReferences(
                    category: bad.contains("category_code") || body.categoryCode.isEmpty ? nil : body.categoryCode,
                    brand: bad.contains("brand_id") ? nil : body.brandId,
                    hsCode: bad.contains("hs_code") ? nil : body.hsCode, producerID: producer, on: connection,
                    logger: logger)
                return []
            } catch let error as APIError {
                return rowErrors(error).filter { !bad.contains($0.field) }
            }
        }
        if !cellErrors.isEmpty {
            return cellErrors + (try await referenceErrors(skipping: Set(cellErrors.map(\.field))))
        }
        try await connection.query("SAVEPOINT import_row", logger: logger)
        do {
            let made = try await Products.insert(body, producer: producer, by: principal, on: connection, logger: logger)
            try await connection.query("RELEASE SAVEPOINT import_row", logger: logger)
            created.append(made.id)
            return []
        } catch {
            try await connection.query("ROLLBACK TO SAVEPOINT import_row", logger: logger)
            let mapped = (error as? PSQLError).map(DatabaseErrors.map) ?? error
            guard let problem = mapped as? APIError else { throw mapped }
            var errors = rowErrors(problem)
            // Field validation stops before the references are looked up: look them up too.
            let referenceFields: Set<String> = ["category_code", "brand_id", "hs_code"]
            if problem.status == .unprocessableContent && !errors.contains(where: { referenceFields.contains($0.field) }) {
                errors += try await referenceErrors(skipping: Set(errors.map(\.field)))
            }
            return errors
        }
    }

    static func invalid(_ errors: [RowError]) -> APIError {
        APIError(
            .unprocessableContent, code: "csv_rows_invalid", title: "The CSV has invalid rows",
            detail: "\(Set(errors.map(\.row)).count) row(s) are invalid; nothing was imported. "
                + "Send it with dry_run=true for the full report.",
            errors: errors.map { FieldError("rows[\($0.row)].\($0.field)", $0.message) })
    }

    public func addRoutes(to routes: inout Routes) {
        routes.post("/v1/producers/{id}/products/import") { request, context in
            let principal = try context.require(.producer, .implementer, .admin)
            let id = try context.id(what: "Producer")
            let dryRun = try CSV.dryRun(request)
            let csv = try await CSV.upload(request, context: context)
            let (json, created) = try await run(producer: id, csv: csv, dryRun: dryRun, by: principal)
            return JSONResponse.raw(json, status: created ? .created : .ok)
        }
    }
}
