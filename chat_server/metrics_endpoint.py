"""GET /metrics: the Prometheus scrape (text exposition format), for operations only.

Access: a request whose `Authorization: Bearer <token>` matches `FIRSTCONTACT_METRICS_TOKEN`, or
one straight from an address in `FIRSTCONTACT_METRICS_ALLOWED_NETWORKS` (default: loopback only)
that did not come through a proxy (no X-Forwarded-For, Forwarded or X-Real-IP header: behind
nginx the peer is the proxy, whatever client it serves). A wrong token gets 403; anyone else 404,
as if there were no such page. The token is compared in constant time and never logged.

The body is this worker's figures (every worker's in multiprocess mode, `contact_store.telemetry`)
followed by the store's figures read now (queue, SMS outbox). If the store cannot be read the
scrape still answers, without those figures, and `firstcontact_store_figures_up` says 0.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from functools import lru_cache

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from contact_store import telemetry
from contact_store.db import Store
from contact_store.settings import Settings

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@lru_cache(maxsize=16)
def _networks(
    cidrs: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def access_refused(request: Request, settings: Settings) -> int | None:
    """None when the request may read the metrics, else the status to answer (403 or 404)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, presented = authorization.partition(" ")
        token = settings.metrics_token.get_secret_value()
        if (
            token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.strip().encode(), token.encode())
        ):
            return None
        return 403
    if any(name in request.headers for name in PROXY_HEADERS):
        return 404
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return 404
    if any(address in net for net in _networks(tuple(settings.metrics_allowed_networks))):
        return None
    return 404


class _Up:
    def __init__(self, up: bool) -> None:
        self.up = up

    def collect(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                telemetry.PREFIX + "store_figures_up",
                "1 when this scrape could read the store's figures (queue, SMS outbox), else 0.",
                value=1 if self.up else 0,
            )
        ]


def scrape(store: Store) -> bytes:
    """The exposition text: process figures, then the store's (blocking: call off the loop)."""
    registry = CollectorRegistry(auto_describe=False)
    try:
        figures = store.run_in_session(telemetry.read_store_figures)
    except Exception:
        logger.warning("metrics: the store's figures could not be read", exc_info=True)
        registry.register(_Up(False))
    else:
        registry.register(telemetry.StoreCollector(figures))
        registry.register(_Up(True))
    return generate_latest(telemetry.process_registry()) + generate_latest(registry)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus figures (see docs/readme/observability.md)."""
    refused = access_refused(request, request.app.state.settings)
    if refused is not None:
        return Response("Not Found" if refused == 404 else "Forbidden", status_code=refused)
    body = await to_thread.run_sync(scrape, request.app.state.store)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
