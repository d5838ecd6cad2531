# Sourced by tests/run.sh and tests/browser/run.sh: makes sure the Python the
# tests run ($KEYWARD_TEST_PYTHON, default python3) has the real components
# the tests talk to: aiosmtpd (the SMTP server emails are read from),
# standardwebhooks (the library webhook receivers verify signatures with)
# and prometheus_client (whose parser reads /metrics).
export KEYWARD_TEST_PYTHON=${KEYWARD_TEST_PYTHON:-python3}
for module in aiosmtpd standardwebhooks prometheus_client; do
  if ! "$KEYWARD_TEST_PYTHON" -c "import $module" 2>/dev/null; then
    echo "== installing $module for $KEYWARD_TEST_PYTHON"
    "$KEYWARD_TEST_PYTHON" -m pip install --quiet "$module" 2>/dev/null \
      || "$KEYWARD_TEST_PYTHON" -m pip install --quiet --break-system-packages "$module"
    "$KEYWARD_TEST_PYTHON" -c "import $module"
  fi
done
