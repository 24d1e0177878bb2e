"""Online reports: creating one in a single transaction, and reading them back.

`create_report` writes, in the caller's transaction (services only flush; the caller commits):
the report with a unique human-friendly reference, the person (matched to earlier contacts by
normalised phone, then email, which sets the repeat-contact flag), a "received" timeline event, and
an acknowledgement text in the SMS outbox when a mobile number was given and texting is allowed.
A `reports` bus event is parked on the session and published only after the commit.

Used by the public forms (web_forms) and readable by the console (agent_console).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.events import channels, emit
from contact_store.models import Area, Conversation, Report, ReportEvent, ReportStatus, Team
from contact_store.people import find_or_create_person
from contact_store.references import unique_report_reference
from contact_store.settings import Settings
from contact_store.sms.acks import queue_report_ack

SUMMARY_MAX = 300  # Report.summary column width: one line in the triage list
_POSTCODE_OUTWARD = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)")


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
    # False for sensitive forms unless the person said it is safe to text them.
    send_acknowledgement: bool = True
    response_time: str = "24 hours"
    thrive: dict[str, Any] = field(default_factory=dict)


def team_by_name(*, session: Session, name: str | None) -> Team | None:
    """The team called `name`, or None (a form may name a team this force does not have)."""
    if not name:
        return None
    return session.exec(select(Team).where(Team.name == name)).first()


def area_for_postcode(*, session: Session, postcode: str | None) -> Area | None:
    """The area whose postcode prefixes match the postcode's district (longest prefix wins)."""
    if not postcode:
        return None
    compact = postcode.replace(" ", "").upper()
    match = _POSTCODE_OUTWARD.match(compact[:-3] if len(compact) > 4 else compact)
    if match is None:
        return None
    district = match.group(1)
    best: tuple[int, Area] | None = None
    for area in session.exec(select(Area)).all():
        for prefix in area.postcode_prefixes:
            p = prefix.replace(" ", "").upper()
            # "PR1" matches district PR1 only; an area prefix "PR" covers every PR district.
            matches = district == p or (p.isalpha() and district.startswith(p) and district[len(p)].isdigit())
            if matches and (best is None or len(p) > best[0]):
                best = (len(p), area)
    return best[1] if best else None


def is_repeat_contact(
    *, session: Session, person_id: int, window_days: int, report_id: int | None = None
) -> bool:
    """True when the person contacted us (report or chat) in the window, other than `report_id`.

    Two indexed EXISTS-style lookups, so the cost does not grow with a person's history (the
    console's `people.contact_signals` counts everything, for display).
    """
    since = utcnow() - timedelta(days=window_days)
    earlier_report = session.exec(
        select(Report.id)
        .where(
            Report.person_id == person_id,
            col(Report.id) != (report_id or -1),
            col(Report.received_at) >= since,
        )
        .limit(1)
    ).first()
    if earlier_report is not None:
        return True
    earlier_chat = session.exec(
        select(Conversation.id)
        .where(Conversation.person_id == person_id, col(Conversation.queued_at) >= since)
        .limit(1)
    ).first()
    return earlier_chat is not None


def one_line(text: str, limit: int = SUMMARY_MAX) -> str:
    """Collapse whitespace and cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def create_report(*, session: Session, settings: Settings, report_in: ReportCreate) -> Report:
    """File a report with its reference, person link, timeline event and acknowledgement text."""
    person, _matched = find_or_create_person(
        session=session,
        name=report_in.name,
        phone=report_in.phone,
        email=report_in.email,
        postcode=report_in.postcode,
    )
    team = team_by_name(session=session, name=report_in.team_name)
    area = area_for_postcode(session=session, postcode=report_in.area_postcode or report_in.postcode)
    # Decided before the report exists, so it is one INSERT and no UPDATE.
    repeat = (
        person is not None
        and person.id is not None
        and is_repeat_contact(session=session, person_id=person.id, window_days=settings.repeat_contact_days)
    )
    report = Report(
        reference=unique_report_reference(session=session),
        form_slug=report_in.form_slug,
        answers=report_in.answers,
        summary=one_line(report_in.summary),
        status=ReportStatus.RECEIVED,
        grade=report_in.grade,
        thrive=report_in.thrive,
        sensitive=report_in.sensitive,
        language=report_in.language,
        channel=report_in.channel,
        person_id=person.id if person else None,
        team_id=team.id if team else None,
        area_id=area.id if area else None,
        repeat_contact=repeat,
    )
    session.add(report)
    session.flush()
    assert report.id is not None
    session.add(
        ReportEvent(
            report_id=report.id,
            kind="status",
            body=f"Received online ({report_in.channel})",
            data={"status": ReportStatus.RECEIVED},
        )
    )
    sms = None
    if report_in.send_acknowledgement and report_in.phone:
        sms = queue_report_ack(
            session=session,
            settings=settings,
            report=report,
            phone=report_in.phone,
            target=report_in.response_time,
        )
    session.flush()
    emit(
        session,
        channels.REPORTS,
        {
            "type": "report.received",
            "report_id": report.id,
            "reference": report.reference,
            "form_slug": report.form_slug,
            "summary": report.summary,
            "sensitive": report.sensitive,
            "grade": report.grade,
            "team_id": report.team_id,
            "area_id": report.area_id,
            "repeat_contact": report.repeat_contact,
            "acknowledged_by_sms": sms is not None,
        },
    )
    return report


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
