#!/usr/bin/env bash
# schemathesis (from PyPI) against a running Keyward: every operation of
# /api/v1/openapi.json with a write token of a demo owner, every check
# (no server errors, responses and status codes as documented, bad input
# refused, good input accepted, auth enforced). Zero failures or it fails.
#
# Usage: tests/api/schemathesis.sh [extra schemathesis options]
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v schemathesis >/dev/null 2>&1; then
  echo "== installing schemathesis"
  python3 -m pip install --quiet schemathesis 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages schemathesis
fi
cargo build --quiet
bin=target/debug/keyward

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export KEYWARD_ADDR="127.0.0.1:$port"
export DATABASE_URL="sqlite://$dir/keyward.db?mode=rwc"
export KEYWARD_KEY_FILE="$dir/keyward.key"
export KEYWARD_DEMO_PASSWORD="schemathesis-demo-password"
export RUST_LOG=warn
export KEYWARD_SHUTDOWN_DRAIN_SECS=0
# The fuzzer sends thousands of requests a minute with one token; the rate
# limit and its 429 are checked by tests/it/api.rs instead.
export KEYWARD_API_RATE_PER_MINUTE=1000000
"$bin" serve --demo >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$dir/server.log"; exit 1; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

token=$("$bin" token add --email owner@acme.test --org "Acme Payments" \
  --name schemathesis --access write --days 1)
echo "== schemathesis $(schemathesis --version | awk '{print $NF}') on every operation, all checks"
schemathesis --config-file tests/api/schemathesis.toml run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples 30 \
  --seed 1 \
  "$@"
