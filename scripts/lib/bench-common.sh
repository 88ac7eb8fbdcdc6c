# What scripts/bench and scripts/bench-* share; each sources it first:
#   source "$(dirname "$0")/lib/bench-common.sh"
# It leaves the shell in the repository root with PostgreSQL's binaries and wrk installed, the
# benchmark environment exported and the release build in $BIN. The script then generates its data
# set (`$BIN dataset ...`, first run only), calls bench_serve and measures against $URL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-postgres
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# One private cluster holds the data set of every benchmark. Sign-ins are set-up here, not what is
# measured, so bcrypt runs below the production cost. The per-account rate limit (3,000 a minute)
# and the anonymous limits would turn most benchmark requests into 429s: both are off.
export BAZAARCHE_DATA_DIR="${BAZAARCHE_DATA_DIR:-.data/bench-postgres}" LOG_LEVEL=warning BAZAARCHE_BCRYPT_COST=10 \
  BAZAARCHE_RATE_LIMIT_PER_MINUTE=0 BAZAARCHE_ANONYMOUS_RATE_SCALE=0
export PORT="${PORT:-8099}"
URL="http://127.0.0.1:$PORT"
swift build -c release --product bazaarche
BIN=.build/release/bazaarche

# Serves the release build on $PORT until the script exits (PID), with $1 database connections
# unless POOL says otherwise, and waits until it is ready. Then PSQL runs SQL on the benchmark
# database ("${PSQL[@]}" -c "..."; unaligned, no headers); DATA is the private cluster's directory.
bench_serve() {
  BAZAARCHE_DB_POOL_SIZE="${POOL:-$1}" $BIN serve --port "$PORT" >/tmp/bazaarche-bench.log 2>&1 &
  PID=$!
  trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.5; done
  if [ -n "${DATABASE_URL:-}" ]; then PSQL=(psql -X -q -t -A "$DATABASE_URL"); else
    DATA="$(cd "$(dirname "$BAZAARCHE_DATA_DIR")" && pwd)/$(basename "$BAZAARCHE_DATA_DIR")"
    PSQL=(psql -X -q -t -A -h "$DATA-socket" -U bazaarche -d bazaarche)
  fi
}

# Prints a bearer token for $1, made on first use with role $2 (and partner $3, if given).
bench_token() {
  "${PSQL[@]}" -c "SELECT 1 FROM accounts WHERE login = '$1'" | grep -q 1 ||
    BAZAARCHE_PASSWORD=bench-password $BIN accounts create --role "$2" --login "$1" ${3:+--partner "$3"} >/dev/null
  curl -s -X POST "$URL/v1/auth/tokens" -H 'Content-Type: application/json' \
    -d "{\"login\":\"$1\",\"password\":\"bench-password\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])'
}

# Prints the id of the upstream buyer the order and matching benchmarks act for (made on first use).
bench_buyer() {
  "${PSQL[@]}" -c "INSERT INTO partners (legal_national_id, name, kind, province_code)
  VALUES ('14100123454', 'Bench Buyer', 'upstream_buyer', 'IR-23') ON CONFLICT (legal_national_id) DO UPDATE SET name = excluded.name
  RETURNING id"
}

# 3 s of wrk script $1 over $2 connections, not reported: caches and pools warm.
bench_warm_up() {
  wrk -t1 -c"$2" -d3s -s "$1" "$URL" >/dev/null
}

# RUNS runs (default 3) of wrk script $2 over CONNECTIONS connections (default $3) for DURATION
# (default $4); prints the script's BENCH line of each run, labelled "$1run=N".
bench_runs() {
  local c="${CONNECTIONS:-$3}" t r
  t=$(( c < 2 ? 1 : 2 ))
  for r in $(seq 1 "${RUNS:-3}"); do
    wrk -t"$t" -c "$c" -d "${DURATION:-$4}" --latency -s "$2" "$URL" | grep '^BENCH' | sed "s/^BENCH/${1}run=$r/"
  done
}
