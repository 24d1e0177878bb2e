"""Submissions through the JSON API, made safe to retry with an Idempotency-Key.

Protocol
--------
- `POST /api/v1/forms/{slug}/submissions` with `{"answers": {...}, "language": "en"|"cy"}`.
- Without a key every valid request files a report. With `Idempotency-Key: <1-255 chars>` the first
  valid request files the report and stores its answer (status and body) under (form, key) in the
  same transaction; any later request with the same key and the same body gets that stored answer
  again (with `Idempotent-Replayed: true`), never a second report. The same key with a different
  body is refused with 409.
- Concurrent duplicates: on PostgreSQL the record is inserted before the report, inside a
  savepoint; the unique constraint on (scope, key) makes the second insert wait for the first
  transaction, and the loser rolls back its savepoint and replays. On SQLite every write
  transaction holds the single writer lock from its first statement (BEGIN IMMEDIATE), so the
  lookup already saw any earlier key and the record is written once, after the report.
- Invalid answers get 422 with per-field errors and store nothing (not even the key), so the
  client can fix the answers and retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from contact_store.errors import Conflict, ValidationFailed
from contact_store.models import IdempotencyRecord, Report
from contact_store.reports import create_report
from contact_store.settings import Settings
from web_forms.catalogue import FormDefinition
from web_forms.i18n import translator
from web_forms.journey.answers import validate_all
from web_forms.journey.submission import report_create

PENDING_STATUS = 0  # an idempotency record whose report is being written in the same transaction


@dataclass(frozen=True)
class ApiResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(payload: dict[str, Any]) -> str:
    """A stable fingerprint of a request body."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def receipt(report: Report, form: FormDefinition) -> dict[str, Any]:
    """The 201 body: what an integrator shows the person."""
    return {
        "reference": report.reference,
        "status": "received",
        "form": form.slug,
        "received_at": report.received_at.isoformat(),
        "response_time": form.response_time,
        "sensitive": form.sensitive,
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
    fingerprint = request_hash({"answers": answers, "language": language})
    scope = f"forms:{form.slug}"
    if idempotency_key:
        existing = _find(session, scope, idempotency_key)
        if existing is not None:
            return _replay(existing, fingerprint)
    values, errors = validate_all(form, answers, translator(language))
    if errors:
        raise ValidationFailed(translator(language)("Some answers are not valid"), fields=errors)
    record: IdempotencyRecord | None = None
    # SQLite: this transaction holds the only write lock (BEGIN IMMEDIATE) since before the lookup
    # above, so no one can have inserted the key since; the record is written once, at the end.
    serialised = session.get_bind().dialect.name == "sqlite"
    if idempotency_key and not serialised:
        record = IdempotencyRecord(
            scope=scope,
            key=idempotency_key,
            request_hash=fingerprint,
            status_code=PENDING_STATUS,
            response={},
        )
        try:
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:
            winner = _find(session, scope, idempotency_key)
            if winner is None:
                raise
            return _replay(winner, fingerprint)
    report = create_report(
        session=session,
        settings=settings,
        report_in=report_create(form=form, values=values, channel="api", language=language),
    )
    body = receipt(report, form)
    if idempotency_key:
        record = record or IdempotencyRecord(
            scope=scope, key=idempotency_key, request_hash=fingerprint, status_code=201, response=body
        )
        record.status_code = 201
        record.response = body
        session.add(record)
        session.flush()
    return ApiResult(201, body)
