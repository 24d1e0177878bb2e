"""The SMS outbox worker: sends due rows at most once each, retries, gives up, recovers claims.

Protocol
--------
1. Claim (one short transaction): rows with `status='queued' AND next_attempt_at <= now` are moved
   to `status='sending'` with `claimed_by=<worker id>`, `claimed_at=now`, `attempts+1`. On
   PostgreSQL candidates are picked with `FOR UPDATE SKIP LOCKED`; on every database the UPDATE
   itself repeats the `status='queued'` condition and only rows it changed (rowcount 1) belong to
   this worker. Two workers can never both claim a row. No Python-side lock is involved.
2. Send (outside any transaction): at most ONE provider request per claim, carrying the row's
   reference `fc-sms-<id>`. If the row had an earlier attempt (attempts > 1), the provider is first
   asked whether it already holds that reference (`lookup`); if it does, the row is marked sent
   without a new request. So a timeout whose request did reach the provider is not sent twice.
3. Record (one short transaction): the outcome is written with an UPDATE conditioned on
   `status='sending' AND claimed_by=<me> AND claimed_at=<my claim>`, so a worker that lost its
   claim (lease expired) can never overwrite a newer one.
   - sent -> `sent`, provider message id kept; the log provider's "send" is this UPDATE.
   - temporary failure -> back to `queued` with `next_attempt_at = now + backoff` (exponential,
     base `BACKOFF_BASE` doubling per attempt, capped at `BACKOFF_CAP`, full jitter in [½, 1]),
     or `failed` when `sms_max_attempts` is reached or the next try would pass `deadline_at`.
   - permanent failure -> `failed` with the provider's reason.
4. Recovery: a row left in `sending` longer than the lease (`sms_claim_lease_seconds`, far above
   the provider timeout) belonged to a worker that died. It is put back to `queued` (attempts
   kept), and because its attempts are > 0 the next claimer looks the reference up at the
   provider before sending (step 2). For `log` the store is the provider: a worker that died
   before step 3 sent nothing, so resending is correct.
5. Non-essential texts (surveys) whose person opted out after queueing are cancelled at claim time.
6. The gate again (`contact_store.sms.gate.recheck`), at claim time, before any provider request:
   a row whose contact is no longer "safe to contact", whose number is outside the allowed
   prefixes, or that has `sms_max_per_recipient_per_day` earlier rows to its number in the 24 hours
   before it was created, is finished as `blocked` with `blocked_reason` and never sent.
7. Stopping (SIGTERM, `stop` set): the claims of the current batch not yet attempted are released
   at once (`release_claims`: back to `queued`, due now, attempts as before the claim, with the
   same claim-conditioned UPDATE), so another worker sends them without waiting for the lease.
   A claim whose provider request has started is always recorded first; nothing is sent twice.
Delivery receipts (webhooks) move `sent` rows to `delivered` or `failed` (`receipts.py`).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlmodel import Session, col

from contact_store import telemetry
from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.models import Person, SmsMessage, SmsStatus
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.sms.providers import (
    LogProvider,
    Outgoing,
    PermanentFailure,
    SmsProvider,
    TemporaryFailure,
    make_provider,
)

logger = logging.getLogger(__name__)

# First retry after about 30 s, then 1, 2, 4... minutes: gentle on a provider that is struggling.
BACKOFF_BASE = timedelta(seconds=30)
# Never wait more than an hour between tries: most texts are time-sensitive (deadline 24 h).
BACKOFF_CAP = timedelta(hours=1)
# Rows claimed per transaction: small enough that a crash strands few rows until the lease ends.
CLAIM_BATCH = 20
# Idle worker poll interval (seconds); new rows are picked up within this.
POLL_SECONDS = 2.0


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter after `attempts` tries (1-based)."""
    exp = BACKOFF_BASE * (2 ** max(0, attempts - 1))
    capped = min(exp, BACKOFF_CAP)
    factor = (rng or random).uniform(0.5, 1.0)
    return capped * factor


@dataclass
class Claimed:
    id: int
    attempts: int
    claimed_at: datetime
    outgoing: Outgoing
    deadline_at: datetime | None


@dataclass
class TickResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    cancelled: int = 0
    released: int = 0  # claims given back unattempted because the worker is stopping


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 100000}"


def recover_stale_claims(*, session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Put rows whose claim lease expired back in the queue (their next claimer looks them up first)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.sms_claim_lease_seconds)
    result = session.execute(
        update(SmsMessage)
        .where(and_(col(SmsMessage.status) == SmsStatus.SENDING, col(SmsMessage.claimed_at) < cutoff))
        .values(status=SmsStatus.QUEUED, next_attempt_at=now, last_error="claim lease expired; recovered")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim_due(
    *,
    session: Session,
    settings: Settings,
    worker_id: str,
    limit: int = CLAIM_BATCH,
    now: datetime | None = None,
) -> list[Claimed]:
    """Atomically claim up to `limit` due rows for this worker (see the module protocol)."""
    now = now or utcnow()
    candidates = (
        select(col(SmsMessage.id))
        .where(col(SmsMessage.status) == SmsStatus.QUEUED, col(SmsMessage.next_attempt_at) <= now)
        .order_by(col(SmsMessage.next_attempt_at), col(SmsMessage.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(session.execute(candidates).scalars())
    claimed: list[Claimed] = []
    for row_id in ids:
        result = session.execute(
            update(SmsMessage)
            .where(and_(col(SmsMessage.id) == row_id, col(SmsMessage.status) == SmsStatus.QUEUED))
            .values(
                status=SmsStatus.SENDING,
                claimed_by=worker_id,
                claimed_at=now,
                attempts=col(SmsMessage.attempts) + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker got it first
        row = session.execute(
            select(  # type: ignore[call-overload]
                SmsMessage.to_e164,
                SmsMessage.body,
                SmsMessage.template,
                SmsMessage.personalisation,
                col(SmsMessage.attempts),
                SmsMessage.deadline_at,
                SmsMessage.essential,
                SmsMessage.person_id,
            ).where(col(SmsMessage.id) == row_id)
        ).one()
        if not row.essential and row.person_id is not None:
            person = session.get(Person, row.person_id)
            if person is not None and person.sms_opted_out_at is not None:
                _finish(session, row_id, worker_id, now, status=SmsStatus.CANCELLED, last_error="opted out")
                continue
        reason = gate.recheck(session.connection(), settings=settings, row_id=row_id)
        if reason is not None:
            _finish(session, row_id, worker_id, now, status=SmsStatus.BLOCKED, blocked_reason=str(reason))
            continue
        claimed.append(
            Claimed(
                id=row_id,
                attempts=row.attempts,
                claimed_at=now,
                deadline_at=row.deadline_at,
                outgoing=Outgoing(
                    row_id=row_id,
                    to_e164=row.to_e164,
                    body=row.body,
                    template=row.template,
                    personalisation=dict(row.personalisation or {}),
                    claimed_at=now,
                ),
            )
        )
    return claimed


def _finish(session: Session, row_id: int, worker_id: str, held_since: datetime, **values: object) -> bool:
    """Write an outcome only if this worker still holds the claim (taken at `held_since`)."""
    result = session.execute(
        update(SmsMessage)
        .where(
            and_(
                col(SmsMessage.id) == row_id,
                col(SmsMessage.status) == SmsStatus.SENDING,
                col(SmsMessage.claimed_by) == worker_id,
                col(SmsMessage.claimed_at) == held_since,
            )
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_claims(
    *, session: Session, worker_id: str, claims: list[Claimed], now: datetime | None = None
) -> int:
    """Give back claims never attempted (a stopping worker): due now, attempts as before the claim,
    so the next claimer sends them as a first try. Returns how many this worker still held."""
    now = now or utcnow()
    released = 0
    for claim in claims:
        released += _finish(
            session,
            claim.id,
            worker_id,
            claim.claimed_at,
            status=SmsStatus.QUEUED,
            claimed_by=None,
            claimed_at=None,
            attempts=col(SmsMessage.attempts) - 1,
            next_attempt_at=now,
        )
    return released


def attempt(provider: SmsProvider, claim: Claimed) -> tuple[str, str]:
    """Look up (on a retry) then send at most once. Returns (outcome, detail)."""
    try:
        if claim.attempts > 1 and not isinstance(provider, LogProvider):
            found = provider.lookup(claim.outgoing)
            if found is not None:
                return "sent", found
        return "sent", provider.send(claim.outgoing)
    except PermanentFailure as exc:
        return "permanent", str(exc)[:500]
    except TemporaryFailure as exc:
        return "temporary", str(exc)[:500]
    except Exception as exc:  # an unexpected client error is treated as temporary, never lost
        logger.exception("SMS provider raised unexpectedly for row %s", claim.id)
        return "temporary", f"{type(exc).__name__}: {exc}"[:500]


def record(
    *,
    session: Session,
    settings: Settings,
    claim: Claimed,
    worker_id: str,
    provider_name: str,
    outcome: str,
    detail: str,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """Write the outcome of one attempt; returns the row's new status ('' if the claim was lost)."""
    now = now or utcnow()
    if outcome == "sent":
        values: dict[str, object] = {
            "status": SmsStatus.SENT,
            "provider": provider_name,
            "provider_message_id": detail,
            "sent_at": now,
            "last_error": None,
        }
    elif outcome == "permanent":
        values = {"status": SmsStatus.FAILED, "provider": provider_name, "last_error": detail}
    else:
        retry_at = now + backoff_delay(claim.attempts, rng=rng)
        out_of_time = claim.deadline_at is not None and retry_at > claim.deadline_at
        if claim.attempts >= settings.sms_max_attempts or out_of_time:
            reason = "deadline passed" if out_of_time else f"gave up after {claim.attempts} attempts"
            values = {
                "status": SmsStatus.FAILED,
                "provider": provider_name,
                "last_error": f"{reason}: {detail}"[:500],
            }
        else:
            values = {
                "status": SmsStatus.QUEUED,
                "provider": provider_name,
                "next_attempt_at": retry_at,
                "last_error": detail,
            }
    if not _finish(session, claim.id, worker_id, claim.claimed_at, **values):
        logger.warning("SMS row %s: claim lost before recording %s", claim.id, outcome)
        return ""
    return str(values["status"])


def run_once(
    *,
    store: Store,
    settings: Settings,
    provider: SmsProvider,
    worker_id: str,
    extra_steps: list[Callable[..., object]] | None = None,
    stop: threading.Event | None = None,
) -> TickResult:
    """One pass: recover stale claims, run extra steps (survey dispatch), claim and send a batch
    (once `stop` is set, the batch's claims not yet attempted are released, protocol step 7)."""
    tick = TickResult()
    with store.session_scope() as session:
        tick.recovered = recover_stale_claims(session=session, settings=settings)
    for step in extra_steps or []:
        with store.session_scope() as session:
            step(session=session, settings=settings)
    with store.session_scope() as session:
        claims = claim_due(session=session, settings=settings, worker_id=worker_id)
    tick.claimed = len(claims)
    for index, claim in enumerate(claims):
        if stop is not None and stop.is_set():
            with store.session_scope() as session:
                tick.released = release_claims(session=session, worker_id=worker_id, claims=claims[index:])
            logger.info("SMS worker %s stopping: released %d claim(s)", worker_id, tick.released)
            break
        outcome, detail = attempt(provider, claim)
        with store.session_scope() as session:
            status = record(
                session=session,
                settings=settings,
                claim=claim,
                worker_id=worker_id,
                provider_name=provider.name,
                outcome=outcome,
                detail=detail,
            )
        if outcome == "sent":
            telemetry.SMS_SENT.labels(provider.name).inc()
        else:
            telemetry.SMS_FAILURES.labels(provider.name, outcome).inc()
        if status == SmsStatus.SENT:
            tick.sent += 1
        elif status == SmsStatus.QUEUED:
            tick.retried += 1
        elif status == SmsStatus.FAILED:
            tick.failed += 1
    return tick


def default_steps() -> list[Callable[..., object]]:
    """Work the worker does besides sending: due survey invitations become texts."""
    from contact_store.surveys.service import dispatch_due_invitations

    return [dispatch_due_invitations]


def run_forever(
    *,
    store: Store,
    settings: Settings,
    stop: threading.Event,
    provider: SmsProvider | None = None,
    worker_id: str | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Loop until `stop` is set; a failing pass is logged and retried after the poll interval."""
    provider = provider or make_provider(settings)
    worker_id = worker_id or default_worker_id()
    steps = default_steps()
    logger.info("SMS worker %s started (provider %s)", worker_id, provider.name)
    telemetry.SMS_SENT.labels(provider.name)  # the series exist (at 0) before the first text
    for kind in ("temporary", "permanent"):
        telemetry.SMS_FAILURES.labels(provider.name, kind)
    while not stop.is_set():
        try:
            tick = run_once(
                store=store,
                settings=settings,
                provider=provider,
                worker_id=worker_id,
                extra_steps=steps,
                stop=stop,
            )
        except Exception:
            logger.exception("SMS worker pass failed; retrying")
            tick = TickResult()
        if tick.claimed == 0:
            stop.wait(poll_seconds)
    logger.info("SMS worker %s stopped", worker_id)


def start_in_thread(*, store: Store, settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """Run the worker in a daemon thread (used by `firstcontact serve`)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever,
        kwargs={"store": store, "settings": settings, "stop": stop},
        name="sms-worker",
        daemon=True,
    )
    thread.start()
    return thread, stop
