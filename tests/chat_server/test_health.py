from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from chat_server.app import create_app
from contact_store.db import Store
from contact_store.events import InProcessBus
from contact_store.settings import Settings


def test_healthz_ok(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "event_bus": "ok"}


def test_healthz_503_names_the_database(settings: Settings) -> None:
    broken = Store(create_engine("sqlite:////nonexistent-dir/x.db"), InProcessBus())
    with TestClient(create_app(settings, store=broken)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "error", "database": "error", "event_bus": "ok"}


def test_healthz_503_names_the_bus(settings: Settings, store: Store) -> None:
    app = create_app(settings, store=store)
    c = TestClient(app)  # no lifespan: the bus never started
    r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["event_bus"] == "error"


def test_openapi_lists_the_api(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"]
    assert client.get("/api/docs").status_code == 200


def test_unknown_api_path_uses_the_json_error_shape(client: TestClient) -> None:
    r = client.get("/api/v1/does-not-exist")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "http_404"


def test_unknown_page_is_a_page(client: TestClient) -> None:
    r = client.get("/no-such-page", headers={"accept": "text/html"})
    assert r.status_code == 404
    assert "Page not found" in r.text


def test_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
