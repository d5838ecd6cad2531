#!/usr/bin/env bash
# Benchmark: builds Keyward in release mode, starts it with demo data on a free
# loopback port and a throw-away database, signs in as the demo owner, brings
# Acme Payments to 3 credentials, then drives load with wrk:
#   - GET /healthz (the floor: what the framework and one trivial query cost)
#   - signed-in GET /settings/credentials (session, user, memberships, 3 cards)
# at 1 and 16 connections, and reads the server's RSS at idle and under load.
# Figures are reported as ratios to /healthz from the same run: the machine is
# shared and absolute numbers drift.
#
# Usage: bench/run.sh [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

cargo build --release --quiet
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export DATABASE_URL="sqlite://$WORK/bench.db" KEYWARD_KEY_FILE="$WORK/bench.key" \
  KEYWARD_ADDR="127.0.0.1:$PORT" KEYWARD_DEMO_PASSWORD="bench-password-123" RUST_LOG=warn \
  KEYWARD_TOKEN_RATE_PER_CLIENT=1000000 KEYWARD_TOKEN_RATE_PER_IP=1000000
./target/release/keyward serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done

JAR="$WORK/cookies"
token() { curl -s -b "$JAR" -c "$JAR" "$BASE$1" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | cut -d'"' -f4; }
T=$(token /login)
curl -s -b "$JAR" -c "$JAR" -o /dev/null -d "csrf_token=$T&email=owner@acme.test&password=bench-password-123" "$BASE/login"
for name in "Bench credential two" "Bench credential three"; do
  T=$(token /settings/credentials/new)
  curl -s -b "$JAR" -c "$JAR" -o "$WORK/reveal.html" --data-urlencode "csrf_token=$T" --data-urlencode "name=$name" \
    --data-urlencode "description=" -d permission_set=monitoring -d ip_mode=all \
    -d perm_type=audit -d perm_action=read -d perm_scope=org -d perm_resource= \
    -d perm_type=webhooks -d perm_action=read -d perm_scope=org -d perm_resource= \
    "$BASE/settings/credentials"
done
CLIENT_ID=$(grep -o 'kwid_[A-Za-z0-9]\{22\}' "$WORK/reveal.html" | head -1)
CLIENT_SECRET=$(grep -o 'kws_test_[A-Za-z0-9]\{49\}' "$WORK/reveal.html" | head -1)
[ -n "$CLIENT_SECRET" ] || { echo "could not read the new credential's secret" >&2; exit 1; }
cat > "$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials&client_id=$CLIENT_ID&client_secret=$CLIENT_SECRET"
LUA
COOKIE=$(awk '$6 == "keyward_session" { print "keyward_session=" $7 }' "$JAR")
CARDS=$(curl -s -H "Cookie: $COOKIE" "$BASE/settings/credentials" | grep -c 'data-credential=')
[ "$CARDS" = 3 ] || { echo "expected 3 credential cards on the page, got $CARDS" >&2; exit 1; }

rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER/status"; }
IDLE_RSS=$(rss)
PEAK_RSS=$IDLE_RSS

# run NAME PATH CONNECTIONS -> "rps p50_ms p99_ms"
run() {
  local out
  local header=()
  case "$2" in
    /healthz) ;;
    /oauth/token) header=(-s "$WORK/token.lua") ;;
    *) header=(-H "Cookie: $COOKIE") ;;
  esac
  out=$(wrk -t"$(( $3 < 2 ? 1 : 2 ))" -c"$3" -d"${DURATION}s" --latency "${header[@]}" "$BASE$2" &
        pid=$!; sleep $(( DURATION / 2 )); r=$(rss); echo "RSS $r"; wait $pid)
  local r; r=$(echo "$out" | awk '/^RSS/ { print $2 }')
  PEAK_RSS=$(python3 -c "print(max($PEAK_RSS, $r))")
  if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx responses for $2: $out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  echo "$rps $(ms "$p50") $(ms "$p99")"
}
ms() { python3 -c "
v='$1'
for unit, f in (('us', 0.001), ('ms', 1), ('s', 1000)):
    if v.endswith(unit) and not (unit == 's' and v.endswith(('us', 'ms'))):
        print(round(float(v[:-len(unit)]) * f, 3)); break"; }

echo "Keyward benchmark: $(nproc) cores, ${DURATION}s per run, SQLite, release build"
echo
printf '| %-28s | %5s | %10s | %9s | %9s | %14s |\n' endpoint conns "req/s" "p50 ms" "p99 ms" "rate / healthz"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------------------------ ------- ------------ ----------- ----------- ----------------
for conns in 1 16; do
  read -r h_rps h_p50 h_p99 < <(run healthz /healthz "$conns")
  read -r c_rps c_p50 c_p99 < <(run credentials /settings/credentials "$conns")
  read -r t_rps t_p50 t_p99 < <(run token /oauth/token "$conns")
  ratio=$(python3 -c "print(f'{$c_rps / $h_rps:.2f}')")
  t_ratio=$(python3 -c "print(f'{$t_rps / $h_rps:.2f}')")
  printf '| %-28s | %5s | %10s | %9s | %9s | %14s |\n' "GET /healthz" "$conns" "$h_rps" "$h_p50" "$h_p99" "1.00"
  printf '| %-28s | %5s | %10s | %9s | %9s | %14s |\n' "GET /settings/credentials" "$conns" "$c_rps" "$c_p50" "$c_p99" "$ratio"
  printf '| %-28s | %5s | %10s | %9s | %9s | %14s |\n' "POST /oauth/token" "$conns" "$t_rps" "$t_p50" "$t_p99" "$t_ratio"
done

# Where a token's time goes: the server's CPU profile during 16-connection load.
if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
  perf record -F 999 -g -p "$SERVER" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
  PERF=$!
  wrk -t2 -c16 -d"${DURATION}s" -s "$WORK/token.lua" "$BASE/oauth/token" >/dev/null
  wait $PERF
  echo
  echo "Token endpoint CPU profile, top entries (self time):"
  perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | awk 'NR <= 12' | sed -E 's/ {2,}-.*$//; s/ +$//; s/^ +/  /'
else
  echo
  echo "(perf is not available here: no CPU profile of the token endpoint)"
fi
echo
echo "Server RSS: ${IDLE_RSS} MiB idle after start-up, ${PEAK_RSS} MiB peak under load"

# The Audit log with a million events: seeded straight into the database
# (a year of events over 3 credentials and 4 actors), then the first page and
# filtered pages read through the server, one connection at a time.
EVENTS="${AUDIT_EVENTS:-1000000}"
python3 - "$WORK/bench.db" "$EVENTS" <<'PY'
import random, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db, timeout=30)
org = con.execute("SELECT id FROM organizations WHERE name = 'Acme Payments'").fetchone()[0]
targets = [r[0] for r in con.execute("SELECT client_id FROM credentials WHERE organization_id = ?", (org,))]
actors = ["owner@acme.test", "admin@acme.test", "viewer@acme.test", "support@keyward.test"]
actions = ["credential.rotated"] * 40 + ["sign_in"] * 50 + ["credential.updated"] * 9 + ["credential.disabled"]
start = int(time.time()) - 365 * 86400
rng = random.Random(7)
rows = ((org, rng.choice(actors), rng.choice(actions), rng.choice(targets), "203.0.113.%d" % rng.randrange(256),
         "bench", "{}", start + i * 365 * 86400 // n) for i in range(n))
con.executemany("INSERT INTO audit_events (organization_id, actor, action, target, ip, user_agent, detail, created_at) VALUES (?,?,?,?,?,?,?,?)", rows)
con.commit()
PY
TARGET=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT client_id FROM credentials ORDER BY id DESC LIMIT 1').fetchone()[0])" "$WORK/bench.db")
MONTH_AGO=$(date -u -d '30 days ago' +%F)
echo
echo "Audit log with $EVENTS events, 1 connection, ${DURATION}s each"
echo
printf '| %-62s | %10s | %9s | %9s |\n' page "req/s" "p50 ms" "p99 ms"
printf '|%s|%s|%s|%s|\n' ---------------------------------------------------------------- ------------ ----------- -----------
for page in "/audit-log" "/audit-log?action=credential.disabled" "/audit-log?credential=$TARGET&actor=admin%40acme.test" "/audit-log?action=sign_in&from=$MONTH_AGO" "/audit-log?action=credential.disabled&before=500000"; do
  read -r rps p50 p99 < <(run audit "$page" 1)
  printf '| %-62s | %10s | %9s | %9s |\n' "GET ${page//$TARGET/<client id>}" "$rps" "$p50" "$p99"
done
