"""The ASGI application: `create_app()` wires settings, the store, the bus and every router."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from chat_server import auth_api, health, metrics_endpoint, sms_webhooks, static_assets
from chat_server.body_limit import BodyLimit
from chat_server.errors import install_error_handlers
from chat_server.observe import Observe
from chat_server.security_headers import API_DOCS_PATH, SecurityHeaders, add_nonce_to_scripts
from contact_store import telemetry
from contact_store.admission import LoopLag
from contact_store.assets import current_manifest
from contact_store.db import Store, make_engine
from contact_store.events import make_bus
from contact_store.settings import Settings, get_settings
from contact_store.ui import make_templates
from contact_store.web import csp_nonce
from web_forms.catalogue import catalogue

logger = logging.getLogger(__name__)


def build_store(settings: Settings) -> Store:
    """The store for these settings (engine + bus), not yet started."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    bus = make_bus(settings.redis_url, prefix=settings.redis_channel_prefix)
    return Store(engine, bus, settings=settings)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the FirstContact ASGI app. The schema must already be migrated (the CLI does it)."""
    settings = settings or get_settings()
    store = store or build_store(settings)
    if store.settings is None:
        store.settings = settings
    settings.resolved_secret_key()  # fail at start-up, not at first request, if it is missing
    telemetry.instrument_pool(store.engine)

    from chat_server.chat.presence import Presence
    from chat_server.routing.loop import RoutingLoop

    presence = Presence()
    routing_loop = RoutingLoop(store, settings, presence)
    from contact_store.administration.sync import ConfigFollower

    config_follower = ConfigFollower(store, settings)  # issue #15: console settings, no restart

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.bus.start()
        app.state.loop_lag.start()  # the admission gates' measure of how late this worker runs
        await config_follower.start()
        # --- SMS area: the outbox worker runs in this process when `firstcontact serve` asks. ---
        sms_worker = None
        if settings.sms_worker_embedded:
            from contact_store.sms.worker import start_in_thread

            sms_worker = start_in_thread(store=store, settings=settings)
        # --- end SMS area ---
        # Housekeeping (retention daily, abandoned form journeys hourly) alongside the SMS worker.
        housekeeping = None
        if settings.sms_worker_embedded:
            from chat_server.maintenance import start_in_thread as start_maintenance

            housekeeping = start_maintenance(store=store, settings=settings)
        if settings.routing_loop_enabled:
            await routing_loop.start()
        try:
            yield
        finally:
            # Shutdown (SIGTERM): uvicorn has stopped accepting and closed every websocket with 1012
            # (clients resume on another worker); now the last group-commit batches land and are
            # published, then the SMS worker gives back its unattempted claims (sms/worker.py, 7).
            from contact_store.group_commit import drain

            if not await drain(store):
                logger.warning("shutdown: group-commit units still pending after the drain timeout")
            await routing_loop.stop()
            await config_follower.stop()
            await app.state.loop_lag.stop()
            if sms_worker is not None:  # SMS area: stop the worker thread
                sms_worker[1].set()
                sms_worker[0].join(timeout=15)
            if housekeeping is not None:
                housekeeping[1].set()
                housekeeping[0].join(timeout=15)
            await store.bus.stop()
            telemetry.mark_process_dead()  # multiprocess mode: this worker's live gauges stop

    app = FastAPI(
        title="FirstContact",
        version="0.1.0",
        summary="Digital contact and live chat for police contact management",
        docs_url=None,  # served below, its inline script carrying the CSP nonce
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks are off: the metrics are prometheus-client's
        # (contact_store.telemetry), and asking OpenTelemetry whether a provider is configured
        # read the environment on every request and socket (9% of a reconnect storm's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.presence = presence
    app.state.routing_loop = routing_loop
    app.state.assets = current_manifest()
    app.state.config_follower = config_follower
    app.state.loop_lag = LoopLag()
    app.state.templates = make_templates(settings=settings)
    # The forms' names by slug, for the console's report filters (agent_console cannot import web_forms).
    app.state.form_titles = {slug: form.title for slug, form in catalogue().items()}
    install_error_handlers(app)

    @app.get(API_DOCS_PATH, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=app.openapi_url or "", title=f"{app.title} API")
        return HTMLResponse(add_nonce_to_scripts(bytes(page.body).decode(), csp_nonce(request)))

    from chat_server import console_ws
    from chat_server.chat import routes as chat_routes
    from chat_server.chat import visitor_ws
    from chat_server.widget import routes as widget_routes

    # The two sockets first: a websocket route never matches an HTTP request, and FastAPI matches
    # routers in order, so a (re)connecting socket does not walk every page's router first (seen
    # in the reconnect storm's profile).
    app.include_router(visitor_ws.router)
    app.include_router(console_ws.router)
    app.include_router(health.router)
    app.include_router(metrics_endpoint.router)  # operations: Prometheus (access-controlled)
    app.include_router(auth_api.router)
    app.include_router(sms_webhooks.router)  # SMS area: provider callbacks
    app.include_router(chat_routes.router)
    app.include_router(widget_routes.router)

    from agent_console.routes import router as console_router
    from web_forms.routes import router as forms_router

    app.include_router(forms_router)
    app.include_router(console_router)

    # Fingerprinted, pre-compressed CSS/JS/fonts/images from the package (contact_store/assets.py).
    app.include_router(static_assets.router)
    # Outermost last: every response (a 413 and a CORS preflight included) gets the security
    # headers; the body limit sits inside CORS so a refused cross-origin chat start is readable.
    from web_forms.pages import LanguageFromQuery

    app.add_middleware(LanguageFromQuery, settings=settings)  # `?lang=cy` sticks (issue #15)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(widget_routes.ChatCors, settings=settings)
    app.add_middleware(SecurityHeaders, settings=settings)
    # The catch-all 500 is answered outside every middleware (by Starlette's ServerErrorMiddleware):
    # its handler sets the same headers itself (chat_server.errors).
    app.state.security_headers = SecurityHeaders(app, settings).headers_for
    # Outermost of all: the request id covers every line logged, the latency every middleware.
    app.add_middleware(Observe)
    return app
