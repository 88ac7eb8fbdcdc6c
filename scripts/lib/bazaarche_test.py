"""What the Python test scripts share (scripts/test-faults, test-flood, test-scaleout, and
validate-deploy's checks in deploy_checks.py): HTTP with JSON, sign-in, psql, waiting for /readyz,
PostgreSQL's binaries as the postgres user, service processes, pass/fail lines, and the local copy
of deploy/nginx/nginx.conf. An entry point in scripts/ imports it with

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    sys.dont_write_bytecode = True  # no __pycache__ in the repository
    import bazaarche_test as t
"""
import atexit
import http.client
import json
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".build", "debug", "bazaarche")
DEMO_PASSWORD = "bazaarche-demo"  # every demo account's (DemoData.swift)


# --- PostgreSQL ---------------------------------------------------------------------------------

def pg_bin():
    """The newest installed PostgreSQL's bin directory (Debian's layout, scripts/install-postgres)."""
    versions = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v.split(".")[0]))
    return f"/usr/lib/postgresql/{versions[-1]}/bin"


def test_cluster():
    """The data directory of the cluster the Swift tests started (Tests/.../TestDatabase.swift);
    scripts/test leaves it running for the scripts that follow, and stops it at the end."""
    with open(os.path.join(ROOT, ".data", "test-cluster-path")) as f:
        return f.read().strip()


def socket_dir(cluster):
    """The private clusters listen only on a socket directory beside their data directory."""
    return cluster + "-socket"


def as_postgres(cmd, check=True):
    """Runs a PostgreSQL binary; as root, as the postgres user (initdb, pg_ctl and postgres refuse root)."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def psql(sql, host, db, user="bazaarche", port=None, check=True):
    """One statement; returns its rows unaligned (columns split by |), stripped. With check=False
    it returns the finished process instead, so that a caller can read why a statement failed."""
    cmd = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", host]
    cmd += ["-p", str(port)] if port else []
    cmd += ["-U", user, "-d", db, "-c", sql]
    result = subprocess.run(cmd, check=check, capture_output=True, text=True)
    return result.stdout.strip() if check else result


def recreate_database(name, host):
    """An empty database of that name, dropped first with its connections if it exists."""
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", host, "postgres")
    psql(f"CREATE DATABASE {name}", host, "postgres")


def socket_url(db, host, user="bazaarche", port=None):
    """A DATABASE_URL for a cluster reached through its socket directory."""
    return f"postgres://{user}@localhost{f':{port}' if port else ''}/{db}?host={host}"


# --- HTTP ---------------------------------------------------------------------------------------

def request(base, method, path, body=None, token=None, headers=None, timeout=10, context=None):
    """One request with a JSON body; returns (status, body text, headers) whatever the status.
    Raises OSError (or http.client's errors) only when no complete answer came."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def login(base, name, password=DEMO_PASSWORD, context=None):
    """A bearer token for the account (the demo accounts share one password)."""
    return json.loads(request(base, "POST", "/v1/auth/tokens", {"login": name, "password": password}, context=context)[1])["token"]


def wait_ready(base, what, attempts=240, interval=0.25, timeout=10, context=None):
    """Waits until GET /readyz answers 200 (the service is up and its database reachable)."""
    for _ in range(attempts):
        try:
            if request(base, "GET", "/readyz", timeout=timeout, context=context)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(interval)
    raise SystemExit(f"{what} did not become ready")


def raw_get(port, target, tls_ca=None, headers=""):
    """One GET on loopback with the request target exactly as given (urllib would normalise some
    spellings); TLS verified against tls_ca when given. Returns (status, [(lower-case name, value)], body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls_ca:
        sock = ssl.create_default_context(cafile=tls_ca).wrap_socket(sock, server_hostname="localhost")
    with sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = [line.split(":", 1) for line in lines[1:] if ":" in line]
    return int(lines[0].split()[1]), [(k.strip().lower(), v.strip()) for k, v in fields], body.decode("utf-8", "replace")


# --- Service processes --------------------------------------------------------------------------

def service_env(database_url, rate_limits_off=True, **settings):
    """The environment of a service under test: the caller's, plus the database, warnings only and
    cheap password hashing; unless told otherwise also no per-account or anonymous rate limits
    (the scripts send more than a client may). A setting given as None is removed."""
    env = dict(os.environ, DATABASE_URL=database_url, LOG_LEVEL="warning", BAZAARCHE_BCRYPT_COST="4")
    if rate_limits_off:
        env.update(BAZAARCHE_RATE_LIMIT_PER_MINUTE="0", BAZAARCHE_ANONYMOUS_RATE_SCALE="0")
    for key, value in settings.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


_processes = []


def start(args, env=None, log=None):
    """A child process (a service instance, nginx) that is stopped when the script exits."""
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    _processes.append(proc)
    return proc


def stop_processes():
    """Stops what start() started and is still running: SIGTERM first (nginx's master then stops
    its workers, which SIGKILL would orphan), SIGKILL after 10 s."""
    for proc in _processes:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


atexit.register(stop_processes)


# --- Checks -------------------------------------------------------------------------------------

failures = []


def check(condition, message):
    """One line per check, "ok: ..." or "FAILED: ..."; a failure is remembered for finish()."""
    print(("ok: " if condition else "FAILED: ") + message, flush=True)
    if not condition:
        failures.append(message)


def finish(name, started):
    """The summary line; exits 1 when any check failed."""
    print(f"{name}: {'FAILED' if failures else 'passed'} in {time.time() - started:.0f} s", flush=True)
    if failures:
        sys.exit(1)


# --- Orders -------------------------------------------------------------------------------------

DELIVERY = {"province_code": "IR-23", "city": "تهران", "address": "خیابان آزادی", "recipient": "انبار", "phone": "02166554433"}


def order_body(producer, product, quantity=1):
    return {"producer_id": producer, "lines": [{"product_id": product, "quantity": quantity}], "delivery": DELIVERY}


class RetriedOrders:
    """`clients` threads, each placing `per_client` orders of 1 to 3 units (seeded by the client's
    number) as `send(key, quantity)` -> (status, body text). Each order is sent again with the same
    Idempotency-Key until it is acknowledged (200 or 201): when no answer came and when the status
    is in `retry`, for up to `seconds` from the start. Any other status, or one key acknowledged as
    two orders, is a failure. Faults happen while they run; join() waits for them."""

    def __init__(self, send, prefix, clients, per_client, retry, seconds=60):
        self.acknowledged = {}  # key -> (order id, quantity)
        self.statuses = []  # every answer, in order of arrival
        self.lock = threading.Lock()
        deadline = time.time() + seconds

        def client(n):
            rng = random.Random(n)
            for i in range(per_client):
                key, quantity = f"{prefix}-{n}-{i}", rng.randint(1, 3)
                while time.time() < deadline:
                    try:
                        status, text = send(key, quantity)
                    except OSError:
                        time.sleep(0.2)
                        continue
                    with self.lock:
                        self.statuses.append(status)
                    if status in (200, 201):
                        with self.lock:
                            order = json.loads(text)["id"]
                            previous = self.acknowledged.setdefault(key, (order, quantity))
                            if previous[0] != order:
                                failures.append(f"key {key} acknowledged as two orders {previous[0]} and {order}")
                        break
                    if status in retry:
                        time.sleep(0.2)
                        continue
                    failures.append(f"order {key}: unexpected {status} {text[:200]}")
                    break

        self.threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in self.threads:
            thread.start()

    def join(self):
        for thread in self.threads:
            thread.join()
        return self

    def ids(self):
        return [str(order) for order, _ in self.acknowledged.values()]

    def sold(self):
        return sum(quantity for _, quantity in self.acknowledged.values())



# --- nginx --------------------------------------------------------------------------------------

# Spellings of the metrics path. The service's router (Hummingbird 2) splits the raw path at "/"
# and skips empty segments, so the first six reach its metrics handler when sent to an instance;
# it is case-sensitive and decodes nothing, so the rest do not, but nginx decodes and normalises
# them to /metrics, and they must not slip through either. validate-deploy sends them to nginx in
# front of stand-ins (none may reach one), test-scaleout to nginx in front of real instances.
METRICS_SPELLINGS = [
    "/metrics", "/metrics/", "//metrics", "///metrics//", "/metrics?x=1", "//metrics/?format=prometheus",
    "/metrics#top", "/./metrics", "/v1/../metrics", "/x/%2e%2e/metrics/", "/%6detrics", "/%6D%65trics/",
    "/metrics%2F", "/%2Fmetrics", "/Metrics", "/METRICS/", "/metrics/.", "http://localhost/metrics/",
]


def local_nginx_conf(text, work, http_port, https_port, upstream_ports, cert, key, access_log="off", extra_http=""):
    """deploy/nginx/nginx.conf with loopback addresses, test ports and files under `work`; nothing
    else changed. Every substitution must apply exactly as often as expected, so a change to the
    real file that this no longer understands raises ValueError instead of testing something else."""
    ports = iter(upstream_ports)

    def sub(pattern, repl, count):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=re.M)
        if n != count:
            raise ValueError(f"deploy/nginx/nginx.conf: expected {count} match(es) of {pattern!r}, found {n}")
    sub(r"^(\s*server\s+)[A-Za-z0-9_.-]+:8080\b", lambda m: f"{m.group(1)}127.0.0.1:{next(ports)}", len(upstream_ports))
    sub(r"^(\s*listen\s+)80;", rf"\g<1>127.0.0.1:{http_port};", 1)
    sub(r"^(\s*listen\s+)443 ssl;", rf"\g<1>127.0.0.1:{https_port} ssl;", 1)
    sub(r"/etc/nginx/tls/fullchain\.pem;", f"{cert};", 1)
    sub(r"/etc/nginx/tls/privkey\.pem;", f"{key};", 1)
    sub(r"root /var/www/acme;", f"root {work}/acme;", 1)
    sub(r"^pid .*;", f"pid {work}/nginx.pid;", 1)
    sub(r"^error_log .*;", f"error_log {work}/nginx-error.log warn;", 1)
    sub(r"access_log /dev/stdout json;", f"access_log {access_log};", 1)
    temp = "".join(f"\n    {k}_temp_path {work}/nginx-{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    sub(r"^http \{", "http {" + temp + extra_http, 1)
    return text
