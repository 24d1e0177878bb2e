#!/usr/bin/env bash
# Set up, lint (ruff + mypy), then run pytest.
#
# Usage: scripts/test.sh [--no-lint] [--no-browser] [pytest args...]
#   --no-lint     skip ruff and mypy
#   --no-browser  do not try to install Chromium during setup
# Everything else is passed to pytest. FIRSTCONTACT_TEST_DATABASE_URL and
# FIRSTCONTACT_TEST_REDIS_URL, when set, are simply inherited by pytest.
# Exit code: pytest's (5 = "no tests collected" is reported as a failure).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

LINT=1
SETUP_ARGS=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --no-lint) LINT=0; shift ;;
    --no-browser) SETUP_ARGS+=(--no-browser); shift ;;
    *) break ;;  # the rest belongs to pytest
  esac
done

scripts/setup.sh "${SETUP_ARGS[@]+"${SETUP_ARGS[@]}"}"

if [ "$LINT" -eq 1 ]; then
  echo "test: ruff check"
  .venv/bin/ruff check .
  echo "test: mypy"
  .venv/bin/mypy
fi

echo "test: pytest ${*@Q}"
rc=0
# Two processes (the machine has 2 cores); whole files stay together on one worker, so module
# fixtures (a browser per module, live servers) are shared as designed.
.venv/bin/pytest -q -n 2 --dist loadfile "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: FAILED - pytest collected no tests" >&2
fi
exit "$rc"
