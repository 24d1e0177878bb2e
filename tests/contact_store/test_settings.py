import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from contact_store.settings import (
    SECRET_MIN_BITS,
    SECRET_MIN_LENGTH,
    Settings,
    secret_bits,
    secret_key_problem,
)


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


STRONG = "Kvi6rKZVaqj0CBg5mmHKvCRWjsW2ECtO7tERIhH2msPnfeAwm-1_"


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("a" * 32, "too predictable"),  # accepted before: 32 repeated characters
        ("x" * 64, "too predictable"),
        ("ab" * 16, "too predictable"),
        ("0123456789" * 4, "too predictable"),  # a repeated pattern counts once
        ("Tr0ub4dor&3" * 2, "shorter than 32"),
        ("changeme", "placeholder"),
        ("", "placeholder"),
    ],
)
@pytest.mark.parametrize("env", ["production", "test"])
def test_weak_secret_refused_outside_development(env: str, secret: str, why: str) -> None:
    if env == "test" and not secret:
        assert Settings(env="test", secret_key="").secret_key == ""  # generated into data_dir later
        return
    with pytest.raises(ValidationError, match=why):
        Settings(env=env, secret_key=secret)  # type: ignore[arg-type]


def test_weak_secret_still_allowed_in_development() -> None:
    assert Settings(env="development", secret_key="a" * 32).secret_key == "a" * 32


@pytest.mark.parametrize("make", [lambda: secrets.token_urlsafe(24), lambda: secrets.token_urlsafe(48)])
def test_generated_secrets_are_accepted(make: Callable[[], str]) -> None:
    for _ in range(20):
        key = make()
        assert Settings(env="production", secret_key=key).secret_key == key


def test_secret_bits_estimate() -> None:
    assert secret_bits("a" * 32) == 0
    assert secret_bits("ab" * 16) == 4  # two distinct characters, two distinct runs (+2): 1 bit each
    assert round(secret_bits("0123456789" * 4)) == 40  # 10 distinct runs (+2), 10 distinct digits
    assert secret_bits(STRONG) > 250  # 52 characters, 40 distinct, no run repeated
    assert secret_key_problem(STRONG) is None
    assert SECRET_MIN_LENGTH == 32 and SECRET_MIN_BITS == 128
