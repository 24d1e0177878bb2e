"""Security headers on every HTTP response, set in one pure ASGI middleware (no BaseHTTPMiddleware:
it would buffer the wallboard's event stream and file downloads).

What every response gets, and why:

- `Content-Security-Policy`: scripts and styles only from this origin or carrying this response's
  nonce (a fresh random value per request, exposed to templates as `csp_nonce`); no inline code
  without it, no `'unsafe-inline'`, no plugins, no `<base>` rewriting, forms post only here.
  `frame-ancestors 'none'` everywhere except the hosted chat page (`/chat`), which only the
  force's own sites (`ALLOWED_ORIGINS`) may frame. A route that sets a stricter policy of its own
  (evidence downloads: `default-src 'none'; sandbox`) keeps it; the frame rule is added to it.
- `Cache-Control: no-store` on everything but the public static assets: console pages, console
  JSON, exports, the API and the public pages (a victim's answers must not sit in a shared
  browser's cache). Decided here by path, once, not per route.
- `Strict-Transport-Security` when `PUBLIC_BASE_URL` is https.
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`, a `Permissions-Policy` that
  turns off what the service never uses, `X-Frame-Options: DENY` for old browsers (not on `/chat`).

The embedding rules a force's own website needs are in docs/readme/embedding.md.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_server.chat.protocol import origin_of
from contact_store.settings import Settings
from contact_store.web import CSP_NONCE_SCOPE_KEY

# Paths whose responses browsers may cache: static files that hold nothing about anyone.
CACHEABLE_PREFIXES = ("/static/", "/assets/")
CACHEABLE_PATHS = frozenset({"/chat/widget.js", "/chat/widget.css", "/favicon.ico"})
# The one page other sites may frame (the force's own sites, settings.allowed_origins).
HOSTED_CHAT_PATH = "/chat"
# FastAPI's Swagger UI loads its stylesheet and favicon from these hosts (its scripts carry the nonce).
API_DOCS_PATH = "/api/docs"
API_DOCS_STYLE_SOURCES = ("https://cdn.jsdelivr.net",)
API_DOCS_IMAGE_SOURCES = ("https://fastapi.tiangolo.com",)
# 16 random bytes: unguessable for the life of one response.
NONCE_BYTES = 16
# One year, every subdomain of the service's own host: the usual HSTS preload-ready value.
HSTS_VALUE = b"max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY = b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"

_FIXED_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", PERMISSIONS_POLICY),
]
_OWNED = {
    b"content-security-policy",
    b"x-frame-options",
    b"strict-transport-security",
    b"x-content-type-options",
    b"referrer-policy",
    b"permissions-policy",
}
_SCRIPT_TAG = re.compile(r"<script(?=[\s>])")


def new_nonce() -> str:
    """A fresh CSP nonce (base64url, valid in a `'nonce-…'` source)."""
    return secrets.token_urlsafe(NONCE_BYTES)


def is_cacheable(path: str) -> bool:
    """Whether a response on this path may be cached (public static assets only)."""
    return path in CACHEABLE_PATHS or path.startswith(CACHEABLE_PREFIXES)


def add_nonce_to_scripts(html: str, nonce: str) -> str:
    """Give every `<script>` tag of a page we do not template ourselves (Swagger UI) the nonce."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', html)


class ContentSecurityPolicy:
    """The policies this deployment sends, built once from the settings."""

    def __init__(self, settings: Settings) -> None:
        base = origin_of(settings.public_base_url)
        # CSP3 lets 'self' match ws(s):// on our host; older engines need the socket origin named.
        self.socket_origin = re.sub(r"^http", "ws", base)
        framers = sorted({origin_of(o) for o in settings.allowed_origins if o.strip()})
        self.chat_frame_ancestors = " ".join(framers) if framers else "'none'"

    def frame_ancestors(self, path: str) -> str:
        return self.chat_frame_ancestors if path == HOSTED_CHAT_PATH else "'none'"

    def policy(self, path: str, nonce: str) -> str:
        """The full policy for a response on `path` with this nonce."""
        style_extra = img_extra = ""
        if path == API_DOCS_PATH:
            style_extra = " " + " ".join(API_DOCS_STYLE_SOURCES)
            img_extra = " " + " ".join(API_DOCS_IMAGE_SOURCES)
        directives: Iterable[str] = (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'{style_extra}",
            f"img-src 'self' data:{img_extra}",
            "font-src 'self'",
            f"connect-src 'self' {self.socket_origin}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {self.frame_ancestors(path)}",
        )
        return "; ".join(directives)


class SecurityHeaders:
    """Adds the security headers above to every HTTP response; gives each request its CSP nonce."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.csp = ContentSecurityPolicy(settings)
        self.hsts = settings.public_base_url.lower().startswith("https://")

    def headers_for(
        self, path: str, nonce: str, existing: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """The response's headers: the route's own, with ours set over them."""
        own_csp = next((v for k, v in existing if k.lower() == b"content-security-policy"), None)
        cacheable = is_cacheable(path)
        headers = [
            (k, v)
            for k, v in existing
            if k.lower() not in _OWNED and (cacheable or k.lower() not in (b"cache-control", b"pragma"))
        ]
        frame_ancestors = self.csp.frame_ancestors(path)
        if own_csp is not None:
            # A route's own policy is stricter by design; it only lacks our framing rule.
            csp = own_csp.decode("latin-1")
            if "frame-ancestors" not in csp:
                csp = f"{csp.rstrip('; ')}; frame-ancestors {frame_ancestors}"
        else:
            csp = self.csp.policy(path, nonce)
        headers.append((b"content-security-policy", csp.encode("latin-1")))
        headers.extend(_FIXED_HEADERS)
        if frame_ancestors == "'none'":
            headers.append((b"x-frame-options", b"DENY"))
        if not cacheable:
            headers.append((b"cache-control", b"no-store"))
            headers.append((b"pragma", b"no-cache"))
        if self.hsts:
            headers.append((b"strict-transport-security", HSTS_VALUE))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = new_nonce()
        scope[CSP_NONCE_SCOPE_KEY] = nonce
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.headers_for(path, nonce, list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["ContentSecurityPolicy", "SecurityHeaders", "add_nonce_to_scripts", "is_cacheable", "new_nonce"]
