#!/usr/bin/env bash
# The whole test suite, on SQLite and then on PostgreSQL.
#
# PostgreSQL is KEYWARD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432,
# trust auth); each test creates and drops its own database there. When nothing
# answers at that address the PostgreSQL run is skipped, and this says so,
# unless KEYWARD_REQUIRE_POSTGRES=1 (as in CI), which makes it a failure.
# Arguments are passed to both `cargo test` runs (a filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."

export KEYWARD_TEST_POSTGRES_URL=${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

# The invitation tests read mail from a real SMTP server on loopback, Python's
# aiosmtpd: make sure the interpreter the tests run has it.
export KEYWARD_TEST_PYTHON=${KEYWARD_TEST_PYTHON:-python3}
if ! "$KEYWARD_TEST_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
  echo "== installing aiosmtpd for $KEYWARD_TEST_PYTHON"
  "$KEYWARD_TEST_PYTHON" -m pip install --quiet aiosmtpd 2>/dev/null \
    || "$KEYWARD_TEST_PYTHON" -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
    || { apt-get update -qq && apt-get install -y -qq python3-aiosmtpd && KEYWARD_TEST_PYTHON=/usr/bin/python3; }
  "$KEYWARD_TEST_PYTHON" -c 'import aiosmtpd'
fi

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
