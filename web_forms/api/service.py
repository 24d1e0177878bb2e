"""Submissions through the JSON API, made safe to retry with an Idempotency-Key.

Protocol
--------
- `POST /api/v1/forms/{slug}/submissions` with `{"answers": {...}, "language": "en"|"cy"}`.
- Without a key every valid request files a report. With `Idempotency-Key: <1-255 chars>` the first
  valid request files the report and stores its answer (status and body) under (form, key) in the
  same transaction; any later request with the same key and the same body gets that stored answer
  again (with `Idempotent-Replayed: true`), never a second report. The same key with a different
  body is refused with 409.
- The key is claimed before the report is written: `INSERT ... ON CONFLICT (scope, key) DO NOTHING`
  of the record, in the same transaction as the report. If the key exists the insert does
  nothing (on PostgreSQL it first waits for a concurrent transaction holding that key to end), the
  stored record is read and replayed (or 409), and no report is written. So concurrent duplicates
  never make two reports, on either database, whether they run in separate transactions or one
  after another in one group-committed transaction. The record is inserted with its answer (the
  reference is chosen first) and is never visible to others before the report (same transaction).
- Invalid answers get 422 with per-field errors and store nothing (not even the key), so the
  client can fix the answers and retry with the same key. (If the key already has an answer,
  that answer or 409 is given, as for any repeat: answers are validated before the key is looked
  up only because valid submissions then need no lookup.)
- `check` (validation, no database) runs on the event loop; `file_checked` is the unit of work,
  which the route hands to `contact_store.group_commit` (that is where it commits).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.errors import Conflict, ValidationFailed
from contact_store.models import IdempotencyRecord
from contact_store.references import new_reference
from contact_store.reports import file_report
from contact_store.settings import Settings
from contact_store.sql import InsertOrSkip
from web_forms.catalogue import FormDefinition
from web_forms.i18n import translator
from web_forms.journey.answers import validate_all
from web_forms.journey.submission import report_create


@dataclass(frozen=True)
class ApiResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(payload: dict[str, Any]) -> str:
    """A stable fingerprint of a request body."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def receipt(
    *, reference: str, received_at: datetime, form: FormDefinition, safe_to_contact: bool
) -> dict[str, Any]:
    """The 201 body: what an integrator shows the person."""
    return {
        "reference": reference,
        "status": "received",
        "form": form.slug,
        "received_at": received_at.isoformat(),
        "response_time": form.response_time,
        "sensitive": form.sensitive,
        "safe_to_contact": safe_to_contact,
    }


def _find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.exec(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    ).first()


def _replay(record: IdempotencyRecord, fingerprint: str) -> ApiResult:
    if record.request_hash != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with different answers. Use a new key.",
            code="idempotency_key_reused",
        )
    return ApiResult(record.status_code, dict(record.response), replayed=True)


_idempotency: Any = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_reserve_key = InsertOrSkip(_idempotency, "scope", "key")
_STORE_ANSWER = (
    update(_idempotency)
    .where(_idempotency.c.id == bindparam("record_id"))
    .values(response=bindparam("response"))
)


@dataclass(frozen=True)
class CheckedSubmission:
    """A submission after validation (no database needed): clean values or per-field errors."""

    scope: str
    fingerprint: str
    language: str
    values: dict[str, Any]
    errors: dict[str, str]


def check(
    *, form: FormDefinition, answers: dict[str, Any], language: str, settings: Settings
) -> CheckedSubmission:
    """Validate the answers against the form (pure CPU: callers may run it on the event loop)."""
    values, errors = validate_all(form, answers, translator(language), settings=settings)
    return CheckedSubmission(
        scope=f"forms:{form.slug}",
        fingerprint=request_hash({"answers": answers, "language": language}),
        language=language,
        values=values,
        errors=errors,
    )


def file_checked(
    *,
    session: Session,
    settings: Settings,
    form: FormDefinition,
    checked: CheckedSubmission,
    idempotency_key: str | None,
) -> ApiResult:
    """File a checked submission, or replay the stored answer for a repeated key (one unit of work)."""
    scope, fingerprint = checked.scope, checked.fingerprint
    if checked.errors:
        existing = _find(session, scope, idempotency_key) if idempotency_key else None
        if existing is not None:
            return _replay(existing, fingerprint)
        raise ValidationFailed(
            translator(checked.language)("Some answers are not valid"), fields=checked.errors
        )
    # The answer is decided before anything is written, so the key's record is stored with it in
    # one statement (rewritten only if the proposed reference was taken meanwhile).
    received_at = utcnow()
    report_in = report_create(form=form, values=checked.values, channel="api", language=checked.language)
    safe = report_in.safe_to_contact
    body = receipt(
        reference=new_reference(at=received_at), received_at=received_at, form=form, safe_to_contact=safe
    )
    record_id: int | None = None
    if idempotency_key:
        session.flush()
        record_id = _reserve_key(
            session.connection(),
            {
                "scope": scope,
                "key": idempotency_key,
                "request_hash": fingerprint,
                "status_code": 201,
                "response": body,
                "created_at": received_at,
            },
        )
        if record_id is None:
            winner = _find(session, scope, idempotency_key)
            if winner is None:  # cannot happen: the conflicting row is committed or ours
                raise RuntimeError("idempotency key conflict without a record")
            return _replay(winner, fingerprint)
    filed = file_report(
        session=session,
        settings=settings,
        report_in=report_in,
        reference=body["reference"],
        received_at=received_at,
    )
    if filed.reference != body["reference"]:
        body = receipt(reference=filed.reference, received_at=received_at, form=form, safe_to_contact=safe)
        if record_id is not None:
            session.connection().execute(_STORE_ANSWER, {"record_id": record_id, "response": body})
    return ApiResult(201, body)


def submit(
    *,
    session: Session,
    settings: Settings,
    form: FormDefinition,
    answers: dict[str, Any],
    language: str,
    idempotency_key: str | None,
) -> ApiResult:
    """Validate and file one submission, or replay the stored answer for a repeated key."""
    checked = check(form=form, answers=answers, language=language, settings=settings)
    return file_checked(
        session=session, settings=settings, form=form, checked=checked, idempotency_key=idempotency_key
    )
