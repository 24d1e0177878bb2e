"""Group commit of submissions: one transaction per batch, failures isolated, events after commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy import event as sa_event
from sqlmodel import Session

from contact_store import conversations as conv_service
from contact_store.db import Store, make_engine
from contact_store.errors import Conflict
from contact_store.events import InProcessBus
from contact_store.group_commit import GroupCommitWriter, Job, run_db, run_grouped, run_sql, writer_for
from contact_store.message_sql import MessageWrite, NewMessage, store_message
from contact_store.models import (
    Conversation,
    ConversationStatus,
    IdempotencyRecord,
    Message,
    Report,
)
from contact_store.reports import FiledReport, ReportCreate, file_report
from contact_store.settings import Settings
from tests.builders import make_conversation
from tests.conftest import make_test_settings
from tests.support.databases import fresh_database, truncate_all
from tests.support.group_commit_units import allocate_then_break_a_constraint, hold_the_writer
from tests.web_forms.helpers import full_answers
from web_forms.api import service
from web_forms.catalogue import catalogue

pytestmark = pytest.mark.anyio


class CommittedOnlyBus(InProcessBus):
    """Records each event with whether its report was committed when it was published."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.seen: list[tuple[dict[str, Any], bool]] = []

    def publish(self, channel: str, event: dict[str, Any]) -> None:
        if "report_id" in event:
            row = Report.id == event["report_id"]  # type: ignore[arg-type]
        else:  # a chat message
            row = (Message.client_id == event["client_id"]) & (Message.seq == event["seq"])  # type: ignore[arg-type]
        with self.engine.connect() as conn:  # another connection sees committed rows only
            stored = conn.execute(select(func.count()).where(row)).scalar()
        self.seen.append((event, stored == 1))

    def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for channel, event in events:  # InProcessBus batches without calling publish()
            self.publish(channel, event)


@pytest.fixture(scope="module")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with fresh_database(tmp_path_factory.mktemp("gc"), "group_commit") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def gc_settings(tmp_path: Path, real_engine: Engine) -> Settings:
    return make_test_settings(tmp_path, str(real_engine.url.render_as_string(hide_password=False)))


@pytest.fixture
def gc_store(real_engine: Engine, gc_settings: Settings) -> Iterator[Store]:
    store = Store(real_engine, CommittedOnlyBus(real_engine), settings=gc_settings)
    yield store
    truncate_all(real_engine)


def _report_in(phone: str = "07700 900111") -> ReportCreate:
    return ReportCreate(
        form_slug="crime", answers={"description": "x"}, summary="x", phone=phone, safe_to_contact=True
    )


def file_then_fail(*, session: Session, settings: Settings, report_in: ReportCreate) -> None:
    file_report(session=session, settings=settings, report_in=report_in)
    raise ValueError("this unit fails after writing")


async def _run_one_batch(writer: GroupCommitWriter, units: list[tuple[Any, dict[str, Any]]]) -> list[Any]:
    """Run exactly these units as ONE batch and collect each caller's outcome."""
    loop = asyncio.get_running_loop()
    batch = [Job(fn, kwargs, loop.create_future(), loop) for fn, kwargs in units]
    await asyncio.to_thread(writer.run_batch, batch)
    return list(await asyncio.gather(*(job.fut for job in batch), return_exceptions=True))


def _count(store: Store, model: Any) -> int:
    with store.session_scope() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


async def test_a_failing_unit_is_rolled_back_alone(gc_store: Store, gc_settings: Settings) -> None:
    kwargs = {"settings": gc_settings, "report_in": _report_in()}
    outcomes = await _run_one_batch(
        writer_for(gc_store), [(file_report, kwargs), (file_then_fail, kwargs), (file_report, kwargs)]
    )
    assert isinstance(outcomes[0], FiledReport) and isinstance(outcomes[2], FiledReport)
    assert isinstance(outcomes[1], ValueError)
    assert _count(gc_store, Report) == 2
    bus = gc_store.bus
    assert isinstance(bus, CommittedOnlyBus)
    assert [e["report_id"] for e, _ in bus.seen] == [outcomes[0].id, outcomes[2].id]
    assert all(committed for _, committed in bus.seen)


async def test_same_key_twice_in_one_batch_files_one_report(gc_store: Store, gc_settings: Settings) -> None:
    form = catalogue()["crime"]
    answers = full_answers(form)
    same = service.check(form=form, answers=answers, language="en", settings=gc_settings)
    other = service.check(
        form=form, answers=answers | {"description": "Something else"}, language="en", settings=gc_settings
    )

    def unit(checked: service.CheckedSubmission) -> tuple[Any, dict[str, Any]]:
        return service.file_checked, {
            "settings": gc_settings,
            "form": form,
            "checked": checked,
            "idempotency_key": "one-key",
        }

    first, again, different = await _run_one_batch(
        writer_for(gc_store), [unit(same), unit(same), unit(other)]
    )
    assert first.status_code == 201 and not first.replayed
    assert again.replayed and again.body == first.body
    assert isinstance(different, Conflict)
    assert _count(gc_store, Report) == 1
    assert _count(gc_store, IdempotencyRecord) == 1


async def test_concurrent_callers_are_answered_after_commit(gc_store: Store, gc_settings: Settings) -> None:
    results = await asyncio.gather(
        *(
            run_grouped(
                gc_store, file_report, settings=gc_settings, report_in=_report_in(f"07700 9002{i:02d}")
            )
            for i in range(12)
        )
    )
    assert len({r.reference for r in results}) == 12
    assert _count(gc_store, Report) == 12
    bus = gc_store.bus
    assert isinstance(bus, CommittedOnlyBus)
    assert len(bus.seen) == 12 and all(committed for _, committed in bus.seen)


def _chat_orm_then_fail(*, session: Session, conversation_id: str) -> None:
    conv_service.append_message(
        session=session, conversation_id=conversation_id, client_id="orm", sender="visitor", body="x"
    )
    raise RuntimeError("this chat unit fails after writing")


async def test_forms_and_chat_units_share_one_batch_and_fail_alone(
    gc_store: Store, gc_settings: Settings, real_engine: Engine
) -> None:
    """One writer per store: forms submissions and chat units (cursor and ORM) queued together run
    in ONE transaction (on SQLite through the public entry points: one thread, one write-lock take);
    a failing unit of either kind is rolled back alone and publishes nothing."""
    sqlite = real_engine.dialect.name == "sqlite"
    with gc_store.session_scope() as s:
        cid = make_conversation(s, status=ConversationStatus.ACTIVE).id
    # On PostgreSQL the store's writer has several threads and chat ORM units use the threadpool,
    # so the one-batch part is shown on a one-thread writer there.
    writer = writer_for(gc_store) if sqlite else GroupCommitWriter(gc_store, threads=1)
    commits: list[int] = []

    def count_commit(conn: Any) -> None:
        commits.append(1)

    sa_event.listen(real_engine, "commit", count_commit)
    try:
        running, gate = threading.Event(), threading.Event()
        held = writer.submit(hold_the_writer, {"running": running, "gate": gate})
        await asyncio.to_thread(running.wait)
        report = {"settings": gc_settings, "report_in": _report_in()}
        broken_report = {"settings": gc_settings, "report_in": _report_in("07700 900222")}
        if sqlite:  # queued behind the held writer through the ordinary entry points
            calls = [
                run_grouped(gc_store, file_report, **report),
                run_sql(gc_store, store_message, message=NewMessage(cid, "a", "one"), lock_order=cid),
                run_grouped(gc_store, file_then_fail, **broken_report),
                run_sql(gc_store, allocate_then_break_a_constraint, conversation_id=cid, lock_order=cid),
                run_db(gc_store, _chat_orm_then_fail, conversation_id=cid),
                run_sql(gc_store, store_message, message=NewMessage(cid, "b", "two"), lock_order=cid),
            ]
            tasks = [asyncio.ensure_future(c) for c in calls]
            await asyncio.sleep(0.05)  # every task has queued its unit
        else:
            tasks = [
                writer.submit(file_report, report),
                writer.submit(store_message, {"message": NewMessage(cid, "a", "one")}, on_cursor=True),
                writer.submit(file_then_fail, broken_report),
                writer.submit(allocate_then_break_a_constraint, {"conversation_id": cid}, on_cursor=True),
                writer.submit(_chat_orm_then_fail, {"conversation_id": cid}),
                writer.submit(store_message, {"message": NewMessage(cid, "b", "two")}, on_cursor=True),
            ]
        gate.set()
        await held
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        sa_event.remove(real_engine, "commit", count_commit)
    assert len(commits) == 2, "the held unit's batch, then ONE transaction for all six units"
    filed, first, broken_form, broken_sql, broken_orm, last = outcomes
    assert isinstance(filed, FiledReport)
    assert isinstance(first, MessageWrite) and first.stored.seq == 1
    assert isinstance(broken_form, ValueError)
    assert isinstance(broken_sql, Exception) and not isinstance(broken_sql, AssertionError)
    assert isinstance(broken_orm, RuntimeError)
    assert isinstance(last, MessageWrite) and last.stored.seq == 2, "no seq lost to a failure"
    assert _count(gc_store, Report) == 1
    with gc_store.session_scope() as s:
        rows = s.exec(select(Message.client_id, Message.seq).where(Message.conversation_id == cid)).all()  # type: ignore[call-overload]
        assert sorted(rows, key=lambda r: r[1]) == [("a", 1), ("b", 2)]
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.last_seq == 2
    bus = gc_store.bus
    assert isinstance(bus, CommittedOnlyBus)
    # Published after the one commit, in order, nothing from the failed units.
    assert [e.get("report_id") or e["client_id"] for e, _ in bus.seen] == [filed.id, "a", "b"]
    assert all(committed for _, committed in bus.seen)
