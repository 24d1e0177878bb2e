"""Backup and restore (contact_store/backup.py, `firstcontact backup|restore`): SQLite round trips
while a writer inserts, refusals, and (on PostgreSQL runs) a pg_dump / pg_restore round trip."""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session

from chat_server.backup_cli import cmd_backup, cmd_restore
from contact_store.backup import (
    BackupError,
    backup_sqlite,
    pg_dump_command,
    pg_restore_command,
    restore_sqlite,
    run_pg_tool,
    table_rows,
)
from contact_store.conversations import append_message
from contact_store.db import make_engine
from contact_store.demo import seed_demo
from contact_store.invariants import check_database
from contact_store.migrate import head_revision, scratch_postgres_database, upgrade_database
from contact_store.settings import Settings
from tests.builders import make_conversation
from tests.conftest import make_test_settings
from tests.support.databases import TEST_DATABASE_URL

ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def all_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order: two stores are equal when these are."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for name in table_rows(conn):
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            out[name] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store filled with a demo force (built once, copied per test)."""
    path = tmp_path_factory.mktemp("populated") / "store.db"
    upgrade_database(sqlite_url(path))
    engine = make_engine(sqlite_url(path))
    with Session(engine) as s:
        seed_demo(session=s, days=1)
        s.commit()
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture
def store_file(populated: Path, tmp_path: Path) -> Path:
    path = tmp_path / "live.db"
    shutil.copy(populated, path)
    return path


class Writer:
    """A thread appending chat messages to one conversation until stopped (the serving store)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        with Session(self.engine) as s:
            conv = make_conversation(s, status="active")
            s.commit()
            self.conversation_id = conv.id
        self.stop = threading.Event()
        self.written = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                with Session(self.engine) as s:
                    append_message(
                        session=s,
                        conversation_id=self.conversation_id,
                        client_id=str(uuid.uuid4()),
                        sender="visitor",
                        body=f"message {self.written}",
                    )
                    s.commit()
                self.written += 1
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.engine.dispose()


def test_backup_while_a_writer_inserts_restores_to_an_identical_sound_store(
    store_file: Path, tmp_path: Path
) -> None:
    url = sqlite_url(store_file)
    backups = []
    with Writer(url) as writer:
        while writer.written < 20 and writer.error is None and writer.thread.is_alive():
            threading.Event().wait(0.01)
        for i in range(3):
            backups.append(backup_sqlite(database_url=url, target=tmp_path / f"backup-{i}.db"))
        written_during = writer.written
    assert writer.error is None, writer.error
    assert written_during >= 20
    # Every copy taken mid-write is one consistent moment: the invariants hold in each.
    for b in backups:
        assert b.revision == head_revision()
        assert check_database(sqlite_url(b.path)).ok, check_database(sqlite_url(b.path)).describe()
    assert backups[0].rows["message"] <= backups[-1].rows["message"]

    # Restore the last copy into a fresh location: identical to the backup, table by table.
    restored = tmp_path / "restored" / "store.db"
    result = restore_sqlite(database_url=sqlite_url(restored), source=backups[-1].path)
    assert result.upgraded_from is None
    assert all_rows(restored) == all_rows(backups[-1].path)
    assert check_database(sqlite_url(restored)).ok

    # Once the writer has stopped, a backup equals the live store row for row.
    quiet = backup_sqlite(database_url=url, target=tmp_path / "quiet.db")
    assert all_rows(quiet.path) == all_rows(store_file)


def test_restore_refuses_a_store_with_data_unless_forced(store_file: Path, tmp_path: Path) -> None:
    backup = backup_sqlite(database_url=sqlite_url(store_file), target=tmp_path / "b.db")
    other = tmp_path / "other.db"
    shutil.copy(store_file, other)
    with sqlite3.connect(other) as conn:
        conn.execute("DELETE FROM cannedresponse")
    with pytest.raises(BackupError, match="not empty"):
        restore_sqlite(database_url=sqlite_url(other), source=backup.path)
    restore_sqlite(database_url=sqlite_url(other), source=backup.path, force=True)
    assert all_rows(other) == all_rows(backup.path)


def test_restore_into_a_migrated_empty_store_needs_no_force(store_file: Path, tmp_path: Path) -> None:
    backup = backup_sqlite(database_url=sqlite_url(store_file), target=tmp_path / "b.db")
    empty = tmp_path / "empty.db"
    upgrade_database(sqlite_url(empty))
    restore_sqlite(database_url=sqlite_url(empty), source=backup.path)
    assert all_rows(empty) == all_rows(backup.path)


def test_restore_refuses_a_backup_from_a_newer_release_and_a_file_that_is_not_a_store(
    store_file: Path, tmp_path: Path
) -> None:
    backup = backup_sqlite(database_url=sqlite_url(store_file), target=tmp_path / "b.db")
    with sqlite3.connect(backup.path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    target = tmp_path / "t.db"
    with pytest.raises(BackupError, match="newer release"):
        restore_sqlite(database_url=sqlite_url(target), source=backup.path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(BackupError, match="not an SQLite database"):
        restore_sqlite(database_url=sqlite_url(target), source=junk)
    with pytest.raises(BackupError, match="no migration revision"):
        plain = tmp_path / "plain.db"
        sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.commit()
        restore_sqlite(database_url=sqlite_url(target), source=plain)
    assert not target.exists() or not table_rows(sqlite3.connect(target))


def test_a_backup_from_an_older_release_is_migrated_forward(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    upgrade_database(sqlite_url(old), revision="c4a7e1f0b2d9")
    backup = backup_sqlite(database_url=sqlite_url(old), target=tmp_path / "b.db")
    assert backup.revision == "c4a7e1f0b2d9"
    restored = tmp_path / "new.db"
    result = restore_sqlite(database_url=sqlite_url(restored), source=backup.path)
    assert result.upgraded_from == "c4a7e1f0b2d9"
    assert result.revision == head_revision()


def _settings(data_dir: Path, url: str) -> Settings:
    return make_test_settings(data_dir, url)


def test_cli_backup_and_restore(store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli-backup.db"
    settings = _settings(tmp_path, sqlite_url(store_file))
    assert cmd_backup(argparse.Namespace(file=str(target)), settings) == 0
    assert "Backed up" in capsys.readouterr().out
    # Restoring over the (non-empty) live store is refused without --force (exit 2), done with it.
    assert cmd_restore(argparse.Namespace(file=str(target), force=False), settings) == 2
    assert "--force" in capsys.readouterr().out
    assert cmd_restore(argparse.Namespace(file=str(target), force=True), settings) == 0
    out = capsys.readouterr().out
    assert "Restored" in out and "invariants hold" in out


@pytest.mark.slow
def test_firstcontact_backup_restore_and_db_check_commands(store_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTCONTACT_")}
    env["FIRSTCONTACT_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str, url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chat_server", *args],
            env=env | {"FIRSTCONTACT_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    backup = tmp_path / "b.db"
    r = run("backup", str(backup), url=sqlite_url(store_file))
    assert r.returncode == 0, r.stdout + r.stderr
    fresh = sqlite_url(tmp_path / "fresh.db")
    r = run("restore", str(backup), url=fresh)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("db", "check", url=fresh)
    assert r.returncode == 0 and "invariants hold" in r.stdout, r.stdout + r.stderr
    assert all_rows(tmp_path / "fresh.db") == all_rows(backup)


def test_pg_commands_keep_the_password_out_of_the_command_line() -> None:
    url = "postgresql+psycopg://fc:s3cret@db.example:5433/firstcontact"
    dump = pg_dump_command(url, Path("/b/fc.dump"))
    assert dump[:2] == ["pg_dump", "--format=custom"]
    assert "postgresql://fc@db.example:5433/firstcontact" in dump
    assert not any("s3cret" in part for part in dump + pg_restore_command(url, Path("/b/fc.dump")))


# --- PostgreSQL (CI's second run) -------------------------------------------------------------


def _pg_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {n: int(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}
    finally:
        engine.dispose()


@pytest.fixture
def two_scratch_postgres() -> Iterator[tuple[str, str]]:
    if not ON_POSTGRES:
        pytest.skip("PostgreSQL runs only (FIRSTCONTACT_TEST_DATABASE_URL)")
    with (
        scratch_postgres_database(TEST_DATABASE_URL, prefix="fc_backup_src") as source,
        scratch_postgres_database(TEST_DATABASE_URL, prefix="fc_backup_dst") as target,
    ):
        yield source, target


@pytest.mark.slow
def test_pg_dump_restores_into_another_database_with_equal_rows_and_sound_invariants(
    two_scratch_postgres: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = two_scratch_postgres
    upgrade_database(source)
    engine = make_engine(source)
    with Session(engine) as s:
        seed_demo(session=s, days=1)
        s.commit()
    engine.dispose()
    dump = tmp_path / "fc.dump"
    run_pg_tool(pg_dump_command(source, dump), source)
    assert dump.stat().st_size > 0
    run_pg_tool(pg_restore_command(target, dump), target)
    before, after = _pg_counts(source), _pg_counts(target)
    assert after == before and sum(before.values()) > 100
    assert check_database(target).ok, check_database(target).describe()

    # The CLI on a PostgreSQL URL: backup runs pg_dump; restore refuses a database with data.
    settings = _settings(tmp_path, source)
    assert cmd_backup(argparse.Namespace(file=str(tmp_path / "cli.dump")), settings) == 0
    assert (tmp_path / "cli.dump").stat().st_size > 0
    target_settings = _settings(tmp_path, target)
    assert cmd_restore(argparse.Namespace(file=str(tmp_path / "cli.dump"), force=False), target_settings) == 2
    assert "not empty" in capsys.readouterr().out
    assert cmd_restore(argparse.Namespace(file=str(tmp_path / "cli.dump"), force=True), target_settings) == 0
    assert _pg_counts(target) == before
