"""Production guards: `firstcontact check` lists every unsafe setting (exit 1) or none (exit 0);
`serve --demo` and `demo` refuse ENV=production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from chat_server.production_check import production_problems
from contact_store.db import make_engine
from contact_store.migrate import upgrade_database
from contact_store.settings import Settings
from tests.builders import make_operator

STRONG = "Kvi6rKZVaqj0CBg5mmHKvCRWjsW2ECtO7tERIhH2msPnfeAwm-1_"
CLEAN: dict[str, Any] = {
    "env": "production",
    "secret_key": STRONG,
    "public_base_url": "https://chat.northshire.police.uk",
    "allowed_origins": ["https://www.northshire.police.uk"],
    "sms_provider": "notify",
    "notify_api_key": "key-" + STRONG,
    "notify_sms_template_id": "f6895ff7-86e0-4d38-80ab-c9525856c3ff",
    "notify_callback_token": "cb-" + STRONG,
}


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(**({"data_dir": tmp_path} | CLEAN | overrides))


def test_a_clean_production_configuration_has_no_problems(tmp_path: Path) -> None:
    assert production_problems(_settings(tmp_path)) == []


# (overrides, workers, the setting named in the problem)
UNSAFE = [
    ({"env": "development"}, 1, "FIRSTCONTACT_ENV"),
    ({"env": "development", "secret_key": "a" * 32}, 1, "FIRSTCONTACT_SECRET_KEY"),
    ({"env": "development", "secret_key": ""}, 1, "FIRSTCONTACT_SECRET_KEY"),
    ({"public_base_url": "http://chat.northshire.police.uk"}, 1, "FIRSTCONTACT_PUBLIC_BASE_URL"),
    ({"cookie_secure": False}, 1, "FIRSTCONTACT_COOKIE_SECURE"),
    ({"sms_provider": "log"}, 1, "FIRSTCONTACT_SMS_PROVIDER"),
    ({"notify_callback_token": ""}, 1, "FIRSTCONTACT_NOTIFY_CALLBACK_TOKEN"),
    ({"notify_callback_token": "short"}, 1, "FIRSTCONTACT_NOTIFY_CALLBACK_TOKEN"),
    ({"notify_api_key": ""}, 1, "FIRSTCONTACT_NOTIFY_API_KEY"),
    ({"sms_provider": "twilio"}, 1, "FIRSTCONTACT_TWILIO_AUTH_TOKEN"),
    ({"allowed_origins": []}, 1, "FIRSTCONTACT_ALLOWED_ORIGINS"),
    ({"allowed_origins": ["http://www.northshire.police.uk"]}, 1, "FIRSTCONTACT_ALLOWED_ORIGINS"),
    ({"redis_url": "redis://127.0.0.1:6379/0"}, 4, "FIRSTCONTACT_DATABASE_URL"),  # SQLite, 4 workers
    ({"database_url": "postgresql+psycopg://db/fc"}, 4, "FIRSTCONTACT_REDIS_URL"),
    ({"metrics_allowed_networks": ["0.0.0.0/0"]}, 1, "FIRSTCONTACT_METRICS_ALLOWED_NETWORKS"),
    ({"metrics_allowed_networks": ["::/0"]}, 1, "FIRSTCONTACT_METRICS_ALLOWED_NETWORKS"),
    ({"metrics_token": "short"}, 1, "FIRSTCONTACT_METRICS_TOKEN"),
]


@pytest.mark.parametrize(
    ("overrides", "workers", "setting"), UNSAFE, ids=[u[2] + str(i) for i, u in enumerate(UNSAFE)]
)
def test_each_unsafe_setting_is_listed(
    tmp_path: Path, overrides: dict[str, Any], workers: int, setting: str
) -> None:
    problems = production_problems(_settings(tmp_path, **overrides), workers=workers, look_in_store=False)
    assert setting in {p.setting for p in problems}, problems


def test_sqlite_alone_with_one_worker_is_fine(tmp_path: Path) -> None:
    assert production_problems(_settings(tmp_path), workers=1) == []


def test_demo_staff_in_the_store_are_listed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    upgrade_database(settings.effective_database_url)
    assert production_problems(settings) == []  # an empty, migrated store
    engine = make_engine(settings.effective_database_url)
    with Session(engine) as s:
        make_operator(s, username="supervisor")
        s.commit()
    engine.dispose()
    problems = production_problems(settings)
    assert [p.setting for p in problems] == ["demo data"]
    assert "supervisor" in problems[0].message


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTCONTACT_")}
    clean["FIRSTCONTACT_DATA_DIR"] = str(tmp_path)
    clean.update({f"FIRSTCONTACT_{k.upper()}": v for k, v in env.items()})
    return subprocess.run(
        [sys.executable, "-m", "chat_server", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,  # no .env from the repository
        timeout=120,
        check=False,
    )


CLEAN_ENV = {
    "env": "production",
    "secret_key": STRONG,
    "public_base_url": "https://chat.northshire.police.uk",
    "allowed_origins": '["https://www.northshire.police.uk"]',
    "sms_provider": "notify",
    "notify_api_key": "key-" + STRONG,
    "notify_sms_template_id": "f6895ff7-86e0-4d38-80ab-c9525856c3ff",
    "notify_callback_token": "cb-" + STRONG,
}


def test_check_exits_zero_when_clean(tmp_path: Path) -> None:
    r = _run(tmp_path, "check", **CLEAN_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No unsafe production settings found." in r.stdout


def test_check_lists_everything_and_exits_one(tmp_path: Path) -> None:
    # The weak key alone would stop the settings loading in production; check still lists it all.
    r = _run(
        tmp_path,
        "check",
        "--workers",
        "2",
        **(
            CLEAN_ENV | {"secret_key": "a" * 32, "public_base_url": "http://x.example", "sms_provider": "log"}
        ),
    )
    assert r.returncode == 1, r.stdout + r.stderr
    for setting in (
        "SECRET_KEY",
        "PUBLIC_BASE_URL",
        "COOKIE_SECURE",
        "SMS_PROVIDER",
        "DATABASE_URL",
        "REDIS_URL",
    ):
        assert f"UNSAFE  FIRSTCONTACT_{setting}:" in r.stdout, r.stdout
    assert "6 unsafe production settings." in r.stdout
    assert "Traceback" not in r.stderr


def test_serve_demo_refuses_production(tmp_path: Path) -> None:
    r = _run(tmp_path, "serve", "--demo", "--port", "1", **CLEAN_ENV)
    assert r.returncode == 2
    assert "refused with FIRSTCONTACT_ENV=production" in r.stdout
    assert not (tmp_path / "firstcontact.db").exists()  # nothing migrated, nothing seeded
    r = _run(tmp_path, "demo", **CLEAN_ENV)
    assert r.returncode == 2 and not (tmp_path / "firstcontact.db").exists()


def test_a_weak_secret_stops_other_commands_with_a_clear_message(tmp_path: Path) -> None:
    r = _run(tmp_path, "db", "upgrade", **(CLEAN_ENV | {"secret_key": "a" * 32}))
    assert r.returncode == 2
    assert "Invalid setting: FIRSTCONTACT_SECRET_KEY is too predictable" in r.stdout
    assert "Traceback" not in r.stderr
