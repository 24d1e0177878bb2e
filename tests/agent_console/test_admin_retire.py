"""Retiring and restoring teams and PODs (never deleting): admin only, CSRF, one history version and
one audit event per change; a retired POD takes no chats, a retired team no new work, and both keep
their names on what they handled."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from contact_store.models import (
    AuditEvent,
    ChangeHistory,
    Conversation,
    ConversationStatus,
    Operator,
    ReportStatus,
    Role,
    Team,
)
from contact_store.reports import ReportCreate, file_report
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_area, make_conversation, make_operator, make_report, make_team

CHAT = {"name": "Al", "topic": "crime", "postcode": "ZZ9 1AA"}


def _post(client: TestClient, path: str, csrf: str | None) -> int:
    data = {"csrf_token": csrf} if csrf is not None else {}
    return client.post(path, data=data, follow_redirects=False).status_code


def _chat_area(client: TestClient, session: Session, **extra: object) -> int | None:
    r = client.post("/api/v1/chats", json=CHAT | extra)
    assert r.status_code == 201, r.text
    conv = session.get(Conversation, r.json()["conversation_id"])
    assert conv is not None
    return conv.area_id


def _changes(session: Session, object_type: str, object_id: int) -> tuple[list[ChangeHistory], list[str]]:
    versions = session.exec(
        select(ChangeHistory)
        .where(ChangeHistory.object_type == object_type, ChangeHistory.object_id == str(object_id))
        .order_by(col(ChangeHistory.version))
    ).all()
    actions = session.exec(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
        .order_by(col(AuditEvent.id))
    ).all()
    return list(versions), list(actions)


def test_a_retired_pod_takes_no_chats_and_restoring_brings_it_back(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    pod = make_area(session, name="Riverside", postcode_prefixes=["ZZ9"])
    session.commit()
    assert _chat_area(client, session) == pod.id

    page = client.get(f"/console/admin/pods/{pod.id}")
    assert f'href="/console/admin/pods/{pod.id}/retire"' in page.text and "govuk-button--warning" in page.text
    confirm = client.get(f"/console/admin/pods/{pod.id}/retire")
    assert confirm.status_code == 200 and "Retire Riverside?" in confirm.text and "ZZ9" in confirm.text
    assert _post(client, f"/console/admin/pods/{pod.id}/retire", csrf) == 303
    session.refresh(pod)
    assert pod.retired_at is not None
    # Its postcodes fall to the common queue (no POD); it is no longer offered to the public.
    assert _chat_area(client, session) is None
    areas = client.get("/api/v1/chats/availability").json()["areas"]
    assert pod.id not in [a["id"] for a in areas]
    chosen = client.post("/api/v1/chats", json=CHAT | {"area_id": pod.id})
    assert chosen.status_code == 422
    listing = client.get("/console/admin/pods").text
    assert "Retired PODs" in listing and "Riverside (retired)" in listing
    assert "Restore Riverside" in client.get(f"/console/admin/pods/{pod.id}").text

    assert _post(client, f"/console/admin/pods/{pod.id}/restore", csrf) == 303
    session.refresh(pod)
    assert pod.retired_at is None
    assert _chat_area(client, session) == pod.id


def test_restoring_a_pod_whose_district_another_pod_took_is_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    pod = make_area(session, name="Riverside", postcode_prefixes=["ZZ9", "ZZ10"])
    session.commit()
    assert _post(client, f"/console/admin/pods/{pod.id}/retire", csrf) == 303
    # The merge: a POD in use takes the retired one's district (a retired POD claims none).
    added = client.post(
        "/console/admin/pods",
        data={"csrf_token": csrf, "name": "East", "postcodes": "ZZ9"},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    r = client.post(f"/console/admin/pods/{pod.id}/restore", data={"csrf_token": csrf})
    assert r.status_code == 422
    assert "There is a problem" in r.text and "ZZ9 already belongs to East" in r.text
    assert 'href="#postcodes"' in r.text
    session.refresh(pod)
    assert pod.retired_at is not None
    assert _changes(session, "area", pod.id or 0)[1] == ["area.retire"]


def test_a_team_with_active_operators_is_not_retired(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session, name="Night desk")
    for _ in range(2):
        make_operator(session, team_id=team.id)
    make_operator(session, team_id=team.id, is_active=False)  # a disabled account does not count
    session.commit()
    r = client.post(f"/console/admin/teams/{team.id}/retire", data={"csrf_token": csrf})
    assert r.status_code == 422
    assert "There is a problem" in r.text and 'href="#operators"' in r.text
    assert "Night desk has 2 active operators" in r.text
    assert f'href="/console/admin/operators?team={team.id}"' in r.text
    session.refresh(team)
    assert team.retired_at is None
    assert _changes(session, "team", team.id or 0) == ([], [])
    # The link lists exactly them.
    listed = client.get(f"/console/admin/operators?team={team.id}").text
    assert "Operators in Night desk" in listed
    assert len(re.findall(r'class="govuk-link" href="/console/admin/operators/\d+"', listed)) == 3


def test_a_team_with_a_live_chat_or_an_open_report_is_not_retired_until_they_are_done(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session, name="Night desk")
    chat = make_conversation(session, status=ConversationStatus.QUEUED, team_id=team.id)
    report = make_report(session, team_id=team.id, status=ReportStatus.IN_PROGRESS)
    session.commit()
    r = client.post(f"/console/admin/teams/{team.id}/retire", data={"csrf_token": csrf})
    assert r.status_code == 422
    assert "1 live chat belongs to Night desk" in r.text and "1 open report belongs to Night desk" in r.text
    assert f'href="/console/reports?team={team.id}&amp;status=open"' in r.text
    chat.status = ConversationStatus.ENDED
    report.status = ReportStatus.CLOSED
    session.add_all([chat, report])
    session.commit()
    assert _post(client, f"/console/admin/teams/{team.id}/retire", csrf) == 303
    session.refresh(team)
    assert team.retired_at is not None


def test_a_retired_team_gets_no_new_work_and_is_not_offered(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session, name="Night desk")
    session.commit()
    targets = client.get("/console/workspace/transfer-targets").json()["teams"]
    assert team.id in [t["id"] for t in targets]
    assert _post(client, f"/console/admin/teams/{team.id}/retire", csrf) == 303
    listing = client.get("/console/admin/teams").text
    assert "Retired teams" in listing and "Night desk (retired)" in listing

    assert team.id not in [t["id"] for t in client.get("/console/workspace/transfer-targets").json()["teams"]]
    chat = make_conversation(session, status=ConversationStatus.ACTIVE, assignee_id=admin.id)
    session.commit()
    moved = client.post(
        f"/console/workspace/chats/{chat.id}/transfer",
        json={"to_team_id": team.id},
        headers={"X-CSRF-Token": csrf},
    )
    assert moved.status_code == 422
    # A form that names the team files its reports in the common queue.
    filed = file_report(
        session=session,
        settings=settings,
        report_in=ReportCreate(form_slug="crime", answers={}, summary="s", team_name="Night desk"),
    )
    assert filed.team_id is None
    # Not offered for operators or canned answers; refused if posted anyway.
    op = make_operator(session, display_name="Sam")
    session.commit()
    assert f'<option value="{team.id}"' not in client.get(f"/console/admin/operators/{op.id}").text
    assert f'<option value="{team.id}"' not in client.get("/console/canned/new").text
    r = client.post(
        f"/console/admin/operators/{op.id}",
        data={"csrf_token": csrf, "display_name": "Sam", "role": "operator", "team_id": str(team.id)},
    )
    assert r.status_code == 422 and "Choose a team" in r.text
    session.refresh(op)
    assert op.team_id is None
    # Restored, it is a transfer target again.
    assert _post(client, f"/console/admin/teams/{team.id}/restore", csrf) == 303
    assert team.id in [t["id"] for t in client.get("/console/workspace/transfer-targets").json()["teams"]]


def test_each_retire_and_restore_writes_one_version_and_one_audit_event(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session, name="Night desk", default_max_chats=2)
    pod = make_area(session, name="Riverside", postcode_prefixes=["ZZ9"])
    session.commit()
    for kind, base, item in (("team", "teams", team), ("area", "pods", pod)):
        assert _post(client, f"/console/admin/{base}/{item.id}/retire", csrf) == 303
        assert _post(client, f"/console/admin/{base}/{item.id}/retire", csrf) == 303  # already: nothing
        assert _post(client, f"/console/admin/{base}/{item.id}/restore", csrf) == 303
        versions, actions = _changes(session, kind, item.id or 0)
        assert actions == [f"{kind}.retire", f"{kind}.restore"]
        assert [(v.before["retired"], v.after["retired"]) for v in versions] == [(False, True), (True, False)]
        assert all(v.changed_by == admin.id for v in versions)
        assert versions[0].after["name"] == item.name
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "team.retire")).one()
    assert event.operator_id == admin.id and event.detail["after"]["retired"] is True
    assert "Night desk" in client.get(f"/console/admin/history?type=team&id={team.id}").text


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR, Role.MANAGER])
def test_other_roles_get_403(client: TestClient, session: Session, settings: Settings, role: str) -> None:
    _, csrf = sign_in_as(client, session, settings, role=role)
    team = make_team(session)
    pod = make_area(session, postcode_prefixes=["ZZ9"])
    session.commit()
    for base, item in (("teams", team), ("pods", pod)):
        assert client.get(f"/console/admin/{base}/{item.id}/retire").status_code == 403
        for action in ("retire", "restore"):
            assert _post(client, f"/console/admin/{base}/{item.id}/{action}", csrf) == 403
    session.refresh(team)
    session.refresh(pod)
    assert team.retired_at is None and pod.retired_at is None
    assert session.exec(select(ChangeHistory)).first() is None


def test_retire_needs_the_csrf_token(client: TestClient, session: Session, settings: Settings) -> None:
    sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session)
    pod = make_area(session, postcode_prefixes=["ZZ9"])
    session.commit()
    for base, item in (("teams", team), ("pods", pod)):
        assert _post(client, f"/console/admin/{base}/{item.id}/retire", None) == 403
        assert _post(client, f"/console/admin/{base}/{item.id}/retire", "wrong") == 403
    session.refresh(team)
    session.refresh(pod)
    assert team.retired_at is None and pod.retired_at is None
    assert session.exec(select(ChangeHistory)).first() is None
    assert client.get("/console/admin/no-such/1/retire").status_code == 404


def test_old_reports_keep_the_retired_names_and_filters_keep_them(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session, name="Night desk")
    pod = make_area(session, name="Riverside", postcode_prefixes=["ZZ9"])
    report = make_report(session, team_id=team.id, area_id=pod.id, status=ReportStatus.CLOSED)
    session.commit()
    assert _post(client, f"/console/admin/teams/{team.id}/retire", csrf) == 303
    assert _post(client, f"/console/admin/pods/{pod.id}/retire", csrf) == 303
    session.expire_all()
    assert session.get(Team, team.id) is not None  # never deleted
    page = client.get(f"/console/reports/{report.id}").text
    assert "Night desk (retired)" in page and "Riverside (retired)" in page
    listing = client.get(f"/console/reports?status=all&team={team.id}&area={pod.id}").text
    assert f'<option value="{team.id}" selected>Night desk (retired)</option>' in listing
    assert f'<option value="{pod.id}" selected>Riverside (retired)</option>' in listing
    assert report.reference in listing
    dashboards = client.get("/console/dashboards").text
    assert "Night desk (retired)" in dashboards


def test_an_operator_keeps_a_retired_team_until_moved(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """A disabled operator of a retired team can still be edited: the team is shown, marked."""
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session, name="Night desk")
    op = make_operator(session, display_name="Sam", team_id=team.id, is_active=False)
    session.commit()
    assert _post(client, f"/console/admin/teams/{team.id}/retire", csrf) == 303
    form = client.get(f"/console/admin/operators/{op.id}").text
    assert "Night desk (retired)" in form
    r = client.post(
        f"/console/admin/operators/{op.id}",
        data={"csrf_token": csrf, "display_name": "Sam Smith", "role": "operator", "team_id": str(team.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.refresh(op)
    assert isinstance(op, Operator) and op.display_name == "Sam Smith" and op.team_id == team.id
    # Not enabled while in the retired team (a team retires with no active operators) ...
    assert _post(client, f"/console/admin/operators/{op.id}/enable", csrf) == 409
    session.refresh(op)
    assert op.is_active is False
    # ... and a report filed for the retired team (a stale cache elsewhere, or the wrap-up of a
    # chat of that team) goes to the common queue.
    filed = file_report(
        session=session,
        settings=settings,
        report_in=ReportCreate(form_slug="crime", answers={}, summary="s", team_id=team.id),
    )
    assert filed.team_id is None
