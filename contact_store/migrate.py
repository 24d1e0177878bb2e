"""Run Alembic programmatically: `upgrade_database(url)` is what the CLI, the server and tests use."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# The `migrations` package sits beside `contact_store` both in a checkout and in an installed wheel,
# which also carries a copy of alembic.ini inside it (scripts/build_release.sh).
MIGRATIONS = ROOT / "migrations"


def _ini_file() -> Path | None:
    for candidate in (ROOT / "alembic.ini", MIGRATIONS / "alembic.ini"):
        if candidate.is_file():
            return candidate
    return None


def alembic_config(database_url: str) -> Config:
    """The Alembic config for this project, pointed at `database_url` (checkout or installed)."""
    ini = _ini_file()
    cfg = Config(str(ini)) if ini is not None else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = database_url
    return cfg



def head_revision() -> str:
    """The migration head of this code (one head: migrations are a single line)."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return ",".join(sorted(heads))


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision` (creating it on an empty database)."""
    command.upgrade(alembic_config(database_url), revision)


def is_up_to_date(engine: Engine, database_url: str) -> bool:
    """True when the database is at the migration head."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return set(current) == set(script.get_heads())


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    return frozenset(rev.revision for rev in _script().walk_revisions())


def migration_state(conn: Connection) -> str:
    """The schema against this release's migrations (readiness checks): "ok" at the head,
    "behind" (not migrated yet, or empty), or "ahead" (a newer release migrated it)."""
    current = set(MigrationContext.configure(conn).get_current_heads())
    if current == set(_script().get_heads()):
        return "ok"
    return "ahead" if current - _known_revisions() else "behind"


@contextmanager
def scratch_postgres_database(server_url: str, *, prefix: str = "fc_scratch") -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url`, dropped afterwards.

    For test runs and benchmarks: each gets its own database, so concurrent runs never collide.
    """
    server = make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
