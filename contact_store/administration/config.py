"""Settings an administrator may change: saving, removing and applying overrides (see the
package docstring for the protocol)."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import event as sa_event
from sqlmodel import Session, select

from contact_store.administration.history import record_version
from contact_store.clock import utcnow
from contact_store.events import PENDING_EVENTS_KEY, emit
from contact_store.models import ConfigOverride
from contact_store.settings import Settings

CONFIG_CHANNEL = "config"
CONFIG_CHANGED = {"type": "config.changed"}
# The settings the console may override (everything else stays an environment setting).
OVERRIDABLE = (
    "force_name",
    "force_brand_colour",
    "force_phone_non_emergency",
    "chat_opening_hours",
    "chat_holidays",
    "danger_phrases",
    "survey_questions",
    "survey_excluded_topics",
    "survey_excluded_grades",
)
# Text-message wording is stored one template and language per row: "sms:chat_ack:cy".
SMS_PREFIX = "sms:"
SETTING_HISTORY = "setting"
# session.info keys: the settings object of the worker saving a change, and the overrides it will
# hold once the transaction commits (read inside the transaction, applied after it).
_APPLY_HERE_KEY = "firstcontact.settings_to_apply"
_OVERRIDES_KEY = "firstcontact.overrides_committed"


def sms_key(template: str, language: str) -> str:
    return f"{SMS_PREFIX}{template}:{language}"


def _settings_key(sms: str) -> str:
    """ "sms:chat_ack:en" -> "chat_ack"; "sms:chat_ack:cy" -> "chat_ack.cy" (Settings.sms_templates)."""
    template, _, language = sms.removeprefix(SMS_PREFIX).partition(":")
    return template if language == "en" else f"{template}.{language}"


def _adapter(key: str) -> TypeAdapter[Any]:
    field = Settings.model_fields[key]
    annotation: Any = field.annotation
    if not field.metadata:
        return TypeAdapter(annotation)
    constrained: Any = Annotated[(annotation, *field.metadata)]
    return TypeAdapter(constrained)


def check(key: str, value: Any) -> tuple[Any, str | None]:
    """The value as the setting's type (JSON-ready), or an error message."""
    if key.startswith(SMS_PREFIX):
        return (str(value), None) if isinstance(value, str) else (None, "Enter the text")
    if key not in OVERRIDABLE:
        return None, "This setting cannot be changed in the console"
    adapter = _adapter(key)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json"), None
    except ValidationError as exc:
        return None, exc.errors()[0]["msg"]


def load(*, session: Session) -> dict[str, Any]:
    """Every saved override, by key."""
    return {row.key: row.value for row in session.exec(select(ConfigOverride)).all()}


def effective(*, settings: Settings, key: str) -> Any:
    """The value in force for a setting key or an "sms:..." key (None: the shipped wording)."""
    if key.startswith(SMS_PREFIX):
        return settings.sms_templates.get(_settings_key(key))
    return _adapter(key).dump_python(getattr(settings, key), mode="json")


def env_default(*, settings: Settings, key: str) -> Any:
    """What the environment says for this key (the value without any console override)."""
    base = settings._env_defaults
    if key.startswith(SMS_PREFIX):
        templates = base["sms_templates"] if base is not None else settings.sms_templates
        return dict(templates).get(_settings_key(key))  # type: ignore[call-overload]
    value = base[key] if base is not None and key in base else getattr(settings, key)
    return _adapter(key).dump_python(value, mode="json")


def save(*, session: Session, settings: Settings, key: str, value: Any, operator_id: int | None) -> bool:
    """Save an override (None removes it), with its history version and the bus event.

    Returns False when nothing changed. The caller has checked the value with `check`."""
    before = effective(settings=settings, key=key)
    row = session.get(ConfigOverride, key)
    if value is None:
        if row is None:
            return False
        session.delete(row)
        after = env_default(settings=settings, key=key)
    else:
        if (row is not None and row.value == value) or (row is None and before == value):
            return False  # nothing changes (a value equal to the environment's stays unsaved)
        if row is None:
            row = ConfigOverride(key=key)
        row.value = value
        row.updated_by = operator_id
        row.updated_at = utcnow()
        session.add(row)
        after = value
    session.flush()
    record_version(
        session=session,
        object_type=SETTING_HISTORY,
        object_id=key,
        before=before,
        after=after,
        operator_id=operator_id,
    )
    announce(session=session)
    session.info[_APPLY_HERE_KEY] = settings
    return True


def announce(*, session: Session) -> None:
    """Tell every worker, after this transaction commits, to re-read settings and the organisation
    (once per transaction, however many changes it holds)."""
    if not any(channel == CONFIG_CHANNEL for channel, _ in session.info.get(PENDING_EVENTS_KEY, ())):
        emit(session, CONFIG_CHANNEL, dict(CONFIG_CHANGED))


def apply(*, settings: Settings, overrides: dict[str, Any]) -> None:
    """Make `settings` the environment's values with these overrides on top (in place: every part
    of the worker holding this settings object sees the change)."""
    if settings._env_defaults is None:
        settings._env_defaults = {
            key: copy.deepcopy(getattr(settings, key)) for key in (*OVERRIDABLE, "sms_templates")
        }
    base = settings._env_defaults
    for key in OVERRIDABLE:
        value = base[key]
        if key in overrides and overrides[key] is not None:
            value, problem = check(key, overrides[key])
            value = _adapter(key).validate_python(value) if problem is None else base[key]
        setattr(settings, key, copy.deepcopy(value))
    templates = dict(base["sms_templates"])  # type: ignore[call-overload]
    for key, text in overrides.items():
        if key.startswith(SMS_PREFIX) and isinstance(text, str):
            templates[_settings_key(key)] = text
    settings.sms_templates = templates


def reload(*, session: Session, settings: Settings) -> None:
    """Apply what the database holds now."""
    apply(settings=settings, overrides=load(session=session))


# The worker that saves a change applies it itself as its transaction commits, so the page it
# answers next (the redirect after Save) already shows it; the bus event brings the other workers
# (and this one again, harmlessly) up to date a moment later.
@sa_event.listens_for(Session, "before_commit")
def _read_overrides_to_apply(session: Session) -> None:
    if session.info.get(_APPLY_HERE_KEY) is not None:
        session.info[_OVERRIDES_KEY] = load(session=session)


@sa_event.listens_for(Session, "after_commit")
def _apply_saved_overrides_here(session: Session) -> None:
    settings = session.info.pop(_APPLY_HERE_KEY, None)
    overrides = session.info.pop(_OVERRIDES_KEY, None)
    if settings is not None and overrides is not None:
        apply(settings=settings, overrides=overrides)


@sa_event.listens_for(Session, "after_rollback")
def _forget_unsaved_overrides(session: Session) -> None:
    session.info.pop(_APPLY_HERE_KEY, None)
    session.info.pop(_OVERRIDES_KEY, None)
