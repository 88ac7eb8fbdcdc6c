#!/bin/bash
# One connection at a time, on the data set of scripts/bench (run it first): each of the six
# search shapes of bench/search.lua (3 x 5 s), then the 40 sub-category and 8 top-level demands of
# scripts/bench-matching (3 x 15 s at one connection, 15 s at 64). Prints wrk's BENCH lines.
#   bench/one-connection.sh .build/release/bazaarche     (issue 18's targets: docs/performance.md)
set -e
BIN=$(realpath "$1")
cd "$(dirname "$0")/.."
export BAZAARCHE_DATA_DIR=.data/bench-postgres LOG_LEVEL=warning BAZAARCHE_BCRYPT_COST=10 BAZAARCHE_RATE_LIMIT_PER_MINUTE=0 BAZAARCHE_ANONYMOUS_RATE_SCALE=0 BAZAARCHE_ORDER_SWEEP_SECONDS=0
BAZAARCHE_DB_POOL_SIZE=4 $BIN serve --port 8099 > /tmp/lat-serve.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
URL=http://127.0.0.1:8099
for _ in $(seq 1 120); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.5; done
PSQL=(psql -X -q -t -A -h "$(pwd)/.data/bench-postgres-socket" -U bazaarche -d bazaarche)
for p in $(grep '^  "/v1/products' bench/search.lua | cut -d'"' -f2); do
  for r in 1 2 3; do
    BENCH_PATHS="$p" wrk -t1 -c1 -d5s --latency -s bench/path.lua "$URL" | grep '^BENCH' | sed "s|^BENCH|search ${p//&/\\&} run=$r|"
  done
done
LOGIN=bench.sourcing
PARTNER=$("${PSQL[@]}" -c "SELECT id FROM partners WHERE legal_national_id = '14100123454'")
if [ -z "$PARTNER" ]; then PARTNER=$("${PSQL[@]}" -c "INSERT INTO partners (legal_national_id, name, kind, province_code) VALUES ('14100123454', 'Bench Buyer', 'upstream_buyer', 'IR-23') RETURNING id"); fi
"${PSQL[@]}" -c "SELECT 1 FROM accounts WHERE login = '$LOGIN'" | grep -q 1 || BAZAARCHE_PASSWORD=bench-password $BIN accounts create --role partner --login $LOGIN --partner $PARTNER >/dev/null
export BENCH_TOKEN=$(curl -s -X POST "$URL/v1/auth/tokens" -H 'Content-Type: application/json' -d "{\"login\":\"$LOGIN\",\"password\":\"bench-password\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
ACCOUNT=$("${PSQL[@]}" -c "SELECT id FROM accounts WHERE login = '$LOGIN'")
demands() {
  "${PSQL[@]}" -c "
    INSERT INTO demands (partner_id, account_id, category_code, keywords, quantity, unit, max_unit_price_rials,
      required_certificates, min_packaging_level, preferred_provinces, needed_by)
    SELECT $PARTNER, $ACCOUNT, c.code, split_part(c.name_fa, ' ', 1), (ARRAY[100, 2000, 5000, 20000])[1 + n % 4],
      'piece', 100000000 + (n % 5) * 20000000,
      CASE WHEN n % 4 = 0 THEN ARRAY[(ARRAY['health_license','halal','inso','handicraft_seal','organic'])[1 + n % 5]] ELSE '{}' END,
      (n % 3)::smallint, CASE WHEN n % 3 = 0 THEN ARRAY['IR-07', 'IR-23'] ELSE '{}' END, current_date + 30 + n
    FROM generate_series(1, $2) n
    JOIN LATERAL (SELECT code, name_fa FROM categories WHERE $1 ORDER BY code OFFSET n % (SELECT count(*) FROM categories WHERE $1) LIMIT 1) c ON true
    RETURNING id" | paste -sd, -
}
"${PSQL[@]}" -c "DELETE FROM demands WHERE account_id = $ACCOUNT" >/dev/null
SUB=$(demands "parent_code IS NOT NULL" 40)
TOP=$(demands "parent_code IS NULL AND code IN (SELECT parent_code FROM categories)" 8)
for set in sub top; do
  if [ $set = sub ]; then export BENCH_DEMANDS="$SUB"; else export BENCH_DEMANDS="$TOP"; fi
  wrk -t1 -c1 -d3s -s bench/matching.lua "$URL" >/dev/null
  for r in 1 2 3; do wrk -t1 -c1 -d15s --latency -s bench/matching.lua "$URL" | grep '^BENCH' | sed "s/^BENCH/matching $set c1 run=$r/"; done
  wrk -t2 -c64 -d15s --latency -s bench/matching.lua "$URL" | grep '^BENCH' | sed "s/^BENCH/matching $set c64/"
done
