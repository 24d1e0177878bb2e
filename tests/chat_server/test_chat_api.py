"""POST /api/v1/chats, availability, opening hours, CORS and the widget's files."""

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from chat_server.chat import service
from contact_store.models import Conversation, Person
from contact_store.settings import Settings
from contact_store.staff import token_hash
from tests.builders import make_area


def test_start_chat_links_person_area_and_hashes_token(client: TestClient, session: Session) -> None:
    east = make_area(session, name="East POD", postcode_prefixes=["BB", "PR1"])
    session.commit()
    r = client.post(
        "/api/v1/chats",
        json={
            "name": "Jo",
            "topic": "asb",
            "mobile": "07700 900456",
            "email": "JO@example.com",
            "postcode": "bb2 3cd",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"conversation_id", "token", "reference", "queue_position", "estimated_wait_seconds"}
    conv = session.get(Conversation, body["conversation_id"])
    assert conv is not None
    assert conv.token_hash == token_hash(body["token"]) and body["token"] not in conv.token_hash
    assert conv.area_id == east.id and conv.status == "queued"
    person = session.get(Person, conv.person_id)
    assert person is not None and person.phone_e164 == "+447700900456"


def test_bad_answers_are_422_with_every_field(client: TestClient) -> None:
    r = client.post("/api/v1/chats", json={"name": " ", "topic": "nope", "mobile": "12", "email": "x@"})
    assert r.status_code == 422
    assert set(r.json()["error"]["fields"]) == {"name", "topic", "mobile", "email"}


def test_closed_outside_hours_and_on_holidays(client: TestClient, settings: Settings) -> None:
    settings.chat_opening_hours = {d: "08:00-20:00" for d in service.DAYS} | {"sun": ""}
    tz = ZoneInfo(settings.timezone)
    assert service.is_open(settings=settings, at=datetime(2026, 11, 25, 9, 0, tzinfo=tz))  # Wednesday
    assert not service.is_open(settings=settings, at=datetime(2026, 11, 25, 21, 0, tzinfo=tz))
    assert not service.is_open(settings=settings, at=datetime(2026, 11, 29, 12, 0, tzinfo=tz))  # Sunday
    nxt = service.next_opening(settings=settings, at=datetime(2026, 11, 28, 21, 0, tzinfo=tz))
    assert nxt == datetime(2026, 11, 30, 8, 0, tzinfo=tz)
    settings.chat_holidays = [datetime(2026, 11, 25).date()]
    assert not service.is_open(settings=settings, at=datetime(2026, 11, 25, 9, 0, tzinfo=tz))
    settings.chat_opening_hours = dict.fromkeys(service.DAYS, "")
    r = client.post("/api/v1/chats", json={"name": "Jo", "topic": "crime"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "closed"
    avail = client.get("/api/v1/chats/availability").json()
    assert avail["open"] is False and avail["forms_url"] == "/report"


def test_cors_only_for_allowed_origins(client: TestClient, settings: Settings, session: Session) -> None:
    settings.allowed_origins = ["https://www.northshire.police.uk"]
    from chat_server.app import create_app
    from contact_store.db import Store
    from contact_store.events import make_bus

    # Its own bus: the second app's shutdown stops its bus, which must not be the first app's.
    shared = client.app.state.store  # type: ignore[attr-defined]
    own_bus = make_bus(settings.redis_url, prefix=settings.redis_channel_prefix)
    app = create_app(settings, store=Store(shared.engine, own_bus, bind=shared.bind))
    with TestClient(app) as c:
        ok = c.options("/api/v1/chats", headers={"Origin": "https://www.northshire.police.uk"})
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == "https://www.northshire.police.uk"
        bad = c.get("/api/v1/chats/availability", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in bad.headers
    assert session.exec(select(Conversation)).first() is None


def test_widget_files_and_pages(client: TestClient) -> None:
    js = client.get("/chat/widget.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "textContent" in js.text and "innerHTML" not in js.text
    assert client.get("/chat/widget.css").status_code == 200
    demo = client.get("/chat/demo")
    assert demo.status_code == 200 and '<script src="/chat/widget.js"' in demo.text
    page = client.get("/chat?lang=cy")
    assert page.status_code == 200 and 'data-lang="cy"' in page.text
