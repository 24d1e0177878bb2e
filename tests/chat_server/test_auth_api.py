from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.builders import DEFAULT_PASSWORD, make_operator


def test_token_me_and_revoke(client: TestClient, session: Session) -> None:
    op = make_operator(session, role="supervisor")
    session.commit()
    r = client.post("/api/v1/auth/token", data={"username": op.username, "password": DEFAULT_PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert r.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["role"] == "supervisor"
    assert client.post("/api/v1/auth/revoke", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_wrong_password_is_401_with_json_error(client: TestClient, session: Session) -> None:
    op = make_operator(session)
    session.commit()
    r = client.post("/api/v1/auth/token", data={"username": op.username, "password": "wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "bad_credentials"
    assert r.headers["www-authenticate"] == "Bearer"


def test_missing_fields_are_422_with_field_errors(client: TestClient) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "x"})
    assert r.status_code == 422
    assert "password" in r.json()["error"]["fields"]


def test_anonymous_me_is_401(client: TestClient) -> None:
    r = client.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"


def test_repeated_failures_lock_the_account(client: TestClient, session: Session) -> None:
    op = make_operator(session)
    session.commit()
    for _ in range(5):
        client.post("/api/v1/auth/token", data={"username": op.username, "password": "wrong"})
    r = client.post("/api/v1/auth/token", data={"username": op.username, "password": DEFAULT_PASSWORD})
    # Locked: refused, with the same answer as a wrong password or an unknown username.
    ghost = client.post("/api/v1/auth/token", data={"username": "nobody-here", "password": "wrong"})
    assert r.status_code == ghost.status_code == 401
    assert r.json() == ghost.json() and r.json()["error"]["code"] == "bad_credentials"
