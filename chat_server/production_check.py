"""`firstcontact check`: every setting that is unsafe for a production deployment, listed at once.

Each check is one small function of the settings (and, for demo data, the store) returning the
problems it finds. The command prints them all and exits 1 when there is any, 0 when there is none,
so a deployment pipeline can refuse to go live on a bad configuration.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ValidationError, model_validator
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from contact_store.db import make_engine
from contact_store.settings import Settings, secret_key_problem

# A Notify callback token is a shared secret that callbacks are trusted on: at least as long as the key.
CALLBACK_TOKEN_MIN_LENGTH = 32


@dataclass(frozen=True)
class Problem:
    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


class _UnvalidatedSecret(Settings):
    """The settings with the secret-key rule off, so `check` can list the other problems too."""

    @model_validator(mode="after")
    def _refuse_weak_secret_outside_development(self) -> _UnvalidatedSecret:
        return self


def load_settings() -> tuple[Settings | None, list[Problem]]:
    """The environment's settings, or (None, why they do not load at all).

    A weak secret key stops `Settings()` in production; the settings are then read without that
    one rule so the secret is reported with everything else (by `_secret` below).
    """
    try:
        return Settings(), []
    except ValidationError as exc:
        errors = exc.errors()
    try:
        return _UnvalidatedSecret(), []
    except ValidationError:
        return None, [Problem(_field(e["loc"]), str(e["msg"]).removeprefix("Value error, ")) for e in errors]


def _field(loc: tuple[int | str, ...]) -> str:
    return "FIRSTCONTACT_" + str(loc[0]).upper() if loc else "settings"


def _env(s: Settings, workers: int) -> list[Problem]:
    if s.env == "production":
        return []
    return [Problem("FIRSTCONTACT_ENV", f"is {s.env!r}: production refuses placeholder and weak secrets")]


def _secret(s: Settings, workers: int) -> list[Problem]:
    problem = secret_key_problem(s.secret_key)
    return (
        [Problem("FIRSTCONTACT_SECRET_KEY", problem.removeprefix("FIRSTCONTACT_SECRET_KEY "))]
        if problem
        else []
    )


def _https(s: Settings, workers: int) -> list[Problem]:
    problems = []
    if urlsplit(s.public_base_url).scheme != "https":
        problems.append(
            Problem(
                "FIRSTCONTACT_PUBLIC_BASE_URL",
                f"{s.public_base_url!r} is not https (no HSTS, links sent in clear)",
            )
        )
    if not s.cookie_secure:
        problems.append(
            Problem("FIRSTCONTACT_COOKIE_SECURE", "is off: staff session cookies may travel over HTTP")
        )
    return problems


def _origins(s: Settings, workers: int) -> list[Problem]:
    if not s.allowed_origins:
        return [
            Problem(
                "FIRSTCONTACT_ALLOWED_ORIGINS",
                "is empty: the force's own website cannot embed the chat widget or frame /chat",
            )
        ]
    return [
        Problem("FIRSTCONTACT_ALLOWED_ORIGINS", f"{origin!r} is not an https origin")
        for origin in s.allowed_origins
        if urlsplit(origin).scheme != "https" or not urlsplit(origin).netloc
    ]


def _sms(s: Settings, workers: int) -> list[Problem]:
    if s.sms_provider == "log":
        return [Problem("FIRSTCONTACT_SMS_PROVIDER", "is 'log': texts are kept in the store, never sent")]
    missing: list[str] = []
    if s.sms_provider == "notify":
        missing = [n for n in ("notify_api_key", "notify_sms_template_id") if not getattr(s, n)]
        token = s.notify_callback_token
        if not token:
            missing.append("notify_callback_token")
        elif len(token) < CALLBACK_TOKEN_MIN_LENGTH:
            return [
                Problem(
                    "FIRSTCONTACT_NOTIFY_CALLBACK_TOKEN",
                    f"is shorter than {CALLBACK_TOKEN_MIN_LENGTH} characters (callbacks trust it)",
                )
            ]
    elif s.sms_provider == "twilio":
        missing = [
            n for n in ("twilio_account_sid", "twilio_auth_token", "twilio_from_number") if not getattr(s, n)
        ]
    return [
        Problem(f"FIRSTCONTACT_{n.upper()}", f"is missing for the {s.sms_provider} provider") for n in missing
    ]


def _scale(s: Settings, workers: int) -> list[Problem]:
    if workers <= 1:
        return []
    problems = []
    if s.effective_database_url.startswith("sqlite"):
        problems.append(
            Problem("FIRSTCONTACT_DATABASE_URL", f"is SQLite with {workers} workers: use PostgreSQL")
        )
    if not s.redis_url:
        problems.append(
            Problem("FIRSTCONTACT_REDIS_URL", f"is unset with {workers} workers: chats cannot cross workers")
        )
    return problems


def _metrics(s: Settings, workers: int) -> list[Problem]:
    """/metrics (issue #12): not open to the world, and a token that cannot be guessed."""
    problems = [
        Problem("FIRSTCONTACT_METRICS_ALLOWED_NETWORKS", f"{net!r} opens /metrics to every address")
        for net in s.metrics_allowed_networks
        if ipaddress.ip_network(net, strict=False).prefixlen == 0
    ]
    token = s.metrics_token.get_secret_value()
    if token and len(token) < CALLBACK_TOKEN_MIN_LENGTH:
        problems.append(
            Problem("FIRSTCONTACT_METRICS_TOKEN", f"is shorter than {CALLBACK_TOKEN_MIN_LENGTH} characters")
        )
    return problems


SETTINGS_CHECKS: list[Callable[[Settings, int], list[Problem]]] = [
    _env,
    _secret,
    _https,
    _origins,
    _sms,
    _scale,
    _metrics,
]


def demo_staff_present(settings: Settings) -> list[Problem]:
    """The store must not hold the demo staff accounts (`serve --demo`, `firstcontact demo`)."""
    from contact_store.demo import STAFF
    from contact_store.models import Operator

    url = settings.effective_database_url
    if (
        url.startswith("sqlite")
        and not (settings.data_dir / "firstcontact.db").exists()
        and not settings.database_url
    ):
        return []  # no store yet: nothing seeded
    engine = make_engine(url, pool_size=1)
    try:
        if not inspect(engine).has_table(str(Operator.__tablename__)):
            return []  # schema not made yet: nothing seeded
        with Session(engine) as session:
            found = session.exec(
                select(Operator.username).where(col(Operator.username).in_([u for u, *_ in STAFF]))
            ).all()
    except SQLAlchemyError as exc:
        return [
            Problem(
                "FIRSTCONTACT_DATABASE_URL", f"cannot be read to look for demo data ({type(exc).__name__})"
            )
        ]
    finally:
        engine.dispose()
    if not found:
        return []
    return [Problem("demo data", f"the store holds the demo staff accounts ({', '.join(sorted(found))})")]


def production_problems(settings: Settings, *, workers: int = 1, look_in_store: bool = True) -> list[Problem]:
    """Every unsafe production setting of `settings` (and demo data in its store)."""
    problems = [p for check in SETTINGS_CHECKS for p in check(settings, workers)]
    if look_in_store:
        problems += demo_staff_present(settings)
    return problems


__all__ = ["Problem", "load_settings", "production_problems"]
