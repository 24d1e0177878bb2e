"""Operator management for admins: add, edit (role, team, PODs, concurrency), disable, reset a
password, end sessions. Every change is audited by the caller's route in the same transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, func, or_, select

from contact_store.administration.history import record_version
from contact_store.clock import utcnow
from contact_store.errors import Conflict, NotFound
from contact_store.models import ROLE_RANK, Area, Operator, OperatorArea, Person, Report, StaffSession, Team
from contact_store.people import normalise_email, normalise_phone
from contact_store.staff import hash_password

MAX_CHATS_LIMIT = 20  # Operator.max_concurrent_chats and Team.default_max_chats allow 1-20


@dataclass(frozen=True)
class OperatorForm:
    display_name: str
    role: str
    team_id: int | None
    area_ids: list[int]
    max_chats: int | None


def choices(*, session: Session, operator: Operator | None) -> tuple[list[Team], list[Area]]:
    """The teams and PODs an operator form offers: those in use, and the retired ones the
    operator already has (kept until changed, marked "(retired)")."""
    team_id = operator.team_id if operator else None
    linked = operator_areas(session=session, operator_id=operator.id or 0) if operator else []
    teams = session.exec(
        select(Team).where(or_(col(Team.retired_at).is_(None), col(Team.id) == team_id)).order_by(Team.name)
    ).all()
    areas = session.exec(
        select(Area).where(or_(col(Area.retired_at).is_(None), col(Area.id).in_(linked))).order_by(Area.name)
    ).all()
    return list(teams), list(areas)


def validate_form(
    *, session: Session, form: OperatorForm, operator: Operator | None = None
) -> dict[str, str]:
    """Field errors for an operator form (empty when valid); a retired team or POD is refused
    unless the operator already has it."""
    errors: dict[str, str] = {}
    if not form.display_name.strip() or len(form.display_name) > 100:
        errors["display_name"] = "Enter a name of 100 characters or fewer"
    if form.role not in ROLE_RANK:
        errors["role"] = "Choose a role"
    teams, areas = choices(session=session, operator=operator)
    if form.team_id is not None and form.team_id not in {t.id for t in teams}:
        errors["team_id"] = "Choose a team"
    if form.max_chats is not None and not 1 <= form.max_chats <= MAX_CHATS_LIMIT:
        errors["max_chats"] = (
            f"Enter a number from 1 to {MAX_CHATS_LIMIT}, or leave blank for the team default"
        )
    known = {a.id for a in areas}
    if any(a not in known for a in form.area_ids):
        errors["areas"] = "Choose PODs from the list"
    return errors


def apply_form(*, session: Session, operator: Operator, form: OperatorForm) -> dict[str, object]:
    """Write the form to the operator; returns what changed (for the audit log)."""
    changes: dict[str, object] = {}
    for attr, value in (
        ("display_name", form.display_name.strip()),
        ("role", form.role),
        ("team_id", form.team_id),
        ("max_concurrent_chats", form.max_chats),
    ):
        if getattr(operator, attr) != value:
            changes[attr] = {"from": getattr(operator, attr), "to": value}
            setattr(operator, attr, value)
    session.add(operator)
    current = sorted(
        session.exec(select(OperatorArea.area_id).where(OperatorArea.operator_id == operator.id)).all()
    )
    wanted = sorted(set(form.area_ids))
    if current != wanted:
        session.execute(delete(OperatorArea).where(col(OperatorArea.operator_id) == operator.id))
        for area_id in wanted:
            session.add(OperatorArea(operator_id=operator.id or 0, area_id=area_id))
        changes["areas"] = {"from": current, "to": wanted}
    session.flush()
    return changes


def operator_snapshot(*, session: Session, operator: Operator) -> dict[str, object]:
    """An operator's administered fields, as the change history keeps them."""
    return {
        "display_name": operator.display_name,
        "role": operator.role,
        "team_id": operator.team_id,
        "max_concurrent_chats": operator.max_concurrent_chats,
        "areas": sorted(operator_areas(session=session, operator_id=operator.id or 0)),
        "is_active": operator.is_active,
    }


def record_operator_version(
    *, session: Session, operator: Operator, before: dict[str, object] | None, by: int | None
) -> None:
    """Write the operator's next history version when anything changed."""
    after = operator_snapshot(session=session, operator=operator)
    record_version(
        session=session,
        object_type="operator",
        object_id=operator.id or 0,
        before=before,
        after=after,
        operator_id=by,
    )


def operator_areas(*, session: Session, operator_id: int) -> list[int]:
    return list(
        session.exec(select(OperatorArea.area_id).where(OperatorArea.operator_id == operator_id)).all()
    )


def get_operator(*, session: Session, operator_id: int) -> Operator:
    operator = session.get(Operator, operator_id)
    if operator is None:
        raise NotFound("There is no such operator")
    return operator


def end_sessions(*, session: Session, operator_id: int) -> int:
    """Revoke every live session of this operator at once; returns how many were ended."""
    result = session.execute(
        update(StaffSession)
        .where(col(StaffSession.operator_id) == operator_id, col(StaffSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_active(*, session: Session, operator: Operator, active: bool) -> None:
    """Disable (also ending their sessions) or re-enable an account. An account of a retired team
    is re-enabled only once moved to a team in use: a team retires with no active operators, and
    an active one would take its old reports and chats back into new work."""
    if active and not operator.is_active and operator.team_id is not None:
        team = session.get(Team, operator.team_id)
        if team is not None and team.retired_at is not None:
            raise Conflict(
                f"{operator.display_name} is in {team.name}, which is retired: "
                "move them to a team in use first, then enable the account"
            )
    operator.is_active = active
    if not active:
        operator.status = "offline"
        end_sessions(session=session, operator_id=operator.id or 0)
    session.add(operator)
    session.flush()


def reset_password(*, session: Session, operator: Operator) -> str:
    """Give the operator a new random password (shown once to the admin) and end their sessions."""
    password = "-".join(secrets.token_urlsafe(4) for _ in range(3))
    operator.password_hash = hash_password(password)
    operator.failed_sign_ins = 0
    operator.locked_until = None
    session.add(operator)
    end_sessions(session=session, operator_id=operator.id or 0)
    session.flush()
    return password


def live_session_counts(*, session: Session) -> dict[int, int]:
    now = utcnow()
    rows = session.exec(
        select(StaffSession.operator_id, func.count())
        .where(col(StaffSession.revoked_at).is_(None), col(StaffSession.expires_at) > now)
        .group_by(col(StaffSession.operator_id))
    ).all()
    return {int(a): int(b) for a, b in rows}


# Enough matches for an admin to pick the right person; a vaguer search should be narrowed.
PERSON_SEARCH_LIMIT = 25


def find_people(*, session: Session, query: str) -> list[Person]:
    """People matching a phone number, email, report reference or (part of a) name."""
    query = query.strip()
    if not query:
        return []
    conditions: list[Any] = []
    phone = normalise_phone(query)
    if phone:
        conditions.append(Person.phone_e164 == phone)
    email = normalise_email(query)
    if email:
        conditions.append(Person.email_normalised == email)
    ref = session.exec(select(Report.person_id).where(Report.reference == query.upper())).first()
    if ref:
        conditions.append(Person.id == ref)
    if query.isdigit() and len(query) <= 9:  # a person number, not a phone number (int4 range)
        conditions.append(Person.id == int(query))
    if len(query) >= 3 and not phone and not email:
        conditions.append(col(Person.name).ilike(f"%{query}%"))
    if not conditions:
        return []
    return list(session.exec(select(Person).where(or_(*conditions)).limit(PERSON_SEARCH_LIMIT)).all())
