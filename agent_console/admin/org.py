"""Teams and PODs for admins: validate, save, retire and restore with a history version, tell
every worker.

Every save writes a `ChangeHistory` version (before and after) and parks the `config.changed`
event (contact_store/administration): every worker drops its organisation cache when it commits.

Retiring never deletes: it sets `retired_at`, so reports, chats, facts and dashboards keep the
name. The organisation cache leaves retired ones out (nothing new is routed to them). A team is
retired only when nothing live still depends on it (`team_blockers`); a POD always may be: a
postcode no POD claims is routed to the common queue (any operator, the service's hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, func, select

from agent_console.admin.service import MAX_CHATS_LIMIT
from contact_store.administration.config import announce
from contact_store.administration.history import record_version
from contact_store.clock import utcnow
from contact_store.models import (
    OPEN_REPORT_STATUSES,
    Area,
    Conversation,
    ConversationStatus,
    Operator,
    Report,
    Team,
)
from contact_store.opening_hours import DAYS, spec_problem

# A postcode area ("PR") or district ("PR1", "M60", "EC1A"): what routing matches on.
DISTRICT = re.compile(r"^[A-Z]{1,2}([0-9][A-Z0-9]?)?$")


# A chat still waiting for, offered to or held by someone: a team it belongs to cannot retire.
LIVE_CHAT_STATUSES = (ConversationStatus.QUEUED, ConversationStatus.OFFERED, ConversationStatus.ACTIVE)


def team_snapshot(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "default_max_chats": team.default_max_chats,
        "retired": team.retired_at is not None,
    }


def area_snapshot(area: Area) -> dict[str, Any]:
    return {
        "name": area.name,
        "postcode_prefixes": list(area.postcode_prefixes),
        "opening_hours": dict(area.opening_hours) if area.opening_hours else None,
        "closed_days": list(area.closed_days) if area.closed_days else None,
        "retired": area.retired_at is not None,
    }


def _name_problem(
    session: Session, model: type[Team] | type[Area], name: str, own_id: int | None
) -> str | None:
    if not name or len(name) > 100:
        return "Enter a name of 100 characters or fewer"
    clash = session.exec(select(model.id, model.retired_at).where(col(model.name) == name)).first()
    if clash is not None and clash[0] != own_id:
        if clash[1] is not None:
            return "That name is used by a retired one: restore it, or choose another name"
        return "That name is already used"
    return None


def _claimed_elsewhere(session: Session, districts: list[str], own_id: int | None) -> str | None:
    """The clash of these districts with another POD in use (retired PODs claim nothing)."""
    others = select(Area).where(col(Area.retired_at).is_(None)).order_by(col(Area.name))
    for other in session.exec(others).all():
        if other.id == own_id:
            continue
        taken = sorted(set(districts) & {p.replace(" ", "").upper() for p in other.postcode_prefixes})
        if taken:
            return f"{', '.join(taken[:3])} already belongs to {other.name}"
    return None


def save_team(
    *, session: Session, team: Team | None, name: str, max_chats: str, operator_id: int | None
) -> tuple[Team | None, dict[str, str]]:
    """Add or change a team; (the team, {}) or (None, field errors)."""
    name = " ".join(name.split())
    errors: dict[str, str] = {}
    problem = _name_problem(session, Team, name, team.id if team else None)
    if problem:
        errors["name"] = problem
    cap = int(max_chats) if max_chats.strip().isdigit() else 0
    if not 1 <= cap <= MAX_CHATS_LIMIT:
        errors["max_chats"] = f"Enter a number of chats from 1 to {MAX_CHATS_LIMIT}"
    if errors:
        return None, errors
    before = team_snapshot(team) if team else None
    team = team or Team(name=name)
    team.name, team.default_max_chats = name, cap
    session.add(team)
    session.flush()
    after = team_snapshot(team)
    if record_version(
        session=session,
        object_type="team",
        object_id=team.id or 0,
        before=before,
        after=after,
        operator_id=operator_id,
    ):
        announce(session=session)
    return team, errors


@dataclass(frozen=True)
class AreaForm:
    name: str
    postcodes: str  # districts separated by commas, spaces or lines
    own_hours: bool
    hours: dict[str, str]
    closed_days: str  # ISO dates, one a line


def parse_districts(text: str) -> tuple[list[str], list[str]]:
    """(districts, the ones that are not postcode areas or districts)."""
    words = [w.upper() for w in re.split(r"[\s,;]+", text) if w]
    good = list(dict.fromkeys(w for w in words if DISTRICT.match(w)))
    return good, [w for w in words if not DISTRICT.match(w)]


def parse_days(text: str) -> tuple[list[str], list[str]]:
    """(ISO dates, the lines that are not dates)."""
    days: list[str] = []
    bad: list[str] = []
    for line in re.split(r"[\s,;]+", text):
        if not line:
            continue
        try:
            days.append(date.fromisoformat(line).isoformat())
        except ValueError:
            bad.append(line)
    return sorted(set(days)), bad


def save_area(
    *, session: Session, area: Area | None, form: AreaForm, operator_id: int | None
) -> tuple[Area | None, dict[str, str]]:
    """Add or change a POD; (the POD, {}) or (None, field errors)."""
    name = " ".join(form.name.split())
    errors: dict[str, str] = {}
    problem = _name_problem(session, Area, name, area.id if area else None)
    if problem:
        errors["name"] = problem
    districts, bad = parse_districts(form.postcodes)
    if bad:
        errors["postcodes"] = (
            f"Enter postcode districts like PR1, BB11 or EC1A, separated by commas (“{bad[0]}” is not one)"
        )
    elif len(districts) > 500:
        errors["postcodes"] = "Enter 500 postcode districts or fewer"
    elif area is None or area.retired_at is None:  # a retired POD's districts are checked on restore
        clash = _claimed_elsewhere(session, districts, area.id if area else None)
        if clash:
            errors["postcodes"] = clash
    hours: dict[str, str] | None = None
    closed: list[str] | None = None
    if form.own_hours:
        hours = {d: " ".join(form.hours.get(d, "").split()) for d in DAYS}
        for d in DAYS:
            hour_problem = spec_problem(hours[d])
            if hour_problem:
                errors[f"hours_{d}"] = hour_problem
        closed, bad_days = parse_days(form.closed_days)
        if bad_days:
            errors["closed_days"] = "Enter closed days as dates like 2026-12-25, one a line"
    if errors:
        return None, errors
    before = area_snapshot(area) if area else None
    area = area or Area(name=name)
    area.name = name
    area.postcode_prefixes = districts
    area.opening_hours = hours
    area.closed_days = closed or None if hours is not None else None
    session.add(area)
    session.flush()
    after = area_snapshot(area)
    if record_version(
        session=session,
        object_type="area",
        object_id=area.id or 0,
        before=before,
        after=after,
        operator_id=operator_id,
    ):
        announce(session=session)
    return area, errors


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def team_blockers(*, session: Session, team: Team) -> dict[str, str]:
    """Why the team cannot retire now, by what stops it (empty: it can): active operators in it
    (they would take it into new work), and live chats or open reports that belong to it (only
    its members and supervisors may take them, so they would be stranded)."""
    operators = session.exec(
        select(func.count()).where(col(Operator.team_id) == team.id, col(Operator.is_active).is_(True))
    ).one()
    chats = session.exec(
        select(func.count()).where(
            col(Conversation.team_id) == team.id, col(Conversation.status).in_(LIVE_CHAT_STATUSES)
        )
    ).one()
    reports = session.exec(
        select(func.count()).where(
            col(Report.team_id) == team.id, col(Report.status).in_(OPEN_REPORT_STATUSES)
        )
    ).one()
    blockers: dict[str, str] = {}
    if operators:
        blockers["operators"] = (
            f"{team.name} has {_plural(operators, 'active operator', 'active operators')}: "
            "move them to another team or disable their accounts first"
        )
    if chats:
        blockers["chats"] = (
            f"{_plural(chats, 'live chat belongs', 'live chats belong')} to {team.name}: "
            "wait until they end, or transfer them to another team first"
        )
    if reports:
        blockers["reports"] = (
            f"{_plural(reports, 'open report belongs', 'open reports belong')} to {team.name}: "
            "resolve or close them first"
        )
    return blockers


def _record_retirement(
    session: Session,
    object_type: str,
    key: int,
    before: dict[str, Any],
    after: dict[str, Any],
    by: int | None,
) -> None:
    if record_version(
        session=session, object_type=object_type, object_id=key, before=before, after=after, operator_id=by
    ):
        announce(session=session)


def set_team_retired(
    *, session: Session, team: Team, retired: bool, operator_id: int | None
) -> tuple[bool, dict[str, str]]:
    """Retire or restore a team: (changed, {}) or (False, what stops it). Retiring locks the
    team's row first (PostgreSQL), so a transfer to it (which reads the row FOR SHARE) either
    commits before the count below, and is counted, or waits and then finds it retired."""
    if retired:
        session.exec(
            select(Team)
            .where(col(Team.id) == team.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
    if (team.retired_at is not None) == retired:
        return False, {}
    if retired:
        blockers = team_blockers(session=session, team=team)
        if blockers:
            return False, blockers
    before = team_snapshot(team)
    team.retired_at = utcnow() if retired else None
    session.add(team)
    session.flush()
    _record_retirement(session, "team", team.id or 0, before, team_snapshot(team), operator_id)
    return True, {}


def set_area_retired(
    *, session: Session, area: Area, retired: bool, operator_id: int | None
) -> tuple[bool, dict[str, str]]:
    """Retire or restore a POD: (changed, {}) or (False, field errors). Retiring always may (its
    postcodes fall to the common queue); restoring may not take back a district that another
    POD in use now has."""
    if (area.retired_at is not None) == retired:
        return False, {}
    if not retired:
        clash = _claimed_elsewhere(
            session, [p.replace(" ", "").upper() for p in area.postcode_prefixes], area.id
        )
        if clash:
            return False, {"postcodes": f"{clash}: take it out there, or out of this POD, first"}
    before = area_snapshot(area)
    area.retired_at = utcnow() if retired else None
    session.add(area)
    session.flush()
    _record_retirement(session, "area", area.id or 0, before, area_snapshot(area), operator_id)
    return True, {}
