"""`firstcontact retention run` erases what the retention period allows, on a real data directory."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine
from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.models import Report, ReportStatus


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTCONTACT_")}
    env["FIRSTCONTACT_DATA_DIR"] = str(tmp_path)
    env["FIRSTCONTACT_RETENTION_DAYS"] = "30"
    return subprocess.run(
        [sys.executable, "-m", "chat_server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_retention_run_erases_old_closed_reports(tmp_path: Path) -> None:
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'firstcontact.db'}")
    old = utcnow() - timedelta(days=40)
    with Session(engine) as s:
        s.add(
            Report(
                reference="FC-OLD-0001",
                form_slug="crime",
                answers={"d": "x"},
                status=ReportStatus.CLOSED,
                received_at=old,
                closed_at=old,
            )
        )
        s.add(
            Report(
                reference="FC-NEW-0001",
                form_slug="crime",
                answers={"d": "y"},
                status=ReportStatus.CLOSED,
                received_at=utcnow(),
                closed_at=utcnow(),
            )
        )
        s.commit()
    r = _run(tmp_path, "retention", "run")
    assert r.returncode == 0, r.stderr
    assert "Erased the personal data of 1 contacts closed more than 30 days ago" in r.stdout
    with Session(engine) as s:
        reports = {rep.reference: rep.answers for rep in s.query(Report).all()}
    assert reports == {"FC-OLD-0001": {}, "FC-NEW-0001": {"d": "y"}}
    engine.dispose()
