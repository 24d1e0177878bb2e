"""Backup and restore of the store with its evidence files (`firstcontact backup|restore FILE`).

A backup is one tar archive, so that one file is one complete, consistent backup to rotate, copy
off site or encrypt. It is not compressed (evidence is JPEG, PNG, HEIC, PDF or video, already
compressed); gzip or xz it if you like, restore reads either. It is created readable by its owner
only. Its members, in this order:

    manifest.json           format and version, engine, migration revision, row counts (SQLite)
                            and every evidence row of the database copy: id, report, stored name,
                            size and SHA-256
    database.sqlite3        SQLite: the online-backup copy   (or)
    database.pgdump         PostgreSQL: `pg_dump --format=custom`
    uploads/<stored name>   the file of each evidence row of that copy, and of no other
    problems.json           only when a row's file could not be archived as its row describes it

Database first, files after. `evidence.store_upload` writes and closes a file before it adds the
row naming it (the row commits later still with the request), and no code rewrites a stored file;
so every evidence row in a database copy had its complete file on disk before the copy began, and
copying the files after the copy finds them all. Files of rows committed after the copy (or never)
are simply not archived. Deletion runs the other way: `remove_upload`, `discard_for_form_session`
(so `purge_idle`) and the retention erasure unlink a file before its row's deletion commits, so a
copy taken in that window names a file already gone (an unsubmitted upload or a report being
erased). Backup therefore checks every file against its row (size and SHA-256) as it archives it;
when one is missing or differs it looks at the live store again after each of `retry_delays`, and
once such a row has gone (its deletion committed) takes the whole backup again. A row that stays
while its file is missing is a file lost from the live store, not a race: the archive is written
with problems.json naming it and `firstcontact backup` exits 1.

SQLite (the embedded default): the copy uses SQLite's online backup API in one step: it copies
every page under one read transaction, so the copy is one consistent moment of the store, and with
WAL the server's writers carry on meanwhile (safe while serving). It is checked with `PRAGMA
integrity_check`, in rollback-journal mode so that it is one self-contained file.

PostgreSQL: backup opens a REPEATABLE READ transaction, exports its snapshot, reads the evidence
rows in it and runs `pg_dump --format=custom --snapshot=...` on that same snapshot, so the manifest
lists exactly the dump's evidence rows. pg_dump must be on the PATH (backup refuses, saying so,
without it). Point-in-time recovery (WAL archiving) is an operations procedure: docs/readme/operations.md.

Restore (stop the server first) reads the archive once, and before it changes anything refuses:
- a file that is not a backup, one of the other engine, or one made by a newer release;
- a target store holding data, or a non-empty `data_dir/uploads`, unless `force` (which replaces
  both: files of the replaced store are deleted with it);
- a backup in which an evidence row of its database (SQLite: the rows of the database copy itself;
  PostgreSQL: the manifest, read in the dump's snapshot) has no file, or a file whose size or
  SHA-256 differs from the row's. Refusing is the default because a restore is when an incomplete
  backup is found, while an older complete one may still exist; `accept_missing_evidence` restores
  it anyway (the reports keep their rows; the console says the file is missing) and lists them.
The files are unpacked (and hashed) into `uploads/.restoring` first, then the database is restored
(SQLite through the backup API; PostgreSQL with pg_restore) and migrated forward from an older
release, then the files are moved into place. Last, every evidence row of the restored store is
checked to have its file, of its size.

A single-file backup made before backups carried the evidence (an SQLite store, or a pg_dump file)
still restores: the database only, and the evidence rows without a file in `data_dir/uploads` are
listed so that the folder copied beside it can be put back.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

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


def pg_dump_command(database_url: str, target: Path, *, snapshot: str | None = None) -> list[str]:
    """The pg_dump command line for a custom-format dump (no password in it: PGPASSWORD), of the
    exported `snapshot` when one is given."""
    dsn, _ = _libpq(database_url)
    command = ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), "--dbname", dsn]
    if snapshot is not None:
        command.insert(2, f"--snapshot={snapshot}")
    return command


def pg_restore_command(database_url: str, source: Path) -> list[str]:
    """The pg_restore command line that loads a custom-format dump into an empty database."""
    dsn, _ = _libpq(database_url)
    return [
        "pg_restore",
        "--no-owner",
        "--exit-on-error",
        "--single-transaction",
        "--dbname",
        dsn,
        str(source),
    ]


def run_pg_tool(command: list[str], database_url: str) -> None:
    """Run pg_dump / pg_restore with the password in the environment; BackupError on failure."""
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed here. Run it where it is:\n  {' '.join(command)}")
    _, env = _libpq(database_url)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def postgres_table_rows(database_url: str) -> dict[str, int]:
    """Row counts of every table of a PostgreSQL database."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {n: int(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}  # noqa: S608
    finally:
        engine.dispose()


def _postgres_revision(database_url: str) -> str | None:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return _revision_of(conn)
    finally:
        engine.dispose()


def _revision_of(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    versions = conn.execute(text("SELECT version_num FROM alembic_version"))
    return ",".join(sorted(str(r[0]) for r in versions)) or None


def restore_postgres(*, database_url: str, source: Path, force: bool = False) -> BackupResult:
    """Load the pg_dump file `source` into the PostgreSQL store, then migrate it forward."""
    if not source.is_file():
        raise BackupError(f"There is no backup at {source}.")
    tables = postgres_table_rows(database_url)
    in_use = _data_rows(tables)
    if in_use and not force:
        raise BackupError(f"The store is not empty ({in_use} rows): add --force to replace it.")
    command = pg_restore_command(database_url, source)
    if tables:
        command[1:1] = ["--clean", "--if-exists"]
    run_pg_tool(command, database_url)
    restored = _postgres_revision(database_url)
    try:
        upgrade_database(database_url)  # a dump from an older release catches up (forward-only)
    except CommandError as exc:
        raise BackupError(f"the dump was made by a newer release: {exc}") from exc
    revision = _postgres_revision(database_url) or ""
    upgraded_from = restored if restored != revision else None
    return BackupResult(source, revision, postgres_table_rows(database_url), upgraded_from)


# --- Backup archives: the database copy with the evidence files (module docstring) ----------------

ARCHIVE_FORMAT = "firstcontact-backup"
ARCHIVE_VERSION = 1
MANIFEST = "manifest.json"
PROBLEMS = "problems.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
UPLOADS = "uploads/"
# Where restore unpacks the files: inside data_dir/uploads, so that they move in by rename.
RESTORING = ".restoring"
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# A stored file name (evidence.store_upload: secrets.token_hex): a plain name, never a path.
_STORED_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHUNK = 1024 * 1024
# Waits before backup looks again at rows whose file was missing (module docstring).
RETRY_DELAYS = (1.0, 5.0, 15.0)
_sleep = time.sleep  # tests act between the attempts through it

_EVIDENCE_QUERY = "SELECT id, report_id, stored_name, size_bytes, sha256 FROM evidence ORDER BY id"


@dataclass(frozen=True)
class EvidenceEntry:
    """An evidence row, as far as its file goes."""

    id: int
    report_id: int | None
    stored_name: str
    size_bytes: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "report_id": self.report_id,
            "stored_name": self.stored_name,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvidenceEntry:
        report_id = data["report_id"]
        return cls(
            id=int(data["id"]),
            report_id=None if report_id is None else int(report_id),
            stored_name=str(data["stored_name"]),
            size_bytes=int(data["size_bytes"]),
            sha256=str(data["sha256"]),
        )


@dataclass(frozen=True)
class EvidenceProblem:
    """An evidence row whose file is missing or is not the file its row describes."""

    entry: EvidenceEntry
    problem: str

    def describe(self) -> str:
        e = self.entry
        owner = f"report {e.report_id}" if e.report_id is not None else "an unsubmitted form"
        return f"evidence {e.id} of {owner} (file {e.stored_name}): {self.problem}"


def describe_problems(problems: Sequence[EvidenceProblem], limit: int = 20) -> str:
    """One indented line per problem (the first `limit` of them)."""
    lines = [f"  {p.describe()}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit} more")
    return "\n".join(lines)


@dataclass
class ArchiveResult:
    """A backup archive written: what it holds, and the rows whose file it could not hold."""

    path: Path
    engine: str
    revision: str
    rows: dict[str, int]  # SQLite: every table's rows in the copy (PostgreSQL: not counted)
    evidence_files: int
    evidence_bytes: int
    problems: list[EvidenceProblem]
    attempts: int = 1

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class RestoreResult:
    """A store restored: `accepted` are the backup's problems restored anyway
    (accept_missing_evidence); `missing` the evidence rows of the restored store without their file."""

    source: Path
    engine: str
    database_only: bool  # a single-file backup from before backups carried the evidence files
    revision: str
    rows: dict[str, int]
    upgraded_from: str | None
    evidence_files: int
    accepted: list[EvidenceProblem] = field(default_factory=list)
    missing: list[EvidenceProblem] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _engine(database_url: str) -> str:
    return "sqlite" if sqlite_file(database_url) is not None else "postgresql"


def _entries(rows: Iterable[Sequence[Any]]) -> list[EvidenceEntry]:
    return [
        EvidenceEntry(int(r[0]), None if r[1] is None else int(r[1]), str(r[2]), int(r[3]), str(r[4]))
        for r in rows
    ]


def _sqlite_evidence(conn: sqlite3.Connection) -> list[EvidenceEntry]:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evidence'").fetchone()
    return _entries(conn.execute(_EVIDENCE_QUERY)) if found else []


def _evidence_of(conn: Connection) -> list[EvidenceEntry]:
    if not inspect(conn).has_table("evidence"):
        return []
    return _entries(conn.execute(text(_EVIDENCE_QUERY)))


def evidence_rows(database_url: str) -> list[EvidenceEntry]:
    """Every evidence row of the store, oldest first."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return _evidence_of(conn)
    finally:
        engine.dispose()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_evidence_files(
    *, database_url: str, upload_dir: Path, hashes: bool = False
) -> list[EvidenceProblem]:
    """The evidence rows of the store whose file in `upload_dir` is missing or of another size
    (or, with `hashes`, another SHA-256)."""
    problems = []
    for entry in evidence_rows(database_url):
        path = upload_dir / entry.stored_name
        if not _STORED_NAME.fullmatch(entry.stored_name):
            problems.append(EvidenceProblem(entry, "its stored name is not a plain file name"))
        elif not path.is_file():
            problems.append(EvidenceProblem(entry, f"no file in {upload_dir}"))
        elif (size := path.stat().st_size) != entry.size_bytes:
            problems.append(
                EvidenceProblem(entry, f"the file has {size} bytes, its row says {entry.size_bytes}")
            )
        elif hashes and _sha256_of(path) != entry.sha256:
            problems.append(EvidenceProblem(entry, "the file's SHA-256 differs from its row's"))
    return problems


class _Hashing:
    """A reader that hashes what it reads (a file being archived)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, fileobj: IO[bytes] | _Hashing, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, fileobj)


def _add_json(tar: tarfile.TarFile, name: str, data: object) -> None:
    body = json.dumps(data, indent=1, sort_keys=True).encode()
    _add(tar, name, io.BytesIO(body), len(body))


def _archive_file(tar: tarfile.TarFile, upload_dir: Path, entry: EvidenceEntry) -> str | None:
    """Add an evidence row's file to the archive; what is wrong with it, if anything."""
    if not _STORED_NAME.fullmatch(entry.stored_name):
        return "its stored name is not a plain file name (not archived)"
    try:
        f = (upload_dir / entry.stored_name).open("rb")
    except FileNotFoundError:
        return f"no file in {upload_dir}"
    except OSError as exc:
        return f"its file cannot be read ({exc})"
    with f:
        size = os.fstat(f.fileno()).st_size
        reader = _Hashing(f)
        _add(tar, UPLOADS + entry.stored_name, reader, size)
    if size != entry.size_bytes:
        return f"the file has {size} bytes, its row says {entry.size_bytes} (archived as found)"
    if reader.digest.hexdigest() != entry.sha256:
        return "the file's SHA-256 differs from its row's (archived as found)"
    return None


def _pg_dump_in_snapshot(database_url: str, dump: Path) -> tuple[str, list[EvidenceEntry]]:
    """pg_dump the store into `dump` in the snapshot the evidence rows are read in."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
                revision = _revision_of(conn)
                if revision is None:
                    raise BackupError("The database is not a FirstContact store (no migration revision).")
                entries = _evidence_of(conn)
                # The exporting transaction stays open until pg_dump is done with the snapshot.
                run_pg_tool(pg_dump_command(database_url, dump, snapshot=snapshot), database_url)
    finally:
        engine.dispose()
    return revision, entries


def _write_archive(*, engine: str, database_url: str, upload_dir: Path, partial: Path) -> ArchiveResult:
    member = DATABASE_MEMBERS[engine]
    with tempfile.TemporaryDirectory(dir=partial.parent, prefix=f"{partial.name}.") as scratch:
        copy = Path(scratch) / member
        rows: dict[str, int] = {}
        if engine == "sqlite":
            snapshot = backup_sqlite(database_url=database_url, target=copy)
            revision, rows = snapshot.revision, snapshot.rows
            conn = _connect(copy, readonly=True)
            try:
                entries = _sqlite_evidence(conn)
            finally:
                conn.close()
        else:
            revision, entries = _pg_dump_in_snapshot(database_url, copy)
        # The database copy is taken; only now its rows' files (module docstring).
        manifest = {
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "engine": engine,
            "database": member,
            "revision": revision,
            "rows": rows,
            "evidence": [e.as_json() for e in entries],
        }
        problems: list[EvidenceProblem] = []
        files = size = 0
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add_json(tar, MANIFEST, manifest)
                with copy.open("rb") as db:
                    _add(tar, member, db, copy.stat().st_size)
                for entry in entries:
                    problem = _archive_file(tar, upload_dir, entry)
                    if problem is None:
                        files += 1
                        size += entry.size_bytes
                    else:
                        problems.append(EvidenceProblem(entry, problem))
                if problems:
                    _add_json(tar, PROBLEMS, [{"id": p.entry.id, "problem": p.problem} for p in problems])
            out.flush()
            os.fsync(out.fileno())
    return ArchiveResult(partial, engine, revision, rows, files, size, problems)


def backup_store(
    *, database_url: str, upload_dir: Path, target: Path, retry_delays: Sequence[float] = RETRY_DELAYS
) -> ArchiveResult:
    """Write the backup archive of the store and its evidence files to `target` (safe while serving).

    A row whose file is missing or differs is looked at again after each of `retry_delays`: once
    some such row has left the live store (a deletion that unlinked the file before it committed),
    the backup is taken again. Rows still in `problems` at the end are in the archive without (or
    with a damaged) file."""
    engine = _engine(database_url)
    if target.is_dir():
        raise BackupError(
            f"{target} is a directory: name the backup file (e.g. {target / 'firstcontact.tar'})."
        )
    if engine == "postgresql" and shutil.which("pg_dump") is None:
        raise BackupError(
            "pg_dump is not installed here: install the PostgreSQL client tools (the server's major "
            "version or newer) and run the backup again."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        result = _write_archive(
            engine=engine, database_url=database_url, upload_dir=upload_dir, partial=partial
        )
        delays = list(retry_delays)
        while result.problems and delays:
            _sleep(delays.pop(0))
            live = {e.id for e in evidence_rows(database_url)}
            if any(p.entry.id not in live for p in result.problems):
                attempts = result.attempts + 1
                result = _write_archive(
                    engine=engine, database_url=database_url, upload_dir=upload_dir, partial=partial
                )
                result.attempts = attempts
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    result.path = target
    return result


def backup_kind(source: Path) -> str:
    """What `source` is: "archive" (this release's backup), "sqlite" or "pgdump" (a single-file
    backup from before backups carried the evidence files), or "unknown"."""
    if not source.is_file():
        raise BackupError(f"There is no backup at {source}.")
    with source.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pgdump"
    try:
        return "archive" if tarfile.is_tarfile(source) else "unknown"
    except (OSError, tarfile.TarError):
        return "unknown"


def _store_rows(engine: str, database_url: str) -> int:
    if engine == "postgresql":
        return _data_rows(postgres_table_rows(database_url))
    path = sqlite_file(database_url)
    if path is None or not path.is_file():
        return 0
    conn = _connect(path, readonly=True)
    try:
        return _data_rows(table_rows(conn))
    finally:
        conn.close()


def _uploads_in_use(upload_dir: Path) -> int:
    if not upload_dir.is_dir():
        return 0
    return sum(1 for p in upload_dir.iterdir() if p.name != RESTORING)


def _refuse_unless_empty(engine: str, database_url: str, upload_dir: Path) -> None:
    if rows := _store_rows(engine, database_url):
        raise BackupError(
            f"The store is not empty ({rows} rows): restoring would replace them. Add --force to replace it."
        )
    if files := _uploads_in_use(upload_dir):
        raise BackupError(
            f"The evidence folder {upload_dir} is not empty ({files} files): restoring would replace "
            "them. Add --force to replace it."
        )


@dataclass
class _Unpacked:
    manifest: dict[str, Any]
    database: Path
    files: dict[str, tuple[int, str]]  # stored name -> (size, SHA-256) as unpacked
    at_backup: dict[int, str]  # evidence id -> what backup found wrong with its file


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> tuple[int, str]:
    src = tar.extractfile(member)
    if src is None:
        raise BackupError(f"{member.name} cannot be read from the archive.")
    if dest.exists():
        raise BackupError(f"{member.name} is in the archive twice.")
    digest = hashlib.sha256()
    size = 0
    with src, dest.open("xb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != member.size:
        raise BackupError(f"{member.name} is cut short in the archive ({size} of {member.size} bytes).")
    return size, digest.hexdigest()


def _check_manifest(source: Path, manifest: Any, engine: str) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise BackupError(f"{source} is not a FirstContact backup (its {MANIFEST} is not one).")
    if int(manifest.get("version", 0)) > ARCHIVE_VERSION:
        raise BackupError(f"{source} was made by a newer release (backup format {manifest['version']}).")
    if manifest.get("engine") != engine:
        raise BackupError(
            f"{source} is a backup of a {manifest.get('engine')} store and the configured store is "
            f"{engine}: restore it into a {manifest.get('engine')} store."
        )
    revision = str(manifest.get("revision"))
    if not _known_revision(revision):
        raise BackupError(
            f"{source} was made by a newer release (migration {revision}; this release's head is "
            f"{head_revision()}): restore it with that release."
        )
    return manifest


def _unpack(source: Path, staging: Path, engine: str) -> _Unpacked:
    """Unpack the archive into `staging` in one pass (the files hashed as they are written)."""
    database = DATABASE_MEMBERS[engine]
    manifest: dict[str, Any] | None = None
    files: dict[str, tuple[int, str]] = {}
    at_backup: dict[int, str] = {}
    # Only the owner may read the staged database copy and evidence; never through a link.
    if staging.is_symlink():
        raise BackupError(f"{staging} is a link: remove it and restore again.")
    staging.mkdir(mode=0o700, parents=True)
    (staging / "uploads").mkdir(mode=0o700)
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                if manifest is None:
                    if member.name != MANIFEST or not member.isfile():
                        raise BackupError(f"{source} is a tar archive but not a FirstContact backup.")
                    raw = tar.extractfile(member)
                    manifest = _check_manifest(source, json.load(raw) if raw else None, engine)
                    continue
                name = member.name
                stored = name[len(UPLOADS) :] if name.startswith(UPLOADS) else None
                if not member.isfile():
                    raise BackupError(f"{source} holds an unexpected entry {name!r}.")
                if name == database:
                    _extract(tar, member, staging / database)
                elif stored is not None and _STORED_NAME.fullmatch(stored):
                    files[stored] = _extract(tar, member, staging / "uploads" / stored)
                elif name == PROBLEMS:
                    raw = tar.extractfile(member)
                    at_backup = {int(p["id"]): str(p["problem"]) for p in (json.load(raw) if raw else [])}
                else:
                    raise BackupError(f"{source} holds an unexpected entry {name!r}.")
    except (tarfile.TarError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{source} is damaged ({exc}).") from exc
    if manifest is None:
        raise BackupError(f"{source} is an empty archive.")
    if not (staging / database).is_file():
        raise BackupError(f"{source} holds no database ({database}).")
    return _Unpacked(manifest, staging / database, files, at_backup)


def _expected_evidence(unpacked: _Unpacked, engine: str, source: Path) -> list[EvidenceEntry]:
    """The evidence rows the restored store will hold: SQLite, those of the database copy itself;
    PostgreSQL, the manifest's (read in the dump's snapshot)."""
    if engine == "postgresql":
        return [EvidenceEntry.from_json(e) for e in unpacked.manifest.get("evidence", [])]
    conn = _connect(unpacked.database, readonly=True)
    try:
        return _sqlite_evidence(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"The database in {source} is not a sound SQLite store ({exc}).") from exc
    finally:
        conn.close()


def _verify(unpacked: _Unpacked, expected: list[EvidenceEntry]) -> tuple[list[EvidenceProblem], set[str]]:
    """The rows whose file the archive lacks or holds damaged, and the names of the sound files."""
    problems: list[EvidenceProblem] = []
    sound: set[str] = set()
    for entry in expected:
        found = unpacked.files.get(entry.stored_name)
        when = unpacked.at_backup.get(entry.id)
        if found is None:
            why = f"when the backup was taken: {when}" if when else "its file is not in the backup"
            problems.append(EvidenceProblem(entry, why))
        elif found != (entry.size_bytes, entry.sha256):
            why = f"when the backup was taken: {when}" if when else "its file in the backup is damaged"
            problems.append(EvidenceProblem(entry, f"{why} (size or SHA-256 differs from its row)"))
        else:
            sound.add(entry.stored_name)
    return problems, sound


def _put_files_back(unpacked: Path, upload_dir: Path, sound: set[str], named: set[str]) -> None:
    """Move the sound files into the evidence folder. What else it held (only with force) was the
    replaced store's, and goes, except a file a restored row names (restoring over the same folder
    with --accept-missing-evidence may find there a file the backup lacks)."""
    for name in sound:
        os.replace(unpacked / name, upload_dir / name)
    for path in upload_dir.iterdir():
        if path.name != RESTORING and path.name not in named and not path.is_dir():
            path.unlink()


def _sound_file(path: Path, entry: EvidenceEntry) -> bool:
    return path.is_file() and path.stat().st_size == entry.size_bytes and _sha256_of(path) == entry.sha256


def restore_store(
    *,
    database_url: str,
    upload_dir: Path,
    source: Path,
    force: bool = False,
    accept_missing_evidence: bool = False,
) -> RestoreResult:
    """Replace the store and its evidence files with the backup at `source` (stop the server first)."""
    engine = _engine(database_url)
    kind = backup_kind(source)
    if kind == "unknown":
        raise BackupError(
            f"{source} is not a FirstContact backup (an archive of `firstcontact backup`, or an "
            "older release's SQLite store or pg_dump file)."
        )
    if kind != "archive":
        made_by = "sqlite" if kind == "sqlite" else "postgresql"
        if made_by != engine:
            raise BackupError(
                f"{source} is a backup of a {made_by} store and the configured store is {engine}."
            )
        if engine == "sqlite":
            db = restore_sqlite(database_url=database_url, source=source, force=force)
        else:
            db = restore_postgres(database_url=database_url, source=source, force=force)
        missing = check_evidence_files(database_url=database_url, upload_dir=upload_dir)
        return RestoreResult(source, engine, True, db.revision, db.rows, db.upgraded_from, 0, missing=missing)

    if not force:
        _refuse_unless_empty(engine, database_url, upload_dir)
    staging = upload_dir / RESTORING
    if not staging.is_symlink():
        shutil.rmtree(staging, ignore_errors=True)  # left by a restore that stopped half-way
    try:
        unpacked = _unpack(source, staging, engine)
        expected = _expected_evidence(unpacked, engine, source)
        problems, sound = _verify(unpacked, expected)
        if problems and not accept_missing_evidence:
            raise BackupError(
                f"{len(problems)} evidence file(s) of {source} are missing or damaged; nothing was "
                f"changed:\n{describe_problems(problems)}\nRestore another backup, or add "
                "--accept-missing-evidence to restore this one without those files."
            )
        if engine == "sqlite":
            db = restore_sqlite(database_url=database_url, source=unpacked.database, force=force)
        else:
            db = restore_postgres(database_url=database_url, source=unpacked.database, force=force)
        _put_files_back(staging / "uploads", upload_dir, sound, {e.stored_name for e in expected})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    accepted = [p for p in problems if not _sound_file(upload_dir / p.entry.stored_name, p.entry)]
    missing = check_evidence_files(database_url=database_url, upload_dir=upload_dir)
    return RestoreResult(
        source, engine, False, db.revision, db.rows, db.upgraded_from, len(sound), accepted, missing
    )


__all__ = [
    "ArchiveResult",
    "BackupError",
    "BackupResult",
    "EvidenceEntry",
    "EvidenceProblem",
    "RestoreResult",
    "backup_kind",
    "backup_sqlite",
    "backup_store",
    "check_evidence_files",
    "describe_problems",
    "evidence_rows",
    "pg_dump_command",
    "pg_restore_command",
    "postgres_table_rows",
    "restore_postgres",
    "restore_sqlite",
    "restore_store",
    "run_pg_tool",
    "sqlite_file",
    "table_rows",
]
