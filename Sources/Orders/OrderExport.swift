import BazaarcheCore
import Foundation

/// `GET /v1/orders` as a spreadsheet (`format=csv` or `Accept: text/csv`): the same filters and
/// the same visibility as the JSON list, every matching order at once, one row per order line.
extension Orders {
    /// Orders per file. More is a 422 asking for a narrower period, never a silently cut file.
    static let exportCap = 10_000

    /// The columns, in order; Persian headings for `Accept-Language: fa`.
    static let exportColumns: [(key: String, fa: String)] = [
        ("order_id", "شناسه سفارش"), ("status", "وضعیت"), ("created_at", "زمان ثبت"),
        ("created_on_jalali", "تاریخ ثبت (خورشیدی)"), ("partner_id", "شناسه شرکت خریدار"),
        ("producer_id", "شناسه تولیدکننده"), ("producer_province_code", "استان تولیدکننده"), ("line_no", "ردیف سفارش"),
        ("product_id", "شناسه محصول"), ("product_title_fa", "عنوان محصول"), ("quantity", "مقدار"), ("unit", "واحد"),
        ("unit_price_rials", "قیمت واحد (ریال)"), ("line_total_rials", "جمع ردیف (ریال)"),
        ("order_total_rials", "جمع سفارش (ریال)"), ("delivery_province_code", "استان تحویل"),
        ("delivery_city", "شهر تحویل"), ("delivery_address", "نشانی تحویل"), ("delivery_recipient", "گیرنده"),
        ("tracking_code", "کد رهگیری"),
    ]

    func exportCSV(request: Request, principal: Principal) async throws -> Response {
        try principal.require(.admin, .supervisor, .producer, .partner)
        let picked: SQL = """
            SELECT o.id FROM orders o WHERE \(try Self.filters(request, principal: principal))
            ORDER BY o.id LIMIT \(Self.exportCap + 1)
            """
        let ids = try await db.rows(picked.query).map { try $0.decode(Int64.self) }
        guard ids.count <= Self.exportCap else {
            throw APIError(
                .unprocessableContent, code: "export_too_large", title: "Too many rows for one file",
                detail: "More than \(Self.exportCap) orders match; narrow created_from and created_to and export in parts.")
        }
        let rows = try await db.rows(
            """
            SELECT o.id, o.status, api_time(o.created_at), o.created_at, o.partner_id, o.producer_id, o.province_code,
              l.line_no::int, l.product_id, l.title_fa, l.quantity::bigint, l.unit, l.unit_price_rials, l.line_total_rials,
              o.total_rials, o.delivery_province_code, o.delivery_city, o.delivery_address, o.delivery_recipient,
              o.tracking_code
            FROM orders o JOIN order_lines l ON l.order_id = o.id
            WHERE o.id = ANY(\(ids))
            ORDER BY o.id, l.line_no
            """)
        var lines: [[String]] = []
        lines.reserveCapacity(rows.count)
        for row in rows {
            let columns = row.makeRandomAccess()
            let id = try columns[0].decode(Int64.self)
            let status = try columns[1].decode(String.self)
            let createdAt = try columns[2].decode(String.self)
            let created = try columns[3].decode(Date.self)
            let partner = try columns[4].decode(Int64?.self)
            let producer = try columns[5].decode(Int64.self)
            let province = try columns[6].decode(String.self)
            let lineNo = try columns[7].decode(Int.self)
            let product = try columns[8].decode(Int64.self)
            let title = try columns[9].decode(String.self)
            let quantity = try columns[10].decode(Int64.self)
            let unit = try columns[11].decode(String.self)
            let unitPrice = try columns[12].decode(Int64.self)
            let lineTotal = try columns[13].decode(Int64.self)
            let total = try columns[14].decode(Int64.self)
            let deliveryProvince = try columns[15].decode(String.self)
            let city = try columns[16].decode(String.self)
            let address = try columns[17].decode(String.self)
            let recipient = try columns[18].decode(String.self)
            let tracking = try columns[19].decode(String?.self)
            let day = SolarHijri.tehranDate(of: created)
            let jalali = SolarHijri.fromGregorian(year: day.year, month: day.month, day: day.day)
            lines.append([
                String(id), status, createdAt, String(format: "%04d-%02d-%02d", jalali.year, jalali.month, jalali.day),
                partner.map(String.init) ?? "", String(producer), province, String(lineNo), String(product), title,
                String(quantity), unit, String(unitPrice), String(lineTotal), String(total), deliveryProvince, city, address,
                recipient, tracking ?? "",
            ])
        }
        let persian = CSV.persian(request)
        let header = Self.exportColumns.map { persian ? $0.fa : $0.key }
        return CSV.response(
            CSV.document(header: header, rows: lines), filename: "orders-\(SolarHijri.today()).csv",
            language: persian ? "fa" : "en")
    }
}
