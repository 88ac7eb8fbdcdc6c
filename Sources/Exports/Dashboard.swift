import BazaarcheCore
import Foundation

/// GET /dashboard/exports: a self-contained page for export officers (no CDN, works offline, RTL).
/// The server renders the frame, today's Solar Hijri month, the provinces, the countries and the HS
/// chapters with their Persian titles; the page signs in with an API token (kept in
/// sessionStorage, or passed as #token=…) and draws the figures from GET /v1/export-figures:
/// a Solar Hijri range of months or quarters, filters by province, HS prefix and destination,
/// this period against the same period a year before, and a CSV download of the same figures.
public struct Dashboard: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func options(_ rows: [(String, String)]) -> String {
        rows.map { "<option value=\"\(escape($0.0))\">\(escape($0.1))</option>" }.joined()
    }

    func page() async throws -> String {
        let today = SolarHijri.today()
        let j = SolarHijri.fromGregorian(year: today.year, month: today.month, day: today.day)
        let provinces = try await db.rows("SELECT code, name_fa FROM provinces ORDER BY name_fa").map {
            try $0.decode((String, String).self)
        }
        let countries = try await db.rows(
            "SELECT alpha2, coalesce(name_fa, name_en) FROM countries WHERE alpha2 <> 'IR' ORDER BY 2"
        ).map { try $0.decode((String, String).self) }
        // Chapters for the HS prefix suggestions (and Persian names where a row lacks one).
        let chapters = try await db.rows(
            "SELECT code, coalesce(title_fa, title_en) FROM hs_codes WHERE level = 2 ORDER BY code"
        ).map { try $0.decode((String, String).self) }
        // Persian titles of chapters and headings, for a code that has none of its own (the
        // page shows the nearest ancestor's, marked as such, never a wrong exact title).
        let titles =
            try await db.text(
                "SELECT coalesce(json_object_agg(code, title_fa ORDER BY code), '{}')::text FROM hs_codes WHERE level IN (2, 4) AND title_fa IS NOT NULL"
            ) ?? "{}"
        let hsOptions = chapters.map { "<option value=\"\(Self.escape($0.0))\" label=\"\(Self.escape($0.0 + " — " + $0.1))\">" }
            .joined()
        // The default range: the last twelve Solar Hijri months, ending with today's (Tehran).
        var month = j.year * 100 + j.month
        var months: [String] = []
        for _ in 0..<12 {
            months.insert(String(format: "%04d-%02d", month / 100, month % 100), at: 0)
            month = ReportMonths.previous(month)
        }
        let years = stride(from: j.year, through: j.year - 5, by: -1).map { "<option value=\"\($0)\">\($0)</option>" }.joined()
        return Self.template
            .replacingOccurrences(of: "{{TODAY}}", with: String(format: "%04d-%02d", j.year, j.month))
            .replacingOccurrences(of: "{{YEARS}}", with: years)
            .replacingOccurrences(of: "{{MONTHS}}", with: months.joined(separator: ","))
            .replacingOccurrences(of: "{{PROVINCES}}", with: Self.options(provinces))
            .replacingOccurrences(of: "{{COUNTRIES}}", with: Self.options(countries))
            .replacingOccurrences(of: "{{CHAPTERS}}", with: hsOptions)
            // Inside <script type="application/json">: only "</" could end it early.
            .replacingOccurrences(of: "{{HS_TITLES}}", with: titles.replacingOccurrences(of: "<", with: "\\u003c"))
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/dashboard/exports") { _, _ in
            OfflinePage.response(try await page())
        }
    }

    static let template = #"""
        <!doctype html>
        <html lang="fa" dir="rtl">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>داشبورد صادرات غیرنفتی — بازارچه</title>
        <style>
          :root { --ink: #1d2733; --muted: #5b6b7c; --bar: #1f7a5c; --prev: #b8c4cf; --line: #dde3ea; --bg: #f6f8fa; }
          * { box-sizing: border-box; }
          body { margin: 0; font-family: Vazirmatn, "Noto Sans Arabic", "DejaVu Sans", Tahoma, sans-serif; color: var(--ink);\#
         background: var(--bg); }
          header { background: #fff; border-bottom: 1px solid var(--line); padding: 12px 24px; }
          header .top { display: flex; gap: 16px; align-items: center; }
          header h1 { font-size: 20px; margin: 0 0 0 auto; }
          form#filters { display: flex; gap: 12px 20px; flex-wrap: wrap; align-items: end; margin-top: 10px; }
          form#filters label { display: flex; flex-direction: column; gap: 2px; font-size: 13px; color: var(--muted); }
          form#filters fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px 8px; display: flex; gap: 6px;\#
         align-items: end; }
          legend { font-size: 13px; color: var(--muted); }
          main { padding: 24px; display: grid; gap: 24px; grid-template-columns: 1fr 1fr; }
          section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
          section.wide { grid-column: 1 / -1; }
          h2 { font-size: 16px; margin: 0 0 12px; }
          table { width: 100%; border-collapse: collapse; font-size: 14px; }
          th, td { text-align: right; padding: 6px 8px; border-bottom: 1px solid var(--line); }
          td.num { text-align: left; direction: ltr; font-variant-numeric: tabular-nums; }
          .muted { color: var(--muted); font-size: 13px; }
          .totals { display: flex; gap: 32px; margin-bottom: 8px; flex-wrap: wrap; }
          .totals b { display: block; font-size: 22px; }
          .legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 8px; vertical-align: middle; }
          svg { direction: ltr; }  /* anchors in SVG coordinates, not the page's RTL */
          svg text { font-family: inherit; font-size: 11px; fill: var(--muted); }
          svg text.partial { fill: #1f7a5c; }
          #signin { max-width: 420px; margin: 80px auto; background: #fff; border: 1px solid var(--line); border-radius: 8px;\#
         padding: 24px; }
          input, select, button { font: inherit; padding: 5px 8px; }
          input#hs { width: 9em; direction: ltr; }
          .error { color: #b42318; }
        </style>
        </head>
        <body data-state="loading" data-today="{{TODAY}}" data-months="{{MONTHS}}">
        <div id="signin" hidden>
          <h2>ورود با توکن</h2>
          <p class="muted">توکن دسترسی کارشناس صادرات، مدیر یا ناظر استان را وارد کنید (از <code>POST /v1/auth/tokens</code>).</p>
          <form id="signin-form"><input id="token" type="password" autocomplete="off" style="width:100%" aria-label="توکن">
          <p><button type="submit">ورود</button></p></form>
          <p id="signin-error" class="error"></p>
        </div>
        <div id="app" hidden>
          <header>
            <div class="top"><h1>صادرات غیرنفتی محصولات خانگی</h1>
              <button id="csv" type="button" title="همین ارقام با همین فیلترها، برای اکسل">دریافت CSV</button>
              <button id="signout" type="button">خروج</button></div>
            <form id="filters">
              <fieldset><legend>بازه (هجری شمسی)</legend>
                <label>بر حسب <select id="grain"><option value="month">ماه</option><option value="quarter">سه‌ماهه</option></select></label>
                <label>از سال <select id="from-year">{{YEARS}}</select></label>
                <label>ماه/سه‌ماهه <select id="from-part"></select></label>
                <label>تا سال <select id="to-year">{{YEARS}}</select></label>
                <label>ماه/سه‌ماهه <select id="to-part"></select></label>
              </fieldset>
              <label>استان <select id="province"><option value="">همه استان‌ها</option>{{PROVINCES}}</select></label>
              <label>کد تعرفه (HS) <input id="hs" list="hs-chapters" inputmode="numeric" autocomplete="off"\#
         placeholder="مثلاً ۵۷ یا ۰۹۱۰"></label>
              <datalist id="hs-chapters">{{CHAPTERS}}</datalist>
              <script type="application/json" id="hs-titles">{{HS_TITLES}}</script>
              <label>کشور مقصد <select id="destination"><option value="">همه کشورها</option>{{COUNTRIES}}</select></label>
              <button type="submit">نمایش</button>
            </form>
            <p class="muted" style="margin:8px 0 0">از <span id="range-from"></span> تا <span id="range-to"></span>؛ فقط\#
         اظهارنامه‌های ترخیص‌شده و ارسال‌شده (تأییدشده به‌دست کارشناس صادرات)<span id="partial-note"></span></p>
          </header>
          <main>
            <section class="wide">
              <h2>ارزش فوب صادرات غیرنفتی (دلار آمریکا) در مقایسه با سال قبل</h2>
              <div class="totals"><div><span class="muted">جمع ارزش فوب</span><b id="total-fob">—</b></div>
                <div><span class="muted">همین بازه در سال قبل</span><b id="total-previous">—</b></div>
                <div><span class="muted">رشد</span><b id="total-growth">—</b></div>
                <div><span class="muted">تعداد محموله</span><b id="total-count">—</b></div>
                <div><span class="muted">وزن خالص (کیلوگرم)</span><b id="total-weight">—</b></div></div>
              <p class="legend muted"><span style="background:var(--bar)"></span>این دوره<span\#
         style="background:var(--prev)"></span>همان دوره در سال قبل <span id="compare-note"></span></p>
              <div id="chart" role="img" aria-label="نمودار مقایسه با سال قبل"></div>
            </section>
            <section><h2>مقاصد اصلی</h2><table><thead><tr><th>کشور</th><th>محموله</th><th>ارزش فوب\#
         (دلار)</th></tr></thead><tbody id="destinations"></tbody></table></section>
            <section><h2 id="hs-heading">کدهای تعرفه (HS)</h2><table><thead><tr><th>کد و عنوان</th><th>محموله</th><th>ارزش فوب\#
         (دلار)</th></tr></thead><tbody id="codes"></tbody></table></section>
          </main>
          <p id="error" class="error" style="padding:0 24px"></p>
        </div>
        <script>
        (() => {
        "use strict";
        const MONTHS = ["فروردین","اردیبهشت","خرداد","تیر","مرداد","شهریور","مهر","آبان","آذر","دی","بهمن","اسفند"];
        const QUARTERS = ["بهار","تابستان","پاییز","زمستان"];
        const fa = new Intl.NumberFormat("fa-IR");
        const usd = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 0 });
        const $ = (id) => document.getElementById(id);
        const faDigits = (s) => String(s).replace(/[0-9]/g, (d) => "۰۱۲۳۴۵۶۷۸۹"[d]);
        const asciiDigits = (s) => String(s).replace(/[۰-۹]/g, (d) => "۰۱۲۳۴۵۶۷۸۹".indexOf(d)).replace(/[٠-٩]/g, (d) => "٠١٢٣٤٥٦٧٨٩".indexOf(d));
        const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"\#
         })[c]);
        const cents = (v) => Math.round(Number(v) * 100);
        // Persian titles of chapters and headings (server-rendered); one Persian term per HS level.
        const TITLES = JSON.parse($("hs-titles").textContent || "{}");
        const LEVEL = { 2: "فصل", 4: "سرفصل", 6: "زیرسرفصل" };
        // A code's Persian title, or its nearest ancestor's marked as such («…(از سرفصل ۵۷۰۱)»).
        function titleFa(code, own) {
          if (own) return own;
          for (const n of [4, 2]) {
            const up = code.length > n ? TITLES[code.slice(0, n)] : null;
            if (up) return `${up} (از ${LEVEL[n]} ${faDigits(code.slice(0, n))})`;
          }
          return null;
        }

        // Periods as people say them: 1405-07 is Mehr 1405, 1405-Q2 the summer of 1405.
        const label = (p) => {
          const [y, part] = p.split("-");
          return (part.startsWith("Q") ? QUARTERS[Number(part.slice(1)) - 1] : MONTHS[Number(part) - 1]) + " " + faDigits(y);
        };
        const index = (p) => { const [y, part] = p.split("-"); return part.startsWith("Q") ? Number(y) * 4 + Number(part.slice(1)) - 1 : Number(y) * 12 + Number(part) - 1; };
        const fromIndex = (i, grain) => grain === "quarter" ? `${Math.floor(i / 4)}-Q${i % 4 + 1}` : `${Math.floor(i / 12)}-${String(i % 12 + 1).padStart(2, "0")}`;
        const periods = (from, to, grain) => { const out = []; for (let i = index(from); i <= index(to) && out.length < 120; i++) out.push(fromIndex(i, grain)); return out; };

        function fillParts(select, grain) {
          const keep = select.value;
          select.innerHTML = grain === "quarter"
            ? QUARTERS.map((q, i) => `<option value="Q${i + 1}">${q}</option>`).join("")
            : MONTHS.map((m, i) => `<option value="${String(i + 1).padStart(2, "0")}">${m}</option>`).join("");
          if ([...select.options].some((o) => o.value === keep)) select.value = keep;
        }
        function setPeriod(which, p) {
          const [y, part] = p.split("-");
          $(which + "-year").value = y; $(which + "-part").value = part;
        }
        const period = (which) => $(which + "-year").value + "-" + $(which + "-part").value;

        // Defaults: the last twelve Solar Hijri months, ending with this one; the hash may say otherwise.
        const today = document.body.dataset.today;
        const hash = new URLSearchParams(location.hash.slice(1));
        const grain = (hash.get("from") || "").includes("Q") ? "quarter" : "month";
        $("grain").value = grain; fillParts($("from-part"), grain); fillParts($("to-part"), grain);
        const [ty, tm] = today.split("-").map(Number);
        const defaultTo = grain === "quarter" ? `${ty}-Q${Math.floor((tm - 1) / 3) + 1}` : today;
        const defaultFrom = fromIndex(index(defaultTo) - (grain === "quarter" ? 3 : 11), grain);
        for (const [which, value, fallback] of [["from", hash.get("from"), defaultFrom], ["to", hash.get("to"), defaultTo]]) {
          const p = value && /^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$/.test(value) ? value : fallback;
          const y = p.split("-")[0];
          if (![...$(which + "-year").options].some((o) => o.value === y)) $(which + "-year").insertAdjacentHTML("beforeend", `<option value="${esc(y)}">${esc(y)}</option>`);
          setPeriod(which, p);
        }
        if (hash.get("province")) $("province").value = hash.get("province");
        if (hash.get("hs")) $("hs").value = hash.get("hs");
        if (hash.get("destination")) $("destination").value = hash.get("destination").toUpperCase();
        if (hash.get("token")) sessionStorage.setItem("bazaarche.token", hash.get("token"));
        if (location.hash.length > 1) history.replaceState(null, "", location.pathname);
        let token = sessionStorage.getItem("bazaarche.token");

        // The filters as the API takes them; the CSV link and every call use the same ones.
        function filters() {
          const q = new URLSearchParams({ from: period("from"), to: period("to"), calendar: "jalali", scope: "non_oil" });
          if ($("province").value) q.set("province_code", $("province").value);
          const hs = asciiDigits($("hs").value).replace(/[.\s]/g, "").replace(/،/g, ",");
          if (hs) q.set("hs", hs);
          if ($("destination").value) q.set("destination", $("destination").value);
          return q;
        }

        async function figures(base, extra) {
          const q = new URLSearchParams(base);
          for (const [k, v] of Object.entries(extra)) q.set(k, v);
          const r = await fetch("/v1/export-figures?" + q, { headers: { Authorization: "Bearer " + token, Accept: "application/json",\#
         "Accept-Language": "fa" } });
          if (r.status === 401) { signOut("توکن معتبر نیست یا منقضی شده است."); throw new Error("unauthorized"); }
          const body = await r.json();
          if (!r.ok) { const e = new Error(body.detail || body.title || r.status); e.status = r.status; throw e; }
          return body;
        }

        function topGroups(rows, key, name) {
          const sums = new Map();
          for (const r of rows) {
            const k = r[key] ?? "—";
            const s = sums.get(k) || { label: name(r), count: 0, cents: 0 };
            s.count += r.shipment_count; s.cents += cents(r.fob_value_usd);
            sums.set(k, s);
          }
          return [...sums.values()].sort((a, b) => b.cents - a.cents).slice(0, 10);
        }

        function table(id, rows) {
          $(id).innerHTML = rows.length
            ? rows.map((r) => `<tr><td>${esc(r.label)}</td><td class="num">${fa.format(r.count)}</td><td\#
         class="num">${usd.format(r.cents / 100)}</td></tr>`).join("")
            : `<tr><td colspan="3" class="muted">صادراتی ثبت نشده است</td></tr>`;
        }

        // Right to left: the value axis on the right, the oldest period next to it; each period's
        // bar beside the same period a year before (when the API gives it).
        function chart(labels, current, previous, partial) {
          const values = labels.map((p) => current.get(p) || 0);
          const before = labels.map((p) => previous ? previous.get(p) || 0 : 0);
          const max = Math.max(1, ...values, ...before);
          const W = 1100, H = 260, top = 20, left = 10, axis = 90, bw = (W - axis - left) / labels.length;
          let svg = `<svg viewBox="0 0 ${W} ${H + 40}" width="100%" xmlns="http://www.w3.org/2000/svg"><defs><pattern id="partial"\#
         width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#8fc4b0"/>\#
         <line x1="0" y1="0" x2="0" y2="6" stroke="#1f7a5c" stroke-width="3"/></pattern></defs>`;
          for (let i = 0; i <= 4; i++) {
            const y = top + (H - top) * (1 - i / 4);
            svg += `<line x1="${left}" x2="${W - axis + 6}" y1="${y}" y2="${y}" stroke="#dde3ea"/><text x="${W - 4}" y="${y +\#
         4}" text-anchor="end">${usd.format(max * i / 4 / 100)}</text>`;
          }
          const half = Math.max(2, (bw - 10) / 2);
          labels.forEach((p, i) => {
            const x = W - axis - (i + 1) * bw + 5, h = (H - top) * values[i] / max, hp = (H - top) * before[i] / max;
            if (previous) svg += `<rect x="${x + half}" y="${H - hp}" width="${half}" height="${hp}" fill="#b8c4cf"\#
         data-previous-period="${p}" data-cents="${before[i]}"><title>${label(p)}، سال قبل: ${usd.format(before[i] / 100)} $</title></rect>`;
            // A period still running is drawn hatched and labelled «ناتمام»: its figure will grow.
            const open = partial.has(p);
            svg += `<rect x="${x}" y="${H - h}" width="${previous ? half : bw - 10}" height="${h}" fill="${open ? "url(#partial)" : "#1f7a5c"}"\#
         data-period="${p}" data-cents="${values[i]}"${open ? ' data-partial="true"' : ""}><title>${label(p)}${open ? " (ناتمام)" : ""}:\#
         ${usd.format(values[i] / 100)} $</title></rect>`;
            if (labels.length <= 24 || i % 2 === 0) svg += `<text x="${x + (bw - 10) / 2}" y="${H + 18}" text-anchor="middle">${label(p)}</text>`;
            if (open) svg += `<text x="${x + (bw - 10) / 2}" y="${H + 34}" text-anchor="middle" class="partial">ناتمام</text>`;
          });
          $("chart").innerHTML = svg + "</svg>";
        }

        const growthText = (g) => g === null || g === undefined ? "—" : (Number(g) > 0 ? "+" : "") + faDigits(Number(g).toFixed(1)) + "٪";

        async function load() {
          document.body.dataset.state = "loading";
          $("error").textContent = ""; $("compare-note").textContent = "";
          const grain = $("grain").value, from = period("from"), to = period("to");
          if (index(from) > index(to)) { $("error").textContent = "آغاز بازه پس از پایان آن است."; document.body.dataset.state = "error"; return; }
          $("range-from").textContent = label(from); $("range-to").textContent = label(to);
          const base = filters();
          $("app").dataset.filters = base.toString();
          const hs = base.get("hs") || "";
          const shortest = hs ? Math.min(...hs.split(",").map((p) => p.length)) : 0;
          const level = shortest >= 4 ? "hs6" : shortest >= 2 ? "hs4" : "hs2";
          try {
            // The year-on-year comparison; if this server cannot compare, the figures alone.
            let byPeriod, compared = true;
            try { byPeriod = await figures(base, { period: grain, compare: "previous_year" }); }
            catch (e) { if (e.status !== 422) throw e; compared = false; byPeriod = await figures(base, { period: grain }); }
            const [byDestination, byCode] = await Promise.all([
              figures(base, { period: "year", group_by: "destination" }),
              figures(base, { period: "year", group_by: level }).then((b) => [b, level])
                .catch((e) => { if (e.status !== 422) throw e; return figures(base, { period: "year", group_by: "hs_chapter" }).then((b) => [b, "hs_chapter"]); })]);
            const current = new Map(byPeriod.rows.map((r) => [r.period, cents(r.fob_value_usd)]));
            const previous = compared ? new Map(byPeriod.rows.map((r) => [r.period, cents(r.previous_fob_usd || 0)])) : null;
            // Periods still running (the API says which; an older server says nothing: none marked).
            // A range that reaches today ends in a running period even when it has no row yet.
            const partial = new Set(byPeriod.rows.filter((r) => r.partial === true).map((r) => r.period));
            if (byPeriod.partial === true) partial.add(to);
            chart(periods(from, to, grain), current, previous, partial);
            $("partial-note").textContent = byPeriod.partial === true
              ? `؛ ${[...partial].map(label).join("، ") || "پایان بازه"} هنوز تمام نشده و ارقامش ناتمام است (تا امروز)` : "";
            $("app").dataset.partial = [...partial].join(",");
            if (!compared) $("compare-note").textContent = "(مقایسه با سال قبل در این نسخهٔ سرور در دسترس نیست)";
            const t = byPeriod.totals;
            $("total-fob").textContent = usd.format(Number(t.fob_value_usd)); $("total-fob").dataset.value = t.fob_value_usd;
            $("total-count").textContent = fa.format(t.shipment_count); $("total-count").dataset.value = t.shipment_count;
            $("total-weight").textContent = fa.format(Number(t.net_weight_kg));
            $("total-previous").textContent = compared && t.previous_fob_usd != null ? usd.format(Number(t.previous_fob_usd)) : "—";
            $("total-growth").textContent = compared ? growthText(t.growth_percent) : "—";
            $("total-growth").dataset.value = compared && t.growth_percent != null ? t.growth_percent : "";
            table("destinations", topGroups(byDestination.rows, "destination_country", (r) => r.destination_name_fa ||\#
         r.destination_name_en || r.destination_country));
            const [codes, key] = byCode;
            $("hs-heading").textContent = { hs2: "فصل‌ها (HS، دورقمی)", hs4: "سرفصل‌ها (HS، چهاررقمی)", hs6: "زیرسرفصل‌ها (HS، شش‌رقمی)",\#
         hs_chapter: "فصل‌ها (HS، دورقمی)" }[key];
            table("codes", topGroups(codes.rows, key, (r) => faDigits(r[key]) + " — " + (titleFa(String(r[key] ?? ""), r[key + "_name_fa"] ||\#
         TITLES[r[key]]) || r[key + "_name_en"] || r.hs_chapter_title_en || "")));
            document.body.dataset.state = "ready";
          } catch (e) {
            if (e.message !== "unauthorized") { $("error").textContent = "خطا: " + e.message; document.body.dataset.state = "error"; }
          }
        }

        // The CSV needs the bearer token, which a plain link cannot send: fetch it, then save the file.
        async function downloadCSV() {
          const q = filters(); q.set("period", $("grain").value); q.set("format", "csv");
          try {
            const r = await fetch("/v1/export-figures?" + q, { headers: { Authorization: "Bearer " + token, Accept: "text/csv",\#
         "Accept-Language": "fa" } });
            if (!r.ok) throw new Error((await r.json().catch(() => ({}))).detail || r.status);
            const url = URL.createObjectURL(await r.blob());
            const a = document.createElement("a");
            a.href = url; a.download = `bazaarche-exports-${q.get("from")}-${q.get("to")}.csv`;
            document.body.append(a); a.click(); a.remove();
            setTimeout(() => URL.revokeObjectURL(url), 10000);
          } catch (e) { $("error").textContent = "خطا در دریافت CSV: " + e.message; }
        }

        function signOut(message) {
          sessionStorage.removeItem("bazaarche.token"); token = null;
          $("app").hidden = true; $("signin").hidden = false; $("signin-error").textContent = message || "";
          document.body.dataset.state = "signed-out";
        }

        $("signin-form").addEventListener("submit", (e) => {
          e.preventDefault(); token = $("token").value.trim();
          if (!token) return;
          sessionStorage.setItem("bazaarche.token", token); $("signin").hidden = true; $("app").hidden = false; load();
        });
        $("signout").addEventListener("click", () => signOut());
        $("csv").addEventListener("click", downloadCSV);
        $("grain").addEventListener("change", () => {
          const g = $("grain").value;
          for (const which of ["from", "to"]) {
            const part = $(which + "-part").value;
            const month = part.startsWith("Q") ? (Number(part.slice(1)) - 1) * 3 + (which === "to" ? 3 : 1) : Number(part);
            fillParts($(which + "-part"), g);
            $(which + "-part").value = g === "quarter" ? "Q" + (Math.floor((month - 1) / 3) + 1) : String(month).padStart(2, "0");
          }
          load();
        });
        $("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
        for (const id of ["province", "destination"]) $(id).addEventListener("change", load);
        if (token) { $("app").hidden = false; load(); } else { signOut(); }
        })();
        </script>
        </body>
        </html>
        """#
}
