"""Issue #15's done-when on two worker processes (PostgreSQL + Redis): an administrator adds a POD
with its postcode districts and opening hours on worker A, and the next chat from one of those
postcodes is routed to it on worker B (and A) at once — no restart, no environment change.

The service's own chat hours are closed all week here, so a chat from the new POD's postcode can
only start because that POD's hours reached the worker. Both workers had already read (and cached
for `ORG_CACHE_TTL`) the organisation before the change: only the bus event can tell them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from sqlmodel import select

from contact_store.models import Area, ChangeHistory, Conversation, Role
from contact_store.org_cache import ORG_CACHE_TTL
from tests.chat_server.chat_client import operator_token
from tests.chat_server.workers import Worker, needs_postgres_and_redis, slow_start, spawn_two_workers

pytestmark = [needs_postgres_and_redis, slow_start]
CLOSED_ALL_WEEK = json.dumps(dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ""))
OPEN_ALL_DAY = {f"hours_{d}": "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
# Well inside the organisation cache's TTL: a change seen by then came over the bus.
PROPAGATION_DEADLINE = ORG_CACHE_TTL / 3


def _start(worker: Worker, postcode: str) -> httpx.Response:
    return httpx.post(
        worker.base_url + "/api/v1/chats",
        json={"name": "Alex Visitor", "topic": "crime", "postcode": postcode},
        timeout=10,
    )


def _started_on_pod(worker: Worker, postcode: str, area_id: int) -> bool:
    response = _start(worker, postcode)
    if response.status_code != 201:
        assert response.status_code == 409, response.text  # still closed: the change has not arrived
        return False
    with worker.store.session_scope() as s:
        conv = s.get(Conversation, response.json()["conversation_id"])
        assert conv is not None
        assert conv.area_id == area_id
    return True


def test_new_pod_routes_the_next_chat_on_both_workers(tmp_path: Path) -> None:
    with spawn_two_workers(
        tmp_path,
        FIRSTCONTACT_CHAT_OPENING_HOURS=CLOSED_ALL_WEEK,
        FIRSTCONTACT_CHAT_STARTS_PER_ADDRESS_PER_HOUR="1000000",  # the test polls by starting chats
    ) as (a, b):
        # Both workers read the organisation (and cache it): chat is closed, no POD knows ZZ9.
        for worker in (a, b):
            assert _start(worker, "ZZ9 1AA").status_code == 409
        _, token = operator_token(a, role=Role.ADMIN, username="pod-admin")
        added = httpx.post(
            a.base_url + "/console/admin/pods",
            headers={"Authorization": f"Bearer {token}"},
            data={"name": "Riverside", "postcodes": "ZZ9, ZZ10", "own_hours": "yes", **OPEN_ALL_DAY},
            timeout=10,
        )
        assert added.status_code == 303, added.text
        with a.store.session_scope() as s:
            area = s.exec(select(Area).where(Area.name == "Riverside")).one()
            area_id = area.id or 0
            assert area.postcode_prefixes == ["ZZ9", "ZZ10"]
            version = s.exec(select(ChangeHistory).where(ChangeHistory.object_type == "area")).one()
            assert version.before is None and version.after["postcode_prefixes"] == ["ZZ9", "ZZ10"]
        deadline = time.monotonic() + PROPAGATION_DEADLINE
        routed = {"a": False, "b": False}
        while not all(routed.values()):
            assert time.monotonic() < deadline, f"not routed to the new POD on {routed}"
            for name, worker in (("b", b), ("a", a)):
                routed[name] = routed[name] or _started_on_pod(worker, "ZZ9 1AA", area_id)
            time.sleep(0.2)
        # Postcodes outside the new POD still find chat closed on both workers.
        assert _start(b, "PR1 2AB").status_code == 409
        assert _start(a, "PR1 2AB").status_code == 409
