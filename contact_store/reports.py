"""Online reports: creating one in a single transaction, and reading them back.

`file_report` writes, in the caller's transaction (services only flush; the caller commits):
the report with a unique human-friendly reference, the person (matched to earlier contacts by
normalised phone or email, which sets the repeat-contact flag), a "received" timeline event, and
an acknowledgement text in the SMS outbox when a mobile number was given; the text passes the SMS
gate (`contact_store.sms.gate`), so without "safe to contact" it is recorded as blocked, not sent.
A `reports` bus event is parked on the session and published only after the commit. It is the
fast path: SQLAlchemy Core, a handful of round trips, teams and areas from `org_cache`.

Used by the public forms (web_forms) and readable by the console (agent_console).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from contact_store import org_cache
from contact_store.clock import utcnow
from contact_store.events import channels, emit
from contact_store.models import Area, Report, ReportEvent, ReportStatus, SmsMessage, SmsStatus, Team
from contact_store.people import known_person, link_person, normalise_phone
from contact_store.references import SUFFIX_LENGTH, new_reference
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.sms.acks import report_ack_values
from contact_store.sql import InsertOrSkip, existing_id

SUMMARY_MAX = 300  # Report.summary column width: one line in the triage list


@dataclass(frozen=True)
class ReportCreate:
    """Everything needed to file a report; answers are already validated and normalised."""

    form_slug: str
    answers: dict[str, Any]
    summary: str
    channel: str = "web"
    language: str = "en"
    sensitive: bool = False
    grade: int | None = None
    team_name: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    postcode: str | None = None
    area_postcode: str | None = None
    # The answer to "is it safe for us to text you on this number?" (`phone`). No answer is "no":
    # nothing is texted about this report unless it is True.
    safe_to_contact: bool = False
    response_time: str = "24 hours"
    thrive: dict[str, Any] = field(default_factory=dict)
    # A contact that already exists becoming a report (a chat at wrap-up): its person, chat, POD,
    # team and handler are carried over instead of being matched or looked up again.
    person_id: int | None = None
    conversation_id: str | None = None
    area_id: int | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    status: str = ReportStatus.RECEIVED
    # The public has already had an answer (the chat itself): first response is the filing time.
    answered: bool = False
    # The first timeline line; by default "Received online (<channel>)".
    received_note: str | None = None


def one_line(text: str, limit: int = SUMMARY_MAX) -> str:
    """Collapse whitespace and cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class FiledReport:
    """What filing a report decided (without loading the row back)."""

    id: int
    reference: str
    received_at: datetime
    person_id: int | None
    team_id: int | None
    area_id: int | None
    repeat_contact: bool
    acknowledged_by_sms: bool


_report: Any = Report.__table__  # type: ignore[attr-defined]
# Team and area ids come from the per-process cache (or a chat's team): guarded, so one deleted or
# retired meanwhile leaves the column empty (the common queue) instead of failing the report on its
# foreign key or filing new work where nobody takes it.
_insert_report_unless_reference_taken = InsertOrSkip(
    _report,
    "reference",
    values={
        "team_id": existing_id(Team.__table__, "cached_team_id", in_use=True),  # type: ignore[attr-defined]
        "area_id": existing_id(Area.__table__, "cached_area_id", in_use=True),  # type: ignore[attr-defined]
    },
    returning=(_report.c.team_id, _report.c.area_id),
)
_INSERT_EVENT = insert(ReportEvent.__table__)  # type: ignore[attr-defined]
_INSERT_SMS = insert(SmsMessage.__table__)  # type: ignore[attr-defined]
# A clash of references is retried with a longer suffix; after this many something is wrong.
REFERENCE_ATTEMPTS = 10


def file_report(
    *,
    session: Session,
    settings: Settings,
    report_in: ReportCreate,
    reference: str | None = None,
    received_at: datetime | None = None,
) -> FiledReport:
    """File a report with its reference, person link, timeline event and acknowledgement text.

    A caller that must quote the reference before the report is written (a stored API answer)
    may propose `reference` and `received_at`; the reference is kept unless another report has
    it, so compare `FiledReport.reference`.

    The fast path (Core statements, about five round trips, no ORM objects): the person lookup and
    the repeat-contact check are one query; the reference is claimed by the unique constraint
    (INSERT ... ON CONFLICT DO NOTHING, retried with a new code) instead of a pre-check.
    """
    session.flush()  # anything the caller still holds goes first (it may be referenced)
    if report_in.person_id is not None:
        link = known_person(
            session=session,
            person_id=report_in.person_id,
            repeat_window_days=settings.repeat_contact_days,
            exclude_conversation_id=report_in.conversation_id,
        )
    else:
        link = link_person(
            session=session,
            repeat_window_days=settings.repeat_contact_days,
            name=report_in.name,
            phone=report_in.phone,
            email=report_in.email,
            postcode=report_in.postcode,
        )
    org = org_cache.snapshot(session)
    conn = session.connection()
    now = received_at or utcnow()
    number = normalise_phone(report_in.phone)
    consent = gate.Consent(report_in.safe_to_contact and number is not None, number)
    values: dict[str, Any] = {
        "form_slug": report_in.form_slug,
        "answers": report_in.answers,
        "summary": one_line(report_in.summary),
        "status": report_in.status,
        "grade": report_in.grade,
        "thrive": report_in.thrive,
        "sensitive": report_in.sensitive,
        "language": report_in.language,
        "channel": report_in.channel,
        "person_id": link.person_id,
        "cached_team_id": report_in.team_id
        if report_in.team_id is not None
        else org.team_id(report_in.team_name),
        "cached_area_id": report_in.area_id
        if report_in.area_id is not None
        else org.area_id(report_in.area_postcode or report_in.postcode),
        "conversation_id": report_in.conversation_id,
        "assignee_id": report_in.assignee_id,
        "first_response_at": now if report_in.answered else None,
        "repeat_contact": link.repeat_contact,
        "safe_to_contact": consent.safe,
        "contact_e164": consent.number,
        "received_at": now,
        "updated_at": now,
    }
    inserted = None
    length = SUFFIX_LENGTH
    for attempt in range(REFERENCE_ATTEMPTS):
        values["reference"] = (
            reference if attempt == 0 and reference else new_reference(at=now, length=length)
        )
        inserted = _insert_report_unless_reference_taken.row(conn, values)
        if inserted is not None:
            break
        length += 1
    if inserted is None:
        raise RuntimeError("could not allocate a unique reference")
    returned = tuple(inserted)  # id, then team and area as stored (NULL if deleted meanwhile)
    report_id, team_id, area_id = int(returned[0]), returned[1], returned[2]
    chosen: str = values["reference"]
    conn.execute(
        _INSERT_EVENT,
        {
            "report_id": report_id,
            "kind": "status",
            "body": report_in.received_note or f"Received online ({report_in.channel})",
            "data": {"status": report_in.status},
            "created_at": now,
        },
    )
    sms = None
    if consent.number:
        sms = report_ack_values(
            settings=settings,
            report_id=report_id,
            reference=chosen,
            person_id=link.person_id,
            phone=consent.number,
            target=report_in.response_time,
            language=report_in.language,
        )
        if sms is not None:
            # The consent was written just above: the gate need not read it back.
            conn.execute(_INSERT_SMS, gate.apply(conn, settings=settings, values=sms, consent=consent))
    filed = FiledReport(
        id=report_id,
        reference=chosen,
        received_at=now,
        person_id=link.person_id,
        team_id=team_id,
        area_id=area_id,
        repeat_contact=link.repeat_contact,
        acknowledged_by_sms=sms is not None and sms["status"] == SmsStatus.QUEUED,
    )
    emit(
        session,
        channels.REPORTS,
        {
            "type": "report.received",
            "report_id": report_id,
            "reference": chosen,
            "form_slug": report_in.form_slug,
            "summary": values["summary"],
            "sensitive": report_in.sensitive,
            "grade": report_in.grade,
            "team_id": filed.team_id,
            "area_id": filed.area_id,
            "repeat_contact": filed.repeat_contact,
            "acknowledged_by_sms": filed.acknowledged_by_sms,
        },
    )
    return filed


def get_report_by_reference(*, session: Session, reference: str) -> Report | None:
    """The report with this reference (case-insensitive), or None."""
    return session.exec(select(Report).where(Report.reference == reference.strip().upper())).first()


def reports_for_person(*, session: Session, person_id: int, limit: int = 50) -> list[Report]:
    """A person's reports, newest first (the console's "earlier contacts")."""
    return list(
        session.exec(
            select(Report)
            .where(Report.person_id == person_id)
            .order_by(col(Report.received_at).desc(), col(Report.id).desc())
            .limit(limit)
        ).all()
    )
