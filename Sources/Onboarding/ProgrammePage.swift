import BazaarcheCore
import Foundation

/// GET /dashboard/programme: the supervisor's page (RTL, Persian, Solar Hijri, no external assets).
/// The server renders the frame, today's Solar Hijri date, the periods and the province list; the
/// page signs in with an API token (kept in sessionStorage, or passed as #token=…) and draws the
/// report from GET /v1/reports/programme: the funnel against the quota as an inline SVG chart,
/// and the programme's work in the period per province.
public struct ProgrammePage: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let monthNames = [
        "فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند",
    ]

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func persianDigits(_ text: String) -> String {
        String(text.map { c in c.wholeNumberValue.flatMap { c.isASCII ? Array("۰۱۲۳۴۵۶۷۸۹")[$0] : nil } ?? c })
    }

    func page() async throws -> String {
        let today = SolarHijri.today()
        let j = SolarHijri.fromGregorian(year: today.year, month: today.month, day: today.day)
        let todayText = Self.persianDigits("\(j.day) ") + Self.monthNames[j.month - 1] + Self.persianDigits(" \(j.year)")
        let quarter = (j.month - 1) / 3 + 1
        var periods: [String] = []
        for year in stride(from: j.year, through: max(j.year - 2, Programme.validYears.lowerBound), by: -1) {
            let label = Self.persianDigits(String(year))
            periods.append("<option value=\"\(year)\">سال \(label)</option>")
            for q in stride(from: year == j.year ? quarter : 4, through: 1, by: -1) {
                periods.append("<option value=\"\(year)-Q\(q)\">فصل \(Self.persianDigits(String(q))) — \(label)</option>")
            }
        }
        let provinces = try await db.rows("SELECT code, name_fa FROM provinces ORDER BY name_fa").map {
            try $0.decode((String, String).self)
        }
        let options = provinces.map { "<option value=\"\(Self.escape($0.0))\">\(Self.escape($0.1))</option>" }.joined()
        return Self.template
            .replacingOccurrences(of: "{{TODAY}}", with: todayText)
            .replacingOccurrences(of: "{{PERIODS}}", with: periods.joined())
            .replacingOccurrences(of: "{{PROVINCES}}", with: options)
    }

    public func addRoutes(to routes: inout Routes) {
        routes.get("/dashboard/programme") { _, _ in
            OfflinePage.response(try await page())
        }
    }

    static let template = #"""
        <!doctype html>
        <html lang="fa" dir="rtl">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>پایش برنامه مشاغل خانگی — بازارچه</title>
        <style>
          :root { --ink: #1d2733; --muted: #5b6b7c; --bar: #1f7a5c; --quota: #b42318; --line: #dde3ea; --bg: #f6f8fa; }
          * { box-sizing: border-box; }
          body { margin: 0; font-family: Vazirmatn, "Noto Sans Arabic", "DejaVu Sans", Tahoma, sans-serif; color: var(--ink);\#
         background: var(--bg); }
          header { background: #fff; border-bottom: 1px solid var(--line); padding: 16px 24px; display: flex; gap: 16px;\#
         align-items: center; flex-wrap: wrap; }
          header h1 { font-size: 20px; margin: 0 0 0 auto; }
          main { padding: 24px; display: grid; gap: 24px; grid-template-columns: 1fr 1fr; }
          section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
          section.wide { grid-column: 1 / -1; }
          h2 { font-size: 16px; margin: 0 0 12px; }
          table { width: 100%; border-collapse: collapse; font-size: 14px; }
          th, td { text-align: right; padding: 6px 8px; border-bottom: 1px solid var(--line); }
          td.num { text-align: left; direction: ltr; font-variant-numeric: tabular-nums; }
          .muted { color: var(--muted); font-size: 13px; }
          .totals { display: flex; gap: 32px; flex-wrap: wrap; }
          .totals b { display: block; font-size: 22px; }
          svg { direction: ltr; }
          svg text { font-family: inherit; font-size: 13px; fill: var(--ink); }
          #signin { max-width: 420px; margin: 80px auto; background: #fff; border: 1px solid var(--line); border-radius: 8px;\#
         padding: 24px; }
          input, select, button { font: inherit; padding: 6px 10px; }
          .error { color: #b42318; }
        </style>
        </head>
        <body data-state="loading">
        <div id="signin" hidden>
          <h2>ورود با توکن</h2>
          <p class="muted">توکن دسترسی ناظر استان، مجری، کارشناس صادرات یا مدیر را وارد کنید (از <code>POST /v1/auth/tokens</code>).</p>
          <form id="signin-form"><input id="token" type="password" autocomplete="off" style="width:100%" aria-label="توکن">
          <p><button type="submit">ورود</button></p></form>
          <p id="signin-error" class="error"></p>
        </div>
        <div id="app" hidden>
          <header>
            <h1>پایش برنامه مشاغل خانگی</h1>
            <label>دوره <select id="period">{{PERIODS}}</select></label>
            <label>استان <select id="province"><option value="">همه استان‌های در دسترس</option>{{PROVINCES}}</select></label>
            <span class="muted">امروز <span id="today">{{TODAY}}</span> — بازه: <span id="range">—</span></span>
            <button id="signout" type="button">خروج</button>
          </header>
          <main>
            <section class="wide">
              <h2>قیف برنامه در برابر سهمیه (متقاضیان ثبت‌نام‌شده در دوره)</h2>
              <div class="totals">
                <div><span class="muted">سهمیه سال</span><b id="total-quota">—</b></div>
                <div><span class="muted">تأییدشده</span><b id="total-verified">—</b></div>
                <div><span class="muted">درصد تحقق سهمیه</span><b id="total-percent">—</b></div>
                <div><span class="muted">نخستین فروش بدون تسهیلات</span><b id="total-first-sale">—</b></div>
              </div>
              <div id="chart" role="img" aria-label="نمودار قیف برنامه در برابر سهمیه"></div>
            </section>
            <section class="wide"><h2>به تفکیک استان</h2><table><thead><tr><th>استان</th><th>سهمیه</th><th>ثبت‌نام</th>\#
        <th>غربال‌شده</th><th>تأییدشده</th><th>آموزش‌دیده</th><th>متصل به بازار</th><th>صادرکننده</th><th>درصد سهمیه</th>\#
        </tr></thead><tbody id="provinces"></tbody></table></section>
            <section><h2>کار برنامه در دوره</h2><table><tbody id="work"></tbody></table></section>
            <section><h2>مشاوره به تفکیک موضوع و تسهیلات</h2><table><tbody id="counselling"></tbody></table></section>
          </main>
          <p id="error" class="error" style="padding:0 24px"></p>
        </div>
        <script>
        (() => {
        "use strict";
        const fa = new Intl.NumberFormat("fa-IR");
        const usd = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 0 });
        const jalali = new Intl.DateTimeFormat("fa-IR-u-ca-persian", { year: "numeric", month: "long", day: "numeric",\#
         timeZone: "UTC" });
        const $ = (id) => document.getElementById(id);
        const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"\#
         })[c]);
        const num = (v) => v === null || v === undefined ? "—" : fa.format(Number(v));
        const day = (iso) => jalali.format(new Date(iso + "T00:00:00Z"));
        const STAGES = [["applied", "ثبت‌نام"], ["screened", "غربال‌شده"], ["verified", "تأییدشده"], ["trained", "آموزش‌دیده"],
          ["connected", "متصل به بازار"], ["exporting", "صادرکننده"], ["first_sale_without_loan", "فروش بدون تسهیلات"]];
        const TOPICS = { quality: "کیفیت", packaging: "بسته‌بندی", branding: "برندسازی", export: "صادرات", marketing: "بازاریابی",
          finance: "مالی", standards: "استاندارد و گواهی" };

        const hash = new URLSearchParams(location.hash.slice(1));
        if (hash.get("province")) $("province").value = hash.get("province");
        if (hash.get("period")) $("period").value = hash.get("period");
        if (hash.get("token")) { sessionStorage.setItem("bazaarche.programme.token", hash.get("token"));\#
         history.replaceState(null, "", location.pathname); }
        let token = sessionStorage.getItem("bazaarche.programme.token");

        async function report() {
          const q = new URLSearchParams({ period: $("period").value });
          if ($("province").value) q.set("province_code", $("province").value);
          const r = await fetch("/v1/reports/programme?" + q, { headers: { Authorization: "Bearer " + token, Accept:\#
         "application/json" } });
          if (r.status === 401) { signOut("توکن معتبر نیست یا منقضی شده است."); throw new Error("unauthorized"); }
          const body = await r.json();
          if (!r.ok) throw new Error(body.detail || body.title || r.status);
          return body;
        }

        // Horizontal bars, right to left: each stage of the funnel, and the year's quota as a line.
        function chart(t) {
          const quota = t.quota || 0;
          const max = Math.max(1, quota, ...STAGES.map(([k]) => t[k]));
          const W = 1100, rowH = 34, top = 10, label = 170, right = W - label, width = right - 20;
          const H = top + STAGES.length * rowH + 30;
          let svg = `<svg viewBox="0 0 ${W} ${H}" width="100%" xmlns="http://www.w3.org/2000/svg">`;
          STAGES.forEach(([key, name], i) => {
            const y = top + i * rowH, w = width * t[key] / max;
            svg += `<text x="${W - 8}" y="${y + 21}" text-anchor="end">${name}</text>`;
            svg += `<rect x="${right - w}" y="${y + 6}" width="${w}" height="${rowH - 12}" fill="#1f7a5c" data-stage="${key}"\#
         data-value="${t[key]}"><title>${name}: ${num(t[key])}</title></rect>`;
            svg += `<text x="${right - w - 6}" y="${y + 21}" text-anchor="end">${num(t[key])}</text>`;
          });
          if (quota > 0) {
            const x = right - width * quota / max;
            svg += `<line x1="${x}" x2="${x}" y1="${top}" y2="${H - 24}" stroke="#b42318" stroke-width="2" stroke-dasharray="6 4"\#
         data-quota="${quota}"/>`;
            // Centred under the line, but never closer to the edge than half the label's width.
            svg += `<text x="${Math.max(x, 80)}" y="${H - 8}" text-anchor="middle" fill="#b42318">سهمیه:\#
         ${num(quota)}</text>`;
          } else {
            svg += `<text x="${right}" y="${H - 8}" text-anchor="end">سهمیه‌ای برای این سال ثبت نشده است</text>`;
          }
          $("chart").innerHTML = svg + "</svg>";
        }

        function rows(id, pairs) {
          $(id).innerHTML = pairs.map(([name, value]) => `<tr><td>${name}</td><td class="num">${value}</td></tr>`).join("");
        }

        async function load() {
          document.body.dataset.state = "loading";
          $("error").textContent = "";
          try {
            const r = await report();
            const t = r.totals;
            $("range").textContent = day(r.from) + " تا " + day(r.to);
            $("total-quota").textContent = num(t.quota); $("total-quota").dataset.value = t.quota ?? "";
            $("total-verified").textContent = num(t.verified); $("total-verified").dataset.value = t.verified;
            $("total-percent").textContent = t.percent_of_quota === null ? "—" : num(t.percent_of_quota) + "٪";
            $("total-first-sale").textContent = num(t.first_sale_without_loan);
            $("total-first-sale").dataset.value = t.first_sale_without_loan;
            chart(t);
            $("provinces").innerHTML = r.rows.map((p) => `<tr data-province="${esc(p.province_code)}"><td>${esc(p.name_fa)}</td>` +
              ["quota", "applied", "screened", "verified", "trained", "connected", "exporting"].map((k) =>
                `<td class="num">${num(p[k])}</td>`).join("") +
              `<td class="num">${p.percent_of_quota === null ? "—" : num(p.percent_of_quota) + "٪"}</td></tr>`).join("");
            rows("work", [["ارزیابی‌های تکمیل‌شده", num(t.assessments_completed)],
              ["میانگین امتیاز ارزیابی (از ۵)", num(t.assessment_mean_score)], ["ساعت آموزش ارائه‌شده", num(t.training_hours)],
              ["پایان دوره", num(t.course_completions)], ["گواهی‌های اعطاشده", num(t.certificates_granted)],
              ["تأیید بسته‌بندی", num(t.packaging_approvals)], ["تولیدکنندگان با سفارش تحویل‌شده", num(t.producers_delivering)],
              ["محموله‌های صادراتی غیرنفتی", num(t.non_oil_export_shipments)],
              ["ارزش فوب صادرات غیرنفتی (دلار)", `<span id="fob" data-value="${t.non_oil_export_fob_usd}">` +
                usd.format(Number(t.non_oil_export_fob_usd)) + "</span>"]]);
            rows("counselling", Object.entries(t.counselling_by_topic).map(([k, v]) => ["مشاوره " + (TOPICS[k] || k), num(v)])
              .concat([["ثبت در سامانه تسهیلات", num(t.loans_registered)], ["تسهیلات اعطاشده", num(t.loans_granted)],
                ["تسهیلات ردشده", num(t.loans_declined)]]));
            document.body.dataset.state = "ready";
          } catch (e) {
            if (e.message !== "unauthorized") { $("error").textContent = "خطا: " + e.message; document.body.dataset.state =\#
         "error"; }
          }
        }

        function signOut(message) {
          sessionStorage.removeItem("bazaarche.programme.token"); token = null;
          $("app").hidden = true; $("signin").hidden = false; $("signin-error").textContent = message || "";
          document.body.dataset.state = "signed-out";
        }

        $("signin-form").addEventListener("submit", (e) => {
          e.preventDefault(); token = $("token").value.trim();
          if (!token) return;
          sessionStorage.setItem("bazaarche.programme.token", token); $("signin").hidden = true; $("app").hidden = false; load();
        });
        $("signout").addEventListener("click", () => signOut());
        $("province").addEventListener("change", load);
        $("period").addEventListener("change", load);
        if (token) { $("app").hidden = false; load(); } else { signOut(); }
        })();
        </script>
        </body>
        </html>
        """#
}
