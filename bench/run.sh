#!/usr/bin/env bash
# Benchmark: builds Keyward in release mode and, for each backend (SQLite, then
# PostgreSQL when one answers), starts it with demo data on a free loopback
# port and a throw-away database, signs in as the demo owner, brings Acme
# Payments to 3 credentials, then drives load with wrk:
#   - GET /healthz (the floor: what the framework and one trivial query cost)
#   - signed-in GET /settings/credentials (session, user, memberships, 3 cards)
#   - POST /oauth/token (client_secret_post, one credential)
#   - GET /api/v1/credentials with a personal access token (the JSON API's
#     list; it should be at least as fast as the HTML page)
# at 1 and 16 connections, and a token-authenticated create+delete pair
# (POST then DELETE /api/v1/credentials, alternating, 1 connection), and reads the server's RSS at idle and under load.
# Then it adds a million audit events and reads the Audit log's pages.
# Figures are reported as ratios to /healthz from the same backend's run: the
# machine is shared and absolute numbers drift. Both backends land in one table.
#
# Usage: [BENCH_METRICS=1] bench/run.sh [seconds per run, default 10] [backend...]
#   backends: sqlite postgres (default: both; postgres is skipped, and said so,
#   when nothing answers at BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
shift || true
BACKENDS=("$@")
[ ${#BACKENDS[@]} -gt 0 ] || BACKENDS=(sqlite postgres)
PG_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
# BENCH_METRICS=1: with Prometheus metrics on (KEYWARD_METRICS_ADDR), to
# compare the ratios with a run without.
METRICS_ENV=
if [ -n "${BENCH_METRICS:-}" ]; then
  METRICS_ENV="KEYWARD_METRICS_ADDR=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

cargo build --release --quiet
WORK=$(mktemp -d)
SERVER=
PG_DB=
cleanup() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; }
  [ -n "$PG_DB" ] && psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER/status"; }
ms() { python3 -c "
v='$1'
for unit, f in (('us', 0.001), ('ms', 1), ('s', 1000)):
    if v.endswith(unit) and not (unit == 's' and v.endswith(('us', 'ms'))):
        print(round(float(v[:-len(unit)]) * f, 3)); break"; }

# run PATH CONNECTIONS -> "rps p50_ms p99_ms", and raises PEAK_RSS
run() {
  local out header=()
  case "$1" in
    /healthz) ;;
    /oauth/token) header=(-s "$WORK/token.lua") ;;
    /api/v1/credentials) header=(-H "Authorization: Bearer $API_TOKEN") ;;
    pair) header=(-s "$WORK/pair.lua"); set -- /api/v1/credentials "$2" ;;
    *) header=(-H "Cookie: $COOKIE") ;;
  esac
  out=$(wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${DURATION}s" --latency "${header[@]}" "$BASE$1" &
        pid=$!; sleep $(( DURATION / 2 )); r=$(rss); echo "RSS $r"; wait $pid)
  local r; r=$(echo "$out" | awk '/^RSS/ { print $2 }')
  PEAK_RSS=$(python3 -c "print(max($PEAK_RSS, $r))")
  if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx responses for $1: $out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  echo "$rps $(ms "$p50") $(ms "$p99")"
}

# start BACKEND DATABASE_URL: a fresh server with demo data and 3 credentials,
# a signed-in cookie in COOKIE and a token request in token.lua.
start() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BASE="http://127.0.0.1:$PORT"
  rm -f "$WORK"/cookies "$WORK"/bench.key
  DATABASE_URL="$2" KEYWARD_KEY_FILE="$WORK/bench.key" \
    KEYWARD_ADDR="127.0.0.1:$PORT" KEYWARD_DEMO_PASSWORD="bench-password-123" RUST_LOG=warn \
    KEYWARD_TOKEN_RATE_PER_CLIENT=1000000 KEYWARD_TOKEN_RATE_PER_IP=1000000 \
    KEYWARD_API_RATE_PER_MINUTE=1000000000 KEYWARD_SHUTDOWN_DRAIN_SECS=0 \
    env ${METRICS_ENV:-} ./target/release/keyward serve --demo >"$WORK/server-$1.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
  JAR="$WORK/cookies"
  token() { curl -s -b "$JAR" -c "$JAR" "$BASE$1" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | cut -d'"' -f4; }
  local t
  t=$(token /login)
  curl -s -b "$JAR" -c "$JAR" -o /dev/null -d "csrf_token=$t&email=owner@acme.test&password=bench-password-123" "$BASE/login"
  for name in "Bench credential two" "Bench credential three"; do
    t=$(token /settings/credentials/new)
    curl -s -b "$JAR" -c "$JAR" -o "$WORK/reveal.html" --data-urlencode "csrf_token=$t" --data-urlencode "name=$name" \
      --data-urlencode "description=" -d permission_set=monitoring -d ip_mode=all \
      -d grant=audit:read -d grant=webhooks:read \
      "$BASE/settings/credentials"
  done
  local client_id client_secret
  client_id=$(grep -o 'kwid_[A-Za-z0-9]\{22\}' "$WORK/reveal.html" | head -1)
  client_secret=$(grep -o 'kws_test_[A-Za-z0-9]\{49\}' "$WORK/reveal.html" | head -1)
  [ -n "$client_secret" ] || { echo "could not read the new credential's secret" >&2; exit 1; }
  cat > "$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials&client_id=$client_id&client_secret=$client_secret"
LUA
  COOKIE=$(awk '$6 == "keyward_session" { print "keyward_session=" $7 }' "$JAR")
  API_TOKEN=$(DATABASE_URL="$2" KEYWARD_KEY_FILE="$WORK/bench.key" ./target/release/keyward token add \
    --email owner@acme.test --org "Acme Payments" --name bench --access write --days 1)
  # create+delete: each create's client ID is deleted by the next request.
  cat > "$WORK/pair.lua" <<LUA
local made, n = nil, 0
request = function()
  if made then
    local path = "/api/v1/credentials/" .. made
    made = nil
    return wrk.format("DELETE", path, { ["Authorization"] = "Bearer $API_TOKEN" })
  end
  n = n + 1
  local body = '{"name":"Bench pair ' .. n .. '","permission_set":"monitoring","permissions":["audit:read:org"],"ip_allowlist":["0.0.0.0/0"]}'
  return wrk.format("POST", "/api/v1/credentials",
    { ["Authorization"] = "Bearer $API_TOKEN", ["Content-Type"] = "application/json" }, body)
end
response = function(status, headers, body)
  local id = body:match('"client_id":"(kwid_[A-Za-z0-9]+)"')
  if status == 201 and id then made = id end
end
LUA
  local cards
  cards=$(curl -s -H "Cookie: $COOKIE" "$BASE/settings/credentials" | grep -c 'data-credential=')
  [ "$cards" = 3 ] || { echo "expected 3 credential cards on the page, got $cards" >&2; exit 1; }
}

stop() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=; }

# The Audit log's million events (a year over 3 credentials and 4 actors),
# inserted straight into the database.
EVENTS="${AUDIT_EVENTS:-1000000}"
seed_audit() {
  case "$1" in
    sqlite)
      python3 - "$WORK/bench.db" "$EVENTS" <<'PY'
import random, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db, timeout=30)
org = con.execute("SELECT id FROM organizations WHERE name = 'Acme Payments'").fetchone()[0]
targets = [r[0] for r in con.execute("SELECT client_id FROM credentials WHERE organization_id = ? ORDER BY id", (org,))]
actors = ["owner@acme.test", "admin@acme.test", "viewer@acme.test", "support@keyward.test"]
actions = ["credential.rotated"] * 40 + ["sign_in"] * 50 + ["credential.updated"] * 9 + ["credential.disabled"]
start = int(time.time()) - 365 * 86400
rng = random.Random(7)
rows = ((org, rng.choice(actors), rng.choice(actions), rng.choice(targets), "203.0.113.%d" % rng.randrange(256),
         "bench", "{}", start + i * 365 * 86400 // n) for i in range(n))
con.executemany("INSERT INTO audit_events (organization_id, actor, action, target, ip, user_agent, detail, created_at) VALUES (?,?,?,?,?,?,?,?)", rows)
con.commit()
PY
      ;;
    postgres)
      # The same mix as the SQLite seeding: 40% rotated, 50% sign_in, 9% updated, 1% disabled.
      psql -q -v ON_ERROR_STOP=1 "$PG_URL/$PG_DB" >/dev/null <<SQL
WITH org AS (SELECT id FROM organizations WHERE name = 'Acme Payments'),
     targets AS (SELECT array_agg(client_id ORDER BY id) AS ids FROM credentials WHERE organization_id = (SELECT id FROM org))
INSERT INTO audit_events (organization_id, actor, action, target, ip, user_agent, detail, created_at)
SELECT (SELECT id FROM org),
       (ARRAY['owner@acme.test', 'admin@acme.test', 'viewer@acme.test', 'support@keyward.test'])[1 + floor(random() * 4)::int],
       CASE WHEN r < 0.40 THEN 'credential.rotated' WHEN r < 0.90 THEN 'sign_in'
            WHEN r < 0.99 THEN 'credential.updated' ELSE 'credential.disabled' END,
       (SELECT ids FROM targets)[1 + floor(random() * 3)::int],
       '203.0.113.' || floor(random() * 256)::int, 'bench', '{}',
       extract(epoch FROM now())::bigint - 365 * 86400 + i::bigint * 365 * 86400 / $EVENTS
FROM (SELECT i, random() AS r FROM generate_series(0, $EVENTS - 1) AS i) AS s;
ANALYZE audit_events;
SQL
      ;;
  esac
}

ROWS="$WORK/rows"
AUDIT_ROWS="$WORK/audit-rows"
NOTES="$WORK/notes"
: >"$ROWS"; : >"$AUDIT_ROWS"; : >"$NOTES"
row() { printf '| %-9s | %-26s | %5s | %8s | %7s | %7s | %14s |\n' "$@" >>"$ROWS"; }

for backend in "${BACKENDS[@]}"; do
  case "$backend" in
    sqlite) url="sqlite://$WORK/bench.db" ;;
    postgres)
      if ! psql -qAt "$PG_URL/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
        echo "PostgreSQL run SKIPPED: nothing answers at $PG_URL" | tee -a "$NOTES" >&2
        continue
      fi
      PG_DB="keyward_bench_$$"
      psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null
      url="$PG_URL/$PG_DB"
      ;;
    *) echo "unknown backend $backend (sqlite or postgres)" >&2; exit 2 ;;
  esac
  echo "== $backend" >&2
  start "$backend" "$url"
  IDLE_RSS=$(rss)
  PEAK_RSS=$IDLE_RSS
  for conns in 1 16; do
    read -r h_rps h_p50 h_p99 < <(run /healthz "$conns")
    read -r c_rps c_p50 c_p99 < <(run /settings/credentials "$conns")
    read -r t_rps t_p50 t_p99 < <(run /oauth/token "$conns")
    row "$backend" "GET /healthz" "$conns" "$h_rps" "$h_p50" "$h_p99" "1.00"
    row "$backend" "GET /settings/credentials" "$conns" "$c_rps" "$c_p50" "$c_p99" "$(python3 -c "print(f'{$c_rps / $h_rps:.2f}')")"
    row "$backend" "POST /oauth/token" "$conns" "$t_rps" "$t_p50" "$t_p99" "$(python3 -c "print(f'{$t_rps / $h_rps:.2f}')")"
    read -r a_rps a_p50 a_p99 < <(run /api/v1/credentials "$conns")
    row "$backend" "GET /api/v1/credentials" "$conns" "$a_rps" "$a_p50" "$a_p99" "$(python3 -c "print(f'{$a_rps / $h_rps:.2f}')")"
  done
  # Make room for the pair: the org is at its limit of 3.
  spare=$(curl -s -H "Authorization: Bearer $API_TOKEN" "$BASE/api/v1/credentials" \
    | python3 -c 'import json, sys; print([c["client_id"] for c in json.load(sys.stdin)["data"] if not c["primary"]][-1])')
  curl -sf -o /dev/null -X DELETE -H "Authorization: Bearer $API_TOKEN" "$BASE/api/v1/credentials/$spare"
  read -r h_rps h_p50 h_p99 < <(run /healthz 1)
  read -r p_rps p_p50 p_p99 < <(run pair 1)
  row "$backend" "API create+delete (alt.)" 1 "$p_rps" "$p_p50" "$p_p99" "$(python3 -c "print(f'{$p_rps / $h_rps:.2f}')")"

  # Where a token's time goes: the server's CPU profile during 16-connection load.
  if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
    perf record -F 999 -g -p "$SERVER" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    PERF=$!
    wrk -t2 -c16 -d"${DURATION}s" -s "$WORK/token.lua" "$BASE/oauth/token" >/dev/null
    wait $PERF
    {
      echo
      echo "$backend: token endpoint CPU profile, top entries (self time):"
      perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | awk 'NR <= 8' | sed -E 's/ {2,}-.*$//; s/ +$//; s/^ +/  /'
    } >>"$NOTES"
  fi
  echo "$backend: server RSS ${IDLE_RSS} MiB idle after start-up, ${PEAK_RSS} MiB peak under load" >>"$NOTES"

  echo "== $backend: seeding $EVENTS audit events" >&2
  seed_audit "$backend"
  target=$(grep -o 'kwid_[A-Za-z0-9]\{22\}' "$WORK/reveal.html" | head -1)
  month_ago=$(date -u -d '30 days ago' +%F)
  for page in "/audit-log" "/audit-log?action=credential.disabled" "/audit-log?credential=$target&actor=admin%40acme.test" "/audit-log?action=sign_in&from=$month_ago" "/audit-log?action=credential.disabled&before=500000"; do
    read -r rps p50 p99 < <(run "$page" 1)
    printf '| %-9s | %-62s | %8s | %7s | %7s |\n' "$backend" "GET ${page//$target/<client id>}" "$rps" "$p50" "$p99" >>"$AUDIT_ROWS"
  done
  stop
done

echo
echo "Keyward benchmark: $(nproc) cores, ${DURATION}s per run, release build; ratios against /healthz of the same backend"
echo
printf '| %-9s | %-26s | %5s | %8s | %7s | %7s | %14s |\n' backend endpoint conns "req/s" "p50 ms" "p99 ms" "rate / healthz"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ----------- ---------------------------- ------- ---------- --------- --------- ----------------
cat "$ROWS"
echo
echo "Audit log with $EVENTS events, 1 connection, ${DURATION}s each"
echo
printf '| %-9s | %-62s | %8s | %7s | %7s |\n' backend page "req/s" "p50 ms" "p99 ms"
printf '|%s|%s|%s|%s|%s|\n' ----------- ---------------------------------------------------------------- ---------- --------- ---------
cat "$AUDIT_ROWS"
cat "$NOTES"
