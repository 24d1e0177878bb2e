"""The widget's files and pages: /chat/widget.js, /chat/widget.css, the hosted /chat page and the
/chat/demo page (a stand-in for a force website that embeds the widget with one script tag).

Cross-origin use: a force website on another origin loads widget.js and calls /api/v1/chats; those
calls get CORS headers when the page's origin is in `allowed_origins` (or is ours).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_server import static_assets
from chat_server.chat.protocol import origin_of
from chat_server.widget.strings import widget_source
from contact_store.settings import Settings
from contact_store.ui import templates_for
from web_forms.pages import render

TEMPLATES = Path(__file__).parent / "templates"

router = APIRouter(tags=["chat widget"])


def chat_origins(settings: Settings) -> set[str]:
    """The origins whose pages may call the chat API: ours and `allowed_origins`."""
    return {origin_of(settings.public_base_url), *(origin_of(o) for o in settings.allowed_origins)}


@router.api_route("/chat/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
def widget_js(request: Request) -> Response:
    """The widget, with its words in every language and the origins it may be used on. Forces' pages
    load it from this stable URL: a short max-age, then an ETag revalidation (304), compressed."""
    settings: Settings = request.app.state.settings
    # Made again only when what is written into it changes (an administrator's new phone number
    # reaches every worker through the settings follower, and so the next request here).
    key = (settings.force_phone_non_emergency, tuple(sorted(chat_origins(settings))))
    cached: tuple[object, static_assets.MadeAsset] | None = request.app.state.__dict__.get("_widget_js")
    if cached is not None and cached[0] == key:
        made = cached[1]
    else:
        source = static_assets.source_text(request, "widget.js")
        if source is None:
            return Response(status_code=404)
        body = widget_source(
            source,
            allowed_origins=chat_origins(settings),
            non_emergency_number=settings.force_phone_non_emergency,
        )
        made = static_assets.MadeAsset.of(body.encode("utf-8"), "text/javascript; charset=utf-8")
        request.app.state._widget_js = (key, made)
    return static_assets.made_response(request, made)


@router.api_route("/chat/widget.css", methods=["GET", "HEAD"], include_in_schema=False)
def widget_css(request: Request) -> Response:
    return static_assets.stable(request, "widget.css")


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def hosted_chat(request: Request) -> Response:
    """The hosted chat page, in the visitor's language (`?lang=`, the cookie...) like every public page."""
    return render(request, "web_forms/chat.html")


@router.get("/chat/demo", response_class=HTMLResponse, include_in_schema=False)
def demo(request: Request) -> HTMLResponse:
    return templates_for(request, TEMPLATES).TemplateResponse(
        request, "chat_widget/demo.html", {"request": request}
    )


class ChatCors:
    """CORS for the public chat API only, for the force's own sites (settings.allowed_origins)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = chat_origins(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/v1/chats"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1").lower()
        if not origin or origin not in self.allowed:
            await self.app(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin.encode()),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *cors,
                        (b"access-control-allow-methods", b"GET, POST"),
                        (b"access-control-allow-headers", b"content-type, authorization"),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + cors
            await send(message)

        await self.app(scope, receive, with_cors)
