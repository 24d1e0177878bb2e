"""A cluster as a force runs it: `firstcontact serve` workers behind nginx (the shipped
deploy/nginx/firstcontact.conf) on one PostgreSQL database and Redis, each worker's SMS worker
sending through a fake Twilio; and `rolling_restart`, which restarts each worker in turn under chat
traffic and form submissions and returns what the users would have noticed.

Used by tests/chat_server/test_behind_nginx.py and bench/rolling_restart.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, func, select

from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from contact_store.models import Message, SmsMessage, SmsStatus
from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.support.chat_traffic import ConsoleClient, VisitorClient, wait_for
from tests.support.cluster import Nginx
from tests.support.databases import TEST_REDIS_URL, assert_store_invariants, fresh_database
from tests.support.serve import WorkerProcess, close_all, serve_env
from tests.support.sms_fakes import TWILIO_SID, TWILIO_TOKEN, FakeServer
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue

CRIME = "/api/v1/forms/crime/submissions"


@dataclass
class Cluster:
    nginx: Nginx
    workers: list[WorkerProcess]
    store: Store
    sms: FakeServer

    @property
    def base_url(self) -> str:
        return self.nginx.base_url

    def operator(self, **kw: Any) -> tuple[int, str]:
        with self.store.session_scope() as s:
            op = make_operator(s, **kw)
            assert op.id is not None
            return op.id, op.username

    def token(self, username: str) -> str:
        r = httpx.post(
            self.base_url + "/api/v1/auth/token",
            data={"username": username, "password": DEFAULT_PASSWORD},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def worker_env(
    url: str, nginx_url: str, data_dir: Path, sms: FakeServer, shared: dict[str, str]
) -> dict[str, str]:
    return (
        serve_env(
            data_dir,
            url,
            redis_url=TEST_REDIS_URL,
            public_base_url=nginx_url,
            trusted_proxies='["127.0.0.1"]',
            chat_starts_per_address_per_hour="1000000",
            sign_in_attempts_per_address="1000000",
            sign_in_attempts_per_account="1000000",
            api_submissions_per_minute="1000000",
            sms_max_per_recipient_per_day="1000000",
            chat_default_max_chats="40",
            sms_provider="twilio",
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_from_number="+447700900999",
            twilio_base_url=sms.base_url,
        )
        | shared
    )


@contextlib.contextmanager
def running_cluster(
    tmp_path: Path, workers: int = 2, *, server_repo: Path | None = None
) -> Iterator[Cluster]:
    """`workers` serve processes behind nginx; `server_repo`: run the workers from another checkout
    (the bench's "before" figure), the schema still made by this one."""
    with fresh_database(tmp_path, "nginx") as url, FakeServer("twilio") as sms:
        engine = make_engine(url)
        store = Store(engine, InProcessBus())
        procs = [
            WorkerProcess(name, {}, tmp_path / f"worker-{name}.log", "--log-level", "info", repo=server_repo)
            for name in "abcdefgh"[:workers]
        ]
        nginx = Nginx(tmp_path / "nginx", [w.port for w in procs])
        # One secret for every worker: a sign-in page from one worker is posted to another.
        shared = {
            "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
            "FIRSTCONTACT_REDIS_CHANNEL_PREFIX": f"fctest-{secrets.token_hex(4)}",
        }
        try:
            for w in procs:
                w.env = worker_env(url, nginx.base_url, tmp_path / w.name, sms, shared)
                if server_repo is not None:
                    w.env["PYTHONPATH"] = str(server_repo)
                w.launch()
            for w in procs:
                w.wait_up()
            nginx.start()
            yield Cluster(nginx, procs, store, sms)
        finally:
            nginx.stop()
            close_all(procs)
            try:
                assert_store_invariants(engine)
            finally:
                engine.dispose()


def sms_bodies(cluster: Cluster) -> Counter[str]:
    with cluster.sms.state.lock:
        return Counter(record["Body"] for record in cluster.sms.state.sent)


def outbox_settled(cluster: Cluster) -> bool:
    with Session(cluster.store.engine) as s:
        busy = s.exec(
            select(func.count())
            .select_from(SmsMessage)
            .where(col(SmsMessage.status).in_([SmsStatus.QUEUED, SmsStatus.SENDING]))
        ).one()
    return int(busy) == 0


# --- rolling restart --------------------------------------------------------------------------

SEND_EVERY = 0.4  # seconds between messages, per chat and side
FORM_EVERY = 0.3
RESTART_SETTLE = 3.0  # > the upstream fail_timeout of deploy/nginx/firstcontact.conf


async def rolling_restart(
    cluster: Cluster, *, chats: int, send_every: float = SEND_EVERY, old_console: bool = False
) -> dict[str, Any]:
    """Chats and forms through nginx while each worker in turn is restarted; returns the figures.
    `old_console`: the console client of before #12 (no `held` first frame, a per-chat resume)."""
    _, username = cluster.operator(display_name="Rolling Operator")
    token = await asyncio.to_thread(cluster.token, username)
    ws = cluster.nginx.ws_url
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=60) as http:
        started = []
        for _ in range(chats):
            r = await http.post("/api/v1/chats", json={"name": "Alex Visitor", "topic": "crime"})
            assert r.status_code == 201, r.text
            started.append(r.json())
        visitors = [VisitorClient(ws, chat=c, origin=cluster.base_url) for c in started]
        console = ConsoleClient(ws, headers={"Authorization": f"Bearer {token}"}, old_protocol=old_console)
        tasks = [asyncio.create_task(c.run()) for c in [*visitors, console]]
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in [*visitors, console])), 30)
        for v in visitors:
            await v.say("first")
            await console.send({"type": "accept", "conversation_id": v.cid})
        await wait_for(
            lambda: len(console.active) == chats,
            timeout=120,
            what=lambda: f"every chat accepted: {console.errors}",
        )

        stop = asyncio.Event()
        forms: Counter[str] = Counter()
        references: list[str] = []
        answers = full_answers(catalogue()["crime"])

        async def chatter() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                for v in visitors:
                    await v.say(f"visitor {i}")
                    await console.say(v.cid, f"operator {i}")
                await asyncio.sleep(send_every)

        async def submit_forms() -> None:
            while not stop.is_set():
                try:
                    r = await http.post(CRIME, json={"answers": answers})
                    forms[str(r.status_code)] += 1
                    if r.status_code == 201:
                        references.append(r.json()["reference"])
                except httpx.HTTPError as exc:
                    forms[type(exc).__name__] += 1
                await asyncio.sleep(FORM_EVERY)

        def restart_each() -> list[int]:
            codes = []
            time.sleep(2)
            for w in cluster.workers:
                codes.append(w.stop())
                w.start()
                # nginx holds a worker that refused connections as failed for fail_timeout (2 s):
                # the procedure waits that long before stopping the next one.
                time.sleep(RESTART_SETTLE)
            return codes

        load = [asyncio.create_task(chatter()), asyncio.create_task(submit_forms())]
        exit_codes = await asyncio.to_thread(restart_each)
        stop.set()
        await asyncio.gather(*load)
        clients = [*visitors, console]
        await wait_for(lambda: all(not c.unacked for c in clients), timeout=60, what="every message acked")
        with Session(cluster.store.engine) as s:
            rows = s.exec(select(Message.conversation_id, Message.seq, Message.client_id)).all()
        stored: dict[str, dict[int, str]] = {}
        for cid, seq, client_id in rows:
            stored.setdefault(cid, {})[seq] = client_id

        def everyone_has_everything() -> bool:
            return all(
                v.log.received == stored[v.cid] and console.logs[v.cid].received == stored[v.cid]
                for v in visitors
            )

        await wait_for(everyone_has_everything, timeout=60, what="every message at both ends")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await wait_for(lambda: outbox_settled(cluster), timeout=60, what="every text sent")
    sent_ids = [cid for c in clients for cid in c.sent]
    stored_ids = [client_id for cid, _, client_id in rows]
    texts = sms_bodies(cluster)
    return {
        "chats": chats,
        "messages_sent": len(sent_ids),
        "messages_stored": len(stored_ids),
        "lost": len(set(sent_ids) - set(stored_ids)),
        "duplicated": len(stored_ids) - len(set(stored_ids)),
        "visitor_repeated_frames": sum(v.log.repeats for v in visitors),
        "console_repeated_frames": console.repeats,
        "console_closes": dict(console.closes),
        "visitor_closes": dict(sum((v.closes for v in visitors), Counter())),
        "forms": dict(forms),
        "form_references": len(references),
        "texts_sent": sum(texts.values()),
        # Forms of this run whose acknowledgement text went out exactly once.
        "forms_texted_once": sum(
            1 for ref in references if sum(n for b, n in texts.items() if ref in b) == 1
        ),
        "texts_sent_twice": sum(1 for n in texts.values() if n > 1),
        "exit_codes": exit_codes,
    }
