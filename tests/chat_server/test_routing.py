"""Routing rules and atomic claims (threads racing on one real database)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from chat_server.routing import queue as queue_service
from chat_server.routing import service
from contact_store.clock import utcnow
from contact_store.db import Store, make_engine
from contact_store.errors import Conflict
from contact_store.events import InProcessBus
from contact_store.models import Conversation, ConversationEvent, OperatorArea, OperatorStatus
from contact_store.settings import Settings
from tests.builders import make_area, make_conversation, make_operator, make_team
from tests.support.databases import fresh_database


@pytest.fixture
def shared_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh database that several threads use at once (no rolled-back test transaction)."""
    with fresh_database(tmp_path, "claims") as url:
        engine = make_engine(url, pool_size=12)
        yield Store(engine, InProcessBus())
        engine.dispose()


def race(n: int, fn: object) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)  # type: ignore[operator]
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_claims_never_assign_one_chat_twice(shared_store: Store, settings: Settings) -> None:
    with shared_store.session_scope() as s:
        ops = [make_operator(s, status=OperatorStatus.AVAILABLE, last_seen_at=utcnow()).id for _ in range(8)]
        cid = make_conversation(s).id

    def claim(i: int) -> int | None:
        def work(*, session: Session) -> int | None:
            op = session.get(service.Operator, ops[i])
            return service.claim(
                session=session, settings=settings, conversation_id=cid, operator=op
            ).assignee_id  # type: ignore[arg-type]

        return shared_store.run_in_session(work)

    results = race(8, claim)
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int))
    with shared_store.session_scope() as s:
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.assignee_id == winners[0] and conv.status == "active"
        events = s.exec(select(ConversationEvent).where(ConversationEvent.kind == "assigned")).all()
        assert len(events) == 1


def test_concurrent_claims_never_exceed_capacity(shared_store: Store, settings: Settings) -> None:
    with shared_store.session_scope() as s:
        op_id = make_operator(s, max_concurrent_chats=2, last_seen_at=utcnow()).id
        chats = [make_conversation(s).id for _ in range(10)]

    def claim(i: int) -> str:
        def work(*, session: Session) -> str:
            op = session.get(service.Operator, op_id)
            return service.claim(session=session, settings=settings, conversation_id=chats[i], operator=op).id  # type: ignore[arg-type]

        return shared_store.run_in_session(work)

    results = race(10, claim)
    assert len([r for r in results if isinstance(r, str)]) == 2, results
    assert all(getattr(r, "code", None) == "at_capacity" for r in results if not isinstance(r, str))
    with shared_store.session_scope() as s:
        assert service.held_count(session=s, operator_id=op_id or 0) == 2


def test_capacity_precedence(settings: Settings, session: Session) -> None:
    team = make_team(session, default_max_chats=5)
    own = make_operator(session, team_id=team.id, max_concurrent_chats=2)
    from_team = make_operator(session, team_id=team.id)
    default = make_operator(session)
    assert service.capacity_of(operator=own, team=team, settings=settings) == 2
    assert service.capacity_of(operator=from_team, team=team, settings=settings) == 5
    assert (
        service.capacity_of(operator=default, team=None, settings=settings) == settings.chat_default_max_chats
    )


def test_longest_waiting_goes_to_most_spare_then_longest_idle(settings: Settings, session: Session) -> None:
    now = utcnow()
    busy = make_operator(
        session, status="available", max_concurrent_chats=3, idle_since=now - timedelta(hours=1)
    )
    free_recent = make_operator(session, status="available", max_concurrent_chats=3, idle_since=now)
    free_idle = make_operator(
        session, status="available", max_concurrent_chats=3, idle_since=now - timedelta(minutes=5)
    )
    make_conversation(session, status="active", assignee_id=busy.id)
    newer = make_conversation(session, queued_at=now - timedelta(seconds=10))
    older = make_conversation(session, queued_at=now - timedelta(seconds=60))
    assert service.assign_waiting(session=session, settings=settings) == 2
    session.refresh(older)
    session.refresh(newer)
    assert older.offered_to_id == free_idle.id  # most spare (3), idle longest
    assert newer.offered_to_id == free_recent.id  # then the other one with 3 spare


def test_home_pod_first_then_trip_over(settings: Settings, session: Session) -> None:
    east, west = make_area(session), make_area(session)
    op = make_operator(session, status="available")
    session.add(OperatorArea(operator_id=op.id or 0, area_id=west.id or 0))
    conv = make_conversation(session, area_id=east.id)
    assert service.assign_waiting(session=session, settings=settings) == 0
    conv.queued_at = utcnow() - timedelta(seconds=settings.trip_over_seconds + 1)
    session.add(conv)
    session.flush()
    assert service.assign_waiting(session=session, settings=settings) == 1
    session.refresh(conv)
    assert conv.status == "offered" and conv.offered_to_id == op.id


def test_an_operator_whose_pods_are_all_retired_serves_every_pod(
    settings: Settings, session: Session
) -> None:
    east, closed = make_area(session), make_area(session)
    op = make_operator(session, status="available")
    session.add(OperatorArea(operator_id=op.id or 0, area_id=closed.id or 0))
    make_conversation(session, area_id=east.id)
    assert service.assign_waiting(session=session, settings=settings) == 0  # held for their POD
    closed.retired_at = utcnow()
    session.add(closed)
    session.flush()
    assert service.assign_waiting(session=session, settings=settings) == 1


def test_danger_jumps_the_queue(settings: Settings, session: Session) -> None:
    first = make_conversation(session, queued_at=utcnow() - timedelta(minutes=5))
    second = make_conversation(session)
    assert service.check_danger(
        session=session, settings=settings, conversation_id=second.id, text_="I want to kill myself"
    )
    session.refresh(second)
    assert [c.id for c in service.waiting(session=session)][:2] == [second.id, first.id]
    assert not service.check_danger(
        session=session, settings=settings, conversation_id=first.id, text_="my bike was stolen"
    )


def test_offer_timeout_requeues_and_sets_operator_away(settings: Settings, session: Session) -> None:
    op = make_operator(session, status="available", last_seen_at=utcnow())
    conv = make_conversation(session)
    assert service.offer(session=session, settings=settings, conversation_id=conv.id, operator_id=op.id or 0)
    conv.offered_at = utcnow() - timedelta(seconds=settings.offer_timeout_seconds + 1)
    session.add(conv)
    session.flush()
    assert queue_service.expire_offers(session=session, settings=settings) == 1
    session.refresh(conv)
    session.refresh(op)
    assert conv.status == "queued" and conv.offered_to_id is None
    assert op.status == "away"
    kinds = session.exec(
        select(ConversationEvent.kind).where(ConversationEvent.conversation_id == conv.id)
    ).all()
    assert "offer_timeout" in kinds


def test_operator_past_grace_loses_chats_to_the_queue(settings: Settings, session: Session) -> None:
    op = make_operator(
        session,
        status="available",
        last_seen_at=utcnow() - timedelta(seconds=settings.operator_grace_seconds + 5),
    )
    conv = make_conversation(session, status="active", assignee_id=op.id)
    stayed = make_operator(session, status="available", last_seen_at=utcnow())
    kept = make_conversation(session, status="active", assignee_id=stayed.id)
    assert queue_service.requeue_lost_operators(session=session, settings=settings) == 1
    for row in (conv, kept, op):
        session.refresh(row)
    assert conv.status == "queued" and conv.assignee_id is None
    assert kept.status == "active"
    assert op.status == "offline"


def test_visitor_gone_past_grace_is_abandoned(settings: Settings, session: Session) -> None:
    conv = make_conversation(
        session, visitor_seen_at=utcnow() - timedelta(seconds=settings.visitor_grace_seconds + 5)
    )
    present = make_conversation(session, visitor_seen_at=utcnow())
    assert queue_service.abandon_gone_visitors(session=session, settings=settings) == 1
    session.refresh(conv)
    session.refresh(present)
    assert conv.status == "abandoned" and conv.abandoned_at is not None and conv.ended_by == "timeout"
    assert present.status == "queued"


def test_a_chat_whose_visitor_has_gone_is_not_offered(settings: Settings, session: Session) -> None:
    """Closed the page, quick exit or never connected: still queued (the grace period decides), but
    no operator is offered a chat nobody is waiting on."""
    now = utcnow()
    make_operator(session, status="available", max_concurrent_chats=3)
    gone = make_conversation(
        session, queued_at=now - timedelta(seconds=90), visitor_seen_at=now - timedelta(seconds=60)
    )
    here = make_conversation(session, queued_at=now - timedelta(seconds=5), visitor_seen_at=now)
    assert service.assign_waiting(session=session, settings=settings) == 1
    session.refresh(gone)
    session.refresh(here)
    assert (gone.status, gone.offered_to_id) == ("queued", None)
    assert here.status == "offered"


def test_an_offer_says_who_is_waiting(settings: Settings, session: Session) -> None:
    from contact_store.events import PENDING_EVENTS_KEY

    op = make_operator(session, status="available", max_concurrent_chats=3)
    conv = make_conversation(
        session,
        visitor_name="Ceri",
        topic="crime",
        language="cy",
        danger_flag=True,
        queued_at=utcnow() - timedelta(seconds=75),
    )
    assert service.assign_waiting(session=session, settings=settings) == 1
    (offer,) = [
        e for ch, e in session.info[PENDING_EVENTS_KEY] if ch == f"operator:{op.id}" and e["type"] == "offer"
    ]
    assert offer["conversation_id"] == conv.id
    assert (offer["visitor_name"], offer["topic"], offer["language"], offer["danger"]) == (
        "Ceri",
        "crime",
        "cy",
        True,
    )
    assert 74 <= offer["waited_seconds"] <= 80


def test_no_estimate_when_nobody_is_staffing_the_queue(settings: Settings, session: Session) -> None:
    make_operator(session, status="away", max_concurrent_chats=3)
    model = queue_service.wait_model(session=session, settings=settings)
    assert model.staffed == 0 and model.estimate(1) is None
    assert queue_service.queue_frame(1, model.estimate(1)) == {
        "type": "queue",
        "position": 1,
        "estimated_wait_seconds": None,
        "staffed": False,
    }


def test_estimated_wait_from_live_data(settings: Settings, session: Session) -> None:
    now = utcnow()
    make_operator(session, status="busy", max_concurrent_chats=2)
    make_conversation(
        session,
        status="ended",
        assigned_at=now - timedelta(seconds=400),
        ended_at=now - timedelta(seconds=100),
    )
    model = queue_service.wait_model(session=session, settings=settings)
    assert model.handle_seconds == 300 and model.staffed == 2 and model.free == 0
    assert model.estimate(1) == 150
    assert model.estimate(4) == 600


def test_system_messages_speak_the_visitors_language(session: Session) -> None:
    """A Welsh chat gets its joins, endings and 999 advice in Welsh; English is the fallback."""
    from contact_store.conversations import system_message, system_text

    conv = make_conversation(session, language="cy")
    stored = system_message(session=session, conversation_id=conv.id, key="joined", name="Dafydd")
    assert stored.body == "Mae Dafydd wedi ymuno â'r sgwrs."
    assert "999" in system_message(session=session, conversation_id=conv.id, key="danger").body
    assert system_text("joined", "fr", name="Jo") == "Jo has joined the chat."
