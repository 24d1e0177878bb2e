#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are up,
# starting them if needed, and wait (bounded) until both answer.
# Also creates the `test` database used by the PostgreSQL test run if missing.
set -euo pipefail

WAIT_SECONDS=30  # generous for a cold PostgreSQL start; CI must not hang

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q >/dev/null 2>&1; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  echo "services: starting PostgreSQL"
  # shellcheck disable=SC2046  # one cluster version directory expected
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
fi
if ! redis_up; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi

for _ in $(seq "$WAIT_SECONDS"); do
  if pg_up && redis_up; then break; fi
  sleep 1
done
pg_up || { echo "services: PostgreSQL not answering on 127.0.0.1:5432 after ${WAIT_SECONDS}s" >&2; exit 1; }
redis_up || { echo "services: Redis not answering on 127.0.0.1:6379 after ${WAIT_SECONDS}s" >&2; exit 1; }

# The PostgreSQL test run uses postgresql+psycopg://postgres@127.0.0.1:5432/test.
if command -v psql >/dev/null 2>&1 \
  && [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname = 'test'" </dev/null)" != "1" ]; then
  echo "services: creating database test"
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' </dev/null
fi

echo "services: PostgreSQL and Redis are up"
