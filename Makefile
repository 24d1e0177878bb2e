# FirstContact developer entry points. See scripts/ for what each one does.
.PHONY: run test ci lint setup

setup:
	scripts/setup.sh

# Start the server with demo data (no Chromium needed).
run:
	scripts/setup.sh --no-browser
	.venv/bin/firstcontact serve --demo

# Setup, ruff, mypy, pytest. Pass pytest args with: make test ARGS="-k chat"
test:
	scripts/test.sh $(ARGS)

# What CI runs: SQLite run, then PostgreSQL + Redis run.
ci:
	.ci/run

lint:
	scripts/setup.sh --no-browser
	.venv/bin/ruff check .
	.venv/bin/mypy
