"""The `firstcontact` command on a fresh SQLite data directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from contact_store.models import Conversation, Operator, Report


def _run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTCONTACT_")}
    env["FIRSTCONTACT_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "chat_server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_upgrade_add_operator_and_demo(tmp_path: Path) -> None:
    r = _run(tmp_path, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    r = _run(
        tmp_path,
        "operator",
        "add",
        "--username",
        "Chris",
        "--role",
        "admin",
        stdin="a long enough password\n",
    )
    assert r.returncode == 0, r.stderr
    assert "Added chris (admin)" in r.stdout
    r = _run(tmp_path, "operator", "add", "--username", "x", "--role", "operator", stdin="short\n")
    assert r.returncode == 2 and "at least" in r.stdout
    # demo refuses a store that already has staff, and seeds an empty one
    assert _run(tmp_path, "demo").returncode == 1
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert _run(fresh, "db", "upgrade").returncode == 0
    r = _run(fresh, "demo")
    assert r.returncode == 0, r.stderr
    assert "supervisor" in r.stdout and "manager" in r.stdout
    engine = create_engine(f"sqlite:///{fresh / 'firstcontact.db'}")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Operator)) >= 5
        assert s.scalar(select(func.count()).select_from(Report)) > 100
        assert s.scalar(select(func.count()).select_from(Conversation)) > 100
    engine.dispose()


def test_canned_load_adds_the_shipped_set_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat_server.cli import main
    from contact_store.canned import SHIPPED_SET
    from contact_store.models import CannedResponse
    from contact_store.settings import get_settings

    for key in list(os.environ):
        if key.startswith("FIRSTCONTACT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FIRSTCONTACT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert main(["canned", "load"]) == 0
        shipped = len(json.loads(SHIPPED_SET.read_text(encoding="utf-8")))
        assert f"Added {shipped} canned responses." in capsys.readouterr().out
        assert main(["canned", "load"]) == 0  # idempotent
        assert "Added 0 canned responses." in capsys.readouterr().out
        engine = create_engine(get_settings().effective_database_url)
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(CannedResponse)) == shipped
        engine.dispose()
    finally:
        get_settings.cache_clear()
