"""The visitor message rate is per conversation: every socket of one chat draws on one budget (on
one worker, and across two workers through Redis), so more sockets never mean more messages."""

from __future__ import annotations

import math
import time
from typing import Any, cast

import pytest
from sqlmodel import select
from websockets.asyncio.client import ClientConnection

from contact_store.models import Message
from tests.chat_server.chat_client import Frame, recv_until, send, start_chat, visitor_socket
from tests.chat_server.workers import Worker, needs_postgres_and_redis, slow_start, two_workers
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio
__all__ = ["two_workers"]

# The defaults (the live server and the workers run with them).
BURST, PER_SECOND = 20, 5.0


async def _burst_over(sockets: list[ClientConnection], per_socket: int) -> tuple[set[str], set[str], float]:
    """Send `per_socket` messages on each socket at once; the client ids acked and refused, and the
    seconds it took."""
    started = time.monotonic()
    for i in range(per_socket):
        for j, ws in enumerate(sockets):
            await send(ws, {"type": "message", "client_id": f"s{j}-m{i}", "body": f"socket {j} message {i}"})
    acked: set[str] = set()
    limited: set[str] = set()
    for ws in sockets:
        replies = 0
        while replies < per_socket:
            f = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
            replies += 1
            if f["type"] == "ack":
                acked.add(f["client_id"])
            else:
                assert f["code"] == "rate_limited", f
                limited.add(f["client_id"])
    return acked, limited, time.monotonic() - started


def _check_one_budget(acked: set[str], limited: set[str], seconds: float, sent: int) -> None:
    assert len(acked) + len(limited) == sent
    # Each socket alone stayed under the burst, so per-socket buckets would have accepted all.
    assert limited, "three sockets did not share one budget"
    refilled = math.ceil(PER_SECOND * seconds) + 1  # counted, not asserted on as a time
    assert BURST <= len(acked) <= BURST + refilled


async def test_three_connections_to_one_chat_share_one_budget(live_server: LiveServer) -> None:
    assert (live_server.settings.chat_rate_burst, live_server.settings.chat_rate_per_second) == (
        BURST,
        PER_SECOND,
    )
    chat = await start_chat(live_server)
    sockets = [await visitor_socket(live_server, chat) for _ in range(3)]
    for ws in sockets:
        await send(ws, {"type": "resume", "after_seq": 0})
    per_socket = BURST - 1
    acked, limited, seconds = await _burst_over(sockets, per_socket)
    _check_one_budget(acked, limited, seconds, 3 * per_socket)
    for ws in sockets:
        await ws.close()
    with live_server.store.session_scope() as s:
        stored = set(
            s.exec(select(Message.client_id).where(Message.conversation_id == chat["conversation_id"])).all()
        )
    assert stored == acked  # a refused message is not stored
    # Another chat has its own budget.
    other = await start_chat(live_server)
    ws = await visitor_socket(live_server, other)
    await send(ws, {"type": "resume", "after_seq": 0})
    await send(ws, {"type": "message", "client_id": "other-1", "body": "hello"})
    reply: Frame = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert reply["type"] == "ack"
    await ws.close()


@needs_postgres_and_redis
@slow_start
async def test_connections_on_two_workers_share_one_budget_through_redis(
    two_workers: tuple[Worker, Worker],
) -> None:
    a, b = (cast(Any, w) for w in two_workers)
    chat = await start_chat(a)
    sockets = [await visitor_socket(a, chat), await visitor_socket(b, chat), await visitor_socket(b, chat)]
    for ws in sockets:
        await send(ws, {"type": "resume", "after_seq": 0})
    per_socket = BURST - 1
    acked, limited, seconds = await _burst_over(sockets, per_socket)
    _check_one_budget(acked, limited, seconds, 3 * per_socket)
    for ws in sockets:
        await ws.close()
