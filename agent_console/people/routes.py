"""The person page: who this is and every contact they have made, with repeat/double-demand badges.

Access goes through `contact_store.access.person_for`; every view is audited (person.view).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent_console.common import render
from contact_store import audit
from contact_store.access import person_for
from contact_store.errors import NotFound
from contact_store.person_history import person_history
from contact_store.text import DbId
from contact_store.web import CurrentStaff, SessionDep, SettingsDep, client_ip

router = APIRouter(prefix="/console/people", include_in_schema=False)


@router.get("/{person_id}")
def person_page(
    request: Request, person_id: DbId, ctx: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> Response:
    person_for(session=session, staff=ctx.operator, person_id=person_id)
    history = person_history(
        session=session,
        staff=ctx.operator,
        person_id=person_id,
        repeat_contact_days=settings.repeat_contact_days,
    )
    if history is None:
        raise NotFound("There is no such person")
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action="person.view",
        object_type="person",
        object_id=person_id,
        person_id=person_id,
        ip=client_ip(request),
    )
    return render(
        request,
        "agent_console/people/person.html",
        nav="",
        history=history,
        person=history.person,
        window=settings.repeat_contact_days,
    )
