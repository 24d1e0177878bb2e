"""Every console route as anonymous, wrong role and right role; CSRF missing or wrong on every POST."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from contact_store.models import Evidence, Role
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_conversation, make_operator, make_person, make_report

BELOW = {Role.SUPERVISOR: Role.OPERATOR, Role.MANAGER: Role.SUPERVISOR, Role.ADMIN: Role.MANAGER}


@dataclass
class World:
    report_id: int
    evidence_id: int
    person_id: int
    operator_id: int
    conversation_id: str


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    person = make_person(session, phone_e164="+447700900555")
    report = make_report(session, person_id=person.id, safe_to_contact=True, contact_e164="+447700900555")
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    (settings.upload_dir / "ev-route-test.txt").write_bytes(b"evidence")
    ev = Evidence(
        report_id=report.id,
        stored_name="ev-route-test.txt",
        original_name="note.txt",
        content_type="text/plain",
        size_bytes=8,
        sha256="0" * 64,
    )
    session.add(ev)
    target = make_operator(session)
    conv = make_conversation(session, person_id=person.id)
    session.commit()
    return World(report.id or 0, ev.id or 0, person.id or 0, target.id or 0, conv.id)


# (method, path template, minimum role, form data for a valid request, expected status when allowed)
ROUTES = [
    ("GET", "/console", Role.OPERATOR, None, 200),
    ("GET", "/console/reports", Role.OPERATOR, None, 200),
    ("GET", "/console/reports/{r}", Role.OPERATOR, None, 200),
    ("GET", "/console/reports/{r}/evidence/{e}", Role.OPERATOR, None, 200),
    ("GET", "/console/people/{p}", Role.OPERATOR, None, 200),
    ("POST", "/console/reports/{r}/claim", Role.OPERATOR, {}, 303),
    ("POST", "/console/reports/{r}/note", Role.OPERATOR, {"note": "n"}, 303),
    ("POST", "/console/reports/{r}/status", Role.OPERATOR, {"status": "in_progress"}, 303),
    ("POST", "/console/reports/{r}/grade", Role.OPERATOR, {"grade": "3"}, 303),
    ("POST", "/console/reports/{r}/sms", Role.OPERATOR, {"sms_preset": "started"}, 303),
    ("POST", "/console/reports/{r}/assign", Role.SUPERVISOR, {"operator_id": "{o}"}, 303),
    ("GET", "/console/wallboard", Role.SUPERVISOR, None, 200),
    ("GET", "/console/wallboard/data", Role.SUPERVISOR, None, 200),
    ("POST", "/console/wallboard/operators/{o}/status", Role.SUPERVISOR, {"status": "away"}, 303),
    ("POST", "/console/wallboard/chats/{c}/assign", Role.SUPERVISOR, {"operator_id": "{o}"}, 303),
    ("GET", "/console/staffing", Role.MANAGER, None, 200),
    ("GET", "/console/staffing/calculator", Role.MANAGER, None, 200),
    ("GET", "/console/staffing/plan.csv", Role.MANAGER, None, 200),
    ("GET", "/console/admin/operators", Role.ADMIN, None, 200),
    ("GET", "/console/admin/operators/new", Role.ADMIN, None, 200),
    ("GET", "/console/admin/operators/{o}", Role.ADMIN, None, 200),
    (
        "POST",
        "/console/admin/operators",
        Role.ADMIN,
        {"username": "newbie", "display_name": "New", "role": "operator"},
        200,
    ),
    (
        "POST",
        "/console/admin/operators/{o}",
        Role.ADMIN,
        {"display_name": "Renamed", "role": "operator"},
        303,
    ),
    ("POST", "/console/admin/operators/{o}/disable", Role.ADMIN, {}, 303),
    ("POST", "/console/admin/operators/{o}/enable", Role.ADMIN, {}, 303),
    ("POST", "/console/admin/operators/{o}/end-sessions", Role.ADMIN, {}, 303),
    ("POST", "/console/admin/operators/{o}/reset-password", Role.ADMIN, {}, 200),
    ("GET", "/console/admin/audit", Role.ADMIN, None, 200),
    ("GET", "/console/admin/people?q=Test", Role.ADMIN, None, 200),
    ("GET", "/console/admin/people/{p}/export", Role.ADMIN, None, 200),
    ("GET", "/console/admin/people/{p}/export.json", Role.ADMIN, None, 200),
]
IDS = [f"{m} {p}" for m, p, *_ in ROUTES]


def _fill(text: str, w: World) -> str:
    return text.format(r=w.report_id, e=w.evidence_id, p=w.person_id, o=w.operator_id, c=w.conversation_id)


def _call(client: TestClient, method: str, path: str, data: dict[str, str] | None):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.post(path, data=data or {}, follow_redirects=False)


@pytest.mark.parametrize(("method", "path", "role", "data", "ok"), ROUTES, ids=IDS)
def test_anonymous_is_sent_to_sign_in(client: TestClient, world: World, method, path, role, data, ok) -> None:  # type: ignore[no-untyped-def]
    r = _call(client, method, _fill(path, world), data)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in?next=")
    api = client.get(_fill(path, world), headers={"accept": "application/json"}, follow_redirects=False)
    assert api.status_code in (401, 405)


@pytest.mark.parametrize(
    ("method", "path", "role", "data", "ok"),
    [r for r in ROUTES if r[2] != Role.OPERATOR],
    ids=[i for i, r in zip(IDS, ROUTES, strict=True) if r[2] != Role.OPERATOR],
)
def test_wrong_role_is_forbidden(
    client: TestClient,
    session: Session,
    settings: Settings,
    world: World,  # type: ignore[no-untyped-def]
    method,
    path,
    role,
    data,
    ok,
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=BELOW[role])
    body = {k: _fill(v, world) for k, v in (data or {}).items()} | {"csrf_token": csrf}
    assert _call(client, method, _fill(path, world), body if method == "POST" else None).status_code == 403


@pytest.mark.parametrize(("method", "path", "role", "data", "ok"), ROUTES, ids=IDS)
def test_right_role_is_allowed(
    client: TestClient,
    session: Session,
    settings: Settings,
    world: World,  # type: ignore[no-untyped-def]
    method,
    path,
    role,
    data,
    ok,
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=role)
    body = {k: _fill(v, world) for k, v in (data or {}).items()} | {"csrf_token": csrf}
    r = _call(client, method, _fill(path, world), body if method == "POST" else None)
    assert r.status_code == ok, r.text[:500]


POSTS = [r for r in ROUTES if r[0] == "POST"]


@pytest.mark.parametrize(
    ("method", "path", "role", "data", "ok"), POSTS, ids=[f"{m} {p}" for m, p, *_ in POSTS]
)
def test_csrf_missing_or_wrong_is_refused(
    client: TestClient,
    session: Session,
    settings: Settings,
    world: World,  # type: ignore[no-untyped-def]
    method,
    path,
    role,
    data,
    ok,
) -> None:
    sign_in_as(client, session, settings, role=Role.ADMIN)
    body = {k: _fill(v, world) for k, v in (data or {}).items()}
    assert client.post(_fill(path, world), data=body, follow_redirects=False).status_code == 403
    wrong = body | {"csrf_token": "not-the-token"}
    assert client.post(_fill(path, world), data=wrong, follow_redirects=False).status_code == 403


def test_wallboard_stream_needs_a_supervisor(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """The live stream itself is exercised in Chromium (test_console_browser); here its guard."""
    r = client.get("/console/wallboard/stream", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")
    sign_in_as(client, session, settings, role=Role.OPERATOR)
    assert client.get("/console/wallboard/stream", follow_redirects=False).status_code == 403
