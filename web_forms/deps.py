"""Small request helpers shared by the HTML journey and the JSON API."""

from __future__ import annotations

from fastapi import Request

from contact_store.errors import NotFound, RateLimited
from web_forms.catalogue import FormDefinition, catalogue
from web_forms.ratelimit import Limiter, RedisTokenBucketLimiter, TokenBucketLimiter, retry_after_header


def get_form(slug: str) -> FormDefinition:
    """The form with this slug, or 404."""
    form = catalogue().get(slug)
    if form is None:
        raise NotFound("There is no form at this address")
    return form


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy, run uvicorn with
    --proxy-headers and --forwarded-allow-ips so this is the real client)."""
    return request.client.host if request.client else "unknown"


def limiter(request: Request) -> Limiter:
    """The submission rate limiter (built on first use from the settings): shared by every worker
    through Redis when `redis_url` is set, else this worker's own."""
    state = request.app.state
    existing: Limiter | None = getattr(state, "forms_rate_limiter", None)
    if existing is None:
        settings = state.settings
        if settings.redis_url:
            existing = RedisTokenBucketLimiter(
                settings.api_submissions_per_minute,
                redis_url=settings.redis_url,
                namespace=f"{settings.redis_channel_prefix}:ratelimit:forms",
            )
        else:
            existing = TokenBucketLimiter(settings.api_submissions_per_minute)
        state.forms_rate_limiter = existing
    return existing


async def check_rate(request: Request, message: str) -> None:
    """Raise 429 with Retry-After when this address has used its submissions for now (async: the
    event loop never waits on Redis)."""
    wait = await limiter(request).take_async(client_address(request))
    if wait > 0:
        raise RateLimited(message, headers={"Retry-After": retry_after_header(wait)})
