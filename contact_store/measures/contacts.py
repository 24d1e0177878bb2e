"""Each contact's part of the figures ("contributions"), read straight from the store.

A contribution is one contact (chat, online report, text, survey invitation) or one operator-day of
chat holding, with the local day, channel, team, breakdown values and the sums it adds (the columns
of `fact_contact_day`). The fact builder adds them up per day; the raw figures and the drill-down
read them directly — so a dashboard number, its fact row and the contacts behind it come from the
same rule (`contact_store.measures.definitions`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from contact_store.clock import utcnow
from contact_store.measures.definitions import SURVEY_CHANNEL, classify_chat, wait_bucket
from contact_store.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    InvitationStatus,
    Operator,
    Report,
    SmsMessage,
    SmsStatus,
    SurveyInvitation,
    SurveyResponse,
)
from contact_store.settings import Settings
from contact_store.surveys.questions import SCORE_FIELDS

# Chats held longer than this are cut at it when sharing held time between days (no chat is held
# for two days; a forgotten one must not make every rebuild scan the whole table).
MAX_CHAT_SPAN = timedelta(days=2)
# Breakdowns kept per contact (besides the team, which is part of every fact row).
DIMS = ("area", "operator", "topic", "halfhour", "wait")
# Survey score fields → the fact column prefixes (time, resolve, overall).
SCORE_PREFIX = {field: field.removeprefix("score_") for field in SCORE_FIELDS}


@dataclass(slots=True)
class Contribution:
    ref: str  # "chat:<id>", "report:<id>", "sms:<id>", "survey:<id>", "operator:<id>"
    local_date: date
    channel: str
    team_id: int  # 0 = no team
    dims: dict[str, str]  # breakdown → value ("" = none); missing = not part of that breakdown
    values: dict[str, float]


def local_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight of `start` to local midnight after `end` (inclusive days), in UTC."""
    lo = datetime.combine(start, time.min, tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return lo, hi


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def halfhour(local: datetime) -> str:
    """The "HH:MM" half-hour of a local time, as the facts' "halfhour" breakdown keys it."""
    return f"{local.hour:02d}:{30 if local.minute >= 30 else 0:02d}"


def _slot(at: datetime, tz: ZoneInfo) -> tuple[date, str]:
    local = at.astimezone(tz)
    return local.date(), halfhour(local)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _operator_teams(session: Session) -> dict[int, int]:
    rows = session.execute(select(col(Operator.id), col(Operator.team_id))).all()
    return {i: t or 0 for i, t in rows}


def chat_contributions(
    *, session: Session, settings: Settings, lo: datetime, hi: datetime, tz: ZoneInfo
) -> Iterator[Contribution]:
    """One per chat queued in [lo, hi)."""
    c = Conversation
    transfers: dict[str, int] = dict(
        session.execute(
            select(col(ConversationEvent.conversation_id), func.count())
            .join(c, col(c.id) == col(ConversationEvent.conversation_id))
            .where(
                col(ConversationEvent.kind) == "transferred", col(c.queued_at) >= lo, col(c.queued_at) < hi
            )
            .group_by(col(ConversationEvent.conversation_id))
        ).all()
    )
    op_team = _operator_teams(session)
    rows = session.execute(
        select(
            col(c.id), col(c.status), col(c.queued_at), col(c.assigned_at), col(c.ended_at),
            col(c.abandoned_at), col(c.wrapped_up_at), col(c.team_id), col(c.area_id),
            col(c.assignee_id), col(c.topic),
        ).where(col(c.queued_at) >= lo, col(c.queued_at) < hi)
    ).all()  # fmt: skip
    ignore, target = settings.abandon_ignore_under_seconds, settings.service_level_target_seconds
    for cid, status, queued, assigned, ended, abandoned, wrapped, team, area, assignee, topic in rows:
        values = classify_chat(
            status=status, queued_at=queued, assigned_at=assigned, abandoned_at=abandoned,
            ignore_under=ignore, target=target,
        )  # fmt: skip
        day, slot = _slot(queued, tz)
        dims = {"area": _s(area), "operator": _s(assignee), "topic": topic or "", "halfhour": slot}
        if assigned is not None:
            dims["wait"] = wait_bucket((assigned - queued).total_seconds())
            if ended is not None:
                values["handled"] = 1
                values["active_seconds"] = max(0.0, (ended - assigned).total_seconds())
                if wrapped is not None and wrapped > ended:
                    values["wrap_seconds"] = (wrapped - ended).total_seconds()
        elif values.get("abandoned"):
            dims["wait"] = wait_bucket(((abandoned or queued) - queued).total_seconds())
        if cid in transfers:
            values["transfers"] = transfers[cid]
        yield Contribution(f"chat:{cid}", day, "chat", team or op_team.get(assignee or 0, 0), dims, values)


def _union_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    total, end = 0.0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += (b - a).total_seconds()
            end = b
        elif b > end:
            total += (b - end).total_seconds()
            end = b
    return total


def holding_contributions(
    *, session: Session, lo: datetime, hi: datetime, tz: ZoneInfo, now: datetime | None = None
) -> Iterator[Contribution]:
    """One per operator and local day in [lo, hi): chat-seconds held and seconds holding any chat."""
    now = now or utcnow()
    c = Conversation
    rows = session.execute(
        select(col(c.assignee_id), col(c.assigned_at), col(c.ended_at), col(c.status)).where(
            col(c.assignee_id).is_not(None),
            col(c.assigned_at).is_not(None),
            col(c.queued_at) >= lo - MAX_CHAT_SPAN,
            col(c.queued_at) < hi,
            col(c.assigned_at) < hi,
            or_(col(c.ended_at).is_(None), col(c.ended_at) > lo),
        )
    ).all()
    spans: dict[tuple[int, date], list[tuple[datetime, datetime]]] = defaultdict(list)
    for op, assigned, ended, status in rows:
        if ended is None and status != ConversationStatus.ACTIVE:
            continue
        a = max(assigned, lo)
        b = min(ended or now, assigned + MAX_CHAT_SPAN, hi)
        while a < b:  # split at each local midnight: a day that changes the clock is 23 or 25 hours
            day = local_day(a, tz)
            midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
            cut = min(b, midnight)
            spans[(op, day)].append((a, cut))
            a = cut
    op_team = _operator_teams(session)
    for (op, day), held in spans.items():
        values = {
            "held_seconds": sum((b - a).total_seconds() for a, b in held),
            "busy_seconds": _union_seconds(held),
        }
        yield Contribution(f"operator:{op}", day, "chat", op_team.get(op, 0), {"operator": str(op)}, values)


def report_contributions(
    *, session: Session, settings: Settings, lo: datetime, hi: datetime, tz: ZoneInfo
) -> Iterator[Contribution]:
    """One per online report (not raised from a chat) received in [lo, hi)."""
    r = Report
    op_team = _operator_teams(session)
    target = settings.report_target_hours * 3600
    rows = session.execute(
        select(
            col(r.id), col(r.received_at), col(r.first_response_at), col(r.team_id), col(r.area_id),
            col(r.assignee_id), col(r.form_slug),
        ).where(col(r.received_at) >= lo, col(r.received_at) < hi, col(r.channel) != "chat")
    ).all()  # fmt: skip
    for rid, received, first, team, area, assignee, form in rows:
        values: dict[str, float] = {"offered": 1}
        if first is not None:
            wait = max(0.0, (first - received).total_seconds())
            values.update(answered=1, answer_seconds=wait, in_target=float(wait <= target))
        day, slot = _slot(received, tz)
        dims = {"area": _s(area), "operator": _s(assignee), "topic": form, "halfhour": slot}
        yield Contribution(f"report:{rid}", day, "forms", team or op_team.get(assignee or 0, 0), dims, values)


def sms_contributions(
    *, session: Session, lo: datetime, hi: datetime, tz: ZoneInfo
) -> Iterator[Contribution]:
    """One per text created in [lo, hi); team, POD and topic are those of its report or chat."""
    s, r, c = SmsMessage, Report, Conversation
    op_team = _operator_teams(session)
    rows = session.execute(
        select(
            col(s.id), col(s.created_at), col(s.status), col(s.operator_id),
            func.coalesce(col(r.team_id), col(c.team_id)), func.coalesce(col(r.area_id), col(c.area_id)),
            func.coalesce(col(r.form_slug), col(c.topic)),
        )
        .select_from(s)
        .outerjoin(r, col(r.id) == col(s.report_id))
        .outerjoin(c, col(c.id) == col(s.conversation_id))
        .where(col(s.created_at) >= lo, col(s.created_at) < hi)
    ).all()  # fmt: skip
    for sid, created, status, operator, team, area, topic in rows:
        values: dict[str, float] = {"texts": 1}
        if status == SmsStatus.DELIVERED:
            values["delivered"] = 1
        elif status == SmsStatus.FAILED:
            values["failed"] = 1
        elif status == SmsStatus.BLOCKED:
            values["blocked"] = 1
        day, slot = _slot(created, tz)
        dims = {"area": _s(area), "operator": _s(operator), "topic": topic or "", "halfhour": slot}
        yield Contribution(f"sms:{sid}", day, "sms", team or op_team.get(operator or 0, 0), dims, values)


def survey_contributions(
    *, session: Session, lo: datetime, hi: datetime, tz: ZoneInfo
) -> Iterator[Contribution]:
    """One per survey invitation of the cohort (contact in [lo, hi), offered, not excluded)."""
    i, a = SurveyInvitation, SurveyResponse
    scores = [getattr(a, f) for f in SCORE_FIELDS]
    rows = session.execute(
        select(
            col(i.id), col(i.contact_at), col(i.channel), col(i.team_id), col(i.area_id),
            col(i.operator_id), col(i.topic), col(a.id), *scores,
        )
        .select_from(i)
        .outerjoin(a, col(a.invitation_id) == col(i.id))
        .where(
            col(i.sent_at).is_not(None), col(i.status) != InvitationStatus.EXCLUDED,
            col(i.contact_at) >= lo, col(i.contact_at) < hi,
        )
    ).all()  # fmt: skip
    for iid, contact_at, channel, team, area, operator, topic, answer_id, *answers in rows:
        values: dict[str, float] = {"invited": 1}
        if answer_id is not None:
            values["responded"] = 1
            for field, score in zip(SCORE_FIELDS, answers, strict=True):
                if score is not None and 1 <= score <= 5:
                    p = SCORE_PREFIX[field]
                    values[f"{p}_n"] = 1
                    values[f"{p}_top"] = float(score >= 4)
                    values[f"{p}_sum"] = score
        day, slot = _slot(contact_at, tz)
        dims = {"area": _s(area), "operator": _s(operator), "topic": topic or "", "halfhour": slot}
        chan = SURVEY_CHANNEL.get(channel, channel)
        yield Contribution(f"survey:{iid}", day, chan, team or 0, dims, values)


def contributions(
    *, session: Session, settings: Settings, lo: datetime, hi: datetime, now: datetime | None = None
) -> Iterator[Contribution]:
    """Every contribution of the contacts in [lo, hi) (UTC instants on local midnights)."""
    tz = ZoneInfo(settings.timezone)
    yield from chat_contributions(session=session, settings=settings, lo=lo, hi=hi, tz=tz)
    yield from holding_contributions(session=session, lo=lo, hi=hi, tz=tz, now=now)
    yield from report_contributions(session=session, settings=settings, lo=lo, hi=hi, tz=tz)
    yield from sms_contributions(session=session, lo=lo, hi=hi, tz=tz)
    yield from survey_contributions(session=session, lo=lo, hi=hi, tz=tz)


def matches(
    c: Contribution, *, channel: str | None, team_id: int | None, dim: str, value: str | None
) -> bool:
    """True when the contribution belongs to this slice of the figures."""
    if channel is not None and c.channel != channel:
        return False
    if team_id is not None and c.team_id != team_id:
        return False
    if dim == "all" or value is None:
        return dim == "all" or dim in c.dims
    return c.dims.get(dim) == value


__all__ = ["DIMS", "Contribution", "contributions", "halfhour", "local_bounds", "local_day", "matches"]
