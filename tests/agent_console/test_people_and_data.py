"""Person page (audited), audit search, subject-access export, wallboard data, supervisor actions."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.errors import Conflict
from contact_store.models import AuditEvent, ConversationEvent, Message, Operator, OperatorStatus, Role
from contact_store.settings import Settings
from contact_store.supervision import reassign_conversation
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_conversation, make_operator, make_person, make_report


def test_person_page_shows_history_and_is_audited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    person = make_person(session, name="Jo <i>Bloggs</i>", phone_e164="+447700900777")
    r1 = make_report(session, person_id=person.id)
    make_report(session, person_id=person.id)
    op, _ = sign_in_as(client, session, settings)
    page = client.get(f"/console/people/{person.id}")
    assert page.status_code == 200
    assert "Jo &lt;i&gt;Bloggs&lt;/i&gt;" in page.text and r1.reference in page.text
    assert "Repeat contact" in page.text and "Double demand" in page.text
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "person.view")).all()
    assert [(e.operator_id, e.person_id) for e in events] == [(op.id, person.id)]


def test_audit_search_page(client: TestClient, session: Session, settings: Settings) -> None:
    person = make_person(session)
    viewer, _ = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    client.get(f"/console/people/{person.id}")
    sign_in_as(client, session, settings, role=Role.ADMIN)
    page = client.get(f"/console/admin/audit?username={viewer.username}&action=person.")
    assert page.status_code == 200 and "person.view" in page.text and "1 events match" in page.text
    assert "0 events match" in client.get("/console/admin/audit?action=nothing.").text
    bad = client.get("/console/admin/audit?from=yesterday&username=nobody-at-all")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text and "No member of staff" in bad.text


def test_subject_access_export_json_and_printable(
    client: TestClient, session: Session, settings: Settings
) -> None:
    person = make_person(session, name="Sam Subject", phone_e164="+447700900888")
    report = make_report(session, person_id=person.id, answers={"description": "stolen bike"})
    conv = make_conversation(session, person_id=person.id)
    session.add(Message(conversation_id=conv.id, seq=1, client_id="c", sender="visitor", body="hello there"))
    session.flush()
    sign_in_as(client, session, settings, role=Role.ADMIN)
    found = client.get("/console/admin/people?q=07700900888")
    assert found.status_code == 200 and "Sam Subject" in found.text
    assert "Sam Subject" in client.get(f"/console/admin/people?q={report.reference}").text
    r = client.get(f"/console/admin/people/{person.id}/export.json")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    data = json.loads(r.content)
    assert data["person"]["name"] == "Sam Subject"
    assert data["reports"][0]["answers"] == {"description": "stolen bike"}
    assert data["conversations"][0]["messages"][0]["body"] == "hello there"
    assert "token_hash" not in data["conversations"][0]
    html = client.get(f"/console/admin/people/{person.id}/export")
    assert html.status_code == 200 and "stolen bike" in html.text and "hello there" in html.text
    exports = session.exec(select(AuditEvent).where(AuditEvent.action == "person.export")).all()
    assert len(exports) == 2
    assert client.get("/console/admin/people/999999/export.json").status_code == 404


def test_wallboard_data_and_operator_status(client: TestClient, session: Session, settings: Settings) -> None:
    op = make_operator(session, status=OperatorStatus.AVAILABLE, display_name="Olu")
    make_conversation(session)
    _, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    data = client.get("/console/wallboard/data").json()
    assert data["waiting"] == "1" and data["available"] == "1"
    assert [o["name"] for o in data["operators"]] == ["Olu"]
    page = client.get("/console/wallboard").text
    assert "Total queue time of answered chats ÷ answered" in page  # definitions beside the figures
    r = client.post(
        f"/console/wallboard/operators/{op.id}/status",
        data={"csrf_token": csrf, "status": "away"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.expire_all()
    assert session.get(Operator, op.id).status == "away"  # type: ignore[union-attr]
    assert client.get("/console/wallboard/data").json()["away"] == "1"
    bad = client.post(
        f"/console/wallboard/operators/{op.id}/status", data={"csrf_token": csrf, "status": "asleep"}
    )
    assert bad.status_code == 422


def test_reassign_conversation_is_atomic_and_recorded(session: Session) -> None:
    a, b = make_operator(session), make_operator(session)
    conv = make_conversation(session, status="active", assignee_id=a.id)
    reassign_conversation(
        session=session, conversation_id=conv.id, to_operator_id=b.id or 0, by_operator_id=None
    )
    session.refresh(conv)
    assert conv.assignee_id == b.id
    ev = session.exec(select(ConversationEvent).where(ConversationEvent.conversation_id == conv.id)).one()
    assert ev.kind == "transferred" and ev.data["from"] == a.id
    ended = make_conversation(session, status="ended")
    with pytest.raises(Conflict):
        reassign_conversation(
            session=session, conversation_id=ended.id, to_operator_id=b.id or 0, by_operator_id=None
        )


def test_supervisor_gives_a_waiting_chat_to_an_operator(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op = make_operator(session, status=OperatorStatus.AVAILABLE, display_name="Kim")
    conv = make_conversation(session, topic="burglary")
    _, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    chats = client.get("/console/wallboard/data").json()["chats"]
    assert [(c["id"], c["assignee"]) for c in chats] == [(conv.id, "Nobody")]
    r = client.post(
        f"/console/wallboard/chats/{conv.id}/assign",
        data={"csrf_token": csrf, "operator_id": str(op.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    chats = client.get("/console/wallboard/data").json()["chats"]
    assert chats[0]["assignee"] == "Kim" and chats[0]["status"] == "active"
    audit_row = session.exec(select(AuditEvent).where(AuditEvent.action == "conversation.reassign")).one()
    assert audit_row.object_id == conv.id
    bad = client.post(
        f"/console/wallboard/chats/{conv.id}/assign", data={"csrf_token": csrf, "operator_id": ""}
    )
    assert bad.status_code == 422
