"""The report service: one transaction, reference, person matching, area/team, SMS, event."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from contact_store import org_cache
from contact_store.events import PENDING_EVENTS_KEY, channels
from contact_store.models import Report, ReportEvent, SmsMessage
from contact_store.reports import (
    ReportCreate,
    file_report,
    get_report_by_reference,
    one_line,
    reports_for_person,
)
from contact_store.settings import Settings
from tests.builders import make_area, make_person, make_team


def _create(session: Session, settings: Settings, **kw: object) -> Report:
    values: dict = {"form_slug": "crime", "answers": {"description": "x"}, "summary": "Report a crime – x"}
    values.update(kw)
    filed = file_report(session=session, settings=settings, report_in=ReportCreate(**values))  # type: ignore[arg-type]
    report = session.get(Report, filed.id)
    assert report is not None
    return report


def test_creates_report_with_reference_event_and_sms(session: Session, settings: Settings) -> None:
    report = _create(session, settings, name="Sam", phone="07700 900456", grade=3, safe_to_contact=True)
    assert re.fullmatch(r"FC-\d{4}-[2-9A-Z]{4}", report.reference)
    assert report.grade == 3 and report.person_id is not None
    assert report.safe_to_contact and report.contact_e164 == "+447700900456"
    sms = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).one()
    assert sms.template == "report_ack" and report.reference in sms.body and sms.status == "queued"
    assert session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).one().kind == "status"
    pending = session.info[PENDING_EVENTS_KEY]
    assert pending[-1][0] == channels.REPORTS
    assert pending[-1][1]["reference"] == report.reference
    assert get_report_by_reference(session=session, reference=report.reference.lower()) is report


def test_no_sms_without_mobile_or_when_not_allowed(session: Session, settings: Settings) -> None:
    landline = _create(session, settings, phone="01632 960001", safe_to_contact=True)
    assert session.exec(select(SmsMessage).where(SmsMessage.report_id == landline.id)).all() == []
    # Not safe to contact (the default): the acknowledgement is recorded as blocked, never queued.
    refused = _create(session, settings, phone="07700 900457")
    assert not refused.safe_to_contact and refused.contact_e164 == "+447700900457"
    (blocked,) = session.exec(select(SmsMessage).where(SmsMessage.report_id == refused.id)).all()
    assert blocked.status == "blocked" and blocked.blocked_reason == "not_safe_to_contact"


def test_repeat_contact_and_earlier_contacts(session: Session, settings: Settings) -> None:
    person = make_person(session, email_normalised="sam@example.com")
    first = _create(session, settings, email="Sam@Example.com")
    second = _create(session, settings, email="sam@example.com")
    assert first.person_id == second.person_id == person.id
    assert first.repeat_contact is False and second.repeat_contact is True
    assert [r.id for r in reports_for_person(session=session, person_id=person.id or 0)] == [
        second.id,
        first.id,
    ]


def test_anonymous_report_has_no_person(session: Session, settings: Settings) -> None:
    report = _create(session, settings)
    assert report.person_id is None and report.repeat_contact is False


def test_team_and_area_lookup(session: Session, settings: Settings) -> None:
    team = make_team(session, "Digital Team")
    south = make_area(session, "South", postcode_prefixes=["PR1", "PR2"])
    lanc = make_area(session, "North", postcode_prefixes=["LA"])
    report = _create(session, settings, team_name="Digital Team", area_postcode="PR1 2AB")
    assert report.team_id == team.id and report.area_id == south.id
    missing = _create(session, settings, team_name="No Such Team", area_postcode="SW1A 1AA")
    assert missing.team_id is None and missing.area_id is None
    areas = org_cache.snapshot(session)
    assert areas.area_id("LA1 1AA") == lanc.id
    assert areas.area_id("PR10 1AA") is None  # PR10 is not PR1
    assert areas.area_id(None) is None


def test_summary_is_one_line_of_at_most_300() -> None:
    assert one_line("a\n\nb   c") == "a b c"
    cut = one_line("word " * 200)
    assert len(cut) == 300 and cut.endswith("…")
