"""`access.visible_contacts` as a table: every role x every kind of contact, through the three
things built on it (person_for, person_history's items, the badges), plus the chat rule's object
check and list clause agreeing on every branch."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from contact_store.access import (
    can_access_conversation,
    person_for,
    visible_contacts,
    visible_conversations_clause,
)
from contact_store.conversations import get_for_operator
from contact_store.errors import Forbidden
from contact_store.models import Conversation, ConversationStatus
from contact_store.person_history import person_history
from tests.builders import make_conversation, make_person
from tests.support.contact_kinds import KINDS, ROLES, SUPERVISORS_UP, add_contact, make_world


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_the_contacts_it_may_open(session: Session, role: str, kind: str) -> None:
    world = make_world(session)
    viewer = world.staff[role]
    person = make_person(session, phone_e164="+447700900001")
    marks = add_contact(session, world, person, kind, viewer)
    seen = role in KINDS[kind].seen_by
    pid = person.id or 0

    allowed = True
    try:
        person_for(session=session, staff=viewer, person_id=pid)
    except Forbidden:
        allowed = False
    # Supervisors+ may see anyone; an operator only a person with a contact they may open.
    assert allowed == (seen or role in SUPERVISORS_UP)

    history = person_history(session=session, staff=viewer, person_id=pid, repeat_contact_days=30)
    assert history is not None
    shown = " ".join(f"{i.label} {i.status} {i.summary}" for i in history.items)
    for mark in marks:
        assert (mark in shown) == seen, (mark, shown)
    counted = seen and KINDS[kind].counted
    assert history.repeat_contact == counted
    contacts = visible_contacts(staff=viewer, person_id=pid)
    assert contacts.any_visible(session) == (seen and KINDS[kind].counted)


def test_chat_rule_object_check_and_list_clause_agree(session: Session) -> None:
    world = make_world(session)
    op, other = world.staff["op_same_team"], world.colleague
    chats = [
        make_conversation(session, status=ConversationStatus.ACTIVE, assignee_id=op.id),
        make_conversation(session, status=ConversationStatus.OFFERED, offered_to_id=op.id),
        make_conversation(session, status=ConversationStatus.ENDED, assignee_id=op.id),
        make_conversation(session, status=ConversationStatus.ACTIVE, assignee_id=other.id),
        make_conversation(session, status=ConversationStatus.OFFERED, offered_to_id=other.id),
        make_conversation(session, status=ConversationStatus.QUEUED, team_id=world.team_a.id),
        make_conversation(session, status=ConversationStatus.ABANDONED, team_id=world.team_a.id),
        make_conversation(session, status=ConversationStatus.ENDED),
    ]
    ids = [c.id for c in chats]
    expected_for_op = set(ids[:3])
    for who in ("op_same_team", "supervisor"):
        staff = world.staff[who]
        clause = visible_conversations_clause(staff)
        stmt = select(Conversation.id).where(Conversation.id.in_(ids))  # type: ignore[attr-defined]
        if clause is not None:
            stmt = stmt.where(clause)
        listed = set(session.exec(stmt).all())
        checked = {c.id for c in chats if can_access_conversation(staff=staff, conversation=c)}
        assert listed == checked
        assert checked == (expected_for_op if who == "op_same_team" else set(ids))
    with pytest.raises(Forbidden):  # the workspace/console object check uses the same rule
        get_for_operator(session=session, operator=op, conversation_id=chats[6].id)
    assert get_for_operator(session=session, operator=op, conversation_id=chats[1].id) is chats[1]


def test_a_text_attached_to_a_visible_and_a_hidden_contact_stays_hidden(session: Session) -> None:
    from contact_store.models import SmsMessage

    world = make_world(session)
    op = world.staff["op_same_team"]
    person = make_person(session)
    visible = add_contact(session, world, person, "team_report", op)
    hidden_chat = make_conversation(session, person_id=person.id, assignee_id=world.colleague.id)
    report_id = (
        person_history(session=session, staff=op, person_id=person.id or 0, repeat_contact_days=30)
        .items[0]
        .report_id
    )  # type: ignore[union-attr]
    session.add(
        SmsMessage(
            to_e164="+447700900001",
            body="about both",
            person_id=person.id,
            report_id=report_id,
            conversation_id=hidden_chat.id,
        )
    )
    session.flush()
    history = person_history(session=session, staff=op, person_id=person.id or 0, repeat_contact_days=30)
    assert history is not None
    summaries = [i.summary for i in history.items]
    assert "about both" not in summaries and any(visible[1] in s for s in summaries)
