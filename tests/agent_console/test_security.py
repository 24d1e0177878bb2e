"""Staff security through HTTP: session fixation, idle and absolute timeouts, ending sessions,
disabled accounts, lock-out, Secure cookies behind HTTPS, and admin operator management."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.models import AuditEvent, Operator, OperatorArea, StaffSession
from contact_store.settings import Settings
from contact_store.web import SESSION_COOKIE
from tests.agent_console.helpers import sign_in_as
from tests.builders import DEFAULT_PASSWORD, make_area, make_operator, make_team


def _sign_in(client: TestClient, username: str, password: str = DEFAULT_PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get("/console/sign-in")
    token = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    assert token
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "presign_token": token.group(1)},
        follow_redirects=False,
    )


def _session_row(session: Session, operator_id: int | None) -> StaffSession:
    session.expire_all()
    return session.exec(select(StaffSession).where(StaffSession.operator_id == operator_id)).one()


def test_session_fixation_a_planted_or_earlier_session_id_is_never_reused(
    client: TestClient, session: Session
) -> None:
    op = make_operator(session)
    session.commit()
    client.cookies.set(SESSION_COOKIE, "attacker-chosen", domain="testserver.local")
    assert _sign_in(client, op.username).status_code == 303
    first = client.cookies.get(SESSION_COOKIE, domain="testserver.local")
    assert first and first != "attacker-chosen"
    _sign_in(client, op.username)
    assert (
        client.cookies.get(SESSION_COOKIE, domain="testserver.local") != first
    )  # every sign-in is a fresh id


def test_idle_timeout_signs_out_and_revokes(client: TestClient, session: Session, settings: Settings) -> None:
    op, _ = sign_in_as(client, session, settings)
    assert client.get("/console/reports").status_code == 200
    row = _session_row(session, op.id)
    row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes + 1)
    session.add(row)
    session.commit()
    r = client.get("/console/reports", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")
    assert _session_row(session, op.id).revoked_at is not None


def test_absolute_timeout(client: TestClient, session: Session, settings: Settings) -> None:
    op, _ = sign_in_as(client, session, settings)
    row = _session_row(session, op.id)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert client.get("/console/reports", follow_redirects=False).status_code == 303


def test_lockout_after_repeated_failures(client: TestClient, session: Session, settings: Settings) -> None:
    op = make_operator(session)
    session.commit()
    for _ in range(settings.sign_in_max_failures):
        assert _sign_in(client, op.username, "wrong").status_code == 401
    r = _sign_in(client, op.username)  # right password, but locked
    assert r.status_code == 401 and "The username or password is not right" in r.text
    assert client.get("/console", follow_redirects=False).status_code == 303  # not signed in


def test_secure_cookie_is_automatic_behind_https(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert Settings(public_base_url="https://contact.example.police.uk", data_dir=tmp_path).cookie_secure
    assert not Settings(public_base_url="http://127.0.0.1:8000", data_dir=tmp_path).cookie_secure
    assert not Settings(
        public_base_url="https://x.example", cookie_secure=False, data_dir=tmp_path
    ).cookie_secure


def test_secure_flag_is_sent(client: TestClient, session: Session, settings: Settings) -> None:
    settings.cookie_secure = True
    op = make_operator(session)
    session.commit()
    https = TestClient(client.app, base_url="https://testserver")
    r = _sign_in(https, op.username)
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_admin_ends_sessions_and_disables(client: TestClient, session: Session, settings: Settings) -> None:
    victim = make_operator(session)
    session.commit()
    other = TestClient(client.app)
    assert _sign_in(other, victim.username).status_code == 303
    assert other.get("/console").status_code == 200
    _, csrf = sign_in_as(client, session, settings, role="admin")
    assert (
        client.post(
            f"/console/admin/operators/{victim.id}/end-sessions",
            data={"csrf_token": csrf},
            follow_redirects=False,
        ).status_code
        == 303
    )
    assert other.get("/console", follow_redirects=False).status_code == 303
    _sign_in(other, victim.username)
    assert other.get("/console").status_code == 200
    client.post(f"/console/admin/operators/{victim.id}/disable", data={"csrf_token": csrf})
    assert other.get("/console", follow_redirects=False).status_code == 303
    assert _sign_in(other, victim.username).status_code == 401


def test_admin_adds_edits_and_resets(client: TestClient, session: Session, settings: Settings) -> None:
    team = make_team(session)
    east, west = make_area(session), make_area(session)
    admin, csrf = sign_in_as(client, session, settings, role="admin")
    r = client.post(
        "/console/admin/operators",
        data={
            "csrf_token": csrf,
            "username": "NewOp",
            "display_name": "New Op",
            "role": "supervisor",
            "team_id": str(team.id),
            "max_chats": "4",
            "areas": [str(east.id), str(west.id)],
        },
    )
    assert r.status_code == 200 and "only time it is shown" in r.text
    password = re.search(r'id="new-password">([^<]+)<', r.text)
    assert password
    session.expire_all()
    op = session.exec(select(Operator).where(Operator.username == "newop")).one()
    assert (op.role, op.team_id, op.max_concurrent_chats) == ("supervisor", team.id, 4)
    areas = set(session.exec(select(OperatorArea.area_id).where(OperatorArea.operator_id == op.id)).all())
    assert areas == {east.id, west.id}
    other = TestClient(client.app)
    assert _sign_in(other, "newop", password.group(1)).status_code == 303
    r = client.post(
        f"/console/admin/operators/{op.id}",
        data={"csrf_token": csrf, "display_name": "Renamed", "role": "operator", "max_chats": "x"},
    )
    assert r.status_code == 422 and "There is a problem" in r.text
    client.post(
        f"/console/admin/operators/{op.id}",
        data={"csrf_token": csrf, "display_name": "Renamed", "role": "operator", "areas": [str(east.id)]},
    )
    session.expire_all()
    op = session.get(Operator, op.id)
    assert (
        op is not None
        and op.role == "operator"
        and op.display_name == "Renamed"
        and op.max_concurrent_chats is None
    )
    r = client.post(f"/console/admin/operators/{op.id}/reset-password", data={"csrf_token": csrf})
    new_password = re.search(r'id="new-password">([^<]+)<', r.text)
    assert new_password and new_password.group(1) != password.group(1)
    assert other.get("/console", follow_redirects=False).status_code == 303  # reset ended their session
    dup = client.post(
        "/console/admin/operators",
        data={"csrf_token": csrf, "username": "newop", "display_name": "Dup", "role": "operator"},
    )
    assert dup.status_code == 409
    actions = [
        a.action for a in session.exec(select(AuditEvent).where(AuditEvent.operator_id == admin.id)).all()
    ]
    assert {"operator.add", "operator.update", "operator.reset_password"} <= set(actions)
    assert (
        client.post(f"/console/admin/operators/{admin.id}/disable", data={"csrf_token": csrf}).status_code
        == 409
    )
