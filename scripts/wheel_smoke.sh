#!/usr/bin/env bash
# Smoke test of the release wheel: install dist/firstcontact-*.whl into a new virtual environment
# outside the repository, start `firstcontact serve` from a directory outside the repository on a
# free port with a temporary SQLite store, and drive it (scripts/wheel_smoke_driver.py): a form
# page and a report, a chat over both websockets, a console sign-in. Exit 1 if anything fails.
#
# Dependencies are installed from a local wheelhouse (default ~/.cache/firstcontact/wheelhouse,
# FIRSTCONTACT_WHEELHOUSE to change it), filled from the package index the first time (or when a
# new dependency appears), so later runs are offline and take well under a minute.
#
# Usage: scripts/wheel_smoke.sh [path/to/firstcontact.whl]    (PYTHON: interpreter for the
# driver and the new venv; default .venv/bin/python)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
PYTHON="${PYTHON:-.venv/bin/python}"
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"
WHEEL="${1:-$(ls -t dist/firstcontact-*.whl 2>/dev/null | head -1)}"
[ -n "$WHEEL" ] && [ -f "$WHEEL" ] || { echo "wheel_smoke: no wheel: run scripts/build_release.sh first" >&2; exit 1; }
WHEEL="$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")"
WHEELHOUSE="${FIRSTCONTACT_WHEELHOUSE:-$HOME/.cache/firstcontact/wheelhouse}"
log() { echo "wheel_smoke: $*"; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
case "$WORK" in "$REPO"/*) echo "wheel_smoke: temp dir inside the repository" >&2; exit 1 ;; esac

# The base interpreter (not the repository's venv): the new venv shares nothing with the checkout.
BASE_PYTHON="$("$PYTHON" -c 'import sys; print(sys._base_executable)')"
log "new venv in $WORK/venv ($("$BASE_PYTHON" --version))"
# No pip inside (ensurepip costs seconds): the driver interpreter's pip installs into it, without
# byte-compiling (Python compiles what it imports).
"$BASE_PYTHON" -m venv --without-pip "$WORK/venv"
VPIP=("$PYTHON" -m pip --python "$WORK/venv/bin/python" install -q --disable-pip-version-check --no-compile)
mkdir -p "$WHEELHOUSE"
if ! "${VPIP[@]}" --no-index --find-links "$WHEELHOUSE" "$WHEEL" >"$WORK/pip.log" 2>&1; then
  log "filling the wheelhouse $WHEELHOUSE from the package index (first run or a new dependency)"
  "$PYTHON" -m pip wheel -q --disable-pip-version-check -w "$WHEELHOUSE" "$WHEEL"
  rm -f "$WHEELHOUSE"/firstcontact-*.whl
  "${VPIP[@]}" --no-index --find-links "$WHEELHOUSE" "$WHEEL"
fi

cd "$WORK"  # outside the repository: nothing can be imported from the checkout
LOCATION="$("$WORK/venv/bin/python" -c 'import contact_store, chat_server; print(contact_store.__file__)')"
case "$LOCATION" in "$WORK/venv/"*) ;; *) echo "wheel_smoke: contact_store imported from $LOCATION" >&2; exit 1 ;; esac
log "installed: $LOCATION"

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export FIRSTCONTACT_DATA_DIR="$WORK/data"
export FIRSTCONTACT_PUBLIC_BASE_URL="http://127.0.0.1:$PORT"
unset FIRSTCONTACT_DATABASE_URL FIRSTCONTACT_REDIS_URL || true
FC="$WORK/venv/bin/firstcontact"
"$FC" db upgrade
USERNAME=smoke.supervisor
PASSWORD="smoke test password $RANDOM$RANDOM"
printf '%s\n' "$PASSWORD" | "$FC" operator add --username "$USERNAME" --role supervisor --display-name "Smoke Supervisor"

"$FC" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  if "$PYTHON" -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$PORT/report', timeout=2)" 2>/dev/null; then
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "wheel_smoke: server exited" >&2; exit 1; }
  sleep 0.5
done

rc=0
"$PYTHON" "$REPO/scripts/wheel_smoke_driver.py" "http://127.0.0.1:$PORT" "$USERNAME" "$PASSWORD" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "---- server log ----" >&2
  tail -n 60 "$WORK/server.log" >&2
  exit "$rc"
fi
log "passed"
