"""Teams and areas for filing reports, cached in each worker process.

Every report needs its team (by name) and its area (by postcode district); they change rarely
(admin pages, the demo seed), so reading every Area per report was a large share of its cost.

Guarantees
----------
- A session may use the cache only when its store said so (`CACHE_ENGINE_KEY` in `session.info`,
  set by `Store.new_session` for sessions on the real engine, and by the group-commit writer).
  Sessions bound to an outer connection (tests, which roll back underneath the session) always
  read the database.
- A flush that adds, changes or deletes a Team or Area clears this process's cache at once, and
  again when that session's transaction ends (commit or rollback). Until then that session reads
  the database directly, so uncommitted rows are never cached.
- A change an administrator makes on another worker reaches this one at once: the bus's
  `config.changed` event calls `invalidate()` (contact_store/administration/sync.py).
- A change made elsewhere without that event (SQL by hand, a lost event) is seen within
  `ORG_CACHE_TTL`.
  Until then a team or area deleted elsewhere never fails a report: `reports.file_report` inserts
  cached ids through `sql.existing_id`, so a vanished one is stored as NULL.
- A snapshot loaded while an invalidation happened is not stored (a generation counter).
- Retired teams and PODs (`retired_at` set) are not in a snapshot: nothing new is routed to them.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from contact_store.models import Area, Team

# Seconds a snapshot is trusted: how late another process's team/area change can be noticed.
ORG_CACHE_TTL = 30.0
CACHE_ENGINE_KEY = "firstcontact.org_cache_engine"
_CHANGED_ORG = "firstcontact.changed_org"
_POSTCODE_OUTWARD = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)")

_team_table: Any = Team.__table__  # type: ignore[attr-defined]
_area_table: Any = Area.__table__  # type: ignore[attr-defined]
# Retired teams and PODs are left out: a report naming a retired team is filed with no team (the
# common queue) and a postcode of a retired POD's districts matches no POD (any operator answers).
_SELECT_TEAMS = select(_team_table.c.name, _team_table.c.id).where(_team_table.c.retired_at.is_(None))
_SELECT_AREAS = select(
    _area_table.c.id,
    _area_table.c.postcode_prefixes,
    _area_table.c.opening_hours,
    _area_table.c.closed_days,
).where(_area_table.c.retired_at.is_(None))


@dataclass(frozen=True)
class OrgSnapshot:
    """Team ids by name, and (prefix, area id) pairs for postcode routing (teams and PODs in use)."""

    team_ids: dict[str, int]
    area_prefixes: tuple[tuple[str, int], ...]
    loaded_at: float
    # PODs with their own chat hours: area id -> (hours per weekday, closed days).
    area_hours: dict[int, tuple[dict[str, str], list[date]]] = field(default_factory=dict)

    def team_id(self, name: str | None) -> int | None:
        return self.team_ids.get(name) if name else None

    def area_id(self, postcode: str | None) -> int | None:
        """The area whose prefixes match the postcode's district (longest prefix wins)."""
        district = postcode_district(postcode)
        if district is None:
            return None
        best: tuple[int, int] | None = None
        for prefix, area_id in self.area_prefixes:
            # "PR1" matches district PR1 only; an area prefix "PR" covers every PR district.
            matches = district == prefix or (
                prefix.isalpha() and district.startswith(prefix) and district[len(prefix)].isdigit()
            )
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), area_id)
        return best[1] if best else None


def postcode_district(postcode: str | None) -> str | None:
    """The outward code's district ("PR1" of "pr1 2ab"), or None when it is not a postcode."""
    if not postcode:
        return None
    compact = postcode.replace(" ", "").upper()
    match = _POSTCODE_OUTWARD.match(compact[:-3] if len(compact) > 4 else compact)
    return match.group(1) if match else None


_lock = threading.Lock()
_generation = 0
_snapshots: WeakKeyDictionary[Engine, OrgSnapshot] = WeakKeyDictionary()


def invalidate() -> None:
    """Forget every cached snapshot (all engines) in this process."""
    global _generation
    with _lock:
        _generation += 1
        _snapshots.clear()


def _load(session: Session) -> OrgSnapshot:
    conn = session.connection()
    teams = {name: team_id for name, team_id in conn.execute(_SELECT_TEAMS)}
    areas = conn.execute(_SELECT_AREAS).all()
    prefixes = tuple(
        (prefix.replace(" ", "").upper(), area_id)
        for area_id, area_prefixes, _hours, _closed in areas
        for prefix in area_prefixes or []
    )
    hours = {
        area_id: (dict(area_hours), [date.fromisoformat(d) for d in closed or []])
        for area_id, _prefixes, area_hours, closed in areas
        if area_hours
    }
    return OrgSnapshot(teams, prefixes, time.monotonic(), hours)


def snapshot(session: Session) -> OrgSnapshot:
    """Teams and areas as this session may see them (cached when it is allowed)."""
    engine = session.info.get(CACHE_ENGINE_KEY)
    if engine is None or session.info.get(_CHANGED_ORG):
        return _load(session)
    found = _snapshots.get(engine)
    if found is not None and time.monotonic() - found.loaded_at < ORG_CACHE_TTL:
        return found
    generation = _generation
    fresh = _load(session)
    with _lock:
        if generation == _generation:
            _snapshots[engine] = fresh
    return fresh


@event.listens_for(Session, "after_flush")
def _note_org_changes(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Team | Area):
            session.info[_CHANGED_ORG] = True
            invalidate()
            return


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _end_of_org_change(session: Session) -> None:
    if session.info.pop(_CHANGED_ORG, False):
        invalidate()
