#!/usr/bin/env python3
"""The benchmark suite (scripts/bench): every hot endpoint against the database's own ceiling.

For each scenario it drives the release build with wrk and reports requests/s, p50, p99, errors
and the server's peak RSS; for each read it also captures the SQL the endpoint actually ran (from
PostgreSQL's statement log, parameters included), replays it with pgbench at the same
concurrency, and reports the ratio. Order placement is compared with pgbench's TPC-B-like
transaction. Medians of RUNS runs; a Markdown table on stdout and JSON in bench/results/.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PORT = int(os.environ.get("PORT", "8099"))
BASE = f"http://127.0.0.1:{PORT}"
RUNS = int(os.environ.get("RUNS", "3"))
DURATION = os.environ.get("DURATION", "15s")
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
SCENARIOS = os.environ.get("SCENARIOS", "healthz,search,product,matching,figures,figures_writes,orders,orders_hot").split(",")
SOCKET = os.environ["BENCH_SOCKET"]
LOG = os.environ["BENCH_PG_LOG"]
PID = int(os.environ["BENCH_SERVER_PID"])
PSQL = ["psql", "-X", "-q", "-t", "-A", "-h", SOCKET, "-U", "bazaarche", "-d", "bazaarche"]


def sql(query):
    return subprocess.run(PSQL + ["-c", query], check=True, capture_output=True, text=True).stdout.strip()


def http(method, path, token=None, body=None, headers=None):
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(BASE + path, method=method, data=body.encode() if body else None, headers=h)
    with urllib.request.urlopen(req) as r:
        return r.status, r.read().decode()


def token(login, role, partner=None):
    if not sql(f"SELECT 1 FROM accounts WHERE login = '{login}'"):
        env = dict(os.environ, BAZAARCHE_PASSWORD="bench-password")
        cmd = [".build/release/bazaarche", "accounts", "create", "--role", role, "--login", login]
        if partner:
            cmd += ["--partner", str(partner)]
        subprocess.run(cmd, check=True, env=env, capture_output=True)
    _, body = http("POST", "/v1/auth/tokens", body=json.dumps({"login": login, "password": "bench-password"}))
    return json.loads(body)["token"]


def peak_rss_mb():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


TICK = os.sysconf("SC_CLK_TCK")
POSTMASTER_PID_FILE = SOCKET[: -len("-socket")] + "/postmaster.pid"


def cpu_seconds():
    """CPU seconds used so far by the server and by the benchmark cluster (its postmaster, the
    backends it has reaped, and the live ones), from /proc."""
    def ticks(pid, reaped):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15 if reaped else 13])
    with open(POSTMASTER_PID_FILE) as f:
        postmaster = int(f.readline())
    database = ticks(postmaster, True)
    with open(f"/proc/{postmaster}/task/{postmaster}/children") as f:
        for child in f.read().split():
            try:
                database += ticks(int(child), False)
            except FileNotFoundError:
                pass  # exited since: its time is in the postmaster's reaped total from now on
    return ticks(PID, False) / TICK, database / TICK


def wrk(script, env):
    threads = 2 if CONNECTIONS > 1 else 1
    before = cpu_seconds()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", "-s", script, BASE],
        check=True, capture_output=True, text=True, env=dict(os.environ, **env)).stdout
    after = cpu_seconds()
    line = next(l for l in out.splitlines() if l.startswith("BENCH"))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    requests = max(1, int(fields["requests"]))
    return {"rps": float(fields["rps"]), "p50": float(fields["p50_ms"]), "p99": float(fields["p99_ms"]),
            "errors": int(fields.get("errors", 0)) + int(fields.get("non2xx", 0)),
            "service_cpu_ms": round(1000 * (after[0] - before[0]) / requests, 3),
            "db_cpu_ms": round(1000 * (after[1] - before[1]) / requests, 3)}


def wait_idle():
    """Until the service has run no statement for a second (wrk's timed-out requests may still be queued)."""
    quiet = 0
    for _ in range(1200):
        busy = sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bazaarche' AND state = 'active'")
        quiet = quiet + 1 if busy == "0" else 0
        if quiet >= 10:
            return
        time.sleep(0.1)


def capture_sql(request):
    """Runs `request` once with every statement logged; returns them with their parameters inlined."""
    wait_idle()
    start = os.path.getsize(LOG)
    sql("ALTER SYSTEM SET log_min_duration_statement = 0")
    sql("SELECT pg_reload_conf()")
    time.sleep(0.5)
    request()
    time.sleep(0.5)
    sql("ALTER SYSTEM RESET log_min_duration_statement")
    sql("SELECT pg_reload_conf()")
    with open(LOG, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        text = f.read()
    # Entries start with a timestamp; an execute line is followed by its DETAIL with parameters.
    entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)
    statements = []
    for i, entry in enumerate(entries):
        m = re.search(r"LOG:  duration: [\d.]+ ms  execute [^:]*: (.*)", entry, re.S)
        if not m:
            continue
        statement = m.group(1).strip()
        detail = re.search(r"DETAIL:  parameters: (.*)", entry, re.S)
        if not detail and i + 1 < len(entries):
            detail = re.search(r"DETAIL:  parameters: (.*)", entries[i + 1], re.S)
        if detail:
            params = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", detail.group(1)))
            statement = re.sub(r"\$(\d+)\b", lambda p: params.get(p.group(1), p.group(0)), statement)
        if statement.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SET ", "ALTER SYSTEM", "SELECT PG_RELOAD_CONF")):
            continue
        statements.append(statement)
    return statements


def pgbench(statements, clients):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        for s in statements:
            f.write(" ".join(s.split()) + ";\n")
        path = f.name
    seconds = int(DURATION.rstrip("s"))
    out = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", path,
         "-h", SOCKET, "-U", "bazaarche", "bazaarche"], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def tpcb(clients):
    db = "pgbench_tpcb"
    if not sql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
        sql(f"CREATE DATABASE {db}")
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", "-h", SOCKET, "-U", "bazaarche", db], check=True, capture_output=True)
    seconds = int(DURATION.rstrip("s"))
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                          "-h", SOCKET, "-U", "bazaarche", db], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def main():
    officer = token("bench.officer", "export_officer")
    buyer_partner = sql("SELECT id FROM partners WHERE legal_national_id = '10380284790'")
    buyer = token("bench.buyer", "partner", buyer_partner)
    product = sql("SELECT id FROM products WHERE searchable ORDER BY id LIMIT 1 OFFSET 5000")
    demands = []
    for code, keywords, quantity in [("food.confectionery", "شیرینی", 2000), ("herbal.saffron", "زعفران", 5000),
                                     ("carpets.gabbeh", None, 300), ("food.honey", "عسل", 20000)]:
        if not sql(f"SELECT 1 FROM categories WHERE code = '{code}'"):
            continue
        body = {"category_code": code, "keywords": keywords, "quantity": quantity, "unit": "piece",
                "max_unit_price_rials": 150000000, "needed_by": "2027-06-01"}
        demands.append(json.loads(http("POST", "/v1/demands", buyer, json.dumps(body))[1])["id"])
    spread = sql("SELECT string_agg(id || ',' || producer_id, ';') FROM (SELECT id, producer_id FROM products "
                 "WHERE searchable AND min_order_qty = 1 ORDER BY id LIMIT 10000) p")
    hot = sql("SELECT string_agg(id || ',' || producer_id, ';') FROM (SELECT id, producer_id FROM products "
              "WHERE searchable AND min_order_qty = 1 ORDER BY id LIMIT 5) p")
    sql("UPDATE products SET stock = 100000000 WHERE id IN (SELECT id FROM products WHERE searchable AND min_order_qty = 1 ORDER BY id LIMIT 10000)")

    # Figures while shipments are recorded and cleared (each clearance changes the rollups).
    exporter_partner = sql("SELECT id FROM partners WHERE legal_national_id = '14007655406'")
    exporter = token("bench.exporter", "partner", exporter_partner)
    writes_env = {"BENCH_TOKEN": exporter, "BENCH_CLEAR_TOKEN": officer,
                  "BENCH_PRODUCER": sql("SELECT id FROM producers WHERE status = 'verified' ORDER BY id LIMIT 1"),
                  "BENCH_DECLARED": sql("SELECT string_agg(id || ':' || version, ',') FROM (SELECT id, version "
                                        "FROM export_shipments WHERE status = 'declared' AND producer_confirmed_at IS NOT NULL "
                                        f"AND recorded_by_partner_id = {exporter_partner} ORDER BY random() LIMIT 5000) s")}

    search_paths = [l.split('"')[1] for l in open("bench/search.lua", encoding="utf-8") if l.strip().startswith('"/v1/products')]
    scenarios = {
        "healthz": ("bench/path.lua", {"BENCH_PATHS": "/healthz"}, None),
        "search": ("bench/search.lua", {}, lambda: http("GET", search_paths[0])),
        "product": ("bench/path.lua", {"BENCH_PATHS": f"/v1/products/{product}"}, lambda: http("GET", f"/v1/products/{product}")),
        "matching": ("bench/matching.lua", {"BENCH_TOKEN": buyer, "BENCH_DEMANDS": ",".join(map(str, demands))},
                     lambda: http("GET", f"/v1/demands/{demands[0]}/matches", buyer)),
        "figures": ("bench/figures.lua", {"BENCH_TOKEN": officer},
                    lambda: http("GET", "/v1/export-figures?from=2025-03-21&to=2026-03-20&calendar=jalali&period=year&group_by=province,hs_chapter", officer)),
        "figures_writes": ("bench/figures.lua", {"BENCH_TOKEN": officer}, None),
        "orders": ("bench/orders.lua", {"BENCH_TOKEN": buyer, "BENCH_PRODUCT_LIST": spread}, "tpcb"),
        "orders_hot": ("bench/orders.lua", {"BENCH_TOKEN": buyer, "BENCH_PRODUCT_LIST": hot}, "tpcb"),
    }
    results = {}
    for name in SCENARIOS:
        script, env, ceiling = scenarios[name]
        subprocess.run(["wrk", "-t1", "-c4", "-d3s", "-s", script, BASE], env=dict(os.environ, **env), capture_output=True)
        runs = []
        for r in range(RUNS):
            writer = None
            if name == "figures_writes":
                writer = subprocess.Popen(["wrk", "-t1", "-c4", f"-d{DURATION}", "-s", "bench/shipments.lua", BASE],
                                          env=dict(os.environ, **writes_env), stdout=subprocess.PIPE, text=True)
            runs.append(wrk(script, env))
            if writer:
                line = next(l for l in writer.communicate()[0].splitlines() if l.startswith("BENCH"))
                runs[-1]["writes_rps"] = float(dict(kv.split("=") for kv in line.split()[1:])["rps"])
            print(f"{name} run={r + 1} " + " ".join(f"{k}={v}" for k, v in runs[-1].items()), file=sys.stderr, flush=True)
        result = {k: statistics.median(run[k] for run in runs) for k in ("rps", "p50", "p99", "service_cpu_ms", "db_cpu_ms")}
        result["errors"] = sum(run["errors"] for run in runs)
        if name == "figures_writes":
            result["writes_rps"] = statistics.median(run["writes_rps"] for run in runs)
        wait_idle()
        if ceiling == "tpcb":
            result["db"] = statistics.median(tpcb(CONNECTIONS) for _ in range(RUNS))
            result["db_what"] = "pgbench TPC-B-like (scale 10)"
        elif ceiling:
            statements = capture_sql(ceiling)
            result["sql"] = statements
            result["db"] = statistics.median(pgbench(statements, CONNECTIONS) for _ in range(RUNS))
            result["db_what"] = f"pgbench, the endpoint's {len(statements)} statement(s)"
        result["rss_mb"] = round(peak_rss_mb(), 1)
        results[name] = result
        print(f"{name}: " + json.dumps({k: v for k, v in result.items() if k != "sql"}), file=sys.stderr, flush=True)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    stamp = time.strftime("%Y-%m-%d")
    os.makedirs("bench/results", exist_ok=True)
    with open(f"bench/results/{stamp}-{commit}.json", "w") as f:
        json.dump({"date": stamp, "commit": commit, "connections": CONNECTIONS, "duration": DURATION, "runs": RUNS,
                   "results": results}, f, ensure_ascii=False, indent=2)
    print(f"\n{stamp}, commit {commit}, {os.cpu_count()} cores, {CONNECTIONS} connections, {DURATION} x {RUNS} runs (medians)\n")
    print("| scenario | requests/s | p50 ms | p99 ms | errors | service CPU ms/req | PostgreSQL CPU ms/req "
          "| database ceiling (tps) | ratio | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        db = f"{r['db']:.0f} ({r['db_what']})" if "db" in r else "—"
        ratio = f"{100 * r['rps'] / r['db']:.0f}%" if "db" in r else "—"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['service_cpu_ms']:.3f} "
              f"| {r['db_cpu_ms']:.3f} | {db} | {ratio} | {r['rss_mb']} |")
    if "product" in results:
        for name in ("figures", "figures_writes"):
            if name in results:
                extra = f" (shipments recorded and cleared meanwhile: {results[name]['writes_rps']:.0f}/s)" if name == "figures_writes" else ""
                print(f"\n{name}: {100 * results[name]['rps'] / results['product']['rps']:.0f}% of product by id's requests/s{extra}")


if __name__ == "__main__":
    main()
