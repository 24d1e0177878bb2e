"""Staff authentication for API clients: OAuth2 password form -> bearer token."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from chat_server.errors import error_body
from contact_store import staff
from contact_store.errors import RateLimited
from contact_store.openapi import error_responses
from contact_store.throttle import retry_after_header
from contact_store.web import (
    TOO_MANY_SIGN_INS,
    CurrentStaff,
    SessionDep,
    SettingsDep,
    StoreDep,
    client_ip,
    sign_in_wait,
    token_from_request,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: str
    display_name: str


class MePublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    team_id: int | None


@router.post(
    "/token",
    response_model=TokenPublic,
    summary="Sign in and get a bearer token",
    responses=error_responses(
        401,
        422,
        429,
        descriptions={
            401: "Wrong username or password (or a locked account: the same answer)",
            429: "Too many sign-in attempts, or sign-in busy; see Retry-After",
        },
    ),
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
) -> TokenPublic | JSONResponse:
    wait = sign_in_wait(request, form.username)
    if wait > 0:
        raise RateLimited(TOO_MANY_SIGN_INS, headers={"Retry-After": retry_after_header(wait)})
    outcome = staff.authenticate(
        session=session, settings=settings, username=form.username, password=form.password, store=store
    )
    if outcome.retry_after:
        raise RateLimited(outcome.error, headers={"Retry-After": retry_after_header(outcome.retry_after)})
    if outcome.operator is None:
        # Answer rather than raise, so the unit of work still commits the failure count.
        return JSONResponse(
            error_body(outcome.code, outcome.error), status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    issued = staff.start_session(
        session=session,
        settings=settings,
        operator=outcome.operator,
        kind="bearer",
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return TokenPublic(
        access_token=issued.token,
        expires_at=issued.staff_session.expires_at,
        role=issued.operator.role,
        display_name=issued.operator.display_name,
    )


@router.post("/revoke", status_code=204, summary="End this token's session", responses=error_responses(401))
def revoke_token(request: Request, ctx: CurrentStaff, session: SessionDep) -> None:
    staff.end_session(session=session, token=token_from_request(request))


@router.get("/me", response_model=MePublic, summary="Who am I", responses=error_responses(401))
def me(ctx: CurrentStaff) -> MePublic:
    op = ctx.operator
    return MePublic(
        id=op.id or 0, username=op.username, display_name=op.display_name, role=op.role, team_id=op.team_id
    )
