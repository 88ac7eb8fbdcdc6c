import BazaarcheCore
import Foundation

/// GET /dashboard/exports: a self-contained page for export officers (no CDN, works offline).
/// The server renders the frame, the last twelve Solar Hijri months and the province list; the
/// page signs in with an API token (kept in sessionStorage, or passed as #token=…) and draws the
/// figures from GET /v1/export-figures.
public struct Dashboard: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    func page() async throws -> String {
        // The last twelve Solar Hijri months, ending with today's (Tehran).
        let today = SolarHijri.today()
        var month = ReportMonths.key(jalali: true, today)
        var months: [String] = []
        for _ in 0..<12 {
            months.insert(String(format: "%04d-%02d", month / 100, month % 100), at: 0)
            month = ReportMonths.previous(month)
        }
        let from = ReportMonths.start(jalali: true, ReportMonths.next(month))
        let provinces = try await db.rows("SELECT code, name_fa FROM provinces ORDER BY name_fa").map {
            try $0.decode((String, String).self)
        }
        let options = provinces.map { "<option value=\"\(Self.escape($0.0))\">\(Self.escape($0.1))</option>" }.joined()
        return Self.template
            .replacingOccurrences(of: "{{FROM}}", with: from.description)
            .replacingOccurrences(of: "{{TO}}", with: today.description)
            .replacingOccurrences(of: "{{PROVINCES}}", with: options)
            .replacingOccurrences(of: "{{MONTHS}}", with: months.joined(separator: ","))
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
          :root { --ink: #1d2733; --muted: #5b6b7c; --bar: #1f7a5c; --line: #dde3ea; --bg: #f6f8fa; }
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
          .totals { display: flex; gap: 32px; margin-bottom: 8px; }
          .totals b { display: block; font-size: 22px; }
          svg { direction: ltr; }  /* anchors in SVG coordinates, not the page's RTL */
          svg text { font-family: inherit; font-size: 11px; fill: var(--muted); }
          #signin { max-width: 420px; margin: 80px auto; background: #fff; border: 1px solid var(--line); border-radius: 8px;\#
         padding: 24px; }
          input, select, button { font: inherit; padding: 6px 10px; }
          .error { color: #b42318; }
        </style>
        </head>
        <body data-state="loading" data-months="{{MONTHS}}">
        <div id="signin" hidden>
          <h2>ورود با توکن</h2>
          <p class="muted">توکن دسترسی کارشناس صادرات، مدیر یا ناظر استان را وارد کنید (از <code>POST /v1/auth/tokens</code>).</p>
          <form id="signin-form"><input id="token" type="password" autocomplete="off" style="width:100%" aria-label="توکن">
          <p><button type="submit">ورود</button></p></form>
          <p id="signin-error" class="error"></p>
        </div>
        <div id="app" hidden>
          <header>
            <h1>صادرات غیرنفتی محصولات خانگی</h1>
            <label>استان <select id="province"><option value="">همه استان‌ها</option>{{PROVINCES}}</select></label>
            <span class="muted">از <span id="from">{{FROM}}</span> تا <span id="to">{{TO}}</span> (دوازده ماه اخیر، فقط\#
         اظهارنامه‌های ترخیص‌شده و ارسال‌شده)</span>
            <button id="signout" type="button">خروج</button>
          </header>
          <main>
            <section class="wide">
              <h2>ارزش فوب صادرات غیرنفتی به تفکیک ماه (دلار آمریکا)</h2>
              <div class="totals"><div><span class="muted">جمع ارزش فوب</span><b id="total-fob">—</b></div>
                <div><span class="muted">تعداد محموله</span><b id="total-count">—</b></div>
                <div><span class="muted">وزن خالص (کیلوگرم)</span><b id="total-weight">—</b></div></div>
              <div id="chart" role="img" aria-label="نمودار ماهانه"></div>
            </section>
            <section><h2>مقاصد اصلی</h2><table><thead><tr><th>کشور</th><th>محموله</th><th>ارزش فوب\#
         (دلار)</th></tr></thead><tbody id="destinations"></tbody></table></section>
            <section><h2>فصل‌های اصلی تعرفه (HS)</h2><table><thead><tr><th>فصل</th><th>محموله</th><th>ارزش فوب\#
         (دلار)</th></tr></thead><tbody id="chapters"></tbody></table></section>
          </main>
          <p id="error" class="error" style="padding:0 24px"></p>
        </div>
        <script>
        (() => {
        "use strict";
        const MONTHS = ["فروردین","اردیبهشت","خرداد","تیر","مرداد","شهریور","مهر","آبان","آذر","دی","بهمن","اسفند"];
        const fa = new Intl.NumberFormat("fa-IR");
        const usd = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 0 });
        const $ = (id) => document.getElementById(id);
        const faDigits = (s) => String(s).replace(/[0-9]/g, (d) => "۰۱۲۳۴۵۶۷۸۹"[d]);
        const monthLabel = (p) => { const [y, m] = p.split("-"); return MONTHS[Number(m) - 1] + " " + faDigits(y); };
        const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"\#
         })[c]);

        let token = null;
        const hash = new URLSearchParams(location.hash.slice(1));
        if (hash.get("province")) $("province").value = hash.get("province");
        if (hash.get("token")) { sessionStorage.setItem("bazaarche.token", hash.get("token")); history.replaceState(null, "",\#
         location.pathname); }
        token = sessionStorage.getItem("bazaarche.token");

        async function figures(extra) {
          const q = new URLSearchParams({ from: $("from").textContent, to: $("to").textContent, calendar: "jalali", period:\#
         "month", scope: "non_oil", ...extra });
          if ($("province").value) q.set("province_code", $("province").value);
          const r = await fetch("/v1/export-figures?" + q, { headers: { Authorization: "Bearer " + token, Accept:\#
         "application/json" } });
          if (r.status === 401) { signOut("توکن معتبر نیست یا منقضی شده است."); throw new Error("unauthorized"); }
          const body = await r.json();
          if (!r.ok) throw new Error(body.detail || body.title || r.status);
          return body;
        }

        function topGroups(rows, key, label) {
          const sums = new Map();
          for (const r of rows) {
            const k = r[key] ?? "—";
            const s = sums.get(k) || { label: label(r), count: 0, cents: 0 };
            s.count += r.shipment_count; s.cents += Math.round(Number(r.fob_value_usd) * 100);
            sums.set(k, s);
          }
          return [...sums.values()].sort((a, b) => b.cents - a.cents).slice(0, 8);
        }

        function table(id, rows) {
          $(id).innerHTML = rows.length
            ? rows.map((r) => `<tr><td>${esc(r.label)}</td><td class="num">${fa.format(r.count)}</td><td\#
         class="num">${usd.format(r.cents / 100)}</td></tr>`).join("")
            : `<tr><td colspan="3" class="muted">صادراتی ثبت نشده است</td></tr>`;
        }

        function chart(byMonth) {
          const labels = document.body.dataset.months.split(",");
          const values = labels.map((m) => byMonth.get(m) || 0);
          const max = Math.max(1, ...values);
          // Right to left: the value axis on the right, the oldest month next to it.
          const W = 1100, H = 260, top = 20, left = 10, axis = 90, bw = (W - axis - left) / labels.length;
          let svg = `<svg viewBox="0 0 ${W} ${H + 40}" width="100%" xmlns="http://www.w3.org/2000/svg">`;
          for (let i = 0; i <= 4; i++) {
            const y = top + (H - top) * (1 - i / 4);
            svg += `<line x1="${left}" x2="${W - axis + 6}" y1="${y}" y2="${y}" stroke="#dde3ea"/><text x="${W - 4}" y="${y +\#
         4}" text-anchor="end">${usd.format(max * i / 4 / 100)}</text>`;
          }
          labels.forEach((m, i) => {
            const x = W - axis - (i + 1) * bw + 6, h = (H - top) * values[i] / max;
            svg += `<rect x="${x}" y="${H - h}" width="${bw - 12}" height="${h}" fill="#1f7a5c" data-month="${m}"\#
         data-cents="${values[i]}"><title>${monthLabel(m)}: ${usd.format(values[i] / 100)} $</title></rect>`;
            svg += `<text x="${x + (bw - 12) / 2}" y="${H + 18}" text-anchor="middle">${monthLabel(m)}</text>`;
          });
          $("chart").innerHTML = svg + "</svg>";
        }

        async function load() {
          document.body.dataset.state = "loading";
          $("error").textContent = "";
          try {
            const [byMonth, byDestination, byChapter] = await Promise.all([
              figures({}), figures({ group_by: "destination" }), figures({ group_by: "hs_chapter" })]);
            const series = new Map(byMonth.rows.map((r) => [r.period, Math.round(Number(r.fob_value_usd) * 100)]));
            chart(series);
            $("total-fob").textContent = usd.format(Number(byMonth.totals.fob_value_usd));
            $("total-fob").dataset.value = byMonth.totals.fob_value_usd;
            $("total-count").textContent = fa.format(byMonth.totals.shipment_count);
            $("total-count").dataset.value = byMonth.totals.shipment_count;
            $("total-weight").textContent = fa.format(Number(byMonth.totals.net_weight_kg));
            table("destinations", topGroups(byDestination.rows, "destination_country", (r) => r.destination_name_fa ||\#
         r.destination_name_en || r.destination_country));
            table("chapters", topGroups(byChapter.rows, "hs_chapter", (r) => "فصل " + faDigits(r.hs_chapter) + " — " +\#
         (r.hs_chapter_title_en || "")));
            document.body.dataset.state = "ready";
          } catch (e) {
            if (e.message !== "unauthorized") { $("error").textContent = "خطا: " + e.message; document.body.dataset.state =\#
         "error"; }
          }
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
        $("province").addEventListener("change", load);
        if (token) { $("app").hidden = false; load(); } else { signOut(); }
        })();
        </script>
        </body>
        </html>
        """#
}
