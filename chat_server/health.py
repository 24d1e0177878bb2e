"""Health: liveness (`/health/live`), readiness (`/health/ready`), and the older `/healthz`.

- `GET /health/live`: 200 `{"status": "ok"}` while the process answers at all. It checks no
  dependency, so a database outage never makes an orchestrator restart healthy workers.
- `GET /health/ready`: may this worker take traffic? 200 when every check passes, else 503; the
  body names each check and its result: `{"status": "error", "checks": {"database": "ok",
  "migrations": "behind", "redis": "error"}}`.
  - database: a `SELECT 1` answers;
  - migrations: the schema is at this release's Alembic head ("behind": not migrated yet;
    "ahead": a newer release migrated it; "unknown" when the database does not answer);
  - redis: only when `FIRSTCONTACT_REDIS_URL` is set: the event bus's Redis answers a PING within
    `REDIS_PING_TIMEOUT_SECONDS`.
- `GET /healthz` (kept for existing probes): database reachable and event bus delivering.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from contact_store.db import Store
from contact_store.migrate import migration_state

router = APIRouter(tags=["health"])
# A Redis that takes longer than this to answer a PING is not ready for chat traffic.
REDIS_PING_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    event_bus: Literal["ok", "error"]


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ok", "error"]
    checks: dict[str, str]


@router.get(
    "/healthz",
    summary="Database and event bus",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or the event bus is not available"}},
)
async def healthz(request: Request) -> JSONResponse:
    """`{"status": "ok", "database": "ok", "event_bus": "ok"}`, or 503 naming the failing part."""
    store = request.app.state.store
    database_ok = await to_thread.run_sync(store.ping)
    bus_ok = await store.bus.ping()
    body = {
        "status": "ok" if database_ok and bus_ok else "error",
        "database": "ok" if database_ok else "error",
        "event_bus": "ok" if bus_ok else "error",
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/health/live", summary="Liveness: the process answers", response_model=Live)
async def live() -> JSONResponse:
    """Always `{"status": "ok"}` while the process runs; no dependency is checked."""
    return JSONResponse({"status": "ok"})


def _database_checks(store: Store) -> dict[str, str]:
    if not store.ping():
        return {"database": "error", "migrations": "unknown"}
    try:
        with store.session_scope() as session:  # the store's own connection (tests bind one)
            return {"database": "ok", "migrations": migration_state(session.connection())}
    except Exception:
        return {"database": "ok", "migrations": "error"}


async def _redis_ok(store: Store) -> bool:
    try:
        return await asyncio.wait_for(store.bus.ping(), REDIS_PING_TIMEOUT_SECONDS)
    except (TimeoutError, Exception):
        return False


@router.get(
    "/health/ready",
    summary="Readiness: database, migrations at head, Redis when configured",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "A check failed; `checks` says which"}},
)
async def ready(request: Request) -> JSONResponse:
    """200 `{"status": "ok", "checks": {...}}` when every check passes, else 503 with the same shape."""
    store: Store = request.app.state.store
    checks = await to_thread.run_sync(_database_checks, store)
    if request.app.state.settings.redis_url:
        checks["redis"] = "ok" if await _redis_ok(store) else "error"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if ok else "error", "checks": checks}, status_code=200 if ok else 503)
