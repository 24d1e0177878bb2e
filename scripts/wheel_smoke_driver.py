"""Drive a running FirstContact like its users do; exit 1 at the first thing that does not work.

Used by scripts/wheel_smoke.sh against a server installed from the wheel. Needs only httpx and
websockets (no repository code), so it runs with any interpreter that has them.

Checks: a form page renders with its fingerprinted, compressed, immutable stylesheet and the
favicon; a report is filed (201 with a reference); a visitor and an operator chat over the two
websockets (each message acknowledged and delivered to the other side); a member of staff signs in
to the console through the sign-in form.

Usage: python scripts/wheel_smoke_driver.py BASE_URL USERNAME PASSWORD
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 20.0


class SmokeFailure(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SmokeFailure(what)
    sys.stdout.write(f"smoke: ok  {what}\n")


def forms(http: httpx.Client) -> None:
    page = http.get("/report/feedback")
    check(page.status_code == 200 and "govuk-button" in page.text, "form start page renders")
    css = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', page.text)
    check(css is not None, "page links a fingerprinted stylesheet")
    assert css is not None
    r = http.get(css.group(1), headers={"Accept-Encoding": "br, gzip"})
    check(
        r.status_code == 200
        and r.headers.get("content-encoding") == "br"
        and "immutable" in r.headers.get("cache-control", ""),
        "stylesheet served brotli-compressed and immutable",
    )
    check(http.get("/favicon.ico").status_code == 200, "favicon.ico served")
    answers = {"feedback_type": "thanks", "feedback": "Smoke test: thank you.", "reply_wanted": "no"}
    r = http.post("/api/v1/forms/feedback/submissions", json={"answers": answers})
    check(r.status_code == 201 and bool(r.json().get("reference")), f"report filed ({r.status_code})")


def console_sign_in(http: httpx.Client, username: str, password: str) -> None:
    page = http.get("/console/sign-in")
    token = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    check(page.status_code == 200 and token is not None, "sign-in page renders")
    assert token is not None
    r = http.post(
        "/console/sign-in",
        data={
            "username": username,
            "password": password,
            "presign_token": token.group(1),
            "next": "/console",
        },
    )
    check(r.status_code == 303, f"sign-in accepted ({r.status_code})")
    home = http.get("/console")
    check(home.status_code == 200 and "sign-out" in home.text, "console home after sign-in")


async def recv_until(ws: ClientConnection, want: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame.get("type") == "error":
            raise SmokeFailure(f"error frame: {frame}")
        if want(frame):
            return frame  # type: ignore[no-any-return]


async def chat(base: str, username: str, password: str) -> None:
    ws_base = re.sub(r"^http", "ws", base)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http:
        r = await http.post("/api/v1/chats", json={"name": "Smoke Visitor", "topic": "other"})
        check(r.status_code == 201, f"chat started ({r.status_code})")
        started = r.json()
        r = await http.post("/api/v1/auth/token", data={"username": username, "password": password})
        check(r.status_code == 200, "operator token issued")
        bearer = r.json()["access_token"]
    cid = started["conversation_id"]
    console = await connect(f"{ws_base}/ws/console", additional_headers={"Authorization": f"Bearer {bearer}"})
    visitor = await connect(f"{ws_base}/ws/chat/{cid}", origin=base)  # type: ignore[arg-type]
    try:
        await console.send(json.dumps({"type": "accept", "conversation_id": cid}))
        await recv_until(console, lambda f: f.get("type") == "conversation" and f.get("status") == "active")
        check(True, "operator accepted the chat")
        await visitor.send(json.dumps({"type": "auth", "token": started["token"]}))
        said = str(uuid.uuid4())
        await visitor.send(json.dumps({"type": "message", "client_id": said, "body": "Hello from the smoke"}))
        await recv_until(visitor, lambda f: f.get("type") == "ack" and f.get("client_id") == said)
        await recv_until(console, lambda f: f.get("type") == "message" and f.get("client_id") == said)
        check(True, "visitor message acknowledged and delivered to the console")
        reply = str(uuid.uuid4())
        await console.send(
            json.dumps({"type": "message", "conversation_id": cid, "client_id": reply, "body": "Hello back"})
        )
        await recv_until(console, lambda f: f.get("type") == "ack" and f.get("client_id") == reply)
        await recv_until(visitor, lambda f: f.get("type") == "message" and f.get("client_id") == reply)
        check(True, "operator reply acknowledged and delivered to the visitor")
    finally:
        await visitor.close()
        await console.close()


def main() -> int:
    base, username, password = sys.argv[1:4]
    try:
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            forms(http)
        asyncio.run(chat(base, username, password))
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            console_sign_in(http, username, password)
    except (SmokeFailure, TimeoutError, OSError, httpx.HTTPError) as exc:
        sys.stderr.write(f"smoke: FAILED {type(exc).__name__}: {exc}\n")
        return 1
    sys.stdout.write("smoke: all checks passed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
