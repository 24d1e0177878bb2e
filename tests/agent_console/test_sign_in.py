import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.models import StaffSession
from contact_store.web import SESSION_COOKIE
from tests.builders import DEFAULT_PASSWORD, make_operator


def _presign(client: TestClient, path: str = "/console/sign-in") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _sign_in(client: TestClient, username: str, password: str = DEFAULT_PASSWORD, next_url: str = "/console"):  # type: ignore[no-untyped-def]
    token = _presign(client)
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "presign_token": token, "next": next_url},
        follow_redirects=False,
    )


def test_console_needs_sign_in(client: TestClient) -> None:
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in?next=/console"


def test_sign_in_sets_a_fresh_http_only_session(client: TestClient, session: Session) -> None:
    op = make_operator(session, display_name="Priya Shah")
    session.commit()
    client.cookies.set(SESSION_COOKIE, "planted-by-attacker", domain="testserver.local")
    r = _sign_in(client, op.username)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = client.cookies.get(SESSION_COOKIE)
    assert token and token != "planted-by-attacker"
    home = client.get("/console")
    assert home.status_code == 200 and "Priya Shah" in home.text


def test_sign_in_without_the_form_token_is_refused(client: TestClient, session: Session) -> None:
    op = make_operator(session)
    session.commit()
    r = client.post("/console/sign-in", data={"username": op.username, "password": DEFAULT_PASSWORD})
    assert r.status_code == 403
    assert "expired" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None


def test_wrong_password_shows_error_summary_and_keeps_username(client: TestClient, session: Session) -> None:
    op = make_operator(session)
    session.commit()
    r = _sign_in(client, op.username, password="wrong")
    assert r.status_code == 401
    assert "There is a problem" in r.text
    assert f'value="{op.username}"' in r.text


def test_next_never_leaves_the_site(client: TestClient, session: Session) -> None:
    op = make_operator(session)
    session.commit()
    r = _sign_in(client, op.username, next_url="https://evil.example/")
    assert r.headers["location"] == "/console"


def test_sign_out_needs_csrf_and_ends_the_session(client: TestClient, session: Session) -> None:
    op = make_operator(session)
    session.commit()
    _sign_in(client, op.username)
    assert client.post("/console/sign-out", data={}, follow_redirects=False).status_code == 403
    home = client.get("/console")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf
    r = client.post("/console/sign-out", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 303
    rows = session.exec(select(StaffSession).where(StaffSession.operator_id == op.id)).all()
    assert rows and all(row.revoked_at is not None for row in rows)
    assert client.get("/console", follow_redirects=False).status_code == 303
