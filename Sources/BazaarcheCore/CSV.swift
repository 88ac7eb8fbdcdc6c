import Foundation

/// Spreadsheets in and out: RFC 4180 CSV as Excel and LibreOffice read and write it.
///
/// Reading: a leading UTF-8 byte order mark is dropped, cells may be quoted ("" is a quote inside
/// quotes), records end with CRLF, LF or CR. Blank lines are kept as empty records so a record's
/// number is the row number the spreadsheet shows (the header is row 1).
///
/// Writing: UTF-8 with a byte order mark (without it Excel reads Persian as mojibake), CRLF line
/// ends, a cell quoted only when it holds a comma, quote or line break. A text cell that a
/// spreadsheet would run as a formula (it starts with = + - @, tab or CR) gets a leading
/// apostrophe, as OWASP advises; a cell that is only a number ("-12", "+3.5") is left alone so
/// negative figures stay numbers.
public enum CSV {
    /// One record and its row number (1-based; the header is row 1).
    public struct Record: Sendable, Equatable {
        public var row: Int
        public var cells: [String]
        public init(row: Int, cells: [String]) {
            self.row = row
            self.cells = cells
        }
        /// True when every cell is empty or whitespace (a blank spreadsheet row).
        public var isBlank: Bool { cells.allSatisfy { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty } }
    }

    public struct Parsed: Sendable, Equatable {
        public var records: [Record]
        /// The row where a quoted cell opened and never closed (it swallowed the rest of the file).
        public var unclosedQuoteRow: Int?
    }

    public static let byteOrderMark = "\u{FEFF}"

    public static func parse(_ text: String) -> Parsed {
        var records: [Record] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var i = 0
        func end() {
            record.append(field)
            records.append(Record(row: records.count + 1, cells: record))
            record = []
            field = ""
            wasQuoted = false
        }
        while i < scalars.count {
            let c = scalars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < scalars.count && scalars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty && !wasQuoted {
                quoted = true
                wasQuoted = true
            } else if c == "," {
                record.append(field)
                field = ""
                wasQuoted = false
            } else if c == "\n" || c == "\r" {
                if c == "\r" && i + 1 < scalars.count && scalars[i + 1] == "\n" { i += 1 }
                end()
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if !field.isEmpty || !record.isEmpty || wasQuoted { end() }
        return Parsed(records: records, unclosedQuoteRow: quoted ? records.count : nil)
    }

    /// One cell as written: formula-like text neutralised, then quoted when needed.
    public static func field(_ value: String) -> String {
        var value = value
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), !isNumber(value) {
            value = "'" + value
        }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            return value
        }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\r\n" }

    /// A whole file: byte order mark, the header, then the rows.
    public static func document(header: [String], rows: [[String]]) -> String {
        var out = byteOrderMark + line(header)
        for row in rows { out += line(row) }
        return out
    }

    /// A download: `text/csv; charset=utf-8`, saved under `filename`.
    public static func response(_ document: String, filename: String, language: String? = nil) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/csv; charset=utf-8",
            .contentDisposition: "attachment; filename=\"\(filename)\"",
        ]
        if let language { headers[.contentLanguage] = language }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    private struct Upload: Decodable { var csv: String }

    /// The file of an import: the body itself (`Content-Type: text/csv`, UTF-8, at most the
    /// configured body size) or a JSON object `{"csv": "..."}`.
    public static func upload(_ request: Request, context: AppRequestContext) async throws -> String {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("text/csv") else {
            return try await JSONBody.decode(Upload.self, from: request, context: context).csv
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(
                .contentTooLarge, code: "body_too_large", title: "Request body too large",
                detail: "The body exceeds \(context.maxUploadSize) bytes.")
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw APIError.validation(field: "csv", "must be UTF-8 text")
        }
        return text
    }

    /// `?dry_run=true|false` (absent: false).
    public static func dryRun(_ request: Request) throws -> Bool {
        guard let text = request.uri.queryParameters.get("dry_run") else { return false }
        guard let value = Bool(String(text)) else { throw APIError.validation(field: "dry_run", "must be true or false") }
        return value
    }

    /// Whether a list asks for CSV: `format=csv`, or `Accept: text/csv` without `application/json`.
    /// An unknown `format` is a 422 on `format`.
    public static func requested(_ request: Request) throws -> Bool {
        let format = request.uri.queryParameters.get("format").map { String($0) }
        guard format == nil || format == "json" || format == "csv" else {
            throw APIError.validation(field: "format", "must be one of: json, csv")
        }
        let accept = request.headers[.accept]?.lowercased() ?? ""
        return format == "csv" || (format == nil && accept.contains("text/csv") && !accept.contains("application/json"))
    }

    /// Persian column headings when the first language asked for is Persian.
    public static func persian(_ request: Request) -> Bool {
        let language = request.headers[.acceptLanguage]?.lowercased() ?? ""
        return language.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).hasPrefix("fa") ?? false
    }

    /// A whole number from a cell: Persian and Arabic-Indic digits, spaces and thousands separators
    /// (`,` `٬`, no-break spaces) accepted; a leading minus kept. Nil when anything else is there.
    public static func integer(_ cell: String) -> Int64? {
        var text = Digits.ascii(cell).filter { !" ,\u{066C}\u{00A0}\u{202F}".contains($0) }
        var negative = false
        if text.first == "-" || text.first == "\u{2212}" {
            negative = true
            text.removeFirst()
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(text) else { return nil }
        return negative ? -value : value
    }

    /// "-12", "+3.5", "7": a number a spreadsheet may read as one (never neutralised).
    static func isNumber(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }
}
