"""GET /healthz: is the database reachable and is the event bus delivering?"""

from typing import Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    event_bus: Literal["ok", "error"]


@router.get(
    "/healthz",
    summary="Liveness and readiness",
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
