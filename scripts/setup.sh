#!/usr/bin/env bash
# Prepare a FirstContact checkout: Python venv + package, npm assets, Chromium.
#
# Idempotent: each step is skipped when it is already done (stamp files record
# the hash of pyproject.toml / package-lock.json last installed), so running it
# again makes no network calls. Works on a fresh Debian machine as root; when
# not root it uses `sudo -n` if available, otherwise it skips the apt steps.
#
# Usage: scripts/setup.sh [--no-browser]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

WITH_BROWSER=1
for arg in "$@"; do
  case "$arg" in
    --no-browser) WITH_BROWSER=0 ;;
    -h|--help) echo "usage: $0 [--no-browser]"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

CHROMIUM=/usr/bin/chromium
VENV=.venv
PY_STAMP="$VENV/.firstcontact-install-stamp"
NPM_STAMP=node_modules/.firstcontact-install-stamp
export PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive

log() { echo "setup: $*"; }
# Run a command silently; show its output only if it fails.
quiet() {
  local out rc=0
  out="$(mktemp)"
  "$@" >"$out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then cat "$out" >&2; fi
  rm -f "$out"
  return "$rc"
}
warn() { echo "setup: WARNING: $*" >&2; }

# --- apt helpers -----------------------------------------------------------
SUDO=""
can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; return 0; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; return 0; fi
  return 1
}
APT_UPDATED=0
apt_install() {
  can_apt || return 1
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  quiet $SUDO apt-get install -y -qq "$@"
}

# --- Python >= 3.11 --------------------------------------------------------
find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -e "$VENV" ]; then
  PYTHON="$(find_python || true)"
  if [ -z "$PYTHON" ]; then
    apt_install python3 python3-venv || { echo "setup: need Python >= 3.11 (not root: install it yourself)" >&2; exit 1; }
    PYTHON="$(find_python)" || { echo "setup: Python >= 3.11 not available" >&2; exit 1; }
  fi
  log "creating $VENV with $PYTHON ($("$PYTHON" --version))"
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian ships venv/ensurepip separately; remove the half-made venv and retry.
    rm -rf "$VENV"
    apt_install python3-venv || { echo "setup: '$PYTHON -m venv' failed; install python3-venv" >&2; exit 1; }
    "$PYTHON" -m venv "$VENV"
  fi
elif ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  # Never delete an existing venv behind the user's back.
  echo "setup: $VENV exists but its Python is missing or older than 3.11; remove $VENV and re-run" >&2
  exit 1
fi

# --- Python package (editable) with the test extra --------------------------
py_hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$PY_STAMP" ] && [ "$(cat "$PY_STAMP")" = "$py_hash" ] && [ -x "$VENV/bin/firstcontact" ]; then
  log "python package up to date"
else
  log "pip install -e '.[test]'"
  # Offline first: works when every dependency (and the build backend) is
  # already in the venv. Otherwise install from PyPI, adding the build backend
  # to the venv so that the next reinstall can be offline.
  if ! "$VENV/bin/pip" install -q --no-index --no-build-isolation -e '.[test]' >/dev/null 2>&1; then
    quiet "$VENV/bin/pip" install -q 'setuptools>=69' wheel
    quiet "$VENV/bin/pip" install -q -e '.[test]'
  fi
  echo "$py_hash" > "$PY_STAMP"
fi

# --- npm assets (govuk-frontend, MOJ frontend, axe-core) --------------------
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm || { echo "setup: npm not found (not root: install Node.js + npm)" >&2; exit 1; }
fi
if [ -f package-lock.json ]; then
  npm_hash="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
else
  npm_hash="$(sha256sum package.json | cut -d' ' -f1)"
fi
if [ -f "$NPM_STAMP" ] && [ "$(cat "$NPM_STAMP")" = "$npm_hash" ]; then
  log "npm packages up to date"
else
  if [ -f package-lock.json ]; then
    log "npm ci"
    quiet npm ci --no-audit --no-fund --loglevel=error
  else
    log "npm install (no package-lock.json)"
    quiet npm install --no-audit --no-fund --loglevel=error
    npm_hash="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
  fi
  echo "$npm_hash" > "$NPM_STAMP"
fi

# --- The stylesheet: GOV.UK Frontend in the force's brand, compiled from Sass ----
CSS_OUT=contact_store/static/app.css
if [ ! -f "$CSS_OUT" ] || [ -n "$(find contact_store/static/scss package-lock.json -newer "$CSS_OUT" 2>/dev/null | head -1)" ]; then
  log "building $CSS_OUT"
  quiet npm run --silent build:css
fi

# --- Welsh: compile the gettext catalogues (.po in git -> .mo, ignored) -----------
# The server also compiles a missing or stale .mo in memory at start-up (contact_store/i18n.py).
for po in web_forms/locale/*/LC_MESSAGES/messages.po; do
  mo="${po%.po}.mo"
  if [ ! -f "$mo" ] || [ "$po" -nt "$mo" ]; then
    log "pybabel compile $po"
    quiet "$VENV/bin/pybabel" compile -d web_forms/locale -D messages
    break
  fi
done

# --- Static assets: fingerprinted names + .gz/.br siblings (the server also refreshes them at start)
log "static assets (contact_store/static/dist)"
quiet "$VENV/bin/python" -m contact_store.assets

# --- Chromium for the browser tests (Debian package, never a download at test time)
if [ "$WITH_BROWSER" -eq 1 ]; then
  if [ -x "$CHROMIUM" ]; then
    log "chromium present"
  elif ! apt_install chromium; then
    warn "$CHROMIUM missing and cannot apt-get install (not root); browser tests will be skipped locally"
  fi
fi

# --- nginx for the reverse-proxy tests (tests/chat_server/test_behind_nginx.py runs it in a temp
# prefix, never as a service); Debian's package, the one deploy/nginx/firstcontact.conf is for.
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  log "nginx present"
elif ! apt_install nginx; then
  warn "nginx missing and cannot apt-get install (not root); the reverse-proxy tests will be skipped locally"
fi

log "done"
