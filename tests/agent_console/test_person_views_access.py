"""Every person-derived view x every role x every kind of contact (issue #10, point 1).

The views: the person page (with another contact the viewer may open, and with only the contact
under test), a report page's "earlier contacts", the workspace person panel (JSON), the
repeat-contact badge and count in each and in the triage queue, and the admins' subject-access
export. The expected
visibility is the hand-written table in tests/support/contact_kinds.py. Then the attack chain:
anyone on the internet starts a chat with a victim's mobile number and ends it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from chat_server.routing import service as routing
from contact_store.models import Conversation, ConversationStatus, Operator, Person, Role
from contact_store.settings import Settings
from contact_store.staff import start_session
from contact_store.web import SESSION_COOKIE
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_conversation, make_person, make_report
from tests.support.contact_kinds import KINDS, ROLES, SUPERVISORS_UP, World, add_contact, make_world

VIEWS = ("person_page", "person_page_alone", "report_page", "workspace_panel", "triage_list")
REPEAT_TAG = 'govuk-tag--yellow">Repeat contact'
REPEAT_LIST_TAG = 'govuk-tag--yellow">Repeat</strong>'


def _sign_in(client: TestClient, session: Session, settings: Settings, op: Operator) -> None:
    issued = start_session(session=session, settings=settings, operator=op)
    session.commit()
    client.cookies.set(SESSION_COOKIE, issued.token)


def _anchor(session: Session, world: World, person: Person, view: str, viewer: Operator) -> Any:
    """The contact through which the view is reached (one every role may open), or None."""
    if view in ("person_page", "report_page", "triage_list"):
        # Filed when the number already had contacts (the flag stored at filing counts them all).
        return make_report(session, person_id=person.id, summary="the anchor report", repeat_contact=True)
    if view == "workspace_panel":
        return make_conversation(
            session, person_id=person.id, status=ConversationStatus.ACTIVE, assignee_id=viewer.id
        )
    return None


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view", VIEWS)
def test_person_views_show_only_what_the_viewer_may_open(
    client: TestClient, session: Session, settings: Settings, view: str, role: str, kind: str
) -> None:
    world = make_world(session)
    viewer = world.staff[role]
    person = make_person(session, name="Vic Tim", phone_e164="+447700900001")
    anchor = _anchor(session, world, person, view, viewer)
    marks = add_contact(session, world, person, kind, viewer)
    seen = role in KINDS[kind].seen_by
    counted = seen and KINDS[kind].counted
    _sign_in(client, session, settings, viewer)

    if view == "workspace_panel":
        r = client.get(f"/console/workspace/chats/{anchor.id}/person")
        assert r.status_code == 200
        body = r.json()
        assert body["person"]["phone"] == "+447700900001"
        assert body["repeat_contact"] == counted
    elif view == "report_page":
        r = client.get(f"/console/reports/{anchor.id}")
        assert r.status_code == 200 and anchor.reference in r.text
        assert (REPEAT_TAG in r.text) == counted
    elif view == "triage_list":  # the queue's "Repeat" badge beside a report the viewer may open
        r = client.get("/console/reports")
        assert r.status_code == 200 and anchor.reference in r.text
        assert (REPEAT_LIST_TAG in r.text) == counted
        assert seen or not any(mark in r.text for mark in marks)
        return  # a list of reports, not a history: a visible chat or text is not listed here
    else:
        r = client.get(f"/console/people/{person.id}")
        if view == "person_page_alone" and not (seen or role in SUPERVISORS_UP):
            assert r.status_code == 403
        else:
            assert r.status_code == 200 and "+447700900001" in r.text
            contacts = (1 if anchor is not None else 0) + (1 if counted else 0)
            assert f"{contacts} contact(s) in the last" in r.text
            assert (REPEAT_TAG in r.text) == (contacts > 0)
    for mark in marks:
        assert (mark in r.text) == seen, (mark, r.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_subject_access_export_is_for_admins_and_holds_everything(
    client: TestClient, session: Session, settings: Settings, role: str
) -> None:
    """The export a person asks for under data-protection law: admins only, and complete (it is
    the person's own data, not a member of staff's working view)."""
    world = make_world(session)
    person = make_person(session, phone_e164="+447700900001")
    marks = [m for kind in KINDS for m in add_contact(session, world, person, kind, world.staff[role])]
    _sign_in(client, session, settings, world.staff[role])
    for url in (
        f"/console/admin/people/{person.id}/export.json",
        f"/console/admin/people/{person.id}/export",
    ):
        r = client.get(url)
        if role != "admin":
            assert r.status_code == 403
            assert not any(m in r.text for m in marks)
        else:
            assert r.status_code == 200
            sar_marks = [m for m in marks if not m.startswith(("in ", "out ", "survey "))]
            assert all(m in r.text for m in sar_marks)


def _victim(session: Session) -> tuple[Person, Any]:
    """A domestic-abuse victim with a sensitive report nobody in particular holds."""
    victim = make_person(session, name="Vic Tim", phone_e164="+447700900123")
    report = make_report(
        session,
        person_id=victim.id,
        form_slug="domestic-abuse",
        sensitive=True,
        summary="He hits me when he drinks",
        reference="FC-DA-SECRET1",
    )
    session.commit()
    return victim, report


def _attacker_starts_chat(client: TestClient, session: Session) -> Conversation:
    client.cookies.clear()
    r = client.post("/api/v1/chats", json={"name": "Anyone", "topic": "crime", "mobile": "07700 900123"})
    assert r.status_code == 201, r.text
    conv = session.get(Conversation, r.json()["conversation_id"], populate_existing=True)
    assert conv is not None
    return conv


def _nothing_sensitive(text: str) -> None:
    assert "FC-DA-SECRET1" not in text and "He hits me" not in text


@pytest.mark.parametrize("team", ["victim_team", "other_team", "no_team"])
def test_attack_chain_a_chat_started_with_the_victims_number_opens_nothing(
    client: TestClient, session: Session, settings: Settings, team: str
) -> None:
    """Public starts a chat with the victim's mobile, ends it before anyone answers (abandoned,
    held by nobody): an operator's /console/people/{id} is 403 and no view shows the report."""
    victim, report = _victim(session)
    conv = _attacker_starts_chat(client, session)
    assert conv.person_id == victim.id  # the number was enough to link the chat to the victim
    routing.end(session=session, conversation_id=conv.id, by="visitor", settings=settings)
    session.commit()
    session.refresh(conv)
    assert conv.status == ConversationStatus.ABANDONED and conv.assignee_id is None

    from tests.builders import make_team

    team_id = None if team == "no_team" else make_team(session).id
    if team == "victim_team":
        report.team_id = team_id
        session.add(report)
    sign_in_as(client, session, settings, team_id=team_id)
    person_page = client.get(f"/console/people/{victim.id}")
    assert person_page.status_code == 403
    _nothing_sensitive(person_page.text)
    panel = client.get(f"/console/workspace/chats/{conv.id}/person")
    assert panel.status_code == 403
    _nothing_sensitive(panel.text)
    assert client.get(f"/console/reports/{report.id}").status_code == 403
    for page in ("/console/reports", "/console/reports?status=all", "/console/workspace"):
        _nothing_sensitive(client.get(page).text)


def test_attack_chain_the_operator_who_answers_the_chat_sees_the_chat_not_the_victims_history(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """The same chat, answered: its holder may see the person (the number they were given) and
    this chat, never the sensitive report the number also leads to, nor its badge."""
    victim, _ = _victim(session)
    conv = _attacker_starts_chat(client, session)
    op, _ = sign_in_as(client, session, settings)
    conv.status, conv.assignee_id = ConversationStatus.ACTIVE, op.id
    session.add(conv)
    session.commit()
    panel = client.get(f"/console/workspace/chats/{conv.id}/person")
    assert panel.status_code == 200
    body = panel.json()
    assert body["items"] == [] and body["repeat_contact"] is False and body["double_demand"] is False
    _nothing_sensitive(panel.text)
    page = client.get(f"/console/people/{victim.id}")
    assert page.status_code == 200 and "Live chat" in page.text
    assert "1 contact(s) in the last" in page.text  # the chat they hold, not the hidden report
    _nothing_sensitive(page.text)
    sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    assert "FC-DA-SECRET1" in client.get(f"/console/people/{victim.id}").text  # supervisors+ see all


def test_person_page_last_contact_is_the_newest_contact_the_viewer_may_open(
    client: TestClient, session: Session, settings: Settings
) -> None:
    from datetime import timedelta

    from agent_console.common import local_time
    from contact_store.clock import utcnow

    now = utcnow()
    person = make_person(session, last_contact_at=now)
    make_report(session, person_id=person.id, received_at=now - timedelta(days=3))
    make_report(session, person_id=person.id, received_at=now, sensitive=True)  # hidden from operators
    sign_in_as(client, session, settings)
    page = client.get(f"/console/people/{person.id}").text
    assert local_time(now - timedelta(days=3)) in page and local_time(now) not in page
    sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    assert local_time(now) in client.get(f"/console/people/{person.id}").text
