# Sourced by tests/run.sh and tests/browser/run.sh: makes sure the Python the
# tests run ($KEYWARD_TEST_PYTHON, default python3) has aiosmtpd, the real
# SMTP server the invitation tests read mail from.
export KEYWARD_TEST_PYTHON=${KEYWARD_TEST_PYTHON:-python3}
if ! "$KEYWARD_TEST_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
  echo "== installing aiosmtpd for $KEYWARD_TEST_PYTHON"
  "$KEYWARD_TEST_PYTHON" -m pip install --quiet aiosmtpd 2>/dev/null \
    || "$KEYWARD_TEST_PYTHON" -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
    || { apt-get update -qq && apt-get install -y -qq python3-aiosmtpd >/dev/null && export KEYWARD_TEST_PYTHON=/usr/bin/python3; }
  "$KEYWARD_TEST_PYTHON" -c 'import aiosmtpd'
fi
