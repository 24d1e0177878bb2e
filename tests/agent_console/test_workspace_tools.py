"""Workspace side routes: canned responses, person panel, transfer, wrap-up — each as anonymous,
as an operator who does not hold the chat (403), and as the holder."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from contact_store.models import (
    AuditEvent,
    CannedResponse,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    Report,
    Role,
    SmsMessage,
)
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_conversation, make_operator, make_person, make_report, make_team

CHAT_ROUTES = ("person", "wrap-up")


def _chat(session: Session, holder_id: int | None, **kw: object) -> Conversation:
    person = make_person(session, name="Pat Public", phone_e164="+447700900123")
    make_report(session, person_id=person.id, summary="Earlier burglary")
    return make_conversation(
        session,
        status=ConversationStatus.ACTIVE,
        assignee_id=holder_id,
        visitor_name="Pat <b>Public</b>",
        topic="crime",
        person_id=person.id,
        **kw,
    )


def test_anonymous_gets_no_workspace_data(client: TestClient, session: Session) -> None:
    conv = _chat(session, None)
    session.commit()
    for path in (
        "/console/workspace/canned",
        "/console/workspace/transfer-targets",
        "/console/workspace/tools.js",
    ):
        assert client.get(path, follow_redirects=False).status_code in (303, 401)
    for name in CHAT_ROUTES:
        r = client.get(f"/console/workspace/chats/{conv.id}/{name}", follow_redirects=False)
        assert r.status_code in (303, 401)
    r = client.post(
        f"/console/workspace/chats/{conv.id}/transfer", json={"to_team_id": 1}, follow_redirects=False
    )
    assert r.status_code in (303, 401)
    r = client.post(f"/console/workspace/chats/{conv.id}/wrap-up", data={}, follow_redirects=False)
    assert r.status_code in (303, 401)


def test_an_operator_who_does_not_hold_the_chat_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    holder = make_operator(session)
    conv = _chat(session, holder.id)
    _, csrf = sign_in_as(client, session, settings)
    for name in CHAT_ROUTES:
        assert client.get(f"/console/workspace/chats/{conv.id}/{name}").status_code == 403
    team = make_team(session)
    session.commit()
    r = client.post(
        f"/console/workspace/chats/{conv.id}/transfer",
        json={"to_team_id": team.id},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 403
    r = client.post(
        f"/console/workspace/chats/{conv.id}/wrap-up",
        data={"csrf_token": csrf, "outcome": "resolved", "grade": "5"},
    )
    assert r.status_code == 403
    session.refresh(conv)
    assert conv.assignee_id == holder.id and conv.wrapped_up_at is None
    assert client.get("/console/workspace/chats/no-such-chat/person").status_code == 404


def test_canned_responses_search_by_title_and_tag_with_the_name_filled_in(
    client: TestClient, session: Session, settings: Settings
) -> None:
    session.add(
        CannedResponse(
            title="Bike marking", body="Hi, I'm {name}. Mark your bike.", category="advice", tags=["cycle"]
        )
    )
    session.add(
        CannedResponse(title="Victim support", body="Call 0808.", category="support", tags=["victims"])
    )
    sign_in_as(client, session, settings, display_name="Dana Ops")
    by_tag = client.get("/console/workspace/canned", params={"q": "cycle"}).json()["items"]
    assert [i["title"] for i in by_tag] == ["Bike marking"]
    assert by_tag[0]["text"] == "Hi, I'm Dana Ops. Mark your bike."
    by_title = client.get("/console/workspace/canned", params={"q": "victim"}).json()["items"]
    assert [i["title"] for i in by_title] == ["Victim support"]


def test_person_panel_shows_history_and_badges_and_is_audited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op, _ = sign_in_as(client, session, settings)
    conv = _chat(session, op.id)
    # The confirmation text of this very chat is not an earlier contact.
    session.add(
        SmsMessage(
            to_e164="+447700900123",
            body="Thanks for chatting",
            person_id=conv.person_id,
            conversation_id=conv.id,
        )
    )
    session.commit()
    body = client.get(f"/console/workspace/chats/{conv.id}/person").json()
    assert body["person"]["name"] == "Pat Public"
    assert [i["summary"] for i in body["items"]] == ["Earlier burglary"]
    assert body["repeat_contact"] is True
    assert body["double_demand"] is True  # the earlier report is still open
    audit = session.exec(select(AuditEvent).where(AuditEvent.person_id == conv.person_id)).all()
    assert [(a.action, a.operator_id) for a in audit] == [("person.view", op.id)]


def test_transfer_to_an_operator_respects_capacity_and_stores_an_internal_note(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op, csrf = sign_in_as(client, session, settings)
    conv = _chat(session, op.id)
    full = make_operator(session, display_name="Full Fran", max_concurrent_chats=1, status="away")
    make_conversation(session, status=ConversationStatus.ACTIVE, assignee_id=full.id)
    free = make_operator(session, display_name="Free Fred", status="busy")
    session.commit()
    url = f"/console/workspace/chats/{conv.id}/transfer"
    assert client.post(url, json={"to_operator_id": free.id}).status_code == 403  # no CSRF token
    r = client.post(url, json={"to_operator_id": full.id, "note": "x"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and "no room" in r.json()["error"]["message"]
    gone = make_operator(session, display_name="Gone Gina", status="offline")
    session.commit()
    r = client.post(url, json={"to_operator_id": gone.id}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["error"]["fields"]["to_operator_id"] == "Gone Gina is offline"
    r = client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["error"]["fields"]["target"]
    r = client.post(
        url, json={"to_operator_id": free.id, "note": "Wants a call back"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    session.expire_all()
    assert session.get(Conversation, conv.id).assignee_id == free.id  # type: ignore[union-attr]
    notes = session.exec(
        select(Message).where(Message.conversation_id == conv.id, col(Message.internal).is_(True))
    ).all()
    assert [n.body for n in notes] == ["Transferred to Free Fred. Note: Wants a call back"]
    kinds = session.exec(
        select(ConversationEvent.kind).where(ConversationEvent.conversation_id == conv.id)
    ).all()
    assert "transferred" in kinds
    # The old holder no longer reaches it.
    assert client.get(f"/console/workspace/chats/{conv.id}/person").status_code == 403


def test_transfer_to_a_team_puts_the_chat_back_in_the_queue(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op, csrf = sign_in_as(client, session, settings)
    conv = _chat(session, op.id)
    team = make_team(session, name="Resolution Centre")
    session.commit()
    r = client.post(
        f"/console/workspace/chats/{conv.id}/transfer",
        json={"to_team_id": team.id, "note": "Needs a PC"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    session.expire_all()
    moved = session.get(Conversation, conv.id)
    assert moved is not None
    assert (moved.status, moved.assignee_id, moved.team_id) == (ConversationStatus.QUEUED, None, team.id)


def test_wrap_up_form_errors_then_raises_a_report(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op, csrf = sign_in_as(client, session, settings)
    conv = _chat(session, op.id)
    session.commit()
    url = f"/console/workspace/chats/{conv.id}/wrap-up"
    page = client.get(url)
    assert page.status_code == 200 and "THRIVE" in page.text and "Pat &lt;b&gt;Public&lt;/b&gt;" in page.text
    assert client.post(url, data={"outcome": "resolved", "grade": "5"}).status_code == 403  # no CSRF
    bad = client.post(
        url, data={"csrf_token": csrf, "raise_report": "yes", "threat": "Low", "report_summary": ""}
    )
    assert bad.status_code == 422
    assert "govuk-error-summary" in bad.text and "Select an outcome" in bad.text
    assert "Enter a summary for the report" in bad.text and ">Low</textarea>" in bad.text
    ok = client.post(
        url,
        data={
            "csrf_token": csrf,
            "outcome": "report raised",
            "grade": "3",
            "topic": "burglary",
            "raise_report": "yes",
            "report_summary": "Shed broken into",
            "threat": "None now",
        },
    )
    assert ok.status_code == 200, ok.text
    report = session.exec(select(Report).where(Report.conversation_id == conv.id)).one()
    assert report.reference in ok.text and report.summary == "Shed broken into"
    again = client.post(url, data={"csrf_token": csrf, "outcome": "resolved", "grade": "5"})
    assert again.status_code == 409 and "already been wrapped up" in again.text


def test_supervisor_may_open_any_chat_panel(client: TestClient, session: Session, settings: Settings) -> None:
    holder = make_operator(session)
    conv = _chat(session, holder.id)
    sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    assert client.get(f"/console/workspace/chats/{conv.id}/person").status_code == 200


def test_a_chat_transferred_to_a_team_is_offered_to_that_team_only(
    session: Session, settings: Settings
) -> None:
    from chat_server.routing import service as routing

    fcr, resolution = make_team(session), make_team(session)
    make_operator(session, status="available", team_id=fcr.id)
    conv = make_conversation(session, team_id=resolution.id)
    assert routing.assign_waiting(session=session, settings=settings) == 0
    mine = make_operator(session, status="available", team_id=resolution.id)
    assert routing.assign_waiting(session=session, settings=settings) == 1
    session.refresh(conv)
    assert conv.offered_to_id == mine.id
