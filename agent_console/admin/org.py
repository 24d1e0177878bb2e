"""Teams and PODs for admins: validate, save with a history version, tell every worker.

Every save writes a `ChangeHistory` version (before and after) and parks the `config.changed`
event (contact_store/administration): every worker drops its organisation cache when it commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from agent_console.admin.service import MAX_CHATS_LIMIT
from contact_store.administration.config import announce
from contact_store.administration.history import record_version
from contact_store.models import Area, Team
from contact_store.opening_hours import DAYS, spec_problem

# A postcode area ("PR") or district ("PR1", "M60", "EC1A"): what routing matches on.
DISTRICT = re.compile(r"^[A-Z]{1,2}([0-9][A-Z0-9]?)?$")


def team_snapshot(team: Team) -> dict[str, Any]:
    return {"name": team.name, "default_max_chats": team.default_max_chats}


def area_snapshot(area: Area) -> dict[str, Any]:
    return {
        "name": area.name,
        "postcode_prefixes": list(area.postcode_prefixes),
        "opening_hours": dict(area.opening_hours) if area.opening_hours else None,
        "closed_days": list(area.closed_days) if area.closed_days else None,
    }


def _name_problem(
    session: Session, model: type[Team] | type[Area], name: str, own_id: int | None
) -> str | None:
    if not name or len(name) > 100:
        return "Enter a name of 100 characters or fewer"
    clash = session.exec(select(model.id).where(col(model.name) == name)).first()
    if clash is not None and clash != own_id:
        return "That name is already used"
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
    else:
        for other in session.exec(select(Area)).all():
            if area is not None and other.id == area.id:
                continue
            taken = sorted(set(districts) & {p.replace(" ", "").upper() for p in other.postcode_prefixes})
            if taken:
                errors["postcodes"] = f"{', '.join(taken[:3])} already belongs to {other.name}"
                break
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
