"""Every Prometheus figure appears in a scrape and moves after a chat, a form and a text
(docs/readme/observability.md lists them). Against the live server: real sockets, the real
group-commit writer, the routing loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from contact_store.sms.providers import LogProvider, Outgoing, TemporaryFailure
from contact_store.sms.worker import run_once
from tests.chat_server.chat_client import (
    console_socket,
    new_id,
    operator_token,
    recv_until,
    send,
    start_chat,
    visitor_socket,
)
from tests.chat_server.metrics_scrape import Samples, has, parse, value
from tests.conftest import LiveServer
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue

pytestmark = pytest.mark.anyio

M = "firstcontact_"


def scrape(server: LiveServer) -> Samples:
    r = httpx.get(server.base_url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


async def eventually(server: LiveServer, check: Callable[[Samples], bool]) -> Samples:
    """Scrape until `check` holds (a counter moved after a commit on another thread)."""
    deadline = time.monotonic() + 15
    while True:
        samples = await asyncio.to_thread(scrape, server)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, "the figure never moved"
        await asyncio.sleep(0.1)


def test_every_figure_appears(live_server: LiveServer) -> None:
    samples = scrape(live_server)
    for name, labels in [
        ("websockets_open", {"kind": "visitor"}),
        ("websockets_open", {"kind": "console"}),
        ("chat_messages_stored_total", {"sender": "visitor"}),
        ("chat_messages_stored_total", {"sender": "operator"}),
        ("chat_messages_delivered_total", {"socket": "visitor"}),
        ("chat_messages_delivered_total", {"socket": "console"}),
        ("chat_offers_total", {}),
        ("chat_offer_outcomes_total", {"outcome": "accepted"}),
        ("chat_offer_outcomes_total", {"outcome": "declined"}),
        ("chat_offer_outcomes_total", {"outcome": "timed_out"}),
        ("chat_queue_length", {"team": "none"}),
        ("chat_queue_longest_wait_seconds", {"team": "none"}),
        ("sms_outbox_pending", {}),
        ("sms_outbox_oldest_pending_age_seconds", {}),
        ("group_commit_batch_size_count", {}),
        ("group_commit_batch_seconds_count", {}),
        ("db_pool_checked_out", {}),
        ("db_pool_size", {}),
        ("store_figures_up", {}),
    ]:
        assert has(samples, M + name, **labels), name
    assert value(samples, M + "store_figures_up") == 1
    assert value(samples, M + "db_pool_size") >= 1


async def test_a_chat_moves_sockets_messages_offers_and_the_queue(live_server: LiveServer) -> None:
    before = await asyncio.to_thread(scrape, live_server)
    _op_id, token = await asyncio.to_thread(operator_token, live_server)
    console = await console_socket(live_server, token)
    await recv_until(console, lambda f: f["type"] == "hello")
    chat = await start_chat(live_server)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await recv_until(visitor, lambda f: f["type"] == "queue")
    try:
        waiting = await eventually(
            live_server,
            lambda s: (
                value(s, M + "chat_queue_length") >= 1
                and value(s, M + "websockets_open", kind="visitor") >= 1
                and value(s, M + "websockets_open", kind="console") >= 1
            ),
        )
        assert value(waiting, M + "chat_queue_longest_wait_seconds") >= 0

        cid = chat["conversation_id"]
        await send(console, {"type": "status", "status": "available"})
        await recv_until(console, lambda f: f["type"] == "offer" and f["conversation_id"] == cid)
        await send(console, {"type": "decline", "conversation_id": cid})
        await recv_until(console, lambda f: f["type"] == "offer" and f["conversation_id"] == cid)
        await send(console, {"type": "accept", "conversation_id": cid})
        await recv_until(console, lambda f: f["type"] == "conversation" and f["status"] == "active")

        await send(visitor, {"type": "message", "client_id": new_id(), "body": "hello"})
        await recv_until(console, lambda f: f["type"] == "message" and f["sender"] == "visitor")
        await send(console, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "hi"})
        await recv_until(visitor, lambda f: f["type"] == "message" and f["sender"] == "operator")

        # An offer nobody answers times out (a short timeout for this part only).
        live_server.settings.offer_timeout_seconds = 1
        second = await start_chat(live_server)
        visitor2 = await visitor_socket(live_server, second)
        await send(visitor2, {"type": "resume", "after_seq": 0})
        await recv_until(
            console, lambda f: f["type"] == "offer" and f["conversation_id"] == second["conversation_id"]
        )
        await recv_until(console, lambda f: f["type"] == "offer_withdrawn")
        await visitor2.close()
    finally:
        live_server.settings.offer_timeout_seconds = 30
        await visitor.close()
        await console.close()

    def moved(name: str, by: float = 1, **labels: str) -> Callable[[Samples], bool]:
        return lambda s: value(s, M + name, **labels) >= value(before, M + name, **labels) + by

    checks = [
        moved("chat_messages_stored_total", sender="visitor"),
        moved("chat_messages_stored_total", sender="operator"),
        moved("chat_messages_delivered_total", socket="visitor"),
        moved("chat_messages_delivered_total", socket="console"),
        moved("chat_offers_total", 3),
        moved("chat_offer_outcomes_total", outcome="accepted"),
        moved("chat_offer_outcomes_total", outcome="declined"),
        moved("chat_offer_outcomes_total", outcome="timed_out"),
        moved("group_commit_batch_size_count"),
        moved("group_commit_batch_seconds_count"),
        moved("http_request_duration_seconds_count", method="POST", route="/api/v1/chats", status="201"),
    ]
    after = await eventually(live_server, lambda s: all(check(s) for check in checks))
    # No raw path, id or token in any label.
    for (_name, labels), _v in after.items():
        for _key, label in labels:
            assert chat["conversation_id"] not in label and chat["token"] not in label
    # The sockets closed: the gauges come back down.
    await eventually(
        live_server,
        lambda s: (
            value(s, M + "websockets_open", kind="visitor")
            <= value(before, M + "websockets_open", kind="visitor")
            and value(s, M + "websockets_open", kind="console")
            <= value(before, M + "websockets_open", kind="console")
        ),
    )


class _Flaky:
    name = "flaky"

    def send(self, outgoing: Outgoing) -> str:
        raise TemporaryFailure("provider unavailable")

    def lookup(self, outgoing: Outgoing) -> str | None:
        return None


def test_a_form_and_its_text_move_http_outbox_and_sms_figures(live_server: LiveServer) -> None:
    before = scrape(live_server)
    answers = full_answers(catalogue()["crime"])
    r = httpx.post(live_server.base_url + "/api/v1/forms/crime/submissions", json={"answers": answers})
    assert r.status_code == 201, r.text
    queued = scrape(live_server)
    route = "/api/v1/forms/{slug}/submissions"
    assert value(queued, M + "http_request_duration_seconds_count", route=route, status="201") == (
        value(before, M + "http_request_duration_seconds_count", route=route, status="201") + 1
    )
    assert value(queued, M + "group_commit_batch_size_count") > value(
        before, M + "group_commit_batch_size_count"
    )
    assert value(queued, M + "sms_outbox_pending") >= 1  # the acknowledgement text
    assert value(queued, M + "sms_outbox_oldest_pending_age_seconds") >= 0

    store, settings = live_server.store, live_server.settings
    run_once(store=store, settings=settings, provider=_Flaky(), worker_id="t")  # type: ignore[arg-type]
    failed = scrape(live_server)
    assert value(failed, M + "sms_failures_total", provider="flaky", kind="temporary") >= 1
    assert value(failed, M + "sms_outbox_pending") >= 1  # still queued, for a retry

    with store.engine.begin() as conn:  # due now (the retry would wait for its backoff)
        from sqlalchemy import text

        conn.execute(text("UPDATE smsmessage SET next_attempt_at = created_at"))
    run_once(store=store, settings=settings, provider=LogProvider(), worker_id="t")
    sent = scrape(live_server)
    assert (
        value(sent, M + "sms_sent_total", provider="log")
        >= value(before, M + "sms_sent_total", provider="log") + 1
    )
    assert value(sent, M + "sms_outbox_pending") == 0
    assert value(sent, M + "sms_outbox_oldest_pending_age_seconds") == 0


def test_pool_use_counts_checked_out_connections(live_server: LiveServer) -> None:
    engine = live_server.store.engine
    with engine.connect(), engine.connect(), engine.connect():
        held = value(scrape(live_server), M + "db_pool_checked_out")
        assert held >= 3  # ours, and any another thread holds at this moment
    deadline = time.monotonic() + 15
    while value(scrape(live_server), M + "db_pool_checked_out") > held - 3:
        assert time.monotonic() < deadline, "returned connections still counted"
        time.sleep(0.1)
