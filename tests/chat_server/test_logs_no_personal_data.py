"""No personal data and no token in any log line, in the text and the JSON format.

A real `python -m chat_server serve` (uvicorn's access log, the app's own lines, the embedded SMS
worker) is driven through a form (JSON API and the HTML journey), a chat (the token in the URL as
an old client sends it, then the auth frame), staff sign-in (API and HTML, right and wrong
passwords, the bearer token on the console socket and in a query string), texts (the
acknowledgement sent by the worker, an inbound text, a callback with a wrong token) and a metrics
scrape with its token, every one carrying known values; none of them may appear in the log.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from contact_store.models import SmsMessage, SmsStatus
from tests.builders import make_operator
from tests.conftest import free_port
from tests.support.databases import fresh_database
from tests.support.serve import serve_env, served
from tests.web_forms.helpers import PHONE, complete_journey, full_answers
from web_forms.catalogue import catalogue

NAME = "Zebedee Quartermaine"
MOBILE = "07700 900461"
MOBILE_E164 = "+447700900461"
EMAIL = "zebedee.quartermaine@example.org"
STORY = "Ptolemy Farquharson took the bicycle from the shed"
CHAT_LINE = "my address is 42 Wallaby Way"
INBOUND = "Yes Oswin Thistlewood still lives here"
USERNAME = "zq-operator"
PASSWORD = "Correct-Horse-" + secrets.token_urlsafe(12)
WRONG_PASSWORD = "Wrong-Staple-" + secrets.token_urlsafe(12)
NOTIFY_TOKEN = "notify-" + secrets.token_urlsafe(24)
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(24)


def personal_answers() -> dict[str, Any]:
    """The crime form, every free-text answer carrying a known personal value."""
    answers = full_answers(catalogue()["crime"])
    for key, answer in answers.items():
        if answer == PHONE:
            answers[key] = MOBILE
        elif answer == "someone@example.com":
            answers[key] = EMAIL
        elif answer == "Sam Example":
            answers[key] = NAME
        elif answer == "Someone took my bike from outside the shop.":
            answers[key] = STORY
    return answers


@pytest.fixture(params=["text", "json"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, str, Store]]:
    """(base URL, log file, format, store) of a real server with the embedded SMS worker."""
    log_format = request.param
    with fresh_database(tmp_path, f"logs_{log_format}") as url:
        store = Store(make_engine(url), InProcessBus())
        with store.session_scope() as session:
            make_operator(session, username=USERNAME, password=PASSWORD)
        env = serve_env(
            tmp_path,
            url,
            log_format=log_format,
            notify_callback_token=NOTIFY_TOKEN,
            metrics_token=METRICS_TOKEN,
        )
        log_path = tmp_path / "server.log"
        try:
            with served(env, log_path, port=free_port()) as base:
                yield base, log_path, log_format, store
        finally:
            store.engine.dispose()


def drive_forms(http: httpx.Client) -> None:
    answers = personal_answers()
    r = http.post("/api/v1/forms/crime/submissions", json={"answers": answers})
    assert r.status_code == 201, r.text
    bad = answers | {"phone": f"call {MOBILE} or {EMAIL}", "incident_date": "2026-02-30"}
    assert http.post("/api/v1/forms/crime/submissions", json={"answers": bad}).status_code == 422
    check = complete_journey(http, "crime", answers)  # type: ignore[arg-type]
    page = http.get(check)
    token = re.search(r'name="submit_token" value="([^"]+)"', page.text)
    assert token, page.text[:2000]
    done = http.post("/report/crime/submit", data={"submit_token": token.group(1)})
    assert done.status_code in (200, 303), done.text[:2000]


def drive_chat(http: httpx.Client, ws_base: str) -> str:
    r = http.post("/api/v1/chats", json={"name": NAME, "topic": "crime", "mobile": MOBILE})
    assert r.status_code == 201, r.text
    chat = r.json()
    # An old client puts the token in the URL; the server must not log it.
    url = f"{ws_base}/ws/chat/{chat['conversation_id']}?token={chat['token']}"
    with connect(url, origin=str(http.base_url).rstrip("/")) as ws:
        ws.send(json.dumps({"type": "auth", "token": chat["token"]}))
        ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        ws.send(json.dumps({"type": "message", "client_id": secrets.token_hex(8), "body": CHAT_LINE}))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=15))
            if frame["type"] == "ack":
                break
        ws.send(json.dumps({"type": "end"}))
    assert http.get(f"/chat/{chat['conversation_id']}/transcript?token={chat['token']}").status_code < 500
    return str(chat["token"])


def drive_sign_in(http: httpx.Client, ws_base: str) -> str:
    r = http.post("/api/v1/auth/token", data={"username": USERNAME, "password": WRONG_PASSWORD})
    assert r.status_code == 401, r.text
    r = http.post("/api/v1/auth/token", data={"username": USERNAME, "password": PASSWORD})
    assert r.status_code == 200, r.text
    access = str(r.json()["access_token"])
    with connect(f"{ws_base}/ws/console", additional_headers={"Authorization": f"Bearer {access}"}) as ws:
        assert json.loads(ws.recv(timeout=15))["type"] == "hello"
    try:  # a token in the query string (refused or not, never logged)
        with connect(f"{ws_base}/ws/console?access_token={access}") as ws:
            ws.recv(timeout=5)
    except (WebSocketException, TimeoutError):
        pass
    page = http.get("/console/sign-in")
    presign = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    assert presign
    for password in (WRONG_PASSWORD, PASSWORD):
        r = http.post(
            "/console/sign-in",
            data={"username": USERNAME, "password": password, "presign_token": presign.group(1)},
        )
        assert r.status_code < 500
    return access


def drive_texts(http: httpx.Client, store: Store) -> None:
    inbound = {"id": secrets.token_hex(8), "source_number": MOBILE_E164, "content": INBOUND}
    headers = {"Authorization": f"Bearer {NOTIFY_TOKEN}"}
    assert http.post("/api/v1/sms/notify/inbound", json=inbound, headers=headers).status_code == 200
    wrong = {"Authorization": f"Bearer {NOTIFY_TOKEN}x"}
    assert http.post("/api/v1/sms/notify/inbound", json=inbound, headers=wrong).status_code == 401
    deadline = time.monotonic() + 30  # the embedded worker sends the acknowledgement texts
    while True:
        with store.session_scope() as session:
            statuses = session.exec(select(SmsMessage.status)).all()
        if statuses and SmsStatus.QUEUED not in statuses and SmsStatus.SENDING not in statuses:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)
    assert SmsStatus.SENT in statuses


@pytest.mark.timeout(600)  # a real server, a form journey, a chat, sign-ins and texts
def test_no_personal_data_or_token_in_any_log_line(server: tuple[str, Path, str, Store]) -> None:
    base, log_path, log_format, store = server
    ws_base = base.replace("http://", "ws://")
    with httpx.Client(base_url=base, timeout=15) as http:
        drive_forms(http)
        chat_token = drive_chat(http, ws_base)
        access = drive_sign_in(http, ws_base)
        drive_texts(http, store)
        r = http.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}", "X-Forwarded-For": "1.2.3.4"}
        )
        assert r.status_code == 200
    time.sleep(0.5)  # the last access lines
    text = log_path.read_text()
    assert "/api/v1/forms/crime/submissions" in text and "/ws/chat/" in text and "/console/sign-in" in text
    assert "/api/v1/sms/notify/inbound" in text and "SMS (log provider)" in text
    secrets_and_personal = {
        "name": NAME,
        "mobile": MOBILE,
        "mobile (E.164)": MOBILE_E164,
        "mobile digits": MOBILE.replace(" ", ""),
        "email": EMAIL,
        "story": STORY,
        "chat line": CHAT_LINE,
        "inbound text": INBOUND,
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "chat token": chat_token,
        "access token": access,
        "notify token": NOTIFY_TOKEN,
        "metrics token": METRICS_TOKEN,
    }
    leaked = {what: value for what, value in secrets_and_personal.items() if value in text}
    assert not leaked, f"{log_format} log leaks {sorted(leaked)}"
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
        access_lines = [line for line in lines if line["logger"] == "uvicorn.access"]
        assert access_lines and all(line["request_id"] for line in access_lines)
