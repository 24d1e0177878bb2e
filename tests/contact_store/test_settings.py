from pathlib import Path

import pytest
from pydantic import ValidationError

from contact_store.settings import Settings


def test_placeholder_secret_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(env="production", secret_key="changeme")


def test_development_secret_is_generated_once(tmp_path: Path) -> None:
    s = Settings(env="development", data_dir=tmp_path, secret_key="")
    first = s.resolved_secret_key()
    assert len(first) >= 32
    assert Settings(env="development", data_dir=tmp_path, secret_key="").resolved_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, database_url="")
    assert s.effective_database_url == f"sqlite:///{tmp_path.as_posix()}/firstcontact.db"


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTCONTACT_FORCE_NAME", "Test Constabulary")
    assert Settings().force_name == "Test Constabulary"
