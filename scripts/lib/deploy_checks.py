"""The Python checks of scripts/validate-deploy: YAML, Kubernetes, CloudNativePG, compose,
Dockerfile and cross-references, and nginx.conf served in front of stand-in instances. One check
a run, each printing "ok ..." / "FAIL ..." lines that validate-deploy counts:

    python3 -B scripts/lib/deploy_checks.py yaml|k8s|k8s-refs|compose|dockerfile|nginx ROOT KUBE_VERSION
"""
import glob, json, os, re, sys
import yaml

from bazaarche_test import METRICS_SPELLINGS, local_nginx_conf, raw_get

ROOT, KUBE_VERSION = sys.argv[2], sys.argv[3]
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
results = []

def ok(name): print(f"ok   {name}")
def fail(name, detail=""):
    print(f"FAIL {name}")
    for line in str(detail).splitlines():
        print(f"     | {line}")
    results.append(name)
def rel(path): return os.path.relpath(path, ROOT)

def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

def check_yaml():
    files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True))
    bad = []
    for path in files:
        try:
            load_all(path)
        except yaml.YAMLError as e:
            bad.append(f"{rel(path)}: {e}")
    if bad: fail("YAML syntax", "\n".join(bad))
    else: ok(f"YAML syntax ({len(files)} files)")

def k8s_documents():
    docs = []
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml")) + glob.glob(os.path.join(K8S, "examples", "*.yaml"))):
        for doc in load_all(path):
            docs.append((path, doc))
    return docs

def check_k8s_schemas():
    import kubernetes_validate, jsonschema
    latest = kubernetes_validate.latest_version()
    versions = sorted({KUBE_VERSION, latest})
    with open(os.path.join(DEPLOY, "schemas", "cnpg-v1.schema.json")) as f:
        cnpg = json.load(f)
    cnpg_validator = jsonschema.Draft202012Validator(cnpg)
    for path, doc in k8s_documents():
        name = f"{rel(path)}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if str(doc.get("apiVersion", "")).startswith("postgresql.cnpg.io/"):
            # Not in the Kubernetes schemas: checked against deploy/schemas/cnpg-v1.schema.json.
            errors = sorted(cnpg_validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
            if errors:
                fail(f"{name} (CloudNativePG subset schema)",
                     "\n".join(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors))
            else:
                ok(f"{name} (CloudNativePG subset schema)")
            continue
        problems = []
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{version}: {'.'.join(map(str, e.path))}: {e.message}")
            except Exception as e:  # unknown kind or version: also a failure
                problems.append(f"{version}: {e}")
        if problems: fail(f"{name} (Kubernetes {', '.join(versions)}, strict)", "\n".join(problems))
        else: ok(f"{name} (Kubernetes {', '.join(versions)}, strict)")

def by_kind(docs, kind):
    return [d for _, d in docs if d.get("kind") == kind]

def check_k8s_references():
    docs = k8s_documents()
    problems = []
    deployments = by_kind(docs, "Deployment")
    clusters = by_kind(docs, "Cluster")
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    cluster_names = {c["metadata"]["name"] for c in clusters}
    # Secrets the operator makes for each Cluster.
    generated = {f"{c}-ca" for c in cluster_names} | {f"{c}-app" for c in cluster_names}

    def secret_has(name, key=None):
        if name in generated: return True
        s = secrets.get(name)
        if s is None: return False
        return key is None or key in (s.get("stringData") or {}) or key in (s.get("data") or {})

    if len(deployments) != 1: problems.append(f"expected one Deployment, found {len(deployments)}")
    dep = deployments[0] if deployments else {}
    tmpl_labels = dep.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    def selects(selector):
        return selector and all(tmpl_labels.get(k) == v for k, v in selector.items())
    if not selects(dep.get("spec", {}).get("selector", {}).get("matchLabels")):
        problems.append("Deployment selector does not match its pod template labels")
    for svc in by_kind(docs, "Service"):
        if not selects(svc["spec"].get("selector")): problems.append(f"Service {svc['metadata']['name']} selects no API pod")
        ports = [c_p.get("name") for c in dep["spec"]["template"]["spec"]["containers"] for c_p in c.get("ports", [])]
        for p in svc["spec"]["ports"]:
            if isinstance(p.get("targetPort"), str) and p["targetPort"] not in ports:
                problems.append(f"Service targetPort {p['targetPort']} is not a container port name")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        if not selects(pdb["spec"]["selector"].get("matchLabels")): problems.append("PodDisruptionBudget selects no API pod")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("name") != dep.get("metadata", {}).get("name"):
            problems.append("HorizontalPodAutoscaler does not target the Deployment")
        if hpa["spec"].get("minReplicas", 1) < 2: problems.append("HPA minReplicas below 2 leaves no spare instance")

    # Every pod: non-root, read-only root, secrets that exist, probes on real ports.
    pods = [("Deployment", dep.get("spec", {}).get("template", {}).get("spec", {}))]
    pods += [("Job " + j["metadata"]["name"], j["spec"]["template"]["spec"]) for j in by_kind(docs, "Job")]
    images = set()
    for owner, spec in pods:
        if not spec.get("securityContext", {}).get("runAsNonRoot"): problems.append(f"{owner}: runAsNonRoot not set")
        for v in spec.get("volumes", []):
            if "secret" in v and not secret_has(v["secret"]["secretName"]):
                problems.append(f"{owner}: volume secret {v['secret']['secretName']} is neither in examples/ nor made by the operator")
        for c in spec.get("containers", []):
            images.add(c["image"])
            if not c.get("securityContext", {}).get("readOnlyRootFilesystem"): problems.append(f"{owner}/{c['name']}: root filesystem not read-only")
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and not secret_has(ref["name"], ref["key"]):
                    problems.append(f"{owner}/{c['name']}: env {e['name']} reads {ref['name']}/{ref['key']}, not in the example secrets")
            names = {p.get("name") for p in c.get("ports", [])} | {p.get("containerPort") for p in c.get("ports", [])}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                get = c.get(probe, {}).get("httpGet")
                if get and get["port"] not in names: problems.append(f"{owner}/{c['name']}: {probe} port {get['port']} not declared")
    if len(images) > 1: problems.append(f"the Job and the Deployment run different images: {sorted(images)}")
    api = dep["spec"]["template"]["spec"]["containers"][0] if dep else {}
    if api:
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
            if api.get(probe, {}).get("httpGet", {}).get("path") != path: problems.append(f"{probe} should ask {path}")
        if not api.get("lifecycle", {}).get("preStop"): problems.append("no preStop hook: endpoints would not drain")

    # The database side: the URLs point at the operator's services, backups at existing secrets.
    for c in clusters:
        name = c["metadata"]["name"]
        env = secrets.get("bazaarche-env", {}).get("stringData", {})
        for key, suffix in (("DATABASE_URL", "-rw"), ("DATABASE_READ_URL", "-ro")):
            host = re.match(r"^postgres(?:ql)?://[^@]*@([^:/?]+)", env.get(key, ""))
            if not host or host.group(1) != name + suffix:
                problems.append(f"{key} in examples/secrets.yaml should point at {name}{suffix}")
        initdb_secret = c["spec"].get("bootstrap", {}).get("initdb", {}).get("secret", {}).get("name")
        if initdb_secret and initdb_secret not in secrets: problems.append(f"Cluster initdb secret {initdb_secret} missing from examples/")
        creds = c["spec"].get("backup", {}).get("barmanObjectStore", {}).get("s3Credentials", {})
        for ref in creds.values():
            if isinstance(ref, dict) and not secret_has(ref["name"], ref["key"]):
                problems.append(f"backup credential {ref['name']}/{ref['key']} missing from examples/")
    for sb in by_kind(docs, "ScheduledBackup"):
        if sb["spec"]["cluster"]["name"] not in cluster_names: problems.append(f"ScheduledBackup {sb['metadata']['name']} names no Cluster")

    # Database roles: the Job migrates as the owner; the pods log in as a managed role that is a
    # member of bazaarche_runtime (sql/0013_runtime_role.sql) and do not migrate.
    def env_secret(spec, name):
        for c in spec.get("containers", []):
            for e in c.get("env", []):
                if e["name"] == name: return e.get("valueFrom", {}).get("secretKeyRef") or {}
        return {}
    def url_user(ref):
        url = (secrets.get(ref.get("name"), {}).get("stringData") or {}).get(ref.get("key"), "")
        m = re.match(r"^postgres(?:ql)?://([^:@/]+)", url)
        return m.group(1) if m else None
    owners = {c["spec"].get("bootstrap", {}).get("initdb", {}).get("owner") for c in clusters}
    roles = {r["name"]: r for c in clusters for r in c["spec"].get("managed", {}).get("roles", [])}
    jobs = by_kind(docs, "Job")
    pod_spec = dep.get("spec", {}).get("template", {}).get("spec", {})
    pod_user = url_user(env_secret(pod_spec, "DATABASE_URL"))
    read_user = url_user(env_secret(pod_spec, "DATABASE_READ_URL"))
    for job in jobs:
        job_user = url_user(env_secret(job["spec"]["template"]["spec"], "DATABASE_URL"))
        if job_user not in owners: problems.append(f"Job {job['metadata']['name']} migrates as {job_user}, not the database owner {sorted(map(str, owners))}")
    for user in {pod_user, read_user}:
        role = roles.get(user)
        if user in owners: problems.append(f"the pods log in as the database owner {user}: they could drop or disable the audit trigger")
        elif role is None: problems.append(f"the pods log in as {user}, which is not a managed role of the Cluster")
        elif not role.get("login") or "bazaarche_runtime" not in role.get("inRoles", []) or role.get("superuser"):
            problems.append(f"managed role {user} must be a non-superuser login in bazaarche_runtime")
        elif role.get("passwordSecret") and not secret_has(role["passwordSecret"]["name"], "password"):
            problems.append(f"managed role {user}: password secret {role['passwordSecret']['name']} missing from examples/")
    if "bazaarche_runtime" in roles and roles["bazaarche_runtime"].get("login"):
        problems.append("bazaarche_runtime is a group role: login must be false")
    migrate_on_start = next((e.get("value") for c in pod_spec.get("containers", []) for e in c.get("env", [])
                             if e["name"] == "BAZAARCHE_MIGRATE_ON_START"), None)
    if migrate_on_start != "false": problems.append("the Deployment must set BAZAARCHE_MIGRATE_ON_START=false (its role cannot migrate)")

    # The Ingress: TLS from an existing secret, backends that exist, and no route to /metrics.
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for ing in by_kind(docs, "Ingress"):
        name = ing["metadata"]["name"]
        tls = ing["spec"].get("tls") or []
        if not tls: problems.append(f"Ingress {name} has no tls section")
        for t in tls:
            if not secret_has(t.get("secretName", ""), "tls.crt"): problems.append(f"Ingress {name}: TLS secret {t.get('secretName')} missing from examples/")
        for rule in ing["spec"].get("rules", []):
            if rule.get("host") not in {h for t in tls for h in t.get("hosts", [])}:
                problems.append(f"Ingress {name}: host {rule.get('host')} is not covered by its tls section")
            for path in rule.get("http", {}).get("paths", []):
                svc = path["backend"]["service"]
                if svc["name"] not in services: problems.append(f"Ingress {name}: backend {svc['name']} is not a Service"); continue
                port_names = {p.get("name") for p in services[svc["name"]]["spec"]["ports"]} | {p.get("port") for p in services[svc["name"]]["spec"]["ports"]}
                if svc["port"].get("name", svc["port"].get("number")) not in port_names:
                    problems.append(f"Ingress {name}: backend port {svc['port']} is not a port of Service {svc['name']}")
                # Any prefix of "/metrics" (with Prefix matching, "/" included) would route it.
                p = path["path"].rstrip("/") or "/"
                if p.lower() == "/metrics" or (path["pathType"] != "Exact" and ("/metrics".startswith(p) or p == "/")):
                    problems.append(f"Ingress {name}: path {path['path']} ({path['pathType']}) routes /metrics to the public")
        anns = ing["metadata"].get("annotations", {})
        if anns.get("nginx.ingress.kubernetes.io/force-ssl-redirect") != "true":
            problems.append(f"Ingress {name}: plain HTTP is not redirected (force-ssl-redirect)")
    if problems: fail("Kubernetes cross-references", "\n".join(problems))
    else: ok("Kubernetes cross-references (selectors, secrets, probes, services, backups, database roles, ingress: TLS, no /metrics)")

    # Connection budget: every API pod may open BAZAARCHE_DB_POOL_SIZE connections to the primary.
    try:
        hpa = by_kind(docs, "HorizontalPodAutoscaler")[0]
        pool = int(next(e["value"] for e in api["env"] if e["name"] == "BAZAARCHE_DB_POOL_SIZE"))
        surge = int(dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"])
        max_conn = int(clusters[0]["spec"]["postgresql"]["parameters"]["max_connections"])
        jobs = len(by_kind(docs, "Job"))
        # 3 for superuser_reserved_connections; a handful for the operator and replication.
        need = (hpa["spec"]["maxReplicas"] + surge) * pool + jobs
        room = max_conn - 3 - 10
        if need <= room: ok(f"connection budget ({hpa['spec']['maxReplicas']}+{surge} pods x {pool} + {jobs} job = {need} <= {room} of max_connections {max_conn})")
        else: fail("connection budget", f"{need} connections needed, {room} available of max_connections {max_conn}")
    except (StopIteration, KeyError, IndexError, ValueError) as e:
        fail("connection budget", f"could not compute: {e!r}")

COMPOSE_TOP = {"name", "services", "volumes", "networks", "configs", "secrets"}
# The compose-spec service keys this project may reasonably use; anything else is probably a typo.
COMPOSE_SERVICE = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "depends_on", "healthcheck",
    "volumes", "ports", "expose", "restart", "user", "stop_grace_period", "stop_signal", "shm_size",
    "mem_limit", "mem_reservation", "cpus", "networks", "labels", "logging", "read_only", "tmpfs",
    "security_opt", "cap_drop", "cap_add", "init", "container_name", "profiles", "deploy", "secrets",
    "configs", "working_dir", "ulimits", "pull_policy", "hostname", "extra_hosts", "platform", "sysctls",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
VAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|[A-Za-z_][A-Za-z0-9_]*|.?)")

def walk_strings(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items(): yield from walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node): yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node

def check_compose():
    path = os.path.join(DEPLOY, "compose.yaml")
    base = os.path.dirname(path)
    doc = load_all(path)[0]
    problems = []
    for key in doc:
        if key not in COMPOSE_TOP and not str(key).startswith("x-"): problems.append(f"unknown top-level key {key}")
    services = doc.get("services") or {}
    declared_volumes = set((doc.get("volumes") or {}).keys())
    graph = {}
    for name, svc in services.items():
        for key in svc:
            if key not in COMPOSE_SERVICE: problems.append(f"{name}: unknown key {key}")
        if "image" not in svc and "build" not in svc: problems.append(f"{name}: neither image nor build")
        build = svc.get("build")
        if build is not None:
            context = os.path.normpath(os.path.join(base, build if isinstance(build, str) else build.get("context", ".")))
            dockerfile = os.path.join(context, "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            if not os.path.isdir(context): problems.append(f"{name}: build context {rel(context)} missing")
            elif not os.path.isfile(dockerfile): problems.append(f"{name}: Dockerfile {rel(dockerfile)} missing")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list): deps = {d: {"condition": "service_started"} for d in deps}
        graph[name] = list(deps)
        for dep, spec in deps.items():
            if dep not in services: problems.append(f"{name}: depends_on unknown service {dep}"); continue
            cond = (spec or {}).get("condition", "service_started")
            if cond not in CONDITIONS: problems.append(f"{name}: unknown depends_on condition {cond}")
            if cond == "service_healthy" and "healthcheck" not in services[dep]:
                problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck here")
            if cond == "service_completed_successfully" and services[dep].get("restart", "no") not in ("no", "on-failure"):
                problems.append(f"{name}: waits for {dep} to complete, but {dep} restarts forever")
        hc = svc.get("healthcheck")
        if hc is not None:
            test = hc.get("test")
            if not (isinstance(test, str) or (isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL", "NONE"))):
                problems.append(f"{name}: healthcheck.test must be a string or start with CMD/CMD-SHELL/NONE")
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if source.startswith((".", "/")):
                if not os.path.exists(os.path.normpath(os.path.join(base, source))):
                    problems.append(f"{name}: bind mount source {source} missing")
            elif source and source not in declared_volumes:
                problems.append(f"{name}: named volume {source} not declared under volumes:")
        env = svc.get("environment") or {}
        if isinstance(env, list): env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        for key, value in env.items():
            value = str(value)
            if re.search(r"PASSWORD|SECRET|TOKEN", key) and not value.startswith("${"):
                problems.append(f"{name}: {key} is a literal; secrets must come from the env file")
            m = re.match(r"^postgres(?:ql)?://[^:@/]+:([^@]*)@([^:/?]+)", value)
            if m:
                if not m.group(1).startswith("${"): problems.append(f"{name}: {key} has a literal password")
                if m.group(2) not in services: problems.append(f"{name}: {key} points at {m.group(2)}, not a service")
    # Cycles in depends_on would deadlock `up`.
    state = {}
    def visit(n, trail):
        if state.get(n) == 1: problems.append("depends_on cycle: " + " -> ".join(trail + [n])); return
        if state.get(n) == 2: return
        state[n] = 1
        for m in graph.get(n, []): visit(m, trail + [n])
        state[n] = 2
    for n in graph: visit(n, [])
    # Interpolation: $$ is a literal $, ${VAR:?} is required, ${VAR:-x} has a default; a bare
    # $name would be replaced by compose (usually a shell variable meant for the container).
    required = set()
    for where, text in walk_strings(doc):
        for m in VAR.finditer(text):
            whole, var, op = m.group(0), m.group(2), m.group(3)
            if whole == "$$": continue
            if var is None: problems.append(f"{where}: bare {whole!r} (write $$ for a literal $)"); continue
            if op in (":?", "?"): required.add(var)
            elif op is None: problems.append(f"{where}: ${{{var}}} has neither a default nor :? (empty when unset)")
    example = os.path.join(base, ".env.example")
    listed = set()
    if os.path.exists(example):
        listed = {l.split("=", 1)[0].strip() for l in open(example) if "=" in l and not l.lstrip().startswith("#")}
    missing = sorted(required - listed)
    if missing: problems.append(f".env.example lacks required variables: {', '.join(missing)}")
    # Database roles: `migrate` as the owner (the role primary-init.sh makes own the database),
    # the instances as a runtime login that primary-init.sh puts in bazaarche_runtime, not migrating.
    init = open(os.path.join(DEPLOY, "postgres", "primary-init.sh")).read()
    owner = re.search(r"CREATE DATABASE \w+ OWNER (\w+)", init)
    runtime_logins = set(re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD [^;]*IN ROLE bazaarche_runtime", init))
    def env_of(name):
        env = (services.get(name) or {}).get("environment") or {}
        return env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)
    def user_of(url):
        m = re.match(r"^postgres(?:ql)?://([^:@/]+)", str(url))
        return m.group(1) if m else None
    if not owner or user_of(env_of("migrate").get("DATABASE_URL")) != owner.group(1):
        problems.append("migrate must connect as the database owner made by postgres/primary-init.sh")
    if "CREATE ROLE bazaarche_runtime NOLOGIN" not in init:
        problems.append("postgres/primary-init.sh must create bazaarche_runtime (the owner cannot create roles)")
    for name in (n for n, svc in services.items() if "DATABASE_READ_URL" in env_of(n)):
        env = env_of(name)
        for key in ("DATABASE_URL", "DATABASE_READ_URL"):
            if user_of(env[key]) not in runtime_logins: problems.append(f"{name}: {key} must log in as a runtime role from primary-init.sh, not {user_of(env[key])}")
        if str(env.get("BAZAARCHE_MIGRATE_ON_START")) != "false": problems.append(f"{name}: BAZAARCHE_MIGRATE_ON_START must be false (its role cannot migrate)")
    entry = open(os.path.join(DEPLOY, "pgbouncer", "entrypoint.sh")).read()
    for login in runtime_logins:
        if f'"{login}"' not in entry: problems.append(f"pgbouncer/entrypoint.sh: no auth entry for {login}")
    # nginx's upstream servers must be compose services on the port the API listens on.
    with open(os.path.join(DEPLOY, "nginx", "nginx.conf")) as f:
        upstream = re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", f.read(), re.M)
    for host, port in upstream:
        if host not in services: problems.append(f"nginx upstream {host} is not a compose service")
        elif port != "8080": problems.append(f"nginx upstream {host}:{port}: the API listens on 8080")
    if problems: fail("compose.yaml structure", "\n".join(problems))
    else: ok(f"compose.yaml structure ({len(services)} services, depends_on, volumes, healthchecks, variables, nginx upstreams, database roles)")

def dockerignore_allows(patterns, path):
    # Docker's rule: the last pattern matching the path or one of its parents wins.
    import fnmatch
    allowed = True
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = os.path.normpath(p)
        if any(fnmatch.fnmatchcase(pre, p) for pre in prefixes): allowed = neg
    return allowed

def check_dockerfile():
    path = os.path.join(DEPLOY, "Dockerfile")
    text = open(path).read().replace("\\\n", " ")
    ignore_file = path + ".dockerignore"
    patterns = [l.strip() for l in open(ignore_file) if l.strip() and not l.startswith("#")] if os.path.exists(ignore_file) else []
    problems = []
    for line in text.splitlines():
        words = line.split()
        if not words: continue
        if words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            for src in [w for w in words[1:-1] if not w.startswith("--")]:
                if not os.path.exists(os.path.join(ROOT, src)): problems.append(f"COPY source {src} missing from the repository")
                elif not dockerignore_allows(patterns, src): problems.append(f"COPY source {src} excluded by Dockerfile.dockerignore")
        if words[0] == "USER" and not re.fullmatch(r"\d+(:\d+)?", words[1]):
            problems.append("USER must be numeric for Kubernetes' runAsNonRoot")
        if words[0] == "HEALTHCHECK":
            cmd = line[line.index("CMD") + 3:].strip()
            if cmd.startswith("["):
                argv = json.loads(cmd)
                if "/dev/tcp" in " ".join(argv) and argv[0] != "/bin/bash":
                    problems.append("HEALTHCHECK uses /dev/tcp, which only bash has (Debian's sh is dash)")
    if "EXPOSE 8080" not in text: problems.append("EXPOSE 8080 missing")
    if problems: fail("Dockerfile inputs", "\n".join(problems))
    else: ok("Dockerfile inputs (COPY sources present and not ignored, numeric USER, healthcheck shell)")

# ---------------------------------------------------------------------------------------------
# nginx: the real deploy/nginx/nginx.conf, with only its addresses and file paths made local.

# None of METRICS_SPELLINGS (bazaarche_test.py says why each) may return metrics through nginx,
# and none may even reach an instance.
# Paths that must reach an instance unchanged (nginx passes the raw request target on).
PASSED = ["/v1/reference/provinces", "/v1/products?q=%D9%85%D8%B1%D8%A8%D8%A7&limit=5", "/healthz",
          "/openapi.yaml", "/dashboard/exports", "/v1/metrics", "/metricsx", "/v1//orders/7"]
HSTS = "max-age=63072000; includeSubDomains"

def free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s_ in socks: s_.bind(("127.0.0.1", 0))
    ports = [s_.getsockname()[1] for s_ in socks]
    for s_ in socks: s_.close()
    return ports

def check_nginx():
    import tempfile
    import shutil
    work = tempfile.mkdtemp(prefix="bazaarche-nginx-")
    try:
        check_nginx_in(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

def check_nginx_in(work):
    import subprocess, threading, http.server, ssl, time
    os.chmod(work, 0o755)  # nginx's workers (nobody, when started as root) read acme/ below it
    conf_text = open(os.path.join(DEPLOY, "nginx", "nginx.conf")).read()
    # Static: TLS 1.2 and 1.3 only, HSTS on every answer, the forwarded scheme fixed to https.
    problems = []
    protocols = re.findall(r"^\s*ssl_protocols\s+([^;]*);", conf_text, re.M)
    if protocols != ["TLSv1.2 TLSv1.3"]: problems.append(f"ssl_protocols should be 'TLSv1.2 TLSv1.3', is {protocols}")
    if f'add_header Strict-Transport-Security "{HSTS}" always;' not in conf_text: problems.append("HSTS header (always) missing")
    if "proxy_set_header X-Forwarded-Proto https;" not in conf_text: problems.append("X-Forwarded-Proto https not passed")
    if problems: fail("nginx.conf TLS settings", "\n".join(problems))
    else: ok("nginx.conf TLS settings (TLSv1.2 TLSv1.3 only, HSTS always, X-Forwarded-Proto https)")

    # A throwaway self-signed pair for localhost, only so nginx can load and serve the file.
    cert, key = f"{work}/fullchain.pem", f"{work}/privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.makedirs(f"{work}/acme/.well-known/acme-challenge")
    with open(f"{work}/acme/.well-known/acme-challenge/token123", "w") as f: f.write("token123.thumbprint")
    os.system(f"chmod -R a+rX {work}/acme")

    # Two stand-in instances that record each request target and answer with a marker (and an
    # HSTS header of their own, which nginx must replace by its one).
    seen, lock = [], threading.Lock()
    class Stub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            with lock: seen.append((self.path, dict(self.headers)))
            body = json.dumps({"stub": self.path, "xfp": self.headers.get("X-Forwarded-Proto"),
                               "xff": self.headers.get("X-Forwarded-For")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Strict-Transport-Security", "max-age=1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args): pass
    stubs = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub) for _ in range(2)]
    for st in stubs: threading.Thread(target=st.serve_forever, daemon=True).start()
    upstream_ports = [st.server_address[1] for st in stubs]

    def run(extra_http, label):
        http_port, https_port = free_ports(2)
        conf = f"{work}/nginx{label}.conf"
        with open(conf, "w") as f:
            f.write(local_nginx_conf(conf_text, work, http_port, https_port, upstream_ports, cert, key,
                                     access_log=f"{work}/nginx-access.log json", extra_http=extra_http))
        test = subprocess.run(["nginx", "-t", "-q", "-c", conf, "-e", f"{work}/nginx-error.log"], capture_output=True, text=True)
        if test.returncode != 0: return None, test.stderr
        proc = subprocess.Popen(["nginx", "-c", conf, "-e", f"{work}/nginx-error.log", "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(50):
            try:
                raw_get(https_port, "/healthz", tls_ca=cert); break
            except OSError: time.sleep(0.1)
        return (proc, http_port, https_port), None

    started, err = run("", "")
    if not started:
        fail("nginx -t deploy/nginx/nginx.conf (self-signed certificate, local addresses)", err); return
    ok("nginx -t deploy/nginx/nginx.conf (self-signed certificate, local addresses)")
    proc, http_port, https_port = started
    try:
        def metrics_blocked(https_port, label):
            bad = []
            for target in METRICS_SPELLINGS:
                with lock: seen.clear()
                status, headers, body = raw_get(https_port, target, tls_ca=cert)
                reached = [p for p, _ in seen]
                if status != 404 or reached or "stub" in body:
                    bad.append(f"{target}: {status}, reached an instance as {reached}")
            if bad: fail(f"nginx refuses every spelling of /metrics{label}", "\n".join(bad))
            else: ok(f"nginx refuses every spelling of /metrics{label}: {len(METRICS_SPELLINGS)} spellings, 404, none reached an instance")
        metrics_blocked(https_port, "")

        bad = []
        for target in PASSED:
            with lock: seen.clear()
            status, headers, body = raw_get(https_port, target, tls_ca=cert, headers="X-Forwarded-Proto: http\r\n")
            hsts = [v for k, v in headers if k == "strict-transport-security"]
            if status != 200 or [p for p, _ in seen] != [target]:
                bad.append(f"{target}: {status}, the instance saw {[p for p, _ in seen]}")
                continue
            got = seen[0][1]
            if got.get("X-Forwarded-Proto") != "https": bad.append(f"{target}: X-Forwarded-Proto {got.get('X-Forwarded-Proto')!r}")
            if not str(got.get("X-Forwarded-For", "")).endswith("127.0.0.1"): bad.append(f"{target}: X-Forwarded-For {got.get('X-Forwarded-For')!r}")
            if not got.get("X-Request-Id"): bad.append(f"{target}: no X-Request-Id")
            if hsts != [HSTS]: bad.append(f"{target}: Strict-Transport-Security {hsts}")
        status, headers, _ = raw_get(https_port, "/metrics/", tls_ca=cert)
        if [v for k, v in headers if k == "strict-transport-security"] != [HSTS]: bad.append("nginx's own 404 lacks HSTS")
        if bad: fail("nginx passes API paths over TLS", "\n".join(bad))
        else: ok(f"nginx passes API paths over TLS unchanged ({len(PASSED)} paths; X-Forwarded-Proto https, X-Forwarded-For, X-Request-Id; one HSTS header, also on its own 404)")

        bad = []
        for target in ["/v1/products?q=x", "//metrics", "/metrics/"]:
            with lock: seen.clear()
            status, headers, body = raw_get(http_port, target)
            location = dict(headers).get("location")
            if status != 301 or location != "https://localhost" + target or seen:
                bad.append(f"{target}: {status} Location {location}, reached an instance: {bool(seen)}")
        status, _, body = raw_get(http_port, "/.well-known/acme-challenge/token123")
        if status != 200 or body != "token123.thumbprint": bad.append(f"ACME challenge: {status} {body[:80]!r}")
        try:
            import socket
            with socket.create_connection(("127.0.0.1", https_port), timeout=5) as sock:
                ctx = ssl.create_default_context(cafile=cert)
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                    if tls.version() != "TLSv1.2": bad.append(f"TLS 1.2 client got {tls.version()}")
        except (OSError, ssl.SSLError) as e:
            bad.append(f"TLS 1.2 client refused: {e}")
        if bad: fail("nginx on port 80 only redirects", "\n".join(bad))
        else: ok("nginx on port 80 redirects everything to https (metrics spellings too) and serves ACME challenges; TLS 1.2 clients accepted")
    finally:
        proc.terminate(); proc.wait(timeout=10)

    # The same file with merge_slashes off: "//metrics" is then matched as written.
    started, err = run("\n    merge_slashes off;", "-nomerge")
    if not started: fail("nginx with merge_slashes off", err); return
    proc, _, https_port = started
    try:
        metrics_blocked(https_port, " (merge_slashes off)")
    finally:
        proc.terminate(); proc.wait(timeout=10)
        for st in stubs: st.shutdown()

checks = {"yaml": check_yaml, "k8s": check_k8s_schemas, "k8s-refs": check_k8s_references,
          "compose": check_compose, "dockerfile": check_dockerfile, "nginx": check_nginx}
try:
    checks[sys.argv[1]]()
except Exception:  # a crash in a check is a failure of that check, not of the script
    import traceback
    fail(f"{sys.argv[1]} check crashed", traceback.format_exc())
sys.exit(1 if results else 0)
