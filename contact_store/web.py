"""Web glue shared by every package that serves HTTP: typed dependencies for the store, settings,
the request's unit of work and the signed-in member of staff.

Services stay free of web imports; this module is the thin layer between them and FastAPI.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request, WebSocket
from sqlmodel import Session

from contact_store import staff
from contact_store.conversations import authorise_visitor
from contact_store.db import Store
from contact_store.errors import Forbidden, NotAuthenticated
from contact_store.models import Conversation, Operator, Role, StaffSession
from contact_store.openapi import error_responses
from contact_store.settings import Settings
from contact_store.throttle import throttles_for

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SESSION_COOKIE = "fc_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
UNKNOWN_ADDRESS = "unknown"
# Where the security-headers middleware (chat_server/security_headers.py) puts this response's
# Content-Security-Policy nonce in the ASGI scope; templates read it as `csp_nonce`.
CSP_NONCE_SCOPE_KEY = "firstcontact.csp_nonce"


def csp_nonce(request: Request | WebSocket) -> str:
    """This response's CSP nonce ("" when no middleware set one, e.g. a template rendered alone)."""
    return str(request.scope.get(CSP_NONCE_SCOPE_KEY, ""))


def csp_template_context(request: Request) -> dict[str, str]:
    """Jinja context processor: every template gets `csp_nonce` for its inline <script>/<style>."""
    return {"csp_nonce": csp_nonce(request)}


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: commits once after the handler succeeds, rolls back on error.

    Declared with scope="function" so the commit happens before the response is sent: a client
    that sees 201 can read what it wrote, and a failed commit is an error response, not a lie.
    """
    store: Store = request.app.state.store
    with store.session_scope() as session:
        yield session


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class StaffContext:
    operator: Operator
    staff_session: StaffSession

    @property
    def csrf_token(self) -> str:
        return self.staff_session.csrf_token


def token_from_request(request: Request | WebSocket) -> str:
    """The staff token from `Authorization: Bearer` or the session cookie ("" if none)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE, "")


# OpenAPI `responses` of every route that takes the visitor's token (`visitor_conversation`).
VISITOR_TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(
    401,
    403,
    410,
    descriptions={
        401: "No `Authorization: Bearer <chat token>` header",
        403: "The token is not this chat's",
        410: "The chat ended longer ago than `chat_token_ttl_after_end_minutes`",
    },
)


def visitor_token(request: Request) -> str:
    """The chat visitor's token from `Authorization: Bearer` ("" if none). Never read from a URL:
    URLs end up in logs, history and Referer headers."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def visitor_conversation(
    *, request: Request, session: Session, settings: Settings, conversation_id: str
) -> Conversation:
    """The chat a visitor's bearer token opens over HTTP (transcript, in-chat survey): 401 without
    a token, 403 for another chat's, 410 once it has expired (`authorise_visitor`)."""
    token = visitor_token(request)
    if not token:
        raise NotAuthenticated("Send the chat's token as Authorization: Bearer <token>")
    return authorise_visitor(
        session=session,
        conversation_id=conversation_id,
        token=token,
        ttl_minutes=settings.chat_token_ttl_after_end_minutes,
    )


def current_staff(request: Request, session: SessionDep, settings: SettingsDep) -> StaffContext:
    """The signed-in member of staff, or 401 (JSON) / redirect to sign-in (HTML)."""
    token = token_from_request(request)
    try:
        staff_session, operator = staff.resolve_session(session=session, settings=settings, token=token)
    except NotAuthenticated as exc:
        if exc.code == "session_idle":
            session.commit()  # keep the revocation: raising alone would roll it back
        raise
    request.state.staff = StaffContext(operator, staff_session)
    return request.state.staff


CurrentStaff = Annotated[StaffContext, Depends(current_staff)]


def require_role(minimum: Role) -> object:
    """A dependency that lets through staff whose role is at least `minimum`."""

    def _check(ctx: CurrentStaff) -> StaffContext:
        if not staff.has_role(ctx.operator, minimum):
            raise Forbidden("Your role does not allow this")
        return ctx

    return Depends(_check)


SupervisorOnly = Annotated[StaffContext, require_role(Role.SUPERVISOR)]
ManagerOnly = Annotated[StaffContext, require_role(Role.MANAGER)]
AdminOnly = Annotated[StaffContext, require_role(Role.ADMIN)]


def check_csrf(ctx: StaffContext, submitted: str | None) -> None:
    """Refuse a state-changing request whose CSRF token does not match the session's.

    Bearer-token clients are exempt: browsers never attach bearer tokens by themselves.
    """
    import hmac

    if ctx.staff_session.kind == "bearer":
        return
    given = submitted.encode("utf-8", "surrogatepass") if submitted else b""
    if not given or not hmac.compare_digest(given, ctx.staff_session.csrf_token.encode()):
        raise Forbidden(
            "The form expired or did not come from this site. Go back and try again.", code="csrf"
        )


# The networks of `settings.trusted_proxies`, parsed once per distinct list.
@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _ip(text: str) -> IPAddress | None:
    """An address from a header hop or a peer ("1.2.3.4", "[2001:db8::1]", IPv4-mapped IPv6), or None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[v6]" or "[v6]:port"
        text = text[1 : text.index("]")]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_trusted(ip: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    return ip is not None and any(ip.version == net.version and ip in net for net in networks)


def forwarded_client(peer: str, forwarded_for: list[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client behind `peer`: the right-most address of the X-Forwarded-For chain (all its
    headers, in order) that is not a trusted proxy. A peer that is not trusted is the client
    itself, whatever it sent; so is a chain that holds only trusted proxies (the left-most one);
    a hop that is not an address ends the walk (the last good hop stands)."""
    peer_ip = _ip(peer)
    if not _is_trusted(peer_ip, trusted):
        return peer
    client = str(peer_ip)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break
        client = str(ip)
        if not _is_trusted(ip, trusted):
            break
    return client


def _trusted_networks(request: Request | WebSocket) -> tuple[IPNetwork, ...]:
    settings: Settings = request.app.state.settings
    return _networks(tuple(settings.trusted_proxies))


def client_address(request: Request | WebSocket) -> str:
    """The client's address: the one helper every throttle and audit entry uses (HTTP and
    websockets). The TCP peer, unless it is one of `settings.trusted_proxies`: then the right-most
    untrusted address of X-Forwarded-For (`forwarded_client`). Uvicorn's own proxy-header rewriting
    is off (`firstcontact serve`), so `request.client` is always the TCP peer."""
    peer = request.client.host if request.client else UNKNOWN_ADDRESS
    trusted = _trusted_networks(request)
    if not trusted:
        return peer
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted)


def client_ip(request: Request | WebSocket) -> str | None:
    """`client_address`, or None when the server cannot tell (for audit columns)."""
    address = client_address(request)
    return None if address == UNKNOWN_ADDRESS else address


def request_scheme(request: Request | WebSocket) -> str:
    """The scheme the client used: X-Forwarded-Proto ("http"/"https") when the TCP peer is a
    trusted proxy (TLS ends at the proxy), else the connection's own ("http", "https", "ws", "wss")."""
    scheme = request.url.scheme
    trusted = _trusted_networks(request)
    if trusted and request.client and _is_trusted(_ip(request.client.host), trusted):
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if forwarded in ("http", "https"):
            return forwarded
    return scheme


async def throttle_address(request: Request, name: str, message: str) -> None:
    """Take a token of throttle `name` (contact_store.throttle) for this client's address, or raise
    429 with Retry-After."""
    await throttles_for(request.app).check(name, client_address(request), message)


TOO_MANY_SIGN_INS = "There have been too many sign-in attempts. Wait a few minutes and try again."


def sign_in_wait(request: Request, username: str) -> float:
    """Take a sign-in attempt for this client's address and for `username` (known or not), from a
    sync handler's worker thread: 0.0, or the seconds to wait (answer 429 with Retry-After)."""
    return anyio.from_thread.run(
        partial(
            throttles_for(request.app).sign_in_wait,
            address=client_address(request),
            username=staff.normalise_username(username),
        )
    )


__all__ = [
    "CSP_NONCE_SCOPE_KEY",
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AdminOnly",
    "CurrentStaff",
    "ManagerOnly",
    "NotAuthenticated",
    "SessionDep",
    "SettingsDep",
    "StaffContext",
    "StoreDep",
    "SupervisorOnly",
    "client_address",
    "client_ip",
    "csp_nonce",
    "csp_template_context",
    "forwarded_client",
    "request_scheme",
]
