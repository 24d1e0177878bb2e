"""Opening visitor sockets in batches (chat_server/chat/opening.py): each socket gets its own
answer under the one token rule, and a burst of sockets is served by a few reads, not one each."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed

from chat_server.chat import opening
from chat_server.chat.opening import Opening, OpenRequest, open_many
from chat_server.routing.queue import QueueView
from contact_store.clock import utcnow
from contact_store.errors import Forbidden, Gone
from contact_store.models import ConversationStatus
from contact_store.settings import Settings
from tests.builders import make_conversation, make_operator
from tests.chat_server.chat_client import recv_until, start_chat, visitor_socket
from tests.conftest import LiveServer


def test_each_request_of_a_batch_gets_its_own_answer(session: Session, settings: Settings) -> None:
    operator = make_operator(session, display_name="Sam Operator")
    waiting = make_conversation(session, token="waiting-token")
    active = make_conversation(
        session, token="active-token", status=ConversationStatus.ACTIVE, assignee_id=operator.id, last_seq=0
    )
    ended_long_ago = make_conversation(
        session,
        token="old-token",
        status=ConversationStatus.ENDED,
        ended_at=utcnow() - timedelta(minutes=settings.chat_token_ttl_after_end_minutes + 1),
    )
    requests = [
        OpenRequest(waiting.id, "waiting-token", 0),
        OpenRequest(waiting.id, "waiting-token"),  # no after_seq: the token check only
        OpenRequest(active.id, "active-token", 0),
        OpenRequest(waiting.id, "someone-elses-token", 0),
        OpenRequest(ended_long_ago.id, "old-token", 0),
        OpenRequest("no-such-chat", "waiting-token", 0),
        OpenRequest("x" * 37, "waiting-token", 0),  # not a conversation id: never looked up
    ]
    answers = open_many(session=session, settings=settings, requests=requests, view=QueueView())
    assert len(answers) == len(requests)
    first, token_only, assigned = answers[:3]
    assert isinstance(first, Opening) and first.resume is not None
    after_seq, replay, frames = first.resume
    assert (after_seq, replay) == (0, []) and frames[0]["type"] == "queue"
    assert isinstance(token_only, Opening) and token_only.resume is None
    assert isinstance(assigned, Opening) and assigned.resume is not None
    assert assigned.resume[2] == [{"type": "assigned", "operator": {"display_name": "Sam Operator"}}]
    assert isinstance(answers[3], Forbidden)
    assert isinstance(answers[4], Gone)
    assert isinstance(answers[5], Forbidden) and isinstance(answers[6], Forbidden)


@pytest.mark.anyio
async def test_a_burst_of_sockets_is_opened_by_a_few_reads(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = opening.open_many

    def counted(**kwargs: Any) -> list[Any]:
        reads.append(len(kwargs["requests"]))
        return real(**kwargs)

    monkeypatch.setattr(opening, "open_many", counted)
    chats = [await start_chat(live_server) for _ in range(40)]
    sockets = await asyncio.gather(*(visitor_socket(live_server, chat, after_seq=0) for chat in chats))
    try:
        frames = await asyncio.gather(*(recv_until(ws, lambda f: f["type"] == "queue") for ws in sockets))
        assert all(f["position"] >= 1 for f in frames)
        assert sum(reads) == 40
        assert len(reads) < 40, reads  # sockets that opened while a read was in flight shared the next
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


@pytest.mark.anyio
async def test_a_failed_read_fails_its_sockets_and_the_next_ones_open(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = opening.open_many
    monkeypatch.setattr(opening, "open_many", lambda **kwargs: 1 / 0)
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat, after_seq=0)
    with pytest.raises(ConnectionClosed) as closed:
        await recv_until(ws, lambda f: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011  # its client reconnects
    monkeypatch.setattr(opening, "open_many", real)
    again = await visitor_socket(live_server, chat, after_seq=0)
    assert (await recv_until(again, lambda f: f["type"] == "queue"))["position"] >= 1
    await again.close()
