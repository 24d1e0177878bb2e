"""Online report triage: the 24-hour queue, claiming, grading, notes, status and SMS updates.

Every change writes a ReportEvent (the report's timeline) and an audit event in the same
transaction, and emits `report.updated` on `channels.REPORTS` after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, func, select

from contact_store import audit
from contact_store.access import visible_reports_clause
from contact_store.clock import utcnow
from contact_store.errors import Conflict, ValidationFailed
from contact_store.events import channels, emit
from contact_store.grading import GRADE_LABELS, THRIVE_KEYS, THRIVE_MAX_LENGTH
from contact_store.models import (
    OPEN_REPORT_STATUSES,
    Operator,
    Person,
    Report,
    ReportEvent,
    ReportStatus,
    SmsStatus,
)
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.sms.acks import queue_report_update
from contact_store.surveys import schedule_survey

COUNT_CAP = 1000
PAGE_SIZE = 25  # one screen of the queue at 1280x800 without losing the filters from view
THRIVE_MAX = THRIVE_MAX_LENGTH
NOTE_MAX = 2000
STATUS_LABELS = {
    ReportStatus.RECEIVED: "Received",
    ReportStatus.IN_PROGRESS: "In progress",
    ReportStatus.AWAITING_INFORMATION: "Awaiting information",
    ReportStatus.RESOLVED: "Resolved",
    ReportStatus.CLOSED: "Closed",
}
EVENT_LABELS = {
    "note": "Note",
    "status": "Status",
    "grade": "Grade and THRIVE",
    "assign": "Assignment",
    "sms": "Text",
    "inbound_sms": "Text received",
    "erased": "Erased",
}
# Ready-made update texts; the reporter receives "<force> update on <reference>: <text>".
UPDATE_TEXTS = {
    "started": "we have started looking at your report. We will contact you if we need anything more.",
    "need_info": "we need a little more information. Please call 101 and quote your reference.",
    "officer": "your report has been passed to an officer, who will contact you.",
    "resolved": "we have finished dealing with your report. Thank you for telling us.",
}


class selective(FunctionElement[bool]):
    """A condition that matches few rows: on SQLite, `unlikely(cond)`; elsewhere just `cond`.

    Open reports are a thin slice of years of closed ones. SQLite's planner cannot see that skew
    and would walk the form or POD index through thousands of closed rows; `unlikely()` tells it
    to use the (status, received_at) index. PostgreSQL's statistics already see it.
    See bench/console_queries.py for the figures.
    """

    inherit_cache = True
    name = "selective"


@compiles(selective)
def _selective_default(element: selective, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(selective, "sqlite")
def _selective_sqlite(element: selective, compiler: Any, **kw: Any) -> str:
    return f"unlikely({compiler.process(element.clauses, **kw)})"


@dataclass(frozen=True)
class TriageFilters:
    form: str = ""
    area_id: int | None = None
    team_id: int | None = None
    status: str = "open"  # open | all | one ReportStatus
    grade: int | None = None
    sensitive: str = ""  # "" any | yes | no
    assigned: str = ""  # "" any | me | unassigned
    page: int = 1


@dataclass(frozen=True)
class TriageRow:
    report: Report
    age: timedelta
    over_target: bool


def list_reports(
    *,
    session: Session,
    staff: Operator,
    filters: TriageFilters,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[list[TriageRow], int]:
    """The page of reports this member of staff may see, oldest first, and how many match (capped
    at COUNT_CAP beyond this page: `total > count_limit(page)` means "more than")."""
    now = now or utcnow()
    stmt = select(Report)
    clause = visible_reports_clause(staff)
    if clause is not None:
        stmt = stmt.where(clause)
    if filters.status == "open":
        stmt = stmt.where(selective(col(Report.status).in_(OPEN_REPORT_STATUSES)))
    elif filters.status in STATUS_LABELS:
        # Closed reports are dense: walking (status, received_at) in order finds a page at once.
        stmt = stmt.where(selective(Report.status == filters.status))
    if filters.form:
        stmt = stmt.where(Report.form_slug == filters.form)
    if filters.area_id is not None:
        stmt = stmt.where(Report.area_id == filters.area_id)
    if filters.team_id is not None:
        stmt = stmt.where(Report.team_id == filters.team_id)
    if filters.grade is not None:
        stmt = stmt.where(Report.grade == filters.grade)
    if filters.sensitive in ("yes", "no"):
        stmt = stmt.where(Report.sensitive == (filters.sensitive == "yes"))
        if filters.sensitive == "yes" and clause is not None:
            # Operators see sensitive reports only when assigned to them (access rule 3): say so,
            # so the database uses the assignee index instead of walking every closed report.
            stmt = stmt.where(Report.assignee_id == staff.id)
    if filters.assigned == "me":
        stmt = stmt.where(Report.assignee_id == staff.id)
    elif filters.assigned == "unassigned":
        stmt = stmt.where(col(Report.assignee_id).is_(None))
    page = max(1, filters.page)
    # Counting every closed report of a form would read tens of thousands of rows for a number
    # nobody needs exactly: count up to COUNT_CAP past this page, and say "more than" beyond it.
    counted = stmt.limit(page * PAGE_SIZE + COUNT_CAP + 1).subquery()
    total = session.exec(select(func.count()).select_from(counted)).one()
    # Oldest first. For the open set, order by an expression no index provides: otherwise
    # PostgreSQL, expecting open reports spread evenly, walks the received_at index from the
    # oldest report through ~all closed ones before finding 25 open (the LIMIT trap); sorting the
    # few thousand open rows is cheap. A single status uses the (status, received_at) index.
    order_key = (
        func.coalesce(Report.received_at, Report.received_at)
        if filters.status == "open"
        else col(Report.received_at)
    )
    reports = session.exec(
        stmt.order_by(order_key, col(Report.id)).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    target = timedelta(hours=settings.report_target_hours)
    rows = []
    for r in reports:
        age = now - r.received_at
        rows.append(TriageRow(r, age, age > target and r.status in OPEN_REPORT_STATUSES))
    return rows, int(total)


def count_limit(page: int) -> int:
    """The most `list_reports` counts exactly for this page; a larger total means "more than"."""
    return max(1, page) * PAGE_SIZE + COUNT_CAP


def form_slugs(*, session: Session) -> list[str]:
    """The forms reports have come from, for the filter."""
    return list(session.exec(select(Report.form_slug).distinct().order_by(Report.form_slug)).all())


def _event(
    *,
    session: Session,
    report: Report,
    staff: Operator,
    kind: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    ip: str | None = None,
) -> ReportEvent:
    now = utcnow()
    event = ReportEvent(
        report_id=report.id or 0,
        kind=kind,
        body=body[:NOTE_MAX],
        data=data or {},
        operator_id=staff.id,
        created_at=now,
    )
    report.updated_at = now
    session.add(report)
    session.add(event)
    session.flush()
    audit.record(
        session=session,
        operator_id=staff.id,
        action=f"report.{kind}",
        object_type="report",
        object_id=report.id or "",
        person_id=report.person_id,
        ip=ip,
        detail=data or {},
    )
    emit(session, channels.REPORTS, {"type": "report.updated", "report_id": report.id, "change": kind})
    return event


def _label(status: str) -> str:
    return STATUS_LABELS.get(ReportStatus(status), status) if status in STATUS_LABELS else status


def _first_response(report: Report) -> None:
    if report.first_response_at is None:
        report.first_response_at = utcnow()


def claim(*, session: Session, report: Report, staff: Operator, ip: str | None = None) -> Report:
    """Take an unassigned report, atomically: two operators claiming at once, one wins."""
    result = session.execute(
        update(Report)
        .where(col(Report.id) == report.id, col(Report.assignee_id).is_(None))
        .values(assignee_id=staff.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("Someone else has already claimed this report")
    session.refresh(report)
    if report.status == ReportStatus.RECEIVED:
        report.status = ReportStatus.IN_PROGRESS
        _first_response(report)
    _event(
        session=session,
        report=report,
        staff=staff,
        kind="assign",
        body=f"Claimed by {staff.display_name}",
        data={"assignee_id": staff.id},
        ip=ip,
    )
    return report


def assign(
    *, session: Session, report: Report, staff: Operator, to: Operator | None, ip: str | None = None
) -> Report:
    """Give the report to another member of staff (None: back to the queue)."""
    report.assignee_id = to.id if to else None
    body = (
        f"Assigned to {to.display_name} by {staff.display_name}"
        if to
        else f"Returned to the queue by {staff.display_name}"
    )
    _event(
        session=session,
        report=report,
        staff=staff,
        kind="assign",
        body=body,
        data={"assignee_id": report.assignee_id},
        ip=ip,
    )
    return report


def set_grade(
    *,
    session: Session,
    report: Report,
    staff: Operator,
    grade: int | None,
    thrive: dict[str, str],
    ip: str | None = None,
) -> Report:
    """Record the grade (1-5) and the THRIVE assessment."""
    if grade is not None and grade not in GRADE_LABELS:
        raise ValidationFailed("Choose a grade from 1 to 5", fields={"grade": "Choose a grade from 1 to 5"})
    clean = {k: (thrive.get(k) or "").strip()[:THRIVE_MAX] for k in THRIVE_KEYS}
    changes: dict[str, Any] = {}
    if grade != report.grade:
        changes["grade"] = {"from": report.grade, "to": grade}
        report.grade = grade
    if clean != {k: (report.thrive or {}).get(k, "") for k in THRIVE_KEYS}:
        changes["thrive"] = True
        report.thrive = clean
    if not changes:
        return report
    body = (
        f"Grade set to {GRADE_LABELS[grade]}" if "grade" in changes and grade else "THRIVE assessment updated"
    )
    if "grade" in changes and "thrive" in changes:
        body += "; THRIVE assessment updated"
    _event(session=session, report=report, staff=staff, kind="grade", body=body, data=changes, ip=ip)
    return report


def add_note(
    *, session: Session, report: Report, staff: Operator, text: str, ip: str | None = None
) -> ReportEvent:
    """An internal note on the timeline (never sent to the reporter)."""
    text = text.strip()
    if not text:
        raise ValidationFailed("Enter a note", fields={"note": "Enter a note"})
    if len(text) > NOTE_MAX:
        raise ValidationFailed(f"Notes must be {NOTE_MAX} characters or fewer", fields={"note": "Too long"})
    return _event(session=session, report=report, staff=staff, kind="note", body=text, ip=ip)


def set_status(
    *,
    session: Session,
    settings: Settings,
    report: Report,
    staff: Operator,
    status: str,
    ip: str | None = None,
) -> Report:
    """Move the report to a new status, stamp its times; resolving or closing it schedules the
    survey."""
    if status not in STATUS_LABELS:
        raise ValidationFailed("Choose a status", fields={"status": "Choose a status"})
    if status == report.status:
        return report
    now = utcnow()
    previous = report.status
    report.status = status
    if status != ReportStatus.RECEIVED:
        _first_response(report)
    if status == ReportStatus.RESOLVED and report.resolved_at is None:
        report.resolved_at = now
    if status == ReportStatus.CLOSED:
        report.closed_at = now
        report.resolved_at = report.resolved_at or now
    if status in OPEN_REPORT_STATUSES:
        report.closed_at = None
        report.resolved_at = None
    _event(
        session=session,
        report=report,
        staff=staff,
        kind="status",
        body=f"Status changed from {_label(previous)} to {_label(status)}",
        data={"from": previous, "to": status},
        ip=ip,
    )
    if status in (ReportStatus.RESOLVED, ReportStatus.CLOSED):
        # The contact has ended either way (closing straight from an open status skips
        # "resolved"). Idempotent per report: resolving or closing again after a reopen, or closing
        # after resolving, keeps the first invitation.
        schedule_survey(session=session, settings=settings, channel="report", report=report)
    return report


def reporter_phone(*, session: Session, report: Report) -> str | None:
    """The reporter's mobile number, if we hold one."""
    if report.person_id is None:
        return None
    person = session.get(Person, report.person_id)
    return person.phone_e164 if person and not person.erased_at else None


class TextBlocked(ValidationFailed):
    """The gate refused the text: it is recorded (blocked, with its reason), never sent."""


def texting_number(*, settings: Settings, report: Report) -> str | None:
    """The number staff may text about this report, or None: "not safe to text" (the gate's rule)."""
    consent = gate.Consent(report.safe_to_contact, report.contact_e164)
    return gate.contact_number(settings=settings, consent=consent)


def send_update(
    *,
    session: Session,
    report: Report,
    staff: Operator,
    settings: Settings,
    preset: str,
    text: str,
    ip: str | None = None,
) -> ReportEvent:
    """Text the reporter an update (a ready-made text or free text) with the reference filled in.

    Only to the number given with this report, and only if the reporter said it is safe to text
    them there: the SMS gate decides. A refused text is recorded (blocked, on the timeline) and
    `TextBlocked` is raised after it is written, so the caller keeps the record and shows why.
    """
    message = UPDATE_TEXTS.get(preset) if preset else text.strip()
    if not message:
        raise ValidationFailed(
            "Choose an update or write one", fields={"sms_preset": "Choose an update or write one"}
        )
    if not report.contact_e164:
        raise ValidationFailed(
            "We hold no mobile number for this report", fields={"sms_preset": "No mobile number"}
        )
    sms = queue_report_update(
        session=session, settings=settings, report=report, message=message, operator_id=staff.id
    )
    if sms is None:
        raise ValidationFailed(
            "The reporter's number cannot receive texts", fields={"sms_preset": "Not a mobile"}
        )
    if sms.status == SmsStatus.BLOCKED:
        label = gate.REASON_LABELS[gate.BlockReason(sms.blocked_reason or "")]
        _event(
            session=session,
            report=report,
            staff=staff,
            kind="sms",
            body=f"Not sent. {label}.",
            data={"sms_id": sms.id, "preset": preset or None, "blocked_reason": sms.blocked_reason},
            ip=ip,
        )
        raise TextBlocked(f"Text not sent. {label}.", fields={"sms_preset": f"Not sent. {label}."})
    _first_response(report)
    return _event(
        session=session,
        report=report,
        staff=staff,
        kind="sms",
        body=sms.body,
        data={"sms_id": sms.id, "preset": preset or None},
        ip=ip,
    )


def timeline(*, session: Session, report_id: int) -> list[tuple[ReportEvent, str]]:
    """The report's timeline, newest first, with who did each thing."""
    rows = session.exec(
        select(ReportEvent, Operator.display_name)
        .join(Operator, col(Operator.id) == col(ReportEvent.operator_id), isouter=True)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.created_at).desc(), col(ReportEvent.id).desc())
    ).all()
    return [(ev, name or "System") for ev, name in rows]
