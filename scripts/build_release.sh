#!/usr/bin/env bash
# Build the release: the assets (stylesheet, catalogues, fingerprinted + pre-compressed static
# files), then the wheel into dist/. The wheel holds everything `firstcontact serve` needs at run
# time; check it with scripts/wheel_smoke.sh.
#
# Usage: scripts/build_release.sh        (PYTHON=/path/to/python to use another interpreter)
# Needs: the checkout set up by scripts/setup.sh (node_modules for GOV.UK Frontend and sass, the
# venv with setuptools, wheel, babel and brotli).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
log() { echo "build_release: $*"; }

[ -d node_modules/govuk-frontend ] || { echo "build_release: node_modules missing: run scripts/setup.sh" >&2; exit 1; }
"$PYTHON" -c 'import brotli' 2>/dev/null || { echo "build_release: the brotli package is missing from $PYTHON (pip install brotli)" >&2; exit 1; }

log "stylesheet (Sass -> contact_store/static/app.css)"
npm run --silent build:css

if compgen -G "web_forms/locale/*/LC_MESSAGES/*.po" >/dev/null; then
  log "message catalogues (pybabel compile)"
  "$PYTHON" -m babel.messages.frontend compile -d web_forms/locale --statistics
fi

log "static assets (fingerprinted, .gz and .br)"
rm -rf contact_store/static/dist
"$PYTHON" -m contact_store.assets contact_store/static/dist

# The migration runner looks for alembic.ini beside the migrations package once installed.
cp alembic.ini migrations/alembic.ini

log "wheel"
rm -rf build ./*.egg-info
mkdir -p dist
rm -f dist/firstcontact-*.whl
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w dist .
WHEEL="$(ls dist/firstcontact-*.whl)"
rm -rf build ./*.egg-info

# Refuse a wheel that lacks what the server needs at run time.
"$PYTHON" - "$WHEEL" <<'PY'
import json, sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
required = [
    "contact_store/static/dist/manifest.json",
    "contact_store/static/app.css",
    "contact_store/templates/layout.html",
    "migrations/env.py",
    "migrations/alembic.ini",
    "migrations/script.py.mako",
    "web_forms/locale/cy/LC_MESSAGES/messages.po",
    "web_forms/locale/cy/LC_MESSAGES/messages.mo",
    "chat_server/widget/static/widget.js",
]
missing = [n for n in required if n not in names]
if not any(n.startswith("migrations/versions/") and n.endswith(".py") for n in names):
    missing.append("migrations/versions/*.py")
manifest = json.loads(zipfile.ZipFile(sys.argv[1]).read("contact_store/static/dist/manifest.json"))
missing += [f"contact_store/static/dist/{v}" for v in manifest.values() if f"contact_store/static/dist/{v}" not in names]
if missing:
    sys.exit("build_release: the wheel lacks " + ", ".join(missing))
print(f"build_release: {sys.argv[1]} ({len(names)} files, {len(manifest)} assets)")
PY
