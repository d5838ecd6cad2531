#!/usr/bin/env bash
# Keyward in a real browser: the journeys (playwright-core driving Debian's
# Chromium against the release binary with demo data, or an empty database for
# the setup page), axe-core on every page and dialog that lib/required-pages.mjs
# lists, in both themes, openid-client + jose as an independent OAuth client,
# then the W3C Nu HTML Checker (vnu, the npm package vnu-jar; Java runs it) on
# every page and fragment the journeys received. Installs what a fresh machine lacks:
# Chromium (apt) and the npm packages pinned in package-lock.json.
#
# Usage: tests/browser/run.sh [journey file...]   (default: all of journeys/)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
export BROWSER_OUT="$ROOT/target/browser"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v java >/dev/null 2>&1; then
  echo "== installing Java for the Nu HTML Checker"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "== installing sqlite3 (a journey moves an invitation past its expiry)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
fi
# shellcheck source=../install-python-tools.sh
. ../install-python-tools.sh
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.installed-lock.json
fi
echo "== building the release binary"
(cd "$ROOT" && cargo build --release --quiet)

rm -rf "$BROWSER_OUT"
mkdir -p "$BROWSER_OUT/html"
echo "== journeys, axe and the OAuth client (Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
if [ $# -gt 0 ]; then files=("$@"); else files=(journeys/*.test.mjs); fi
node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

echo "== Nu HTML Checker on $(ls "$BROWSER_OUT/html" | wc -l) pages and fragments"
java -jar node_modules/vnu-jar/build/dist/vnu.jar --errors-only --format gnu "$BROWSER_OUT"/html/*.html
echo "vnu: no errors"
