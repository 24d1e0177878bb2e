import pytest
from sqlmodel import Session, select

from contact_store import canned, wrapup
from contact_store.errors import Conflict, ValidationFailed
from contact_store.models import CannedResponse, ConversationEvent, Message
from tests.builders import make_conversation, make_operator, make_person


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


def test_wrap_up_records_and_raises_a_report(session: Session) -> None:
    op = make_operator(session)
    person = make_person(session)
    conv = make_conversation(session, status="ended", assignee_id=op.id, person_id=person.id, topic="crime")
    session.add(
        Message(
            conversation_id=conv.id, seq=1, client_id="a", sender="visitor", body="My shed was broken into"
        )
    )
    session.add(
        Message(conversation_id=conv.id, seq=2, client_id="b", sender="operator", body="Note", internal=True)
    )
    report = wrapup.wrap_up_conversation(
        session=session,
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
    assert report.person_id == person.id and report.conversation_id == conv.id
    assert [m["body"] for m in report.answers["transcript"]] == ["My shed was broken into", "Note"]
    assert report.answers["transcript"][1]["internal"] is True
    assert conv.wrapped_up_at is not None and conv.grade == 3 and conv.thrive["vulnerability"] == "elderly"
    kinds = [e.kind for e in session.exec(select(ConversationEvent)).all()]
    assert "wrapped_up" in kinds
    with pytest.raises(Conflict):
        wrapup.wrap_up_conversation(
            session=session, conversation=conv, operator=op, wrap_up=wrapup.WrapUp("resolved", 5, {})
        )


def test_wrap_up_validation(session: Session) -> None:
    op = make_operator(session)
    conv = make_conversation(session, status="active", assignee_id=op.id)
    with pytest.raises(ValidationFailed) as err:
        wrapup.wrap_up_conversation(
            session=session,
            conversation=conv,
            operator=op,
            wrap_up=wrapup.WrapUp("made up", 9, {"threat": "x" * 600, "bogus": "1"}, raise_report=True),
        )
    assert {"bogus", "threat", "outcome", "grade"} <= set(err.value.fields)
    with pytest.raises(ValidationFailed) as err:
        wrapup.wrap_up_conversation(
            session=session,
            conversation=conv,
            operator=op,
            wrap_up=wrapup.WrapUp("made up", 9, {}, raise_report=True),
        )
    assert set(err.value.fields) == {"outcome", "grade", "report_summary"}
    queued = make_conversation(session, status="queued")
    with pytest.raises(Conflict):
        wrapup.wrap_up_conversation(
            session=session, conversation=queued, operator=op, wrap_up=wrapup.WrapUp("resolved", 5, {})
        )
