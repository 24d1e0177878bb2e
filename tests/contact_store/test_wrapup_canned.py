from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from contact_store import canned, grading, wrapup
from contact_store.errors import Conflict, ValidationFailed
from contact_store.models import CannedResponse, ConversationEvent, Message, ReportEvent, SmsMessage
from contact_store.settings import Settings
from tests.builders import make_area, make_conversation, make_operator, make_person, make_team


def test_shipped_canned_responses_cover_crime_prevention_and_support(session: Session) -> None:
    added = canned.load_shipped_canned_responses(session=session)
    assert added >= 20
    assert canned.load_shipped_canned_responses(session=session) == 0  # idempotent
    categories = {r.category for r in session.exec(select(CannedResponse)).all()}
    assert {"crime-prevention", "support"} <= categories
    for topic in ("burglary", "vehicle", "fraud", "online", "domestic abuse"):
        assert canned.search_canned_responses(session=session, query=topic), topic
    greeting = canned.search_canned_responses(session=session, query="greeting")[0]
    assert "Priya" in canned.render_canned(canned=greeting, operator_name="Priya")


def test_wrap_up_records_and_raises_a_report_like_one_filed_online(
    session: Session, settings: Settings
) -> None:
    team = make_team(session)
    area = make_area(session, "East")
    op = make_operator(session, team_id=team.id, display_name="Priya Shah")
    person = make_person(session, phone_e164="+447700900123")
    conv = make_conversation(
        session,
        status="ended",
        assignee_id=op.id,
        person_id=person.id,
        topic="crime",
        area_id=area.id,
        safe_to_contact=True,
        contact_e164="+447700900123",
    )
    at = datetime(2026, 7, 1, 13, 5, tzinfo=UTC)  # 14:05 in London (BST)
    for seq, sender, body, internal in (
        (1, "visitor", "My shed was broken into", False),
        (2, "operator", "Sorry to hear that. When?", False),
        (3, "operator", "Caller sounds frightened", True),
    ):
        session.add(
            Message(
                conversation_id=conv.id,
                seq=seq,
                client_id=str(seq),
                sender=sender,
                operator_id=op.id if sender == "operator" else None,
                body=body,
                internal=internal,
                created_at=at,
            )
        )
    report = wrapup.wrap_up_conversation(
        session=session,
        settings=settings,
        conversation=conv,
        operator=op,
        wrap_up=wrapup.WrapUp(
            outcome="report raised",
            grade=3,
            thrive={"threat": "none", "vulnerability": "elderly"},
            raise_report=True,
            report_summary="Shed burglary",
        ),
    )
    assert report is not None and report.reference.startswith("FC-")
    assert (report.person_id, report.conversation_id, report.area_id, report.team_id) == (
        person.id,
        conv.id,
        area.id,
        team.id,
    )
    assert (report.form_slug, report.channel, report.grade, report.status) == (
        "crime",
        "chat",
        3,
        "in_progress",
    )
    assert report.thrive["vulnerability"] == "elderly" and report.assignee_id == op.id
    assert report.first_response_at is not None and report.sensitive is False
    # Speaker, time and text; the internal note is never in the answers, only a staff note.
    assert report.answers["transcript"] == (
        "14:05 Visitor: My shed was broken into\n14:05 Priya Shah: Sorry to hear that. When?"
    )
    assert "frightened" not in str(report.answers) and report.answers["topic"] == "Report a crime"
    events = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    assert [e.body for e in events] == [
        "Raised from live chat by Priya Shah",
        "Note from the chat (14:05): Caller sounds frightened",
    ]
    # The same acknowledgement rule as an online report: the chat said it is safe to text.
    (ack,) = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all()
    assert ack.to_e164 == "+447700900123" and report.reference in ack.body
    assert conv.wrapped_up_at is not None and conv.grade == 3 and conv.thrive["vulnerability"] == "elderly"
    kinds = [e.kind for e in session.exec(select(ConversationEvent)).all()]
    assert "wrapped_up" in kinds
    with pytest.raises(Conflict):
        wrapup.wrap_up_conversation(
            session=session,
            settings=settings,
            conversation=conv,
            operator=op,
            wrap_up=wrapup.WrapUp("resolved", 5, {}),
        )


def test_a_domestic_abuse_chat_becomes_a_sensitive_report_and_texts_nobody(
    session: Session, settings: Settings
) -> None:
    op = make_operator(session)
    conv = make_conversation(
        session,
        status="ended",
        assignee_id=op.id,
        person_id=make_person(session, phone_e164="+447700900124").id,
        topic="domestic-abuse",
        safe_to_contact=False,
        contact_e164="+447700900124",
    )
    report = wrapup.raise_report_from_chat(
        session=session, settings=settings, conversation=conv, operator=op, summary="Partner threatening"
    )
    assert report.form_slug == "domestic-abuse" and report.sensitive and not report.safe_to_contact
    sms = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all()
    assert all(m.status == "blocked" for m in sms)


def test_grades_and_thrive_live_in_one_module() -> None:
    from agent_console.triage import service as triage

    assert triage.GRADE_LABELS is grading.GRADE_LABELS and triage.THRIVE_KEYS is grading.THRIVE_KEYS
    assert wrapup.GRADES is grading.GRADES
    assert all("attend" in grading.GRADES[g] for g in (1, 2, 3))  # a time promised is an attendance time


def test_wrap_up_validation(session: Session, settings: Settings) -> None:
    op = make_operator(session)
    conv = make_conversation(session, status="active", assignee_id=op.id)
    with pytest.raises(ValidationFailed) as err:
        wrapup.wrap_up_conversation(
            session=session,
            settings=settings,
            conversation=conv,
            operator=op,
            wrap_up=wrapup.WrapUp("made up", 9, {"threat": "x" * 600, "bogus": "1"}, raise_report=True),
        )
    assert {"bogus", "threat", "outcome", "grade"} <= set(err.value.fields)
    with pytest.raises(ValidationFailed) as err:
        wrapup.wrap_up_conversation(
            session=session,
            settings=settings,
            conversation=conv,
            operator=op,
            wrap_up=wrapup.WrapUp("made up", 9, {}, raise_report=True),
        )
    assert set(err.value.fields) == {"outcome", "grade", "report_summary"}
    queued = make_conversation(session, status="queued")
    with pytest.raises(Conflict):
        wrapup.wrap_up_conversation(
            session=session,
            settings=settings,
            conversation=queued,
            operator=op,
            wrap_up=wrapup.WrapUp("resolved", 5, {}),
        )
