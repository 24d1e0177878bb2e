"""The store's invariants: each check finds the row that breaks it, and a sound store passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from contact_store import conversations as conv_service
from contact_store.invariants import CHECKS, check_store
from contact_store.models import InboundSms, Message, SenderKind, SmsMessage, SurveyInvitation, SurveyResponse
from tests.builders import make_conversation, make_person, make_report


def _broken(session: Session) -> set[str]:
    return {r.name for r in check_store(session=session).failures}


def test_a_sound_store_passes(session: Session) -> None:
    person = make_person(session)
    conv = make_conversation(session, person_id=person.id)
    for n in range(3):
        conv_service.append_message(
            session=session,
            conversation_id=conv.id,
            client_id=f"c{n}",
            sender=SenderKind.VISITOR,
            body="hello",
        )
    report = make_report(session, person_id=person.id, channel="chat", conversation_id=conv.id)
    session.add(SmsMessage(to_e164="+447700900123", body="Thanks", person_id=person.id, report_id=report.id))
    invitation = SurveyInvitation(
        channel="chat", conversation_id=conv.id, person_id=person.id, next_question=4
    )
    session.add(invitation)
    session.flush()
    session.add(
        SurveyResponse(invitation_id=invitation.id, score_time=5, response_channel="widget", channel="chat")
    )
    session.flush()
    result = check_store(session=session)
    assert result.ok, result.describe()
    assert [r.name for r in result.results] == [name for name, _, _ in CHECKS]


def test_a_gap_in_seqs_and_a_stale_allocator_are_found(session: Session) -> None:
    conv = make_conversation(session)
    session.add(Message(conversation_id=conv.id, seq=1, client_id="a", sender="visitor", body="one"))
    session.add(Message(conversation_id=conv.id, seq=3, client_id="b", sender="visitor", body="three"))
    conv.last_seq = 3
    session.add(conv)
    session.flush()
    result = check_store(session=session, only=["chat.seq_contiguous"])
    assert not result.ok
    assert result.results[0].examples[0][0] == conv.id


def test_an_allocator_ahead_of_the_messages_is_found(session: Session) -> None:
    conv = make_conversation(session)
    conv.last_seq = 2  # a seq was handed out but its message never stored
    session.add(conv)
    session.flush()
    assert _broken(session) == {"chat.seq_contiguous"}


def test_a_survey_answer_without_an_invitation_is_found(session: Session) -> None:
    session.add(
        SurveyResponse(invitation_id=None, score_overall=4, response_channel="widget", channel="chat")
    )
    session.flush()
    assert _broken(session) == {"survey.answer_has_invitation"}


def test_an_invitation_past_its_last_question_is_found(session: Session) -> None:
    session.add(SurveyInvitation(channel="report", next_question=9))
    session.flush()
    assert _broken(session) == {"survey.answers_bounded"}


@pytest.mark.parametrize("kind", ["sent-on-report", "received-on-chat"])
def test_a_text_on_another_persons_contact_is_found(session: Session, kind: str) -> None:
    victim, other = make_person(session), make_person(session)
    if kind == "sent-on-report":
        report = make_report(session, person_id=victim.id)
        session.add(
            SmsMessage(to_e164="+447700900123", body="Update", person_id=other.id, report_id=report.id)
        )
    else:
        conv = make_conversation(session, person_id=victim.id)
        session.add(
            InboundSms(
                from_e164="+447700900999",
                body="hi",
                provider="log",
                person_id=other.id,
                conversation_id=conv.id,
            )
        )
    session.flush()
    assert _broken(session) == {"sms.same_person"}


def test_a_chat_report_without_its_chat_is_found(session: Session) -> None:
    report = make_report(session, channel="chat", conversation_id=None)
    result = check_store(session=session, only=["report.chat_linked"])
    assert not result.ok and result.results[0].examples[0][1] == report.reference


def test_db_check_command_passes_on_the_demo_store(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTCONTACT_")}
    env |= {"FIRSTCONTACT_DATA_DIR": str(tmp_path), "FIRSTCONTACT_ENV": "development"}
    cli = [sys.executable, "-m", "chat_server"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, timeout=300)
    done = subprocess.run([*cli, "db", "check"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The store's invariants hold." in done.stdout
