import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The languages problem documents are written in. English is the default and the source text;
/// Persian is produced from it by `Localization` (the call sites keep writing English).
public enum Language: String, Sendable, CaseIterable {
    case en, fa

    /// The best supported language for an `Accept-Language` header (RFC 9110 §12.5.4): the
    /// highest q-value wins, the earlier range on a tie; `fa`, `fa-IR`, `fa-*` mean Persian, `en…`
    /// English; `*` and anything else (or no header) mean English. q=0 means "not this one".
    public static func negotiate(_ header: String?) -> Language {
        guard let header, !header.isEmpty else { return .en }
        var best: (language: Language, q: Double)?
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let range = pieces.first?.lowercased(), !range.isEmpty else { continue }
            var q = 1.0
            for parameter in pieces.dropFirst() {
                let kv = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if kv.count == 2, kv[0].lowercased() == "q" { q = Double(kv[1]) ?? 0 }
            }
            guard q > 0, q <= 1 else { continue }
            let primary = range.split(separator: "-").first.map(String.init) ?? range
            let language: Language
            switch primary {
            case "fa", "per": language = .fa
            case "en", "*": language = .en
            default: continue
            }
            if best == nil || q > best!.q { best = (language, q) }
        }
        return best?.language ?? .en
    }
}

/// English → Persian for problem documents: a title per stable `code`, and a catalogue of message
/// templates matched against each English `detail` and field message.
///
/// Templates are English text with placeholders: `{x}` stands for one token without spaces (an
/// id, a code, a number, a date), `{x*}` for any text, `{x:t}` for a phrase that is itself
/// translated through the catalogue (e.g. "Producer 7" in "Producer 7 was not found."), and
/// `{x:l}` for a "; "-separated list of messages each translated. Values are carried over as they
/// are, so ids, codes and numbers stay ASCII and machine-readable.
public enum Localization {
    /// Persian title per `code`. `LocalizationCoverageTests` fails when a code used in Sources/
    /// has none here.
    public static let titles: [String: String] = [
        "activities_locked": "فعالیت‌های تولیدکننده قفل شده است",
        "already_exists": "از پیش وجود دارد",
        "assessment_completed": "ارزیابی کامل شده است",
        "assessment_required": "ارزیابی لازم است",
        "bad_request": "درخواست نادرست است",
        "body_too_large": "بدنهٔ درخواست بیش از اندازه بزرگ است",
        "busy": "ورودهای هم‌زمان بیش از حد است",
        "completion_rules_unmet": "شرایط پایان دوره برآورده نشده است",
        "concurrent_update": "به‌روزرسانی هم‌زمان",
        "course_has_no_assessment": "دوره آزمون پایانی ندارد",
        "company_role": "برای این نقش در شرکت مجاز نیست",
        "csv_rows_invalid": "فایل CSV ردیف‌های نامعتبر دارد",
        "export_too_large": "ردیف‌ها برای یک فایل بیش از اندازه است",
        "database_unavailable": "سرویس موقتاً در دسترس نیست",
        "declaration_changed": "اظهارنامه تغییر کرده است",
        "demand_not_open": "درخواست تأمین باز نیست",
        "demand_quantity_covered": "مقدار درخواست تأمین پوشش داده شده است",
        "draft_exists": "پیش‌نویس از پیش وجود دارد",
        "endpoint_disabled": "نشانی وب‌هوک غیرفعال است",
        "forbidden": "برای این حساب مجاز نیست",
        "four_eyes": "تصمیم با کس دیگری است",
        "quote_exists": "پیشنهاد قیمت باز از پیش وجود دارد",
        "quote_expired": "اعتبار پیشنهاد قیمت تمام شده است",
        "idempotency_in_progress": "درخواستی با همین کلید در جریان است",
        "idempotency_key_invalid": "Idempotency-Key نامعتبر است",
        "idempotency_key_required": "Idempotency-Key لازم است",
        "idempotency_key_reused": "Idempotency-Key دوباره به کار رفته است",
        "if_match_required": "سرآیند If-Match لازم است",
        "insufficient_scope": "دامنهٔ دسترسی کلید API کافی نیست",
        "insufficient_stock": "موجودی کافی نیست",
        "internal_error": "خطای داخلی سرور",
        "invalid_character": "نشانی نویسهٔ نامعتبر دارد",
        "invalid_credentials": "نام کاربری یا گذرواژه نادرست است",
        "invalid_transition": "این تغییر وضعیت مجاز نیست",
        "last_owner": "شرکت بی‌مالک می‌ماند",
        "disabled_by_platform": "حساب را مدیران سامانه غیرفعال کرده‌اند",
        "malformed_json": "بدنهٔ درخواست JSON درستی نیست",
        "method_not_allowed": "این روش HTTP مجاز نیست",
        "module_in_use": "پودمان به کار رفته است",
        "no_follow_up": "پیگیری‌ای در کار نیست",
        "no_longer_matches": "محصول دیگر با درخواست تأمین جور نیست",
        "not_confirmable": "تأییدشدنی نیست",
        "not_correctable": "اصلاح‌شدنی نیست",
        "not_found": "یافت نشد",
        "not_seeking": "تولیدکننده متقاضی تسهیلات نیست",
        "open_referral_exists": "ارجاع باز وجود دارد",
        "order_expired": "مهلت پذیرش سفارش گذشته است",
        "own_account": "این کار روی حساب خودتان ممکن نیست",
        "own_declaration": "برای این حساب مجاز نیست",
        "own_proposal": "برای این حساب مجاز نیست",
        "producer_confirmation_required": "تأیید تولیدکننده لازم است",
        "producer_not_eligible": "تولیدکننده واجد شرایط نیست",
        "producer_not_screened": "تولیدکننده غربال نشده است",
        "producer_not_verified": "تولیدکننده تأییدشده نیست",
        "product_archived": "محصول بایگانی شده است",
        "proposal_decided": "دربارهٔ پیشنهاد تصمیم گرفته شده است",
        "proposal_pending": "پیشنهادی در انتظار تصمیم است",
        "proposal_required": "پیشنهاد تأیید لازم است",
        "rate_limited": "شمار درخواست‌ها بیش از حد مجاز است",
        "rejection_not_confirmable": "این رد سفارش تأییدشدنی نیست",
        "route_not_found": "یافت نشد",
        "rubric_incomplete": "همهٔ معیارها نمره نگرفته‌اند",
        "sms_unavailable": "پیامک فرستاده نشد",
        "stale_version": "این مورد تغییر کرده است",
        "study_empty": "مطالعه ردیفی ندارد",
        "study_frozen": "مطالعهٔ تأییدشده تغییرپذیر نیست",
        "too_many_api_keys": "شمار کلیدهای API بیش از حد است",
        "too_many_attempts": "تلاش‌های ناموفق بیش از حد",
        "too_many_codes": "کدهای فرستاده‌شده به این شمارهٔ همراه بیش از حد است",
        "unauthenticated": "احراز هویت لازم است",
        "unsupported_media_type": "نوع محتوا پشتیبانی نمی‌شود",
        "validation_failed": "برخی فیلدهای درخواست نامعتبرند",
    ]

    /// Where one code has several English titles, the title itself decides.
    static let titleOverrides: [String: String] = [
        "Not available to API keys": "برای کلیدهای API در دسترس نیست"
    ]

    /// For codes made at run time from an HTTP status (Hummingbird's own errors).
    static func title(status: Int) -> String {
        switch status {
        case 400: return "درخواست نادرست است"
        case 401: return "احراز هویت لازم است"
        case 403: return "برای این حساب مجاز نیست"
        case 404: return "یافت نشد"
        case 405: return "این روش HTTP مجاز نیست"
        case 408: return "زمان درخواست به پایان رسید"
        case 409: return "با وضعیت کنونی سازگار نیست"
        case 413: return "بدنهٔ درخواست بیش از اندازه بزرگ است"
        case 415: return "نوع محتوا پشتیبانی نمی‌شود"
        case 422: return "درخواست پذیرفتنی نیست"
        case 429: return "شمار درخواست‌ها بیش از حد مجاز است"
        case 500..<600: return "خطای سرور"
        default: return "درخواست انجام نشد"
        }
    }

    public static func title(code: String, english: String, status: Int) -> String {
        titleOverrides[english] ?? titles[code] ?? title(status: status)
    }

    /// A Persian detail when the English one matches no template: never English-only for a
    /// Persian client (the English original goes in `detail_en`).
    public static func fallbackDetail(code: String, status: Int) -> String {
        "\(titles[code] ?? title(status: status)). شرح انگلیسی در detail_en آمده است."
    }
    /// The same for a field message (the English original goes in the item's `message_en`).
    public static let fallbackFieldMessage = "مقدار این فیلد پذیرفتنی نیست (شرح انگلیسی در message_en)"

    /// English template → Persian template. Order does not matter: exact texts are looked up
    /// first, then templates with the most literal text first.
    static let catalogue: [(String, String)] = [
        // Nouns and phrases used inside other messages ({x:t}).
        ("API key {id}", "کلید API {id}"),
        ("Account {id}", "حساب {id}"),
        ("Activity {code}", "فعالیت {code}"),
        ("Assessment {id}", "ارزیابی {id}"),
        ("Brand {id}", "برند {id}"),
        ("Certificate {id}", "گواهی {id}"),
        ("Course {id}", "دورهٔ {id}"),
        ("Customs office {code}", "گمرک {code}"),
        ("Delivery {id}", "تحویل وب‌هوک {id}"),
        ("Demand {id}", "درخواست تأمین {id}"),
        ("Enrollment {id}", "ثبت‌نام {id}"),
        ("Export shipment {id}", "محمولهٔ صادراتی {id}"),
        ("HS code {code}", "کد HS {code}"),
        ("Inspection {id}", "بازرسی {id}"),
        ("Invitation {id}", "دعوت {id}"),
        ("Quote {id}", "پیشنهاد قیمت {id}"),
        ("Loan referral {id}", "ارجاع وام {id}"),
        ("Module {m} of course {c}", "پودمان {m} از دورهٔ {c}"),
        ("Order {id}", "سفارش {id}"),
        ("Partner {id}", "شرکت شریک {id}"),
        ("Packaging of product {id}", "بسته‌بندی محصول {id}"),
        ("Product {id}", "محصول {id}"),
        ("Producer {id}", "تولیدکنندهٔ {id}"),
        ("Notification {id}", "اعلان {id}"),
        ("Province {code}", "استان {code}"),
        ("Province study {id}", "مطالعهٔ استانی {id}"),
        ("Verification proposal {id}", "پیشنهاد تأیید {id}"),
        ("Webhook endpoint {id}", "نشانی وب‌هوک {id}"),
        ("The OpenAPI document", "سند OpenAPI"),
        ("assessment", "ارزیابی"), ("certificate", "گواهی"), ("demand", "درخواست تأمین"),
        ("enrollment", "ثبت‌نام"), ("export shipment", "محمولهٔ صادراتی"), ("inspection", "بازرسی"),
        ("invitation", "دعوت"), ("quote", "پیشنهاد قیمت"), ("loan referral", "ارجاع وام"), ("order", "سفارش"),
        ("packaging declaration", "اظهارنامهٔ بسته‌بندی"), ("producer", "تولیدکننده"), ("product", "محصول"),
        ("province study", "مطالعهٔ استانی"), ("account", "حساب"), ("API key", "کلید API"),
        ("a string", "یک رشته"), ("an integer", "یک عدد صحیح"), ("a number", "یک عدد"),
        ("a boolean", "true یا false"), ("an array", "یک آرایه"), ("an object", "یک شیء JSON"),
        ("a valid value", "مقداری معتبر"),

        // Generic problems (Problem.swift, Middleware.swift, HTTP.swift, Database.swift).
        ("{what:t} was not found.", "{what} یافت نشد."),
        (
            "A {entity:t} in status \"{current}\" cannot move to \"{target}\".",
            "{entity} در وضعیت «{current}» نمی‌تواند به «{target}» برود."
        ),
        ("Send a valid bearer token in the Authorization header.", "یک توکن bearer معتبر در سرآیند Authorization بفرستید."),
        ("The database cannot be reached; retry shortly.", "پایگاه داده در دسترس نیست؛ کمی بعد دوباره تلاش کنید."),
        (
            "An unexpected error occurred; it has been logged with the request id.",
            "خطای پیش‌بینی‌نشده‌ای رخ داد؛ با شناسهٔ درخواست ثبت شده است."
        ),
        ("The URL contains a NUL character (%00).", "نشانی (URL) نویسهٔ NUL (%00) دارد."),
        ("{method} is not supported here; use {allow*}.", "روش {method} اینجا پشتیبانی نمی‌شود؛ از {allow} استفاده کنید."),
        ("No route matches {method} {path}.", "هیچ مسیری با {method} {path} جور نیست."),
        ("The body exceeds {n} bytes.", "بدنهٔ درخواست از {n} بایت بیشتر است."),
        ("Send the body as application/json.", "بدنه را با نوع application/json بفرستید."),
        ("The request body is empty; send a JSON object.", "بدنهٔ درخواست خالی است؛ یک شیء JSON بفرستید."),
        ("The request body is not valid JSON.", "بدنهٔ درخواست JSON معتبری نیست."),
        ("The request body must be a JSON object.", "بدنهٔ درخواست باید یک شیء JSON باشد."),
        ("The request body could not be read.", "بدنهٔ درخواست خوانده نشد."),
        (
            "contains a NUL character (\\u0000), which text fields cannot hold",
            "نویسهٔ NUL (\\u0000) دارد که فیلدهای متنی نمی‌توانند نگه دارند"
        ),
        ("contains a character that cannot be stored (NUL)", "نویسه‌ای دارد که ذخیره‌شدنی نیست (NUL)"),
        ("has a value of the wrong type", "مقداری از نوع نادرست دارد"),
        ("must be a whole number within range", "باید عددی صحیح و در محدودهٔ مجاز باشد"),
        ("is required", "الزامی است"),
        ("must be {type:t}", "باید {type} باشد"),
        ("must be {type:t}, not null", "باید {type} باشد، نه null"),
        ("must be one of: {list*}", "باید یکی از این‌ها باشد: {list}"),
        ("must be a date YYYY-MM-DD", "باید تاریخی به شکل YYYY-MM-DD باشد"),
        ("A record with this {field} already exists.", "رکوردی با همین {field} از پیش وجود دارد."),
        ("refers to something that does not exist", "به چیزی اشاره می‌کند که وجود ندارد"),
        ("is invalid", "نامعتبر است"),
        ("Another request changed the same data; retry.", "درخواست دیگری همین داده‌ها را تغییر داد؛ دوباره تلاش کنید."),
        ("Retry shortly.", "کمی بعد دوباره تلاش کنید."),
        (
            "This Idempotency-Key was used with a different request; use a new key for a new request.",
            "این Idempotency-Key با درخواست دیگری به کار رفته است؛ برای درخواست تازه کلید تازه بفرستید."
        ),
        ("The Idempotency-Key must be 1 to 200 ASCII characters.", "Idempotency-Key باید 1 تا 200 نویسهٔ ASCII باشد."),
        (
            "Send an Idempotency-Key header (a unique value per order you mean to place).",
            "سرآیند Idempotency-Key را بفرستید (مقداری یکتا برای هر سفارشی که می‌خواهید ثبت کنید)."
        ),
        (
            "If-Match does not match the current version {v*}; read it again and retry.",
            "If-Match با نسخهٔ کنونی {v} جور نیست؛ دوباره بخوانید و دوباره تلاش کنید."
        ),
        // PostgreSQL's own messages for constraint violations (Database.map).
        ("new row for relation \"{t}\" violates check constraint \"{c}\"", "ردیف تازه قید بررسی «{c}» را نقض می‌کند"),
        ("null value in column \"{col}\" of relation \"{t}\" violates not-null constraint", "مقدار ستون «{col}» نباید خالی باشد"),
        ("value too long for type {type*}", "مقدار برای نوع {type} بیش از اندازه بلند است"),
        ("invalid input syntax for type {type}: {value*}", "ورودی برای نوع {type} نامعتبر است: {value}"),
        ("value \"{value*}\" is out of range for type {type}", "مقدار «{value}» بیرون از محدودهٔ نوع {type} است"),
        ("{type} out of range", "{type} بیرون از محدوده است"),
        ("date/time field value out of range: {value*}", "مقدار تاریخ/زمان بیرون از محدوده است: {value}"),

        // Authentication, accounts, rate limits.
        ("The login or password is wrong, or the account is disabled.", "نام کاربری یا گذرواژه نادرست است، یا حساب غیرفعال است."),
        (
            "This {who:t} may make {n} requests a minute; retry in {s} s.",
            "این {who} در هر دقیقه {n} درخواست می‌تواند بفرستد؛ {s} ثانیهٔ دیگر دوباره تلاش کنید."
        ),
        (
            "This address may make {n} such requests in {w} s; retry in {s} s.",
            "این نشانی در {w} ثانیه {n} درخواست از این دست می‌تواند بفرستد؛ {s} ثانیهٔ دیگر دوباره تلاش کنید."
        ),
        (
            "Too many wrong passwords for this login from this address, or from this address; retry in {s} s.",
            "گذرواژهٔ نادرست برای این نام کاربری از این نشانی، یا از این نشانی، بیش از حد فرستاده شده است؛ {s} ثانیهٔ دیگر دوباره تلاش کنید."
        ),
        (
            "Too many password checks are queued; retry in a moment.",
            "بررسی‌های گذرواژهٔ در صف بیش از حد است؛ لحظه‌ای بعد دوباره تلاش کنید."
        ),
        (
            "Too many application codes were sent to this mobile recently; retry later.",
            "به تازگی کدهای درخواست بسیاری به این شمارهٔ همراه فرستاده شده است؛ بعداً دوباره تلاش کنید."
        ),
        ("The text message could not be sent; retry in a minute.", "پیامک فرستاده نشد؛ یک دقیقهٔ دیگر دوباره تلاش کنید."),
        ("This operation is not available to the {role} role.", "این کار برای نقش {role} در دسترس نیست."),
        (
            "A viewer of a partner company reads only; buying needs the buyer or owner role.",
            "بیننده در شرکت طرف قرارداد فقط می‌خواند؛ خرید نقش خریدار یا مالک می‌خواهد."
        ),
        (
            "Only an owner of the partner company manages its accounts, API keys and webhooks.",
            "فقط مالک شرکت طرف قرارداد حساب‌ها، کلیدهای API و وب‌هوک‌های آن را مدیریت می‌کند."
        ),
        ("You cannot disable or enable your own account.", "حساب خودتان را نمی‌توانید غیرفعال یا فعال کنید."),
        (
            "A partner company keeps at least one enabled owner; make another account an owner first.",
            "شرکت طرف قرارداد دست‌کم یک مالک فعال نگه می‌دارد؛ نخست حساب دیگری را مالک کنید."
        ),
        (
            "This account was disabled by the platform's administrators; only they can enable it again.",
            "این حساب را مدیران سامانه غیرفعال کرده‌اند؛ فقط آنان می‌توانند دوباره فعالش کنند."
        ),
        ("give company_role, disabled or both", "company_role یا disabled یا هر دو را بدهید"),
        (
            "must be 3 to 64 characters of latin letters, digits and . _ - @",
            "باید 3 تا 64 نویسه از حروف لاتین، رقم‌ها و . _ - @ باشد"
        ),
        ("must be at least {n} characters", "باید دست‌کم {n} نویسه باشد"),
        ("must be at most {n} bytes", "باید حداکثر {n} بایت باشد"),
        ("must differ from the current password", "باید با گذرواژهٔ کنونی فرق داشته باشد"),
        ("is only for supervisors", "فقط برای ناظران است"),
        ("implementers take province_codes (one or more)", "مجریان province_codes می‌گیرند (یک یا چند)"),
        ("is required for a supervisor", "برای ناظر الزامی است"),
        ("is required for an implementer: one or more province codes", "برای مجری الزامی است: یک یا چند کد استان"),
        ("is required: a partner account belongs to a partner company", "الزامی است: حساب شریک به یک شرکت شریک تعلق دارد"),
        ("is only for partner accounts", "فقط برای حساب‌های شریک است"),
        ("is only for implementers", "فقط برای مجریان است"),
        ("is required to disable an account", "برای غیرفعال کردن حساب الزامی است"),
        (
            "producer accounts are created by applying at /v1/producer-applications",
            "حساب‌های تولیدکننده با درخواست در /v1/producer-applications ساخته می‌شوند"
        ),
        ("must be an email address", "باید یک نشانی ایمیل باشد"),
        ("is wrong", "نادرست است"),
        (
            "is wrong or has expired; ask for a new code by applying again",
            "نادرست است یا منقضی شده؛ با درخواست دوباره کد تازه بگیرید"
        ),
        ("must be the 6-digit code sent by SMS", "باید کد 6 رقمی فرستاده‌شده با پیامک باشد"),
        ("must be the id returned when applying", "باید شناسه‌ای باشد که هنگام درخواست برگردانده شد"),
        (
            "is chosen when confirming the code sent by SMS (POST /v1/producer-applications/confirmations)",
            "هنگام تأیید کد پیامک‌شده انتخاب می‌شود (POST /v1/producer-applications/confirmations)"
        ),

        // API keys and webhooks.
        (
            "API keys are managed by a partner account's own sign-in, not with a key.",
            "کلیدهای API با ورود خود حساب شریک مدیریت می‌شوند، نه با کلید."
        ),
        (
            "No API key scope grants this route; it needs an account's own sign-in (POST /v1/auth/tokens).",
            "هیچ دامنهٔ کلید API به این مسیر دسترسی نمی‌دهد؛ ورود خود حساب لازم است (POST /v1/auth/tokens)."
        ),
        ("This route needs an API key with the {scope} scope.", "این مسیر کلید API با دامنهٔ {scope} می‌خواهد."),
        ("This account belongs to no partner company.", "این حساب به هیچ شرکت شریکی تعلق ندارد."),
        (
            "The company already has {n} active API keys; revoke one it no longer uses first.",
            "شرکت هم‌اکنون {n} کلید API فعال دارد؛ نخست یکی را که به کار نمی‌رود باطل کنید."
        ),
        ("must name at least one scope", "باید دست‌کم یک دامنه را نام ببرد"),
        ("Webhook endpoints are for partner companies and admins.", "نشانی‌های وب‌هوک برای شرکت‌های شریک و مدیران است."),
        (
            "The endpoint is disabled; enable it first (PATCH enabled: true).",
            "این نشانی غیرفعال است؛ نخست فعالش کنید (PATCH enabled: true)."
        ),
        ("must name at least one event type (or \"*\")", "باید دست‌کم یک نوع رویداد (یا \"*\") را نام ببرد"),
        ("{item*} is not an event type (see the API reference)", "{item} نوع رویداد نیست (راهنمای API را ببینید)"),
        ("{item*} matches no event type", "{item} با هیچ نوع رویدادی جور نیست"),
        (
            "{item*} is not an event type, a family such as order.*, or *",
            "{item} نه نوع رویداد است، نه خانواده‌ای مانند order.*، نه *"
        ),
        ("must be an http(s) URL", "باید نشانی http(s) باشد"),
        ("must be an https:// URL (at most 2000 characters)", "باید نشانی https:// باشد (حداکثر 2000 نویسه)"),
        ("must be an absolute http(s) URL", "باید نشانی کامل http(s) باشد"),
        ("must be an absolute https URL", "باید نشانی کامل https باشد"),
        ("must use https", "باید از https استفاده کند"),
        (
            "must use https (http only to loopback in development)",
            "باید از https استفاده کند (http فقط به loopback در محیط توسعه)"
        ),
        ("must use https (http only to localhost)", "باید از https استفاده کند (http فقط به localhost)"),
        ("has no host", "میزبان ندارد"),
        ("has a host that does not resolve ({host*})", "میزبانی دارد که نشانی‌اش یافت نمی‌شود ({host})"),
        ("must not contain a user name or password", "نباید نام کاربری یا گذرواژه داشته باشد"),
        ("must not contain a fragment (#…)", "نباید بخش fragment (#…) داشته باشد"),
        ("resolves to a private, loopback or link-local address ({a*})", "به نشانی خصوصی، loopback یا link-local می‌رسد ({a})"),
        ("must be one of: pending, succeeded, failed", "باید یکی از pending، succeeded یا failed باشد"),

        // Notifications.
        ("Notifications are for producer accounts.", "اعلان‌ها برای حساب‌های تولیدکننده است."),
        ("is not a notification kind ({list*})", "نوع اعلان نیست ({list})"),
        ("must be a time of day as HH:MM (00:00 to 23:59)", "باید زمانی از روز به شکل HH:MM باشد (00:00 تا 23:59)"),
        ("is not a member of quiet_hours (start, end)", "عضوی از quiet_hours (start، end) نیست"),
        (
            "must differ from start; send null for no quiet hours",
            "باید با start فرق داشته باشد؛ برای نداشتن ساعت سکوت null بفرستید"
        ),

        // Ranges, counts and formats (many fields).
        ("must be from {a} to {b}", "باید از {a} تا {b} باشد"),
        ("must be an integer from {a} to {b}", "باید عددی صحیح از {a} تا {b} باشد"),
        ("must be an integer ≥ {n}", "باید عددی صحیح و دست‌کم {n} باشد"),
        ("must be an integer", "باید عدد صحیح باشد"),
        ("must be a positive integer", "باید عدد صحیح مثبت باشد"),
        ("must be 0 or more", "باید 0 یا بیشتر باشد"),
        ("must be 1 or more", "باید 1 یا بیشتر باشد"),
        ("must be {a} to {b} characters", "باید {a} تا {b} نویسه باشد"),
        ("must be {a} to {b} digits", "باید {a} تا {b} رقم باشد"),
        ("must be at most {n} characters", "باید حداکثر {n} نویسه باشد"),
        ("must not be empty", "نباید خالی باشد"),
        ("must be true or false", "باید true یا false باشد"),
        ("must be true or false (yes/no, 1/0, بله/خیر)", "باید true یا false باشد (yes/no، 1/0، بله/خیر)"),
        ("must be UTF-8 text", "باید متن UTF-8 باشد"),
        ("must have at most {n} items", "باید حداکثر {n} مورد داشته باشد"),
        ("must list at most {n} courses", "باید حداکثر {n} دوره را بشمارد"),
        ("must list at most {n} reasons", "باید حداکثر {n} دلیل را بشمارد"),
        ("must list at most {n} skills", "باید حداکثر {n} مهارت را بشمارد"),
        ("must list at most {n} provinces", "باید حداکثر {n} استان را بشمارد"),
        ("must list at most {n} prefixes", "باید حداکثر {n} پیشوند را بشمارد"),
        ("must list at most {n} activities", "باید حداکثر {n} فعالیت را بشمارد"),
        ("must list 1 to {n} shipments", "باید 1 تا {n} محموله را بشمارد"),
        ("must hold 1 to {n} lines", "باید 1 تا {n} سطر داشته باشد"),
        ("must name at least one producer", "باید دست‌کم یک تولیدکننده را نام ببرد"),
        ("must name at most {n} producers", "باید حداکثر {n} تولیدکننده را نام ببرد"),
        ("must not repeat an id", "نباید شناسه‌ای را تکرار کند"),
        ("must not repeat a course", "نباید دوره‌ای را تکرار کند"),
        ("must have positive ids", "شناسه‌ها باید مثبت باشند"),
        (
            "must have positive versions (a shipment's `version`, its ETag)",
            "نسخه‌ها باید مثبت باشند (`version` محموله، همان ETag)"
        ),
        ("each reason must be at most {n} characters", "هر دلیل باید حداکثر {n} نویسه باشد"),
        ("each skill must be at most {n} characters", "هر مهارت باید حداکثر {n} نویسه باشد"),
        ("at most {n} materials of up to {m} characters", "حداکثر {n} ماده، هر کدام تا {m} نویسه"),
        ("is not a valid cursor", "cursor معتبری نیست"),
        ("is not a cursor of this search", "cursor همین جست‌وجو نیست"),
        (
            "cannot be combined with q: a search answers its best matches on one page",
            "با q نمی‌آید: جست‌وجو بهترین نتیجه‌ها را در یک صفحه می‌دهد"
        ),
        ("give at least {n} letters of a name", "دست‌کم {n} حرف از نام را بدهید"),
        ("give at least {n} digits of a national ID or mobile", "دست‌کم {n} رقم از کد ملی یا شمارهٔ همراه را بدهید"),
        ("must be a date (YYYY-MM-DD)", "باید تاریخی به شکل YYYY-MM-DD باشد"),
        ("must be a date (YYYY-MM-DD) or an ISO 8601 date-time", "باید تاریخ (YYYY-MM-DD) یا تاریخ‌وزمان ISO 8601 باشد"),
        ("must be a date-time such as {example}", "باید تاریخ‌وزمانی مانند {example} باشد"),
        ("must be a date from {a} to {b}", "باید تاریخی از {a} تا {b} باشد"),
        ("must be a date from {a} up to today in Tehran ({today})", "باید تاریخی از {a} تا امروز به وقت تهران ({today}) باشد"),
        (
            "must be a date from {a} up to today in Tehran ({today}); a shipment is recorded after it left",
            "باید تاریخی از {a} تا امروز به وقت تهران ({today}) باشد؛ محموله پس از خروج ثبت می‌شود"
        ),
        ("must be in the future", "باید در آینده باشد"),
        ("must not be in the future", "نباید در آینده باشد"),
        ("must not be in the past", "نباید در گذشته باشد"),
        ("must be after {field}", "باید پس از {field} باشد"),
        ("must not be before {field}", "نباید پیش از {field} باشد"),
        ("must not be after {field}", "نباید پس از {field} باشد"),
        ("must not be before the registration ({date})", "نباید پیش از ثبت‌نام ({date}) باشد"),
        ("must be a Solar Hijri year from {a} to {b}", "باید سال هجری شمسی از {a} تا {b} باشد"),
        (
            "must be a Solar Hijri year ({y}) or quarter ({q}), years {a} to {b}",
            "باید سال هجری شمسی ({y}) یا فصل ({q}) باشد، سال‌های {a} تا {b}"
        ),
        ("must be a whole number of rials above 0", "باید عددی صحیح از ریال و بیشتر از 0 باشد"),
        (
            "must be a decimal string above 0 with at most two decimals",
            "باید رشته‌ای اعشاری بیشتر از 0 با حداکثر دو رقم اعشار باشد"
        ),
        (
            "must be a decimal string above 0 with at most two decimals, e.g. \"{example}\"",
            "باید رشته‌ای اعشاری بیشتر از 0 با حداکثر دو رقم اعشار باشد، مانند \"{example}\""
        ),
        (
            "must be a decimal string from {a} to {b} with at most two decimals",
            "باید رشته‌ای اعشاری از {a} تا {b} با حداکثر دو رقم اعشار باشد"
        ),
        (
            "must be a decimal string of at least 0 with at most two decimals",
            "باید رشته‌ای اعشاری دست‌کم 0 با حداکثر دو رقم اعشار باشد"
        ),
        ("must be above 0 with at most three decimals", "باید بیشتر از 0 با حداکثر سه رقم اعشار باشد"),
        ("must be above {field}", "باید بیشتر از {field} باشد"),
        ("must be a positive number of grams", "باید شمار مثبتی از گرم باشد"),
        ("l, w and h must be positive millimetres", "l، w و h باید میلی‌متر مثبت باشند"),
        ("must be a mobile number like {example}", "باید شمارهٔ همراهی مانند {example} باشد"),
        ("must be an 11-digit phone number starting with 0", "باید شمارهٔ تلفن 11 رقمی آغازشده با 0 باشد"),
        ("must be an 11-digit Iranian phone number starting with 0", "باید شمارهٔ تلفن 11 رقمی ایرانی آغازشده با 0 باشد"),
        ("must be a valid 10-digit national ID (check digit)", "باید کد ملی 10 رقمی معتبر باشد (رقم کنترل)"),
        ("must be a valid 11-digit legal entity national ID (check digit)", "باید شناسهٔ ملی 11 رقمی معتبر باشد (رقم کنترل)"),
        ("must be a GTIN-13 with a valid check digit", "باید GTIN-13 با رقم کنترل معتبر باشد"),
        ("must be a province code like IR-00", "باید کد استانی مانند IR-00 باشد"),
        ("must be province codes like IR-00", "باید کدهای استانی مانند IR-00 باشند"),
        ("must be an ISO 3166-2:IR code such as IR-00", "باید کد ISO 3166-2:IR مانند IR-00 باشد"),
        ("must be known province codes", "باید کد استان‌های شناخته‌شده باشند"),
        ("is not a known province", "استان شناخته‌شده‌ای نیست"),
        ("lists an unknown province", "استانی ناشناخته را نام می‌برد"),
        ("must be an ISO 3166-1 alpha-2 code", "باید کد ISO 3166-1 alpha-2 باشد"),
        ("is not an ISO 3166-1 country (see /v1/countries)", "کشوری در ISO 3166-1 نیست (/v1/countries را ببینید)"),
        ("must be a country other than Iran", "باید کشوری جز ایران باشد"),
        ("must be ISO 639 language codes such as fa, en, ar", "باید کدهای زبان ISO 639 مانند fa، en، ar باشد"),
        (
            "must be lower-case latin letters, digits and single hyphens, at most {n}",
            "باید حروف کوچک لاتین، رقم‌ها و خط‌تیره‌های تکی باشد، حداکثر {n}"
        ),
        (
            "must be lower-case words of letters, digits and _ joined by dots, like food.pastry (at most {n} characters)",
            "باید واژه‌هایی با حروف کوچک، رقم و _ باشد که با نقطه به هم پیوسته‌اند، مانند food.pastry (حداکثر {n} نویسه)"
        ),
        (
            "must be {a} to {b} characters: a letter, then letters a-z, digits and hyphens (our own identifier, e.g. \"{example}\")",
            "باید {a} تا {b} نویسه باشد: یک حرف، سپس حروف a-z، رقم‌ها و خط‌تیره (شناسهٔ خود ما، مانند \"{example}\")"
        ),
        (
            "must start with an HS2022 subheading (six digits; see the HS nomenclature)",
            "باید با یک زیرشمارهٔ HS2022 آغاز شود (شش رقم؛ نامگذاری HS را ببینید)"
        ),
        ("its chapter {ch} is not an HS chapter in use", "فصل {ch} آن فصل HS در حال استفاده‌ای نیست"),
        (
            "must be in the product's HS chapter {ch} (the product's hs_code is {code})",
            "باید در فصل HS محصول، {ch}، باشد (hs_code محصول {code} است)"
        ),
        (
            "must be in the HS chapter of a product on the order (chapters {list})",
            "باید در فصل HS یکی از محصولات سفارش باشد (فصل‌های {list})"
        ),
        ("is not on order {id}", "در سفارش {id} نیست"),
        (
            "is required with quantity (one of: kg, number, pair, m2, litre)",
            "همراه با quantity الزامی است (یکی از kg، number، pair، m2، litre)"
        ),
        ("is required with quantity_unit", "همراه با quantity_unit الزامی است"),
        ("must be a whole number of pieces or pairs", "باید شمار درستی از عدد یا جفت باشد"),
        ("is not a category of the taxonomy (see /v1/categories)", "دسته‌ای از رده‌بندی نیست (/v1/categories را ببینید)"),
        ("is not an active customs office (see /v1/customs-offices)", "گمرک فعالی نیست (/v1/customs-offices را ببینید)"),
        ("A customs office with this {field} already exists.", "گمرکی با همین {field} از پیش وجود دارد."),
        (
            "must be one of province, hs_chapter, destination, category",
            "باید یکی از province، hs_chapter، destination یا category باشد"
        ),
        ("must name at most {n} dimensions", "باید حداکثر {n} بُعد را نام ببرد"),
        ("must be a whole number from {a} to {b}", "باید عددی صحیح از {a} تا {b} باشد"),
        ("must be an HS code prefix of 2, 4 or 6 digits", "باید پیشوند کد HS با 2، 4 یا 6 رقم باشد"),
        (
            "must be a date (YYYY-MM-DD), a Solar Hijri month (1405-07) or quarter (1405-Q2)",
            "باید تاریخ (YYYY-MM-DD)، ماه خورشیدی (1405-07) یا فصل خورشیدی (1405-Q2) باشد"
        ),
        ("needs a base period from 1950 on", "دورهٔ پایه باید از 1950 به بعد باشد"),
        ("must be one of: json, csv", "باید یکی از json یا csv باشد"),
        ("must be one of: pending, approved, sent_back, withdrawn", "باید یکی از pending، approved، sent_back یا withdrawn باشد"),
        ("must be the registration's tracking code: {a} to {b} digits", "باید کد رهگیری ثبت‌نام باشد: {a} تا {b} رقم"),
        ("cannot be removed", "برداشتنی نیست"),

        // Producers, applications, verification, screening.
        ("A producer may only withdraw its own application.", "تولیدکننده فقط درخواست خودش را می‌تواند پس بگیرد."),
        (
            "Only the applicant withdraws an application; staff reject it.",
            "فقط خود متقاضی درخواست را پس می‌گیرد؛ کارکنان آن را رد می‌کنند."
        ),
        (
            "Producer records are visible to the producer, its province's supervisors and implementers, and admins.",
            "پروندهٔ تولیدکننده را خود تولیدکننده، ناظران و مجریان استانش و مدیران می‌بینند."
        ),
        ("Staff see producers of their own provinces only.", "کارکنان فقط تولیدکنندگان استان‌های خود را می‌بینند."),
        ("Staff see proposals of their own provinces only.", "کارکنان فقط پیشنهادهای استان‌های خود را می‌بینند."),
        ("Staff see inspections of their own provinces only.", "کارکنان فقط بازرسی‌های استان‌های خود را می‌بینند."),
        ("Staff read the reports of their own provinces only.", "کارکنان فقط گزارش‌های استان‌های خود را می‌خوانند."),
        ("Supervisors inspect their own province only.", "ناظران فقط استان خود را بازرسی می‌کنند."),
        ("No province's records are available to this account.", "پروندهٔ هیچ استانی برای این حساب در دسترس نیست."),
        ("Province {p} is not among this account's provinces.", "استان {p} در میان استان‌های این حساب نیست."),
        (
            "This account reads the figures of its own provinces only ({list*}).",
            "این حساب فقط آمار استان‌های خود را می‌خواند ({list})."
        ),
        ("Only a screened applicant can be proposed for verification.", "فقط متقاضی غربال‌شده را می‌توان برای تأیید پیشنهاد کرد."),
        (
            "Verification is decided on an implementer's proposal: POST /v1/producers/{pid}/verification-proposals, then the province's supervisor decides it at POST /v1/verification-proposals/{{id}}/decision.",
            "تأیید بر پایهٔ پیشنهاد مجری تصمیم‌گیری می‌شود: POST /v1/producers/{pid}/verification-proposals، سپس ناظر استان در POST /v1/verification-proposals/{{id}}/decision تصمیم می‌گیرد."
        ),
        ("This applicant already has a pending proposal ({id}).", "این متقاضی هم‌اکنون پیشنهادی در انتظار تصمیم دارد ({id})."),
        (
            "A proposal is decided by someone other than the account that made it.",
            "دربارهٔ پیشنهاد کسی جز حسابی که آن را داده است تصمیم می‌گیرد."
        ),
        ("This proposal was already {status*}.", "این پیشنهاد پیش‌تر {status} شده است."),
        (
            "is required when sending a proposal back: say what the implementer must do",
            "هنگام برگرداندن پیشنهاد الزامی است: بگویید مجری چه باید بکند"
        ),
        (
            "Screening needs a completed assessment of the applicant (POST /v1/producers/{id}/assessments).",
            "غربالگری به ارزیابی کامل‌شدهٔ متقاضی نیاز دارد (POST /v1/producers/{id}/assessments)."
        ),
        ("A {status} application is closed; it is not assessed.", "درخواست {status} بسته است؛ ارزیابی نمی‌شود."),
        (
            "A completed assessment is evidence for a decision and cannot change.",
            "ارزیابی کامل‌شده مدرک یک تصمیم است و تغییر نمی‌کند."
        ),
        (
            "Assessments are visible to the producer and its province's staff.",
            "ارزیابی‌ها را تولیدکننده و کارکنان استانش می‌بینند."
        ),
        (
            "Score every criterion before completing the assessment; missing: {list*}.",
            "پیش از کامل کردن ارزیابی به همهٔ معیارها نمره دهید؛ مانده: {list}."
        ),
        ("{c} is not scored", "{c} نمره نگرفته است"),
        ("{c} is scored twice", "{c} دو بار نمره گرفته است"),
        ("no course open to province {p} has id {list*}", "هیچ دورهٔ باز به روی استان {p} شناسهٔ {list} را ندارد"),
        ("must be your own producer id ({id})", "باید شناسهٔ تولیدکنندهٔ خودتان ({id}) باشد"),
        ("is not a producer", "تولیدکننده نیست"),
        ("is not a producer of your province", "تولیدکنندهٔ استان شما نیست"),
        ("is not a verified producer", "تولیدکنندهٔ تأییدشده نیست"),
        ("every owner must be an existing, non-rejected producer", "هر مالک باید تولیدکننده‌ای موجود و ردنشده باشد"),
        ("you cannot remove yourself; another owner can", "نمی‌توانید خودتان را بردارید؛ مالک دیگری می‌تواند"),
        ("is not a brand this producer owns", "برندی از آن این تولیدکننده نیست"),
        ("\"{a*}\" is not an active activity (see /v1/activities)", "«{a}» فعالیت فعالی نیست (/v1/activities را ببینید)"),
        (
            "not active activities of the taxonomy: {list*} (see /v1/activities)",
            "فعالیت‌های فعال رده‌بندی نیستند: {list} (/v1/activities را ببینید)"
        ),
        (
            "Once verified, a producer's activities are changed by the implementing body, not by the producer.",
            "پس از تأیید، فعالیت‌های تولیدکننده را نهاد مجری تغییر می‌دهد، نه خود تولیدکننده."
        ),
        ("Activity {code} already exists.", "فعالیت {code} از پیش وجود دارد."),
        ("is a province code, not a skill", "کد استان است، نه مهارت"),

        // Loans.
        (
            "A rejected or withdrawn application cannot record a loan referral.",
            "برای درخواست ردشده یا پس‌گرفته‌شده ارجاع وام ثبت نمی‌شود."
        ),
        (
            "The producer already has an open loan referral; record the ministry's decision on it first.",
            "تولیدکننده هم‌اکنون ارجاع وام بازی دارد؛ نخست تصمیم وزارتخانه را دربارهٔ آن ثبت کنید."
        ),
        (
            "This referral records that the producer does not seek a facility; it has no status.",
            "این ارجاع ثبت می‌کند که تولیدکننده تسهیلات نمی‌خواهد؛ وضعیتی ندارد."
        ),
        ("This tracking code is already recorded.", "این کد رهگیری پیش‌تر ثبت شده است."),
        ("is required when seeking is true", "وقتی seeking برابر true است الزامی است"),
        (
            "is required when seeking is true: register on the ministry's site first, then record its tracking code",
            "وقتی seeking برابر true است الزامی است: نخست در سامانهٔ وزارتخانه ثبت‌نام کنید، سپس کد رهگیری آن را ثبت کنید"
        ),
        ("must be omitted when seeking is false", "وقتی seeking برابر false است نباید فرستاده شود"),
        ("is required when purpose is other", "وقتی purpose برابر other است الزامی است"),
        ("is given only with a decision (granted or declined)", "فقط همراه تصمیم (granted یا declined) داده می‌شود"),

        // Training, courses, modules.
        ("National courses are managed by admins.", "دوره‌های ملی را مدیران اداره می‌کنند."),
        (
            "Courses of province {p} are managed by that province's implementers.",
            "دوره‌های استان {p} را مجریان همان استان اداره می‌کنند."
        ),
        ("implementers create courses for their own provinces only", "مجریان فقط برای استان‌های خود دوره می‌سازند"),
        (
            "is required: name one of your provinces (national courses are created by admins)",
            "الزامی است: یکی از استان‌های خود را نام ببرید (دوره‌های ملی را مدیران می‌سازند)"
        ),
        ("name one of your provinces ({list*})", "یکی از استان‌های خود را نام ببرید ({list})"),
        ("A rejected applicant cannot be enrolled.", "متقاضی ردشده ثبت‌نام نمی‌شود."),
        ("is not a producer you can enrol", "تولیدکننده‌ای نیست که بتوانید ثبت‌نامش کنید"),
        ("the course is for province {p} only", "دوره فقط برای استان {p} است"),
        ("A live session's attendance is recorded by the implementer.", "حضور در جلسهٔ زنده را مجری ثبت می‌کند."),
        ("applies to live sessions only", "فقط برای جلسه‌های زنده است"),
        ("is required for a live session (true or false)", "برای جلسهٔ زنده الزامی است (true یا false)"),
        ("is not a module of course {c}", "پودمانی از دورهٔ {c} نیست"),
        ("Course {c} has no final assessment (no pass_mark).", "دورهٔ {c} آزمون پایانی ندارد (pass_mark ندارد)."),
        (
            "Progress has been recorded on this module; it stays as a record of that training.",
            "پیشرفتی روی این پودمان ثبت شده است؛ به‌عنوان سابقهٔ آن آموزش می‌ماند."
        ),
        (
            "This course completes by itself when every module is done and the pass mark is reached; missing: {list:l}.",
            "این دوره وقتی همهٔ پودمان‌ها انجام شود و نمرهٔ قبولی به دست آید خودبه‌خود کامل می‌شود؛ مانده: {list}."
        ),
        ("module {id} «{title*}» is not attended", "در پودمان {id} «{title}» حضور ثبت نشده است"),
        ("module {id} «{title*}» is not done", "پودمان {id} «{title}» انجام نشده است"),
        ("the final assessment is not recorded (pass mark {n})", "آزمون پایانی ثبت نشده است (نمرهٔ قبولی {n})"),
        (
            "Every module must be done before staff confirm the completion; missing: {list:l}.",
            "پیش از آنکه کارکنان پایان دوره را تأیید کنند همهٔ پودمان‌ها باید انجام شده باشند؛ مانده: {list}."
        ),
        (
            "Progress has been recorded on this module; its kind can no longer change.",
            "پیشرفتی روی این پودمان ثبت شده است؛ نوع آن دیگر تغییر نمی‌کند."
        ),
        ("{score} is below the pass mark {n}", "{score} از نمرهٔ قبولی {n} کمتر است"),
        ("the course's rules are met", "شرایط دوره برآورده شده است"),

        // Province studies.
        (
            "An approved study cannot change; create a new version for the year instead.",
            "مطالعهٔ تأییدشده تغییر نمی‌کند؛ به جای آن نسخهٔ تازه‌ای برای همان سال بسازید."
        ),
        (
            "A study is approved by someone other than the account that entered it.",
            "مطالعه را کسی جز حسابی که آن را وارد کرده است تأیید می‌کند."
        ),
        ("A study without rows cannot be approved.", "مطالعهٔ بی‌ردیف تأییدشدنی نیست."),
        (
            "Only the implementers of {p} (or an admin) edit its studies.",
            "فقط مجریان {p} (یا مدیر) مطالعه‌های آن را ویرایش می‌کنند."
        ),
        ("Only the supervisor of {p} (or an admin) approves its studies.", "فقط ناظر {p} (یا مدیر) مطالعه‌های آن را تأیید می‌کند."),
        (
            "Province {p} already has a draft study for {y} (id {id}); edit or approve it.",
            "استان {p} هم‌اکنون پیش‌نویس مطالعه‌ای برای {y} دارد (شناسهٔ {id})؛ آن را ویرایش یا تأیید کنید."
        ),
        (
            "A study is approved by someone other than the accounts that entered or edited it.",
            "مطالعه را کسی جز حساب‌هایی که آن را وارد یا ویرایش کرده‌اند تأیید می‌کند."
        ),
        ("a quoted cell is not closed", "خانهٔ داخل گیومه بسته نشده است"),
        ("must be a whole number (got \"{v*}\")", "باید عدد صحیح باشد (رسید: \"{v}\")"),
        ("repeats row {n}", "ردیف {n} را تکرار می‌کند"),
        ("a study can only move to approved", "مطالعه فقط به approved می‌رود"),
        ("a study has at most {n} rows", "مطالعه حداکثر {n} ردیف دارد"),
        (
            "{n} row(s) are invalid; nothing was imported. Send it with dry_run=true for the full report.",
            "{n} ردیف نامعتبر است؛ چیزی وارد نشد. برای گزارش کامل آن را با dry_run=true بفرستید."
        ),
        ("the CSV is empty; the first row names the columns", "فایل CSV خالی است؛ ردیف نخست نام ستون‌ها را می‌آورد"),
        ("the CSV has a header but no rows", "فایل CSV سرآیند دارد ولی ردیفی ندارد"),
        ("column is missing from the header", "ستون در سرآیند نیامده است"),
        ("is not a column of a study ({list*})", "ستونی از مطالعه نیست ({list})"),
        ("appears twice in the header", "دو بار در سرآیند آمده است"),
        ("appears twice in the study", "دو بار در مطالعه آمده است"),
        ("has {a} cells; the header has {b}", "{a} خانه دارد؛ سرآیند {b} خانه دارد"),

        // Spreadsheets: product import and order export.
        ("is not a column of a product import ({list*})", "ستونی از ورود محصولات نیست ({list})"),
        (
            "a quoted cell is not closed; the file was not read past this row",
            "خانهٔ داخل گیومه بسته نشده است؛ فایل پس از این ردیف خوانده نشد"
        ),
        ("a file has at most {n} products", "هر فایل حداکثر {n} محصول دارد"),
        (
            "must be min_quantity:unit_price_rials pairs separated by ; (e.g. 10:95000;50:90000)",
            "باید جفت‌های min_quantity:unit_price_rials جداشده با ; باشد (مانند 10:95000;50:90000)"
        ),
        (
            "More than {n} quotes match; narrow status or demand_id and export in parts.",
            "بیش از {n} پیشنهاد قیمت با این شرط‌ها جور است؛ status یا demand_id را تنگ‌تر کنید و در چند بخش بگیرید."
        ),
        ("must not contain control characters", "نباید نویسهٔ کنترلی داشته باشد"),
        (
            "More than {n} orders match; narrow created_from and created_to and export in parts.",
            "بیش از {n} سفارش با این شرط‌ها جور است؛ created_from و created_to را تنگ‌تر کنید و در چند بخش بگیرید."
        ),

        // Inspections.
        ("This inspection has no follow-up to close.", "این بازرسی پیگیری‌ای برای بستن ندارد."),
        ("is not a {kind} of your province", "{kind} استان شما نیست"),
        ("is required for a {kind} inspection", "برای بازرسی {kind} الزامی است"),
        ("is required for a general inspection", "برای بازرسی عمومی الزامی است"),
        ("is required for a general inspection: say what was inspected", "برای بازرسی عمومی الزامی است: بگویید چه بازرسی شد"),
        ("is not taken by a general inspection", "در بازرسی عمومی پذیرفته نمی‌شود"),
        ("is not a province you work in", "استانی نیست که در آن کار می‌کنید"),
        ("is only given when rejecting", "فقط هنگام رد کردن داده می‌شود"),

        // Catalogue, packaging, certificates.
        ("Only producers list products.", "فقط تولیدکنندگان محصول عرضه می‌کنند."),
        ("A rejected applicant cannot list products.", "متقاضی ردشده محصول عرضه نمی‌کند."),
        (
            "Only a verified producer's products can be listed; this producer is \"{status}\".",
            "فقط محصولات تولیدکنندهٔ تأییدشده عرضه می‌شوند؛ این تولیدکننده «{status}» است."
        ),
        ("An archived product cannot be changed.", "محصول بایگانی‌شده تغییر نمی‌کند."),
        ("An archived product cannot be edited.", "محصول بایگانی‌شده ویرایش نمی‌شود."),
        (
            "You declared this packaging yourself; another supervisor of the province or an admin must approve it.",
            "این بسته‌بندی را خودتان اظهار کرده‌اید؛ ناظر دیگری از استان یا مدیر باید آن را تأیید کند."
        ),
        (
            "The declared level is now {now}, not {given}: read the declaration again and review what is declared.",
            "سطح اظهارشده اکنون {now} است، نه {given}: اظهارنامه را دوباره بخوانید و آنچه اظهار شده را بررسی کنید."
        ),
        ("is required to approve: the declared level you reviewed", "برای تأیید الزامی است: سطح اظهارشده‌ای که بررسی کردید"),
        ("is required to reject a packaging declaration", "برای رد اظهارنامهٔ بسته‌بندی الزامی است"),
        ("is required when moving to {target}", "هنگام رفتن به {target} الزامی است"),

        // Demands, matching, invitations.
        ("Demands are posted by partner accounts.", "درخواست‌های تأمین را حساب‌های شریک می‌فرستند."),
        (
            "Demand {id} is {status}; invitations are sent for open demands.",
            "درخواست تأمین {id} در وضعیت {status} است؛ دعوت برای درخواست‌های باز فرستاده می‌شود."
        ),
        ("a demand cannot be reopened; post a new one", "درخواست تأمین دوباره باز نمی‌شود؛ درخواست تازه‌ای بفرستید"),
        ("Invitations are sent by the demand's partner.", "دعوت‌ها را شریکِ درخواست تأمین می‌فرستد."),
        ("Invitations are answered by the invited producer.", "به دعوت‌ها تولیدکنندهٔ دعوت‌شده پاسخ می‌دهد."),
        ("is not a listed product of producer {id}", "محصول عرضه‌شدهٔ تولیدکنندهٔ {id} نیست"),
        (
            "Product {p} no longer passes demand {d}'s requirements (listing, certificates, packaging).",
            "محصول {p} دیگر شرایط درخواست تأمین {d} را ندارد (عرضه، گواهی‌ها، بسته‌بندی)."
        ),
        ("is not a product of producer {id}", "محصولی از تولیدکنندهٔ {id} نیست"),

        // Quotes.
        ("Quotes are sent by producers.", "پیشنهاد قیمت را تولیدکنندگان می‌فرستند."),
        ("Quotes are revised by the quoting producer.", "پیشنهاد قیمت را تولیدکنندهٔ فرستنده‌اش اصلاح می‌کند."),
        ("Quotes are withdrawn by the quoting producer.", "پیشنهاد قیمت را تولیدکنندهٔ فرستنده‌اش پس می‌گیرد."),
        (
            "is not a listed product of yours that meets this demand's requirements (category, unit, packaging, certificates)",
            "محصول عرضه‌شدهٔ شما که شرایط این درخواست تأمین (دسته، واحد، بسته‌بندی، گواهی‌ها) را داشته باشد نیست"
        ),
        ("must be a multiple of the product's order increment {n}", "باید مضربی از گام سفارش محصول، {n}، باشد"),
        ("must not exceed the demand's quantity {n}", "نباید از مقدار درخواست تأمین، {n}، بیشتر شود"),
        (
            "must not exceed the product's stock ({n}): accepting places an order that reserves it now",
            "نباید از موجودی محصول ({n}) بیشتر شود: پذیرفتن، سفارشی ثبت می‌کند که همین حالا آن را رزرو می‌کند"
        ),
        (
            "is required: the product's price for this quantity ({p}) exceeds the demand's max_unit_price_rials ({m})",
            "الزامی است: قیمت محصول برای این مقدار ({p}) از max_unit_price_rials درخواست تأمین ({m}) بیشتر است"
        ),
        (
            "must let the goods arrive by the demand's needed_by ({n} days from today)",
            "باید کالا تا needed_by درخواست تأمین برسد ({n} روز از امروز)"
        ),
        ("must not be after the demand's needed_by", "نباید پس از needed_by درخواست تأمین باشد"),
        (
            "You already have an open quote for this product on this demand; revise it (POST /v1/quotes/{id}/revisions).",
            "برای این محصول در این درخواست تأمین پیشنهاد قیمت باز دارید؛ آن را اصلاح کنید (POST /v1/quotes/{id}/revisions)."
        ),
        (
            "The quote passed its valid_until and can no longer be answered.",
            "اعتبار پیشنهاد قیمت (valid_until) گذشته است و دیگر نمی‌توان به آن پاسخ داد."
        ),
        (
            "Send If-Match with the ETag of the quote as you read it (GET /v1/quotes/{{id}}: its version in quotes, e.g. \"2\"); `*` names no version.",
            "If-Match را با ETag پیشنهاد قیمت، همان‌گونه که آن را خواندید، بفرستید (GET /v1/quotes/{{id}}: نسخهٔ آن در گیومه، مانند \"2\")؛ `*` هیچ نسخه‌ای را نام نمی‌برد."
        ),
        (
            "Demand {id} is {status}; quotes are accepted on open demands.",
            "درخواست تأمین {id} در وضعیت {status} است؛ پیشنهاد قیمت فقط برای درخواست‌های باز پذیرفته می‌شود."
        ),
        ("must not exceed the quoted quantity {n}", "نباید از مقدار پیشنهادشده، {n}، بیشتر شود"),
        (
            "Demand {id}'s quantity ({n}) is already covered by its orders.",
            "مقدار درخواست تأمین {id} ({n}) با سفارش‌های آن پوشش داده شده است."
        ),
        (
            "Only {n} of demand {id}'s quantity remain uncovered; accept a smaller quantity.",
            "فقط {n} از مقدار درخواست تأمین {id} بی‌پوشش مانده است؛ مقدار کمتری بپذیرید."
        ),
        (
            "is not a product of producer {id} that matches this demand (see its matches)",
            "محصولی از تولیدکنندهٔ {id} که با این درخواست تأمین جور باشد نیست (جورشده‌هایش را ببینید)"
        ),
        (
            "must not exceed the demand's max_unit_price_rials ({n})",
            "نباید از max_unit_price_rials درخواست تأمین ({n}) بیشتر شود"
        ),
        ("is below the product's minimum order quantity {n}", "از حداقل مقدار سفارش محصول، {n}، کمتر است"),

        // Orders.
        ("is not a producer whose products can be ordered", "تولیدکننده‌ای نیست که بتوان از محصولاتش سفارش داد"),
        ("appears twice; put the whole quantity on one line", "دو بار آمده است؛ همهٔ مقدار را در یک سطر بگذارید"),
        ("is below the minimum order quantity {n}", "از حداقل مقدار سفارش، {n}، کمتر است"),
        ("must be a multiple of the order increment {n}", "باید مضربی از گام سفارش، {n}، باشد"),
        (
            "must be a multiple of the order increment {n} (for example {a} or {b})",
            "باید مضربی از گام سفارش، {n}، باشد (برای نمونه {a} یا {b})"
        ),
        // Wholesale terms of products.
        ("must have at most {n} tiers", "باید حداکثر {n} پله داشته باشد"),
        ("must be above min_order_qty ({n})", "باید بیشتر از min_order_qty ({n}) باشد"),
        ("must be above the previous tier's min_quantity ({n})", "باید بیشتر از min_quantity پلهٔ قبلی ({n}) باشد"),
        ("must be a multiple of order_increment ({n})", "باید مضربی از order_increment ({n}) باشد"),
        ("must be below price_rials ({n})", "باید کمتر از price_rials ({n}) باشد"),
        ("must be below the previous tier's unit_price_rials ({n})", "باید کمتر از unit_price_rials پلهٔ قبلی ({n}) باشد"),
        ("must not be below price_rials ({n})", "نباید کمتر از price_rials ({n}) باشد"),
        ("must be 0 to 365 days", "باید از 0 تا 365 روز باشد"),
        ("must be at most 1000000000", "باید حداکثر 1000000000 باشد"),
        (
            "must be above the first price tier's unit_price_rials ({n}) (or change price_tiers in the same request)",
            "باید بیشتر از unit_price_rials نخستین پلهٔ قیمت ({n}) باشد (یا price_tiers را در همین درخواست تغییر دهید)"
        ),
        (
            "must be below the first price tier's min_quantity ({n}) (or change price_tiers in the same request)",
            "باید کمتر از min_quantity نخستین پلهٔ قیمت ({n}) باشد (یا price_tiers را در همین درخواست تغییر دهید)"
        ),
        (
            "must divide every price tier's min_quantity (or change price_tiers in the same request)",
            "min_quantity همهٔ پله‌های قیمت باید بر آن بخش‌پذیر باشد (یا price_tiers را در همین درخواست تغییر دهید)"
        ),
        ("only {n} available", "فقط {n} موجود است"),
        ("the order total is too large", "جمع سفارش بیش از اندازه بزرگ است"),
        ("Product {id} has {n} available; {q} were ordered.", "محصول {id} فقط {n} موجودی دارد؛ {q} سفارش داده شد."),
        ("The {role} role cannot move an order to {target}.", "نقش {role} نمی‌تواند سفارش را به {target} ببرد."),
        (
            "The order was not accepted by its accept-by time (expires_at) and has expired; its stock is released.",
            "سفارش تا مهلت پذیرش (expires_at) پذیرفته نشد و منقضی شده است؛ موجودی‌اش آزاد شد."
        ),
        (
            "Staff only settle disputes: a disputed order moves to delivered (for the producer) or dispute_upheld.",
            "کارکنان فقط اختلاف را فیصله می‌دهند: سفارش مورد اختلاف به delivered (به سود تولیدکننده) یا dispute_upheld می‌رود."
        ),
        (
            "Only an order rejected for a buyer-side reason (buyer_unreachable, buyer_request, suspected_fraud, delivery_address_invalid) has a reason to confirm.",
            "فقط سفارشی که به دلیلی از سوی خریدار رد شده است (buyer_unreachable، buyer_request، suspected_fraud، delivery_address_invalid) دلیلی برای تأیید دارد."
        ),
        ("is required to ship", "برای ارسال الزامی است"),
        ("is required to dispute a delivery", "برای اعتراض به تحویل الزامی است"),
        (
            "is required to settle a dispute: say what was decided and why",
            "برای فیصلهٔ اختلاف الزامی است: بگویید چه تصمیمی گرفته شد و چرا"
        ),
        (
            "is required to reject: say whether the producer cannot supply or the buyer is the problem",
            "برای رد کردن الزامی است: بگویید تولیدکننده نمی‌تواند تأمین کند یا مشکل از خریدار است"
        ),
        (
            "is required when staff confirm a rejection reason on the buyer's behalf",
            "وقتی کارکنان از سوی خریدار دلیل رد را تأیید می‌کنند الزامی است"
        ),
        (
            "is replaced by items: [{\"id\": …, \"version\": …}], each with the version you checked",
            "جای خود را به items: [{\"id\": …, \"version\": …}] داده است، هر کدام با نسخه‌ای که بررسی کردید"
        ),

        // Export shipments.
        (
            "Export shipments are recorded by exporter partners and producers.",
            "محموله‌های صادراتی را شریکان صادرکننده و تولیدکنندگان ثبت می‌کنند."
        ),
        ("Only the shipment's producer confirms it.", "فقط تولیدکنندهٔ محموله آن را تأیید می‌کند."),
        ("Only whoever recorded the shipment corrects it.", "فقط کسی که محموله را ثبت کرده است آن را اصلاح می‌کند."),
        (
            "Export shipment {id} is {status}; only declared shipments are corrected.",
            "محمولهٔ صادراتی {id} در وضعیت {status} است؛ فقط محموله‌های اظهارشده اصلاح می‌شوند."
        ),
        (
            "Export shipment {id} is {status}; only declared shipments are confirmed.",
            "محمولهٔ صادراتی {id} در وضعیت {status} است؛ فقط محموله‌های اظهارشده تأیید می‌شوند."
        ),
        (
            "Export shipment {id} was recorded by an exporter without an order between them; its producer must confirm it (POST /v1/export-shipments/{id2}/confirmation) before it can be cleared.",
            "محمولهٔ صادراتی {id} را صادرکننده‌ای بی سفارشی میان آن دو ثبت کرده است؛ تولیدکننده‌اش باید پیش از ترخیص آن را تأیید کند (POST /v1/export-shipments/{id2}/confirmation)."
        ),
        (
            "Send If-Match with the ETag of the shipment as you checked it against the customs declaration (GET /v1/export-shipments/{{id}} or the verification queue's version); `*` names no version.",
            "If-Match را با ETag محموله، همان‌گونه که آن را با اظهارنامهٔ گمرکی سنجیدید، بفرستید (GET /v1/export-shipments/{{id}} یا نسخهٔ صف راستی‌آزمایی)؛ `*` هیچ نسخه‌ای را نام نمی‌برد."
        ),
        (
            "is required to reject a shipment (what does not match the declaration)",
            "برای رد محموله الزامی است (آنچه با اظهارنامه جور نیست)"
        ),
        (
            "Only whoever recorded the shipment, or an export officer, marks it shipped.",
            "فقط کسی که محموله را ثبت کرده است، یا کارشناس صادرات، آن را ارسال‌شده علامت می‌زند."
        ),
        (
            "Only an export officer clears or rejects a shipment, after checking its customs declaration.",
            "فقط کارشناس صادرات، پس از بررسی اظهارنامهٔ گمرکی، محموله را ترخیص یا رد می‌کند."
        ),
        (
            "is above the ceiling of US$ {v} per shipment; a larger consignment is declared in several shipments",
            "از سقف {v} دلار آمریکا برای هر محموله بیشتر است؛ محمولهٔ بزرگ‌تر در چند محموله اظهار می‌شود"
        ),
        ("is not an order of producer {id} bought by your company", "سفارشی از تولیدکنندهٔ {id} که شرکت شما خریده باشد نیست"),
    ]

    // MARK: - Matching

    struct Template: Sendable {
        enum Kind: Sendable { case token, text, phrase, list }
        let persian: String
        let regex: NSRegularExpression
        let names: [(String, Kind)]
        let literalLength: Int
    }

    static let compiled: (exact: [String: String], templates: [Template]) = {
        var exact: [String: String] = [:]
        var templates: [Template] = []
        let placeholder = try! NSRegularExpression(pattern: #"\{([a-z0-9]+)(\*|:t|:l)?\}"#)
        for (english, persian) in catalogue {
            // "{{" and "}}" are literal braces.
            let english = english.replacingOccurrences(of: "{{", with: "\u{1}").replacingOccurrences(of: "}}", with: "\u{2}")
            let ns = english as NSString
            let matches = placeholder.matches(in: english, range: NSRange(location: 0, length: ns.length))
            func literal(_ s: String) -> String {
                s.replacingOccurrences(of: "\u{1}", with: "{").replacingOccurrences(of: "\u{2}", with: "}")
            }
            if matches.isEmpty {
                exact[literal(english)] = unescape(persian)
                continue
            }
            var pattern = "^"
            var names: [(String, Template.Kind)] = []
            var cursor = 0
            var literalLength = 0
            for m in matches {
                let text = literal(ns.substring(with: NSRange(location: cursor, length: m.range.location - cursor)))
                literalLength += text.count
                pattern += NSRegularExpression.escapedPattern(for: text)
                let name = ns.substring(with: m.range(at: 1))
                let kind: Template.Kind
                switch m.range(at: 2).location == NSNotFound ? "" : ns.substring(with: m.range(at: 2)) {
                case "*": kind = .text
                case ":t": kind = .phrase
                case ":l": kind = .list
                default: kind = .token
                }
                pattern += kind == .token ? #"(\S+?)"# : "(.+?)"
                names.append((name, kind))
                cursor = m.range.location + m.range.length
            }
            let tail = literal(ns.substring(from: cursor))
            literalLength += tail.count
            pattern += NSRegularExpression.escapedPattern(for: tail) + "$"
            let regex = try! NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
            templates.append(Template(persian: persian, regex: regex, names: names, literalLength: literalLength))
        }
        templates.sort { $0.literalLength > $1.literalLength }
        return (exact, templates)
    }()

    /// The Persian text for an English message, or nil when no template matches it.
    public static func translate(_ english: String) -> String? {
        if let found = compiled.exact[english] { return found }
        let ns = english as NSString
        let whole = NSRange(location: 0, length: ns.length)
        templates: for template in compiled.templates {
            guard let m = template.regex.firstMatch(in: english, range: whole) else { continue }
            var result = template.persian
            for (i, (name, kind)) in template.names.enumerated() {
                var value = ns.substring(with: m.range(at: i + 1))
                switch kind {
                case .token, .text: break
                case .phrase:
                    guard let translated = translate(value) else { continue templates }
                    value = translated
                case .list:
                    var parts: [String] = []
                    for part in value.components(separatedBy: "; ") {
                        guard let translated = translate(part) else { continue templates }
                        parts.append(translated)
                    }
                    value = parts.joined(separator: "؛ ")
                }
                result = result.replacingOccurrences(of: "{\(name)}", with: value)
            }
            return unescape(result)
        }
        return nil
    }

    static func unescape(_ persian: String) -> String {
        persian.replacingOccurrences(of: "{{", with: "{").replacingOccurrences(of: "}}", with: "}")
    }
}

// MARK: - Applying it to problem documents

extension APIError {
    /// This problem in `language`: a Persian title by `code`, Persian detail and field messages by
    /// the catalogue, the English originals kept (`detail_en`, `message_en`) where no template
    /// matched. `code`, `status`, fields and extra members never change.
    public func localized(_ language: Language) -> APIError {
        guard language == .fa else { return self }
        var copy = self
        let localized = Localization.localize(
            code: code, status: Int(status.code), title: title, detail: detail,
            errors: errors.map { ($0.field, $0.message) })
        copy.title = localized.title
        copy.detail = localized.detail
        copy.errors = localized.errors.map { FieldError($0.field, $0.message, english: $0.english) }
        if let english = localized.detailEnglish { copy.extra["detail_en"] = english }
        return copy
    }
}

extension APIError {
    /// The response in `language`, marked with `Content-Language` (so it is not translated twice).
    public func localizedResponse(_ language: Language, from request: Request, context: some RequestContext) throws
        -> Response
    {
        var response = try localized(language).response(from: request, context: context)
        response.headers[.contentLanguage] = language.rawValue
        return response
    }
}

extension Localization {
    struct Localized {
        var title: String
        var detail: String?
        var detailEnglish: String?
        var errors: [(field: String, message: String, english: String?)]
    }

    /// The Persian reading of one problem document's human-readable members.
    static func localize(code: String, status: Int, title: String, detail: String?, errors: [(String, String)])
        -> Localized
    {
        let fields = errors.map { field, message -> (field: String, message: String, english: String?) in
            if let persian = translate(message) { return (field, persian, nil) }
            return (field, fallbackFieldMessage, message)
        }
        var result = Localized(title: self.title(code: code, english: title, status: status), detail: nil, errors: fields)
        guard let detail else { return result }
        // The default detail of a validation problem lists the field messages: list them in Persian.
        if !errors.isEmpty, detail == errors.map({ "\($0.0): \($0.1)" }).joined(separator: "; ") {
            result.detail = fields.map { "\($0.field): \($0.message)" }.joined(separator: "؛ ")
            if fields.contains(where: { $0.english != nil }) { result.detailEnglish = detail }
        } else if let persian = translate(detail) {
            result.detail = persian
        } else {
            result.detail = fallbackDetail(code: code, status: status)
            result.detailEnglish = detail
        }
        return result
    }

    /// The same for a problem document already rendered as JSON (a stored idempotent reply).
    static func localize(json: String) -> String? {
        guard let data = json.data(using: .utf8),
            var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let code = object["code"] as? String, let status = object["status"] as? Int,
            let title = object["title"] as? String
        else { return nil }
        let items = (object["errors"] as? [[String: Any]]) ?? []
        let errors = items.compactMap { item -> (String, String)? in
            guard let field = item["field"] as? String, let message = item["message"] as? String else { return nil }
            return (field, message)
        }
        let localized = localize(
            code: code, status: status, title: title, detail: object["detail"] as? String, errors: errors)
        object["title"] = localized.title
        if let detail = localized.detail { object["detail"] = detail }
        if let english = localized.detailEnglish { object["detail_en"] = english }
        if errors.count == items.count, !items.isEmpty {
            object["errors"] = localized.errors.map { error -> [String: Any] in
                var item: [String: Any] = ["field": error.field, "message": error.message]
                if let english = error.english { item["message_en"] = english }
                return item
            }
        }
        guard let out = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Localization {
    /// Last step of `ProblemMiddleware` for every response: a problem document gets
    /// `Content-Language` and `Vary: Accept-Language`; one a handler returned instead of throwing
    /// (a stored idempotent reply) is translated here, from its JSON.
    static func finish(_ response: Response, language: Language) async throws -> Response {
        guard response.headers[.contentType]?.hasPrefix("application/problem+json") == true else { return response }
        var response = response
        if response.headers[.contentLanguage] == nil, language == .fa {
            let sink = BodySink()
            try await response.body.write(sink)
            if let json = Localization.localize(json: String(buffer: sink.buffer)) {
                response.body = .init(byteBuffer: ByteBuffer(string: json))
            } else {
                response.body = .init(byteBuffer: sink.buffer)
            }
        }
        response.headers[.contentLanguage] = language.rawValue
        let vary = response.headers[values: .vary]
        if !vary.contains(where: { $0.lowercased().contains("accept-language") }) {
            response.headers.append(HTTPField(name: .vary, value: "Accept-Language"))
        }
        return response
    }

    /// Collects a response body (problem documents are small and already in memory).
    final class BodySink: ResponseBodyWriter, @unchecked Sendable {
        var buffer = ByteBuffer()
        func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            self.buffer.writeBuffer(&buffer)
        }
        func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws {
            for buffer in buffers { try await write(buffer) }
        }
        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
