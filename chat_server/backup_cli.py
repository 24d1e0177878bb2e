"""`firstcontact backup FILE` and `firstcontact restore FILE [--force]` (see contact_store/backup.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import create_engine, inspect, text

from contact_store.backup import (
    BOOKKEEPING_TABLES,
    BackupError,
    backup_sqlite,
    pg_dump_command,
    pg_restore_command,
    restore_sqlite,
    run_pg_tool,
    sqlite_file,
)
from contact_store.migrate import upgrade_database
from contact_store.settings import Settings


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _check_invariants(database_url: str) -> bool:
    from contact_store.invariants import check_database

    result = check_database(database_url)
    _out(result.describe())
    _out("The store's invariants hold." if result.ok else f"{len(result.failures)} invariant(s) broken.")
    return result.ok


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.effective_database_url
    target = Path(args.file)
    try:
        if sqlite_file(url) is None:
            command = pg_dump_command(url, target)
            run_pg_tool(command, url)
            _out(f"Dumped the PostgreSQL store to {target} (pg_dump custom format).")
            return 0
        result = backup_sqlite(database_url=url, target=target)
    except BackupError as exc:
        _out(f"Backup failed: {exc}")
        return 1
    _out(f"Backed up {result.total_rows} rows (migration {result.revision}) to {result.path}.")
    _out(f"Copy the evidence folder {settings.upload_dir} with it.")
    return 0


def _postgres_rows(url: str) -> tuple[bool, int]:
    """(has tables, rows of data) of a PostgreSQL database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = [n for n in inspect(conn).get_table_names() if n not in BOOKKEEPING_TABLES]
            rows = sum(int(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names)  # noqa: S608
            return bool(names), rows
    finally:
        engine.dispose()


def _restore_postgres(url: str, source: Path, *, force: bool) -> None:
    has_tables, rows = _postgres_rows(url)
    if rows and not force:
        raise BackupError(f"The store is not empty ({rows} rows): add --force to replace it.")
    command = pg_restore_command(url, source)
    if has_tables:
        command[1:1] = ["--clean", "--if-exists"]
    run_pg_tool(command, url)


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.effective_database_url
    source = Path(args.file)
    try:
        if sqlite_file(url) is None:
            _restore_postgres(url, source, force=args.force)
            _out(f"Restored {source} into the PostgreSQL store (pg_restore).")
            try:
                upgrade_database(url)  # a dump from an older release catches up (forward-only)
            except CommandError as exc:
                raise BackupError(f"the dump was made by a newer release: {exc}") from exc
        else:
            result = restore_sqlite(database_url=url, source=source, force=args.force)
            _out(f"Restored {result.total_rows} rows (migration {result.revision}) from {source}.")
            if result.upgraded_from:
                _out(f"The backup was at migration {result.upgraded_from}: migrated forward to the head.")
    except BackupError as exc:
        _out(f"Restore refused: {exc}")
        return 2
    return 0 if _check_invariants(url) else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser(
        "backup",
        help="copy the store to FILE (SQLite: online backup, safe while serving; PostgreSQL: pg_dump -Fc)",
    )
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="replace the store with the backup in FILE (stop the server first)"
    )
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help="replace a store that holds data")
    restore.set_defaults(func=cmd_restore)
