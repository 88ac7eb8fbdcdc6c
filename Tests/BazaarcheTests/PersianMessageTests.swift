import Foundation
import Testing

@testable import BazaarcheCore

/// Problem documents in Persian with `Accept-Language: fa`, end to end: Persian title, detail and
/// field messages; English by default; the `code` and every machine-readable member unchanged.
@Suite struct PersianMessageTests {
    static let fa: HTTPFields = [.acceptLanguage: "fa"]

    /// Persian text as we write it: Persian ی and ک (not Arabic ي and ك), digits left ASCII.
    static func isProperPersian(_ text: String) -> Bool {
        !text.unicodeScalars.contains {
            ["\u{064A}", "\u{0643}"].contains($0) || (0x06F0...0x06F9).contains($0.value) || (0x0660...0x0669).contains($0.value)
        }
    }
    static func hasPersianLetters(_ text: String) -> Bool {
        text.unicodeScalars.contains { (0x0600...0x06FF).contains($0.value) }
    }
    static func hasLatinWords(_ text: String, except allowed: [String]) -> Bool {
        var rest = text
        for word in allowed { rest = rest.replacingOccurrences(of: word, with: "") }
        return rest.range(of: "[A-Za-z]{3,}", options: .regularExpression) != nil
    }

    @Test(arguments: [
        ("fa", Language.fa), ("fa-IR", .fa), ("FA-ir", .fa), ("en;q=0.5, fa", .fa), ("en-US,en;q=0.9,fa;q=0.8", .en),
        ("fa;q=0.3, en;q=0.9", .en), ("de, fa;q=0.5", .fa), ("*", .en), ("", .en), ("fa;q=0", .en), ("de", .en),
        ("fa-IR,fa;q=0.9", .fa), ("en, fa", .en),
    ])
    func negotiatesTheLanguage(_ header: String, _ expected: Language) {
        #expect(Language.negotiate(header) == expected, "\(header)")
    }

    @Test func fieldErrorsAreInPersianWithTheSameCodesAndFields() async throws {
        try await withApp { api in
            let body = """
                {"national_id":"0013542418","first_name":"مریم","last_name":"کریمی","mobile":"0912",
                 "province_code":"IR-00","city":"اراک","skills":["گلیم"]}
                """
            let english = try await api.call(.post, "/v1/producer-applications", json: body)
            let persian = try await api.call(
                .post, "/v1/producer-applications", json: body, headers: [.acceptLanguage: "en;q=0.5, fa"])
            #expect(english.status == .unprocessableContent && persian.status == .unprocessableContent)
            #expect(english.code == "validation_failed" && persian.code == "validation_failed")
            #expect(english.json["type"] as? String == persian.json["type"] as? String)
            #expect(english.fields.sorted() == persian.fields.sorted())
            #expect(persian.fields.contains("national_id") && persian.fields.contains("mobile"))
            #expect(english.string("title") == "The request has invalid fields")
            #expect(persian.string("title") == "برخی فیلدهای درخواست نامعتبرند")
            let messages = Dictionary(
                uniqueKeysWithValues: (persian.json["errors"] as? [[String: Any]] ?? []).map {
                    ($0["field"] as? String ?? "", $0["message"] as? String ?? "")
                })
            #expect(messages["national_id"] == "باید کد ملی 10 رقمی معتبر باشد (رقم کنترل)")
            #expect(messages["mobile"] == "باید شمارهٔ همراهی مانند 09121234567 باشد")
            let detail = try #require(persian.string("detail"))
            #expect(detail.contains("national_id: باید کد ملی 10 رقمی معتبر باشد"))
            #expect(Self.isProperPersian(detail) && Self.hasPersianLetters(detail))
            #expect(persian.json["detail_en"] == nil, "every message was translated")
            #expect(english.string("detail")?.contains("national_id: must be a valid 10-digit national ID") == true)
            #expect(english.headers[.contentLanguage] == "en")
            #expect(persian.headers[.contentLanguage] == "fa")
            for reply in [english, persian] {
                #expect(reply.headers[values: .vary].contains { $0.contains("Accept-Language") })
            }
            // Nothing was stored by either attempt.
            #expect(try await api.db.rows("SELECT 1 FROM producers WHERE national_id = '0013542418'").isEmpty)
        }
    }

    @Test func notFoundUnauthenticatedAndInvalidTransitionInPersian() async throws {
        try await withApp { api in
            let admin = try await api.token(.admin)
            // 404
            let missing = try await api.call(.get, "/v1/producers/987654", token: admin, headers: Self.fa)
            let missingEn = try await api.call(.get, "/v1/producers/987654", token: admin)
            #expect(missing.status == .notFound && missing.code == "not_found" && missingEn.code == "not_found")
            #expect(missing.string("title") == "یافت نشد")
            #expect(missing.string("detail") == "تولیدکنندهٔ 987654 یافت نشد.")
            #expect(missingEn.string("detail") == "Producer 987654 was not found.")
            #expect(missing.string("instance") == "/v1/producers/987654")
            // An unknown route too.
            let route = try await api.call(.get, "/v1/no-such-thing", headers: Self.fa)
            #expect(route.code == "route_not_found")
            #expect(route.string("detail") == "هیچ مسیری با GET /v1/no-such-thing جور نیست.")

            // 401, with its WWW-Authenticate unchanged.
            let anonymous = try await api.call(.get, "/v1/me", headers: [.acceptLanguage: "fa-IR"])
            let anonymousEn = try await api.call(.get, "/v1/me")
            #expect(anonymous.status == .unauthorized && anonymous.code == "unauthenticated")
            #expect(anonymousEn.code == "unauthenticated")
            #expect(anonymous.string("title") == "احراز هویت لازم است")
            #expect(anonymous.string("detail") == "یک توکن bearer معتبر در سرآیند Authorization بفرستید.")
            #expect(anonymousEn.string("title") == "Authentication required")
            #expect(anonymous.headers[.wwwAuthenticate] == anonymousEn.headers[.wwwAuthenticate])
            #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)

            // 409 invalid_transition: current_status stays machine-readable.
            let rejected = try await api.producer(status: .rejected)
            let path = "/v1/producers/\(rejected.id)/transitions"
            let refused = try await api.call(.post, path, json: #"{"to":"screened"}"#, token: admin, headers: Self.fa)
            let refusedEn = try await api.post(path, #"{"to":"screened"}"#, token: admin)
            #expect(refused.status == .conflict && refused.code == "invalid_transition")
            #expect(refusedEn.code == "invalid_transition")
            #expect(refused.string("current_status") == "rejected" && refusedEn.string("current_status") == "rejected")
            #expect(refused.string("title") == "این تغییر وضعیت مجاز نیست")
            #expect(refused.string("detail") == "تولیدکننده در وضعیت «rejected» نمی‌تواند به «screened» برود.")
            #expect(refusedEn.string("detail") == "A producer in status \"rejected\" cannot move to \"screened\".")
            let status = try await api.db.rows("SELECT status FROM producers WHERE id = \(rejected.id)")
            #expect(try status[0].decode(String.self) == "rejected")
        }
    }

    @Test func rateLimitedInPersianKeepsItsHeaders() async throws {
        try await withApp(rateLimitPerMinute: 2) { api in
            let admin = try await api.token(.admin)
            try await api.must(.get, "/v1/me", token: admin)
            try await api.must(.get, "/v1/me", token: admin)
            let limited = try await api.call(.get, "/v1/me", token: admin, headers: Self.fa)
            #expect(limited.status == .tooManyRequests && limited.code == "rate_limited")
            #expect(limited.string("title") == "شمار درخواست‌ها بیش از حد مجاز است")
            let detail = try #require(limited.string("detail"))
            let wait = try #require(limited.headers[.retryAfter])
            #expect(detail == "این حساب در هر دقیقه 2 درخواست می‌تواند بفرستد؛ \(wait) ثانیهٔ دیگر دوباره تلاش کنید.")
            let english = try await api.call(.get, "/v1/me", token: admin)
            #expect(english.code == "rate_limited")
            #expect(english.string("detail")?.hasPrefix("This account may make 2 requests a minute") == true)
            #expect(english.headers[.contentLanguage] == "en")
        }
    }

    /// A refused order is stored with its Idempotency-Key (in English) and replayed in whichever
    /// language the replay asks for.
    @Test func storedIdempotentProblemsAreTranslatedOnTheWayOut() async throws {
        try await withApp { api in
            let (producer, product, partner) = try await api.orderParties(stock: 3)
            let body = """
                {"producer_id":\(producer.id),"lines":[{"product_id":\(product),"quantity":5}],
                 "delivery":{"province_code":"IR-23","city":"تهران","address":"x","recipient":"y","phone":"02166554433"}}
                """
            var headers: HTTPFields = [.idempotencyKey: "persian-1", .acceptLanguage: "fa"]
            let first = try await api.call(.post, "/v1/orders", json: body, token: partner, headers: headers)
            #expect(first.status == .conflict && first.code == "insufficient_stock")
            #expect(first.string("title") == "موجودی کافی نیست")
            #expect(first.string("detail") == "محصول \(product) فقط 3 موجودی دارد؛ 5 سفارش داده شد.")
            #expect(first.string("product_id") == String(product) && first.string("available") == "3")
            #expect(first.headers[.contentLanguage] == "fa")
            headers[.acceptLanguage] = nil
            let replay = try await api.call(.post, "/v1/orders", json: body, token: partner, headers: headers)
            #expect(replay.code == "insufficient_stock" && replay.headers[.idempotentReplayed] == "true")
            #expect(replay.string("detail") == "Product \(product) has 3 available; 5 were ordered.")
            #expect(try await api.stock(product) == 3)
        }
    }

    /// A message no template knows (a new one) still reaches a Persian client in Persian, with the
    /// English original beside it.
    @Test func anUnknownMessageFallsBackToPersianWithTheEnglishKept() throws {
        let error = APIError.conflict(code: "demand_not_open", "Something nobody has translated yet.", field: "demand_id")
            .localized(.fa)
        #expect(error.code == "demand_not_open")
        #expect(error.title == "درخواست تأمین باز نیست")
        #expect(error.detail?.hasPrefix("درخواست تأمین باز نیست.") == true)
        #expect(error.extra["detail_en"] == "Something nobody has translated yet.")
        #expect(error.errors.first?.message == Localization.fallbackFieldMessage)
        #expect(error.errors.first?.english == "Something nobody has translated yet.")
        let body = error.body(instance: "/x")
        #expect(body.contains("\"message_en\":\"Something nobody has translated yet.\""))
        #expect(APIError.notFound("Producer 3").localized(.en).detail == "Producer 3 was not found.")
        // A translated message keeps no English copy.
        #expect(
            APIError.validation(field: "limit", "must be from 1 to 200").localized(.fa).errors
                == [FieldError("limit", "باید از 1 تا 200 باشد")])
    }
}

/// Every `code` and every message literal in Sources/ has a Persian reading, so a new one cannot
/// ship untranslated.
@Suite struct LocalizationCoverageTests {
    static let sources: [(path: String, text: String)] = {
        let root = repositoryRoot.appendingPathComponent("Sources")
        let files =
            FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        return files.sorted { $0.path < $1.path }.compactMap { url in
            (try? String(contentsOf: url, encoding: .utf8)).map {
                (url.path.replacingOccurrences(of: root.path + "/", with: ""), $0)
            }
        }
    }()

    @Test func everyCodeHasAPersianTitle() throws {
        let regex = try NSRegularExpression(pattern: #"code: (?:String = )?"([a-z_0-9]+)""#)
        var codes = Set<String>()
        for (_, text) in Self.sources {
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                codes.insert(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        #expect(codes.count > 50, "the scan finds the codes (\(codes.count))")
        #expect(codes.contains("validation_failed") && codes.contains("bad_request"))
        let missing = codes.filter { Localization.titles[$0] == nil }.sorted()
        #expect(missing.isEmpty, "codes without a Persian title: \(missing)")
        for title in Localization.titles.values {
            #expect(PersianMessageTests.isProperPersian(title) && PersianMessageTests.hasPersianLetters(title), "\(title)")
        }
    }

    @Test func everyMessageLiteralTranslates() throws {
        var samples: [(String, String)] = []
        for (path, text) in Self.sources {
            for sample in MessageScanner.samples(in: text) { samples.append((path, sample)) }
        }
        #expect(samples.count > 300, "the scan finds the messages (\(samples.count))")
        var untranslated: [String] = []
        for (path, sample) in samples where !MessageScanner.exceptions.contains(sample) {
            guard let persian = Localization.translate(sample) else {
                untranslated.append("\(path): \(sample)")
                continue
            }
            #expect(PersianMessageTests.isProperPersian(persian), "\(persian)")
            #expect(PersianMessageTests.hasPersianLetters(persian), "not Persian: \(persian)")
        }
        let report = untranslated.joined(separator: "\n")
        #expect(untranslated.isEmpty, "untranslated messages (\(untranslated.count)):\n\(report)")
        // The exceptions are real: each still occurs and still does not translate.
        let all = Set(samples.map(\.1))
        for exception in MessageScanner.exceptions {
            #expect(all.contains(exception), "stale exception: \(exception)")
        }
    }

    @Test func theCatalogueIsWellFormed() {
        for (english, persian) in Localization.catalogue {
            #expect(PersianMessageTests.isProperPersian(persian), "\(persian)")
            #expect(PersianMessageTests.hasPersianLetters(persian), "\(english)")
            // The Persian template uses only placeholders the English one captures.
            let names = { (s: String) -> Set<String> in
                let r = try! NSRegularExpression(pattern: #"(?<!\{)\{([a-z0-9]+)(?:\*|:t|:l)?\}(?!\})"#)
                return Set(
                    r.matches(in: s, range: NSRange(s.startIndex..., in: s)).map { String(s[Range($0.range(at: 1), in: s)!]) })
            }
            #expect(names(persian).isSubset(of: names(english)), "\(english)")
        }
        #expect(Localization.translate("must be at most 200 characters") == "باید حداکثر 200 نویسه باشد")
        #expect(Localization.translate("Order 12 was not found.") == "سفارش 12 یافت نشد.")
        // A phrase placeholder only takes what it can translate; a token placeholder no spaces.
        #expect(Localization.translate("Gizmo 12 was not found.") == nil)
        #expect(Localization.translate("Product 12 is on fire") == nil)
    }
}

/// A pragmatic scan of Sources/ for the English messages of problem documents. It reads the
/// string literal (or a `+` concatenation of literals, or a `? "a" : "b"` choice between two) passed
/// as the message of: `Validator.check(_, _, msg)` and `.add(_, msg)`, `FieldError(_, msg)`,
/// `APIError.validation(field:, msg)`, `.forbidden(msg)`, `.conflict(code:, msg)`,
/// `.badRequest(…msg)`, `.notFound(what)` (as "<what> was not found."), and the `detail:` of
/// `APIError(…)` and the `message:` of the study CSV's `RowError(…)`. Each interpolation is
/// filled with a sample value ("7", or a known phrase for the few that must be words). It does not
/// see messages built in variables or functions (e.g. PostgreSQL's own constraint messages, or
/// `Webhooks` address checks returned as values); those fall back to Persian with `detail_en`.
enum MessageScanner {
    /// Literals the scan finds that are not messages a client reads in a problem document.
    static let exceptions: Set<String> = []

    /// Sample values for interpolations that must be words for the message to make sense.
    static let interpolationSamples: [String: String] = [
        "what": "Producer 7", "entity": "producer", "describe(type)": "an integer",
        // Lists of field messages joined into a detail.
        "missing.map(\\.message).joined(separator: \"; \")": "module 7 «x» is not done; module 8 «y» is not attended",
    ]

    static let calls = try! NSRegularExpression(
        pattern:
            #"(\.check|\.add|\bFieldError|\.validation|\.forbidden|\.conflict|\.badRequest|\.notFound|\bAPIError|\bRowError)\("#)

    static func samples(in text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var out: [String] = []
        let ns = text as NSString
        for m in calls.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let callee = ns.substring(with: m.range(at: 1)).trimmingCharacters(in: CharacterSet(charactersIn: "."))
            // NSString offsets are UTF-16; convert to a scalar index.
            let prefix = ns.substring(to: m.range.location + m.range.length)
            let start = prefix.unicodeScalars.count
            guard let args = arguments(scalars, from: start) else { continue }
            let labelled = args.map(label)
            let plain = labelled.filter { $0.label == nil }.map(\.expr)
            var message: String?
            switch callee {
            case "check": message = plain.count == 3 ? plain[2] : nil
            case "add": message = plain.count == 2 && labelled.count == 2 ? plain[1] : nil
            case "FieldError": message = plain.count >= 2 ? plain[1] : nil
            case "validation": message = labelled.first?.label == "field" && plain.count >= 1 ? plain[0] : nil
            case "forbidden", "badRequest": message = plain.first
            case "conflict": message = labelled.first?.label == "code" ? plain.first : nil
            case "notFound": message = plain.first
            case "APIError": message = labelled.first { $0.label == "detail" }?.expr
            case "RowError": message = labelled.first { $0.label == "message" }?.expr
            default: break
            }
            guard let message else { continue }
            for variant in render(message) where variant.contains(where: \.isLetter) {
                out.append(callee == "notFound" ? "\(variant) was not found." : variant)
            }
        }
        return out
    }

    /// The top-level arguments of a call whose "(" ends just before `start`.
    static func arguments(_ s: [Unicode.Scalar], from start: Int) -> [String]? {
        var args: [String] = []
        var current = ""
        var depth = 0
        var i = start
        while i < s.count {
            let c = s[i]
            if c == "\"" {
                let end = skipString(s, at: i)
                current += String(String.UnicodeScalarView(s[i..<end]))
                i = end
                continue
            }
            if c == "(" || c == "[" || c == "{" { depth += 1 }
            if c == ")" || c == "]" || c == "}" {
                if depth == 0 {
                    args.append(current)
                    return args.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
                }
                depth -= 1
            }
            if c == "," && depth == 0 {
                args.append(current)
                current = ""
            } else {
                current.unicodeScalars.append(c)
            }
            i += 1
        }
        return nil
    }

    /// The index just after the string literal starting at `i` (single- or multi-line).
    static func skipString(_ s: [Unicode.Scalar], at i: Int) -> Int {
        let triple = i + 2 < s.count && s[i + 1] == "\"" && s[i + 2] == "\""
        var j = triple ? i + 3 : i + 1
        while j < s.count {
            if s[j] == "\\" {
                if j + 1 < s.count && s[j + 1] == "(" {
                    // An interpolation: skip to its closing paren, strings inside included.
                    var depth = 0
                    j += 1
                    while j < s.count {
                        if s[j] == "\"" {
                            j = skipString(s, at: j)
                            continue
                        }
                        if s[j] == "(" { depth += 1 }
                        if s[j] == ")" {
                            depth -= 1
                            if depth == 0 { break }
                        }
                        j += 1
                    }
                    j += 1
                    continue
                }
                j += 2
                continue
            }
            if s[j] == "\"" {
                if !triple { return j + 1 }
                if j + 2 < s.count && s[j + 1] == "\"" && s[j + 2] == "\"" { return j + 3 }
            }
            if s[j] == "\n" && !triple { return j }
            j += 1
        }
        return j
    }

    static func label(_ arg: String) -> (label: String?, expr: String) {
        if let r = arg.range(of: #"^[A-Za-z_][A-Za-z0-9_]*\s*:(?!:)\s*"#, options: .regularExpression) {
            let name = arg[r].split(separator: ":")[0].trimmingCharacters(in: .whitespaces)
            return (name, String(arg[r.upperBound...]))
        }
        return (nil, arg)
    }

    /// The texts an expression can produce: literals with interpolations filled in, `+` joined;
    /// empty when the expression holds no top-level literal (a variable, a function's result).
    static func render(_ expr: String) -> [String] {
        let s = Array(expr.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars)
        // `value ?? "fallback"`: only the fallback is a literal.
        if let coalesce = expr.range(of: " ?? "), !expr[..<coalesce.lowerBound].contains("\"") {
            return render(String(expr[coalesce.upperBound...]))
        }
        // A choice between two literals.
        if let (question, colon) = ternary(s) {
            let a = render(String(String.UnicodeScalarView(s[(question + 1)..<colon])))
            let b = render(String(String.UnicodeScalarView(s[(colon + 1)...])))
            return a + b
        }
        var parts: [[String]] = []
        var sawLiteral = false
        var i = 0
        var other = ""
        func flushOther() {
            let code = other.trimmingCharacters(in: .whitespacesAndNewlines)
            if !code.isEmpty { parts.append([interpolationSamples[code] ?? "7"]) }
            other = ""
        }
        var depth = 0
        while i < s.count {
            if s[i] == "\"" && depth == 0 {
                flushOther()
                let end = skipString(s, at: i)
                parts.append(literal(Array(s[i..<end])))
                sawLiteral = true
                i = end
                continue
            }
            if s[i] == "\"" {
                let end = skipString(s, at: i)
                other += String(String.UnicodeScalarView(s[i..<end]))
                i = end
                continue
            }
            if s[i] == "(" || s[i] == "[" || s[i] == "{" { depth += 1 }
            if s[i] == ")" || s[i] == "]" || s[i] == "}" { depth -= 1 }
            if s[i] == "+" && depth == 0 {
                flushOther()
            } else {
                other.unicodeScalars.append(s[i])
            }
            i += 1
        }
        flushOther()
        guard sawLiteral else { return [] }
        return parts.reduce([""]) { acc, options in acc.flatMap { a in options.map { a + $0 } } }
    }

    /// The top-level `?` and `:` of `cond ? a : b`, outside strings and brackets.
    static func ternary(_ s: [Unicode.Scalar]) -> (Int, Int)? {
        var depth = 0
        var question: Int?
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\"" {
                i = skipString(s, at: i)
                continue
            }
            if c == "(" || c == "[" || c == "{" { depth += 1 }
            if c == ")" || c == "]" || c == "}" { depth -= 1 }
            if depth == 0 && c == "?" && i > 0 && s[i - 1] == " " { question = i }
            if depth == 0 && c == ":" && question != nil && s[i - 1] == " " { return (question!, i) }
            i += 1
        }
        return nil
    }

    /// A literal's text (the quotes included in `s`), interpolations as sample values; a choice
    /// between two literals inside an interpolation gives both.
    static func literal(_ s: [Unicode.Scalar]) -> [String] {
        let triple = s.count >= 6 && s[1] == "\"" && s[2] == "\""
        var body = Array(s[(triple ? 3 : 1)..<(s.count - (triple ? 3 : 1))])
        if triple {
            // Drop the first newline and the closing line's indentation.
            let text = String(String.UnicodeScalarView(body))
            var lines = text.components(separatedBy: "\n")
            if lines.first?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeFirst() }
            let indent = lines.last.map { $0.prefix { $0 == " " }.count } ?? 0
            if lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
            let joined = lines.map { String($0.dropFirst(min(indent, $0.prefix { $0 == " " }.count))) }.joined(separator: "\n")
            body = Array(joined.replacingOccurrences(of: "\\\n", with: "").unicodeScalars)
        }
        var results = [""]
        var i = 0
        while i < body.count {
            let c = body[i]
            if c == "\\" && i + 1 < body.count {
                let n = body[i + 1]
                if n == "(" {
                    var depth = 0
                    var j = i + 1
                    while j < body.count {
                        if body[j] == "\"" {
                            j = skipString(body, at: j)
                            continue
                        }
                        if body[j] == "(" { depth += 1 }
                        if body[j] == ")" {
                            depth -= 1
                            if depth == 0 { break }
                        }
                        j += 1
                    }
                    let inner = String(String.UnicodeScalarView(body[(i + 2)..<min(j, body.count)]))
                        .trimmingCharacters(in: .whitespaces)
                    var values = [interpolationSamples[inner] ?? "7"]
                    let innerScalars = Array(inner.unicodeScalars)
                    if let (q, colon) = ternary(innerScalars) {
                        let choices =
                            render(String(String.UnicodeScalarView(innerScalars[(q + 1)..<colon])))
                            + render(String(String.UnicodeScalarView(innerScalars[(colon + 1)...])))
                        if !choices.isEmpty { values = choices }
                    }
                    results = results.flatMap { r in values.map { r + $0 } }
                    i = j + 1
                    continue
                }
                let escaped: String =
                    switch n {
                    case "n": "\n"
                    case "t": "\t"
                    case "0": "\0"
                    default: String(n)
                    }
                results = results.map { $0 + escaped }
                i += 2
                continue
            }
            results = results.map { $0 + String(c) }
            i += 1
        }
        return results
    }
}
