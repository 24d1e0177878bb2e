"""`firstcontact backup FILE` and `firstcontact restore FILE [--force] [--accept-missing-evidence]`:
the store with its evidence files, in one archive (see contact_store/backup.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contact_store.backup import BackupError, backup_store, describe_problems, restore_store
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


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    try:
        result = backup_store(
            database_url=settings.effective_database_url,
            upload_dir=settings.upload_dir,
            target=Path(args.file),
        )
    except BackupError as exc:
        _out(f"Backup failed: {exc}")
        return 1
    store = f"{result.total_rows} rows" if result.engine == "sqlite" else "the PostgreSQL store (pg_dump)"
    _out(
        f"Backed up {store} (migration {result.revision}) and {result.evidence_files} evidence files "
        f"({_megabytes(result.evidence_bytes)}) to {result.path}."
    )
    if result.problems:
        _out(
            f"{len(result.problems)} evidence row(s) of the store have no sound file in "
            f"{settings.upload_dir} (after {result.attempts} attempt(s)); the backup holds them without it:"
        )
        _out(describe_problems(result.problems))
        _out("Restoring this backup will need --accept-missing-evidence.")
        return 1
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.effective_database_url
    source = Path(args.file)
    try:
        result = restore_store(
            database_url=url,
            upload_dir=settings.upload_dir,
            source=source,
            force=args.force,
            accept_missing_evidence=getattr(args, "accept_missing_evidence", False),
        )
    except BackupError as exc:
        _out(f"Restore refused: {exc}")
        return 2
    _out(f"Restored {result.total_rows} rows (migration {result.revision}) from {source}.")
    if result.upgraded_from:
        _out(f"The backup was at migration {result.upgraded_from}: migrated forward to the head.")
    evidence_ok = True
    if result.database_only:
        _out("This backup holds the database only (made before backups carried the evidence files).")
        if result.missing:
            _out(
                f"{len(result.missing)} evidence row(s) have no file in {settings.upload_dir}: copy back "
                "the evidence folder kept with this backup."
            )
            _out(describe_problems(result.missing))
    else:
        _out(f"Put back {result.evidence_files} evidence files into {settings.upload_dir}.")
        if result.accepted:
            _out(f"Restored without {len(result.accepted)} evidence file(s) (--accept-missing-evidence):")
            _out(describe_problems(result.accepted))
        accepted = {p.entry.id for p in result.accepted}
        unexpected = [p for p in result.missing if p.entry.id not in accepted]
        if unexpected:
            evidence_ok = False
            _out(f"{len(unexpected)} evidence row(s) of the restored store have no sound file:")
            _out(describe_problems(unexpected))
    return 0 if _check_invariants(url) and evidence_ok else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser(
        "backup",
        help="write the store and its evidence files to the archive FILE (safe while serving; "
        "SQLite: online backup, PostgreSQL: pg_dump -Fc)",
    )
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore",
        help="replace the store and its evidence files with the backup in FILE (stop the server first)",
    )
    restore.add_argument("file")
    restore.add_argument(
        "--force", action="store_true", help="replace a store that holds data and a non-empty evidence folder"
    )
    restore.add_argument(
        "--accept-missing-evidence",
        action="store_true",
        help="restore a backup that lacks some evidence files (or holds them damaged) without them",
    )
    restore.set_defaults(func=cmd_restore)
