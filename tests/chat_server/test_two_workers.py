"""Two uvicorn processes on two ports sharing a fresh PostgreSQL database and Redis: a visitor on
one worker and an operator on the other chat normally, and the visitor resumes on the other worker.

Skipped unless FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and FIRSTCONTACT_TEST_REDIS_URL are set.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from tests.chat_server.chat_client import (
    new_id,
    operator_holding,
    operator_token,
    recv_until,
    send,
    start_chat,
    visitor_socket,
)
from tests.chat_server.workers import Worker, needs_postgres_and_redis, slow_start, two_workers

pytestmark = [pytest.mark.anyio, needs_postgres_and_redis, slow_start]
__all__ = ["two_workers"]


async def test_visitor_and_operator_on_different_workers(two_workers: tuple[Worker, Worker]) -> None:
    a, b = (cast(Any, w) for w in two_workers)
    chat = await start_chat(a)
    _, token = operator_token(b)
    visitor = await visitor_socket(a, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "hello from worker A"})
    await recv_until(visitor, lambda f: f["type"] == "ack")
    operator = await operator_holding(b, chat, token)
    got = await recv_until(operator, lambda f: f["type"] == "message" and f["sender"] == "visitor")
    assert got["body"] == "hello from worker A"
    await recv_until(visitor, lambda f: f["type"] == "assigned")
    cid = chat["conversation_id"]
    await send(
        operator, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "reply from B"}
    )
    reply = await recv_until(visitor, lambda f: f["type"] == "message" and f["sender"] == "operator")
    assert reply["body"] == "reply from B"
    last = reply["seq"]
    # The visitor's socket drops; the operator writes; the visitor comes back on worker B.
    await visitor.close()
    for i in range(3):
        await send(
            operator,
            {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": f"missed {i}"},
        )
        await recv_until(operator, lambda f: f["type"] == "ack")
    visitor = await visitor_socket(b, chat)
    await send(visitor, {"type": "resume", "after_seq": last})
    await send(operator, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "live"})
    bodies: list[str] = []
    seqs: list[int] = []
    while not bodies or bodies[-1] != "live":
        f = await recv_until(visitor, lambda f: f["type"] == "message")
        bodies.append(f["body"])
        seqs.append(f["seq"])
    assert bodies == ["missed 0", "missed 1", "missed 2", "live"]
    assert seqs == sorted(set(seqs))
    # And the visitor on B reaches the operator, who is also on B now; then back on A.
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "thanks"})
    got = await recv_until(operator, lambda f: f["type"] == "message" and f["sender"] == "visitor")
    assert got["body"] == "thanks"
    await visitor.close()
    await operator.close()
