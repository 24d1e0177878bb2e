"""Two `firstcontact serve` workers behind nginx (the shipped deploy/nginx/firstcontact.conf), on
one PostgreSQL database and Redis, with the SMS worker of each sending through a fake Twilio.

1. Through nginx: a console sign-in (HTML, cookie), a chat over both websockets, a form submission
   whose acknowledgement text is sent once, the client address from X-Forwarded-For.
2. Rolling restart: each worker in turn gets SIGTERM, stops, and starts again, under chat traffic
   (visitors and the console sending) and form submissions: 0 messages lost or duplicated, 0
   repeated message frames on either socket, 0 failed submissions, 0 texts sent twice.

Skipped unless nginx is installed and FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and
FIRSTCONTACT_TEST_REDIS_URL are set (CI's PostgreSQL + Redis run has all three).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import Session, col, select

from contact_store.models import StaffSession
from tests.builders import DEFAULT_PASSWORD
from tests.chat_server.workers import needs_postgres_and_redis, slow_start
from tests.support.chat_traffic import ConsoleClient, VisitorClient, wait_for
from tests.support.cluster import NGINX
from tests.support.rolling import CRIME, Cluster, outbox_settled, rolling_restart, running_cluster, sms_bodies
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue

# Generous: the machine may be busy (argon2 sign-ins, two workers); a hang still fails.
T = 60.0
pytestmark = [
    needs_postgres_and_redis,
    slow_start,
    # Under CI a missing nginx fails the run (Nginx() asserts), like a missing Chromium.
    pytest.mark.skipif(not NGINX and not os.environ.get("CI"), reason="needs nginx (scripts/setup.sh)"),
]


def presign_token(http: httpx.Client) -> str:
    """The sign-in page's pre-session token (its cookie stays in `http`)."""
    page = http.get("/console/sign-in")
    assert page.status_code == 200
    token = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for this module (starting it is most of the time): the smoke test first, then
    the rolling restart."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def test_forms_chat_and_console_sign_in_through_nginx(cluster: Cluster) -> None:
    _, username = cluster.operator(display_name="Nia Operator")
    # A console sign-in (HTML: pre-session cookie, then the form), X-Forwarded-For honoured
    # because the workers trust nginx (127.0.0.1); the request reaches a worker through nginx.
    with httpx.Client(
        base_url=cluster.base_url, headers={"X-Forwarded-For": "198.51.100.40"}, timeout=T
    ) as http:
        presign = presign_token(http)
        r = http.post(
            "/console/sign-in",
            data={"username": username, "password": DEFAULT_PASSWORD, "presign_token": presign},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        cookie = http.cookies.get("fc_session")
        assert cookie
        assert http.get("/console").status_code == 200
    with Session(cluster.store.engine) as s:
        row = s.exec(select(StaffSession).order_by(col(StaffSession.id).desc())).first()
        assert row is not None and row.ip_address == "198.51.100.40"
    # A form submission; its acknowledgement text goes out once, through either worker.
    answers = full_answers(catalogue()["crime"])
    r = httpx.post(cluster.base_url + CRIME, json={"answers": answers}, timeout=T)
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]
    asyncio.run(wait_for(lambda: outbox_settled(cluster), timeout=30, what="the text"))
    assert [n for body, n in sms_bodies(cluster).items() if reference in body] == [1]
    # A chat over both websockets through nginx: the console signed in with its cookie.
    asyncio.run(_chat_through_nginx(cluster, cookie))
    # Static assets pass through with the worker's own headers.
    via_nginx = httpx.get(cluster.base_url + "/static/app.css", timeout=T)
    direct = httpx.get(cluster.workers[0].base_url + "/static/app.css", timeout=T)
    assert via_nginx.status_code == direct.status_code == 200
    assert via_nginx.headers.get("cache-control") == direct.headers.get("cache-control")
    assert via_nginx.content == direct.content
    # Bodies over the app's limit are refused by nginx before a worker reads them.
    big = httpx.post(
        cluster.base_url + CRIME,
        content=b"x" * (300 * 1024),
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413
    assert "[emerg]" not in cluster.nginx.error_log()


async def _chat_through_nginx(cluster: Cluster, cookie: str) -> None:
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=T) as http:
        r = await http.post("/api/v1/chats", json={"name": "Alex Visitor", "topic": "crime"})
        assert r.status_code == 201, r.text
        chat = r.json()
    ws = cluster.nginx.ws_url
    visitor = VisitorClient(ws, chat=chat, origin=cluster.base_url)
    console = ConsoleClient(ws, headers={"Cookie": f"fc_session={cookie}", "Origin": cluster.base_url})
    tasks = [asyncio.create_task(visitor.run()), asyncio.create_task(console.run())]
    try:
        await asyncio.wait_for(asyncio.gather(visitor.ready.wait(), console.ready.wait()), T)
        cid = chat["conversation_id"]
        await visitor.say("hello through nginx")
        await console.send({"type": "accept", "conversation_id": cid})
        await wait_for(lambda: cid in console.active, timeout=T, what="the accepted chat")
        await console.say(cid, "hello back")
        both = set(visitor.sent) | set(console.sent)

        def everywhere() -> bool:
            return both <= set(visitor.log.received.values()) and both <= set(
                console.logs[cid].received.values()
            )

        await wait_for(everywhere, timeout=T, what="both messages at both ends")
        assert not visitor.unacked and not console.unacked
        assert visitor.log.repeats == console.repeats == 0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


CHATS = 6  # the bench (bench/rolling_restart.py) runs 20


def test_rolling_restart_loses_nothing_and_repeats_nothing(cluster: Cluster) -> None:
    figures = asyncio.run(rolling_restart(cluster, chats=CHATS))
    print(json.dumps(figures))
    # Each worker stopped by itself after its graceful shutdown (uvicorn then re-raises SIGTERM).
    assert set(figures["exit_codes"]) <= {0, -signal.SIGTERM}, figures["exit_codes"]
    for w in cluster.workers:
        assert w.log_path.read_text().count("Application shutdown complete") == 1
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["visitor_repeated_frames"] == 0
    assert figures["console_repeated_frames"] == 0
    assert figures["console_closes"].get(1012, 0) >= 1  # the restarts did reach the sockets
    assert figures["visitor_closes"].get(1012, 0) >= 1
    assert set(figures["forms"]) == {"201"}, figures["forms"]
    assert figures["forms_texted_once"] == figures["form_references"]  # every form's text, once
    assert figures["texts_sent_twice"] == 0
