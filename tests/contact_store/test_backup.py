"""Backup and restore (contact_store/backup.py, `firstcontact backup|restore`): SQLite round trips
while a writer inserts, refusals, the evidence files carried in the backup archive (checked against
their rows), and (on PostgreSQL runs) pg_dump / pg_restore round trips."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session

from chat_server.backup_cli import cmd_backup, cmd_restore
from contact_store import backup as backup_module
from contact_store.backup import (
    BackupError,
    backup_sqlite,
    backup_store,
    check_evidence_files,
    evidence_rows,
    pg_dump_command,
    pg_restore_command,
    restore_sqlite,
    restore_store,
    run_pg_tool,
    table_rows,
)
from contact_store.conversations import append_message
from contact_store.db import make_engine
from contact_store.demo import seed_demo
from contact_store.evidence import attach_to_report, open_evidence, store_upload
from contact_store.invariants import check_database
from contact_store.migrate import head_revision, scratch_postgres_database, upgrade_database
from contact_store.settings import Settings
from tests.builders import make_conversation, make_report
from tests.conftest import make_test_settings
from tests.support.databases import TEST_DATABASE_URL
from tests.web_forms.helpers import PNG

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


# --- Evidence files in the backup archive ------------------------------------------------------

MB = 1024 * 1024


def archived_database(archive: Path, dest: Path) -> Path:
    """The SQLite copy inside a backup archive, written to `dest`."""
    with tarfile.open(archive) as tar:
        src = tar.extractfile("database.sqlite3")
        assert src is not None
        dest.write_bytes(src.read())
    return dest


def rewrite_archive(
    source: Path, target: Path, *, drop: str | None = None, replace: dict[str, bytes] | None = None
) -> Path:
    """A copy of a backup archive without the member `drop`, with the members of `replace` changed."""
    replace = replace or {}
    with tarfile.open(source) as src, tarfile.open(target, "w") as out:
        for member in src:
            if member.name == drop:
                continue
            data = replace.get(member.name)
            if data is None:
                raw = src.extractfile(member)
                assert raw is not None
                data = raw.read()
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def add_evidence(url: str, upload_dir: Path, *contents: bytes) -> list[int]:
    """A report carrying one evidence file per content, uploaded as the public do; their ids."""
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            form_session_id = uuid.uuid4().hex
            ids = [
                store_upload(
                    session=s,
                    upload_dir=upload_dir,
                    stream=io.BytesIO(content),
                    original_name=f"photo-{i}.png",
                    form_session_id=form_session_id,
                    max_bytes=10 * MB,
                    max_files=5,
                ).id
                for i, content in enumerate(contents)
            ]
            report = make_report(s)
            assert report.id is not None
            attach_to_report(session=s, form_session_id=form_session_id, report_id=report.id)
            s.commit()
            return [i for i in ids if i is not None]
    finally:
        engine.dispose()


def evidence_table(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT * FROM evidence ORDER BY id"))]
    finally:
        engine.dispose()


def stored_name(url: str, evidence_id: int) -> str:
    return next(e.stored_name for e in evidence_rows(url) if e.id == evidence_id)


def fresh_settings(tmp_path: Path, name: str = "fresh") -> Settings:
    return _settings(tmp_path / name, sqlite_url(tmp_path / name / "firstcontact.db"))


def test_the_backup_archive_carries_the_evidence_files_into_a_fresh_data_dir(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    contents = [PNG + os.urandom(70_000), PNG + b"a second photo"]
    ids = add_evidence(live.effective_database_url, live.upload_dir, *contents)
    names = [stored_name(live.effective_database_url, i) for i in ids]
    archive = tmp_path / "backups" / "fc.tar"
    assert cmd_backup(argparse.Namespace(file=str(archive)), live) == 0
    assert "and 2 evidence files" in capsys.readouterr().out
    assert archive.stat().st_mode & 0o777 == 0o600  # evidence and personal data: its owner's only
    with tarfile.open(archive) as tar:
        members = tar.getnames()
        raw = tar.extractfile("manifest.json")
        assert raw is not None
        manifest = json.load(raw)
    assert members[:2] == ["manifest.json", "database.sqlite3"]
    assert sorted(members[2:]) == sorted(f"uploads/{n}" for n in names)
    assert [e["id"] for e in manifest["evidence"]] == ids

    fresh = fresh_settings(tmp_path)
    assert cmd_restore(argparse.Namespace(file=str(archive), force=False), fresh) == 0
    out = capsys.readouterr().out
    assert "Put back 2 evidence files" in out and "invariants hold" in out
    restored = tmp_path / "fresh" / "firstcontact.db"
    assert all_rows(restored) == all_rows(store_file)
    assert sorted(p.name for p in fresh.upload_dir.iterdir()) == sorted(names)
    engine = make_engine(fresh.effective_database_url)
    try:
        with Session(engine) as s:
            for evidence_id, content in zip(ids, contents, strict=True):
                found = open_evidence(session=s, evidence_id=evidence_id, upload_dir=fresh.upload_dir)
                assert found.path.read_bytes() == content
    finally:
        engine.dispose()


def test_restore_refuses_a_backup_missing_or_damaging_an_evidence_file_and_changes_nothing(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    url = live.effective_database_url
    ids = add_evidence(url, live.upload_dir, PNG + b"one", PNG + b"two")
    archive = backup_store(database_url=url, upload_dir=live.upload_dir, target=tmp_path / "fc.tar").path
    first, second = (f"uploads/{stored_name(url, i)}" for i in ids)
    missing = rewrite_archive(archive, tmp_path / "missing.tar", drop=first)
    damaged = rewrite_archive(archive, tmp_path / "damaged.tar", replace={first: PNG + b"ONE"})
    fresh = fresh_settings(tmp_path)
    fresh_db = tmp_path / "fresh" / "firstcontact.db"
    for bad, why in (
        (missing, "its file is not in the backup"),
        (damaged, "its file in the backup is damaged"),
    ):
        with pytest.raises(BackupError, match=rf"evidence {ids[0]} of report \d+ \(file \w+\): {why}"):
            restore_store(database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=bad)
        assert not fresh_db.exists()
        assert not fresh.upload_dir.exists() or not any(fresh.upload_dir.iterdir())

    # The command refuses (exit 2), and with --accept-missing-evidence restores without that file.
    assert cmd_restore(argparse.Namespace(file=str(missing), force=False), fresh) == 2
    assert "--accept-missing-evidence" in capsys.readouterr().out
    accept = argparse.Namespace(file=str(missing), force=False, accept_missing_evidence=True)
    assert cmd_restore(accept, fresh) == 0
    out = capsys.readouterr().out
    assert "Restored without 1 evidence file(s)" in out and f"evidence {ids[0]} of report" in out
    assert [p.name for p in fresh.upload_dir.iterdir()] == [second.removeprefix("uploads/")]
    assert all_rows(fresh_db)["evidence"] == all_rows(store_file)["evidence"]

    # Restored with --force over the folder that still holds the file, the file stays.
    over_live = restore_store(
        database_url=url, upload_dir=live.upload_dir, source=missing, force=True, accept_missing_evidence=True
    )
    assert (over_live.accepted, over_live.missing) == ([], [])
    assert sorted(p.name for p in live.upload_dir.iterdir()) == sorted(
        n.removeprefix("uploads/") for n in (first, second)
    )


def test_a_backup_of_a_store_that_lost_an_evidence_file_names_it_and_exits_1(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    url = live.effective_database_url
    ids = add_evidence(url, live.upload_dir, PNG + b"kept", PNG + b"lost")
    (live.upload_dir / stored_name(url, ids[1])).unlink()
    waits: list[float] = []
    monkeypatch.setattr(backup_module, "_sleep", waits.append)
    archive = tmp_path / "fc.tar"
    assert cmd_backup(argparse.Namespace(file=str(archive)), live) == 1
    out = capsys.readouterr().out
    assert "and 1 evidence files" in out and f"evidence {ids[1]} of report" in out
    # It looked again after each wait; the row stayed in the store, so the file is lost, not raced.
    assert waits == list(backup_module.RETRY_DELAYS)
    fresh = fresh_settings(tmp_path)
    with pytest.raises(BackupError, match=rf"evidence {ids[1]} .*when the backup was taken: no file in"):
        restore_store(database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=archive)


def test_a_deletion_racing_the_backup_makes_it_take_the_copy_again(
    store_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """remove_upload (and the retention erasure) unlink the file before the row's deletion commits:
    a copy taken between the two names a file already gone. Once the row has left the store the
    backup is taken again, consistent."""
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    url = live.effective_database_url
    ids = add_evidence(url, live.upload_dir, PNG + b"kept", PNG + b"removed")
    (live.upload_dir / stored_name(url, ids[1])).unlink()  # its row's deletion not yet committed

    def the_deletion_commits(_delay: float) -> None:
        conn = sqlite3.connect(store_file)
        with conn:
            conn.execute("DELETE FROM evidence WHERE id = ?", (ids[1],))
        conn.close()

    monkeypatch.setattr(backup_module, "_sleep", the_deletion_commits)
    result = backup_store(database_url=url, upload_dir=live.upload_dir, target=tmp_path / "fc.tar")
    assert (result.attempts, result.problems, result.evidence_files) == (2, [], 1)
    fresh = fresh_settings(tmp_path)
    restored = restore_store(
        database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=result.path
    )
    assert [e.id for e in evidence_rows(fresh.effective_database_url)] == [ids[0]]
    assert (restored.evidence_files, restored.accepted, restored.missing) == (1, [], [])


def test_restore_refuses_a_non_empty_evidence_folder_unless_forced(store_file: Path, tmp_path: Path) -> None:
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    url = live.effective_database_url
    ids = add_evidence(url, live.upload_dir, PNG + b"one")
    archive = backup_store(database_url=url, upload_dir=live.upload_dir, target=tmp_path / "fc.tar").path
    fresh = fresh_settings(tmp_path)
    fresh.upload_dir.mkdir(parents=True)
    stray = fresh.upload_dir / "0123abcd"
    stray.write_bytes(b"a file of another store")
    with pytest.raises(BackupError, match=r"evidence folder .* is not empty .*--force"):
        restore_store(database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=archive)
    assert stray.exists() and not (tmp_path / "fresh" / "firstcontact.db").exists()
    result = restore_store(
        database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=archive, force=True
    )
    assert (result.evidence_files, result.missing) == (1, [])
    assert [p.name for p in fresh.upload_dir.iterdir()] == [stored_name(url, ids[0])]


def test_restore_stages_privately_and_never_through_a_link(store_file: Path, tmp_path: Path) -> None:
    """The staged database copy and evidence are the owner's only (0700); a link planted where the
    staging folder goes is refused, and what it points at is left alone."""
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    url = live.effective_database_url
    add_evidence(url, live.upload_dir, PNG + b"one")
    archive = backup_store(database_url=url, upload_dir=live.upload_dir, target=tmp_path / "fc.tar").path
    fresh = fresh_settings(tmp_path)
    fresh.upload_dir.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_bytes(b"not the restore's")
    (fresh.upload_dir / ".restoring").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(BackupError, match="is a link"):
        restore_store(
            database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=archive, force=True
        )
    assert [p.name for p in elsewhere.iterdir()] == ["keep"]
    (fresh.upload_dir / ".restoring").unlink()
    modes: list[int] = []
    real_mkdir = Path.mkdir

    def noting_mkdir(self: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        real_mkdir(self, mode, parents, exist_ok)
        if ".restoring" in self.parts:
            modes.append(self.stat().st_mode & 0o777)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "mkdir", noting_mkdir)
        restore_store(
            database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=archive, force=True
        )
    assert modes and all(m == 0o700 for m in modes)


def test_an_older_single_file_backup_restores_the_database_and_lists_evidence_without_a_file(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = _settings(tmp_path / "live", sqlite_url(store_file))
    url = live.effective_database_url
    ids = add_evidence(url, live.upload_dir, PNG + b"one")
    old = backup_sqlite(database_url=url, target=tmp_path / "old.db").path  # what backup wrote before
    fresh = fresh_settings(tmp_path)
    assert cmd_restore(argparse.Namespace(file=str(old), force=False), fresh) == 0
    out = capsys.readouterr().out
    assert "database only" in out and f"evidence {ids[0]} of report" in out and "invariants hold" in out
    assert all_rows(tmp_path / "fresh" / "firstcontact.db") == all_rows(old)
    # The evidence folder kept beside it goes back by hand; then every row has its file.
    shutil.copytree(live.upload_dir, fresh.upload_dir, dirs_exist_ok=True)
    assert (
        check_evidence_files(
            database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, hashes=True
        )
        == []
    )
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"neither a tar nor a database" * 100)
    with pytest.raises(BackupError, match="not a FirstContact backup"):
        restore_store(database_url=fresh.effective_database_url, upload_dir=fresh.upload_dir, source=junk)


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
    assert all_rows(tmp_path / "fresh.db") == all_rows(archived_database(backup, tmp_path / "in-backup.db"))


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


@pytest.mark.slow
def test_pg_backup_archive_carries_the_evidence_files(
    two_scratch_postgres: tuple[str, str], tmp_path: Path
) -> None:
    source, target = two_scratch_postgres
    upgrade_database(source)
    live_uploads, restored_uploads = tmp_path / "live" / "uploads", tmp_path / "restored" / "uploads"
    ids = add_evidence(source, live_uploads, PNG + os.urandom(20_000), PNG + b"two")
    result = backup_store(database_url=source, upload_dir=live_uploads, target=tmp_path / "fc.tar")
    assert (result.engine, result.evidence_files, result.problems) == ("postgresql", 2, [])
    with tarfile.open(result.path) as tar:
        assert tar.getnames()[:2] == ["manifest.json", "database.pgdump"]

    # A file missing from the archive: refused before the database is touched.
    missing = rewrite_archive(
        result.path, tmp_path / "missing.tar", drop=f"uploads/{stored_name(source, ids[0])}"
    )
    with pytest.raises(BackupError, match=rf"evidence {ids[0]} of report \d+ .*not in the backup"):
        restore_store(database_url=target, upload_dir=restored_uploads, source=missing)
    assert _pg_counts(target) == {}

    restored = restore_store(database_url=target, upload_dir=restored_uploads, source=result.path)
    assert (restored.evidence_files, restored.accepted, restored.missing) == (2, [], [])
    assert evidence_table(target) == evidence_table(source)
    for entry in evidence_rows(source):
        restored_file, live_file = restored_uploads / entry.stored_name, live_uploads / entry.stored_name
        assert restored_file.read_bytes() == live_file.read_bytes()
    assert check_database(target).ok
