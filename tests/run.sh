#!/usr/bin/env bash
# The whole test suite, on SQLite and then on PostgreSQL.
#
# PostgreSQL is KEYWARD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432,
# trust auth); each test creates and drops its own database there. When nothing
# answers at that address the PostgreSQL run is skipped, and this says so,
# unless KEYWARD_REQUIRE_POSTGRES=1 (as in CI), which makes it a failure.
# Arguments are passed to both `cargo test` runs (a filter, say); with any,
# the schemathesis run (which covers the whole API) is left out.
set -euo pipefail
cd "$(dirname "$0")/.."

export KEYWARD_TEST_POSTGRES_URL=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

# shellcheck source=install-python-tools.sh (the working directory is the repository root)
. tests/install-python-tools.sh

echo "== tests on SQLite"
KEYWARD_TEST_DATABASE=sqlite cargo test "$@"

# host and port of the URL: postgres://user[:password]@host[:port][/...]
authority=${KEYWARD_TEST_POSTGRES_URL#*://}
authority=${authority#*@}
authority=${authority%%/*}
host=${authority%%:*}
port=5432
[[ $authority == *:* ]] && port=${authority##*:}

if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "== tests on PostgreSQL at $host:$port"
  KEYWARD_TEST_DATABASE=postgres cargo test "$@"
elif [[ ${KEYWARD_REQUIRE_POSTGRES:-} == 1 ]]; then
  echo "PostgreSQL does not answer at $host:$port, and KEYWARD_REQUIRE_POSTGRES=1" >&2
  exit 1
else
  echo
  echo "!! PostgreSQL run SKIPPED: nothing answers at $host:$port."
  echo "!! The suite passed on SQLite only. Start PostgreSQL (or set"
  echo "!! KEYWARD_TEST_POSTGRES_URL) and run this again to test both backends."
fi

if [ $# -eq 0 ]; then
  echo "== schemathesis on every operation of the API's OpenAPI document"
  tests/api/schemathesis.sh
else
  echo "== schemathesis skipped: arguments ($*) chose some tests; run tests/run.sh alone for all"
fi
