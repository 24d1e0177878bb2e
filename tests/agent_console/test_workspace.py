"""The chat workspace page: sign-in required; any member of staff may open it."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.builders import DEFAULT_PASSWORD, make_operator


def test_anonymous_is_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/console/workspace", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/sign-in")
    assert client.get("/console/workspace/workspace.js", follow_redirects=False).status_code == 303


def test_signed_in_operator_gets_the_workspace(client: TestClient, session: Session) -> None:
    op = make_operator(session, display_name="Dana <Ops>")
    session.commit()
    token = client.post(
        "/api/v1/auth/token", data={"username": op.username, "password": DEFAULT_PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = client.get("/console/workspace", headers=headers)
    assert r.status_code == 200
    assert "Chat workspace" in r.text
    assert "Dana &lt;Ops&gt;" in r.text and "Dana <Ops>" not in r.text
    js = client.get("/console/workspace/workspace.js", headers=headers)
    assert js.status_code == 200 and "FCWorkspace" in js.text
