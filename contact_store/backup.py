"""Backup and restore of the store (`firstcontact backup FILE`, `firstcontact restore FILE`).

SQLite (the embedded default):
- Backup uses SQLite's online backup API in one step: it copies every page under one read
  transaction, so the copy is one consistent moment of the store, and with WAL the server's writers
  carry on meanwhile (safe while serving). The copy is written beside the target and renamed into
  place only once complete and `PRAGMA integrity_check` passes, in rollback-journal mode so that the
  backup is one self-contained file.
- Restore refuses a file that is not a sound SQLite store, whose migration revision is unknown to
  this release (made by a newer one), or a target store that holds any data unless `force` is given.
  It copies with the same backup API (through SQLite, so the target's WAL is handled), then brings
  a backup from an older release up to the head with the forward-only migrations. Stop the server
  while restoring.

PostgreSQL: backup runs `pg_dump --format=custom` (or, without pg_dump on the PATH, says what to
run); restore runs `pg_restore` into an empty database. Point-in-time recovery (WAL archiving) is an
operations procedure: docs/readme/operations.md.

Evidence files live in `data_dir/uploads`, outside the database: copy that folder with the backup.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, make_url

from contact_store.migrate import alembic_config, head_revision, upgrade_database

# Tables that hold no data of the service: a store with rows only here counts as empty.
BOOKKEEPING_TABLES = frozenset({"alembic_version"})


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why and what to do."""


@dataclass
class BackupResult:
    path: Path
    revision: str
    rows: dict[str, int] = field(default_factory=dict)
    upgraded_from: str | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def sqlite_file(database_url: str) -> Path | None:
    """The file of an SQLite URL (None for another database); in-memory stores cannot be backed up."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite store cannot be backed up or restored.")
    return Path(url.database)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True)
    return sqlite3.connect(path)


def table_rows(conn: sqlite3.Connection) -> dict[str, int]:
    """Row counts of every table of an SQLite store."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}  # noqa: S608


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        return None
    return ",".join(sorted(r[0] for r in rows)) or None


def _known_revision(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        return all(script.get_revision(r) is not None for r in revision.split(","))
    except CommandError:
        return False


def backup_sqlite(*, database_url: str, target: Path) -> BackupResult:
    """Copy the SQLite store to `target` (safe while the server writes to it)."""
    source_path = sqlite_file(database_url)
    assert source_path is not None
    if not source_path.is_file():
        raise BackupError(f"There is no store at {source_path}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source = _connect(source_path, readonly=True)
    copy = _connect(partial)
    try:
        source.backup(copy)  # pages=-1: every page in one step, one read transaction
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"The copy failed SQLite's integrity check: {check}")
        revision = _revision(copy)
        if revision is None:
            raise BackupError(f"{source_path} is not a FirstContact store (no migration revision).")
        rows = table_rows(copy)
    except BaseException:
        copy.close()
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    copy.close()
    os.replace(partial, target)
    return BackupResult(target, revision, rows)


def _data_rows(rows: dict[str, int]) -> int:
    return sum(n for name, n in rows.items() if name not in BOOKKEEPING_TABLES)


def restore_sqlite(*, database_url: str, source: Path, force: bool = False) -> BackupResult:
    """Replace the SQLite store with the backup at `source` (the server must be stopped)."""
    target_path = sqlite_file(database_url)
    assert target_path is not None
    if not source.is_file():
        raise BackupError(f"There is no backup at {source}.")
    backup = _connect(source, readonly=True)
    try:
        try:
            check = backup.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite database ({exc}).") from exc
        if check != "ok":
            raise BackupError(f"{source} failed SQLite's integrity check: {check}")
        revision = _revision(backup)
        if revision is None:
            raise BackupError(f"{source} is not a FirstContact backup (no migration revision).")
        if not _known_revision(revision):
            raise BackupError(
                f"{source} was made by a newer release (migration {revision}; this release's head is "
                f"{head_revision()}): restore it with that release."
            )
        if target_path.is_file() and not force:
            current = _connect(target_path, readonly=True)
            try:
                in_use = _data_rows(table_rows(current))
            finally:
                current.close()
            if in_use:
                raise BackupError(
                    f"The store at {target_path} is not empty ({in_use} rows): "
                    "restoring would replace them. Add --force to replace it."
                )
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = _connect(target_path)
        try:
            backup.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    finally:
        backup.close()
    upgraded_from = None
    if revision != head_revision():
        upgrade_database(database_url)  # forward-only: a backup from an older release catches up
        upgraded_from = revision
    result_conn = _connect(target_path, readonly=True)
    try:
        rows = table_rows(result_conn)
        final = _revision(result_conn) or revision
    finally:
        result_conn.close()
    return BackupResult(target_path, final, rows, upgraded_from)


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump / pg_restore, and the environment carrying the password."""
    url: URL = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), env


def pg_dump_command(database_url: str, target: Path) -> list[str]:
    """The pg_dump command line for a custom-format dump (no password in it: PGPASSWORD)."""
    dsn, _ = _libpq(database_url)
    return ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), "--dbname", dsn]


def pg_restore_command(database_url: str, source: Path) -> list[str]:
    """The pg_restore command line that loads a custom-format dump into an empty database."""
    dsn, _ = _libpq(database_url)
    return [
        "pg_restore", "--no-owner", "--exit-on-error", "--single-transaction", "--dbname", dsn, str(source)
    ]


def run_pg_tool(command: list[str], database_url: str) -> None:
    """Run pg_dump / pg_restore with the password in the environment; BackupError on failure."""
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed here. Run it where it is:\n  {' '.join(command)}")
    _, env = _libpq(database_url)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


__all__ = [
    "BackupError",
    "BackupResult",
    "backup_sqlite",
    "pg_dump_command",
    "pg_restore_command",
    "restore_sqlite",
    "run_pg_tool",
    "sqlite_file",
    "table_rows",
]
