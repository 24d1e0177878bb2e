"""Small request helpers shared by the HTML journey and the JSON API."""

from __future__ import annotations

from fastapi import Request

from contact_store.errors import NotFound
from contact_store.i18n import N_
from contact_store.throttle import FORMS, throttles_for
from contact_store.web import client_address, throttle_address
from web_forms.catalogue import FormDefinition, catalogue


def get_form(slug: str) -> FormDefinition:
    """The form with this slug, or 404."""
    form = catalogue().get(slug)
    if form is None:
        raise NotFound(N_("There is no form at this address"))
    return form


async def check_rate(request: Request, message: str) -> None:
    """Raise 429 with Retry-After when this address has used its submissions for now (shared by
    every worker through Redis when `redis_url` is set; the event loop never waits on Redis)."""
    await throttle_address(request, FORMS, message)


async def submission_wait(request: Request) -> float:
    """Take a submission token for this address: 0.0, or the seconds to wait (the HTML journey
    answers with its own page rather than an error)."""
    return await throttles_for(request.app).wait(FORMS, client_address(request))
