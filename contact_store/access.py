"""Who may do what to which object: one access function per object, used by every route.

Reports (the triage queue) — the rules, in order:
1. Supervisors, managers and admins may read and update every report.
2. An operator may always read and update a report assigned to them.
3. A sensitive report (e.g. domestic abuse) is otherwise hidden from operators: only supervisors+
   and the assignee see it, so a shared queue never exposes it to the whole team.
4. An operator may read and update a report of their own team, or an unassigned report with no
   team (the common triage queue), and may claim such a report.
5. Anything else (another team's report, a report assigned to someone else outside their team)
   is refused with 403 — and a report that does not exist is 404.

People (the person page and its history): every member of staff may see a person who is linked to
a contact they may see; supervisors+ may see anyone. Every view is audited by the caller.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, or_, select

from contact_store.errors import Forbidden, NotFound
from contact_store.models import Conversation, Operator, Person, Report, Role
from contact_store.staff import has_role


class ReportAction(StrEnum):
    READ = "read"
    UPDATE = "update"
    CLAIM = "claim"
    ASSIGN = "assign"  # give the report to someone else: supervisors+ only


def can_access_report(*, staff: Operator, report: Report, action: str) -> bool:
    """True when `staff` may do `action` to `report` (the rules in this module's docstring)."""
    if has_role(staff, Role.SUPERVISOR):
        return True
    if action == ReportAction.ASSIGN:
        return False
    if report.assignee_id is not None and report.assignee_id == staff.id:
        return True
    if report.sensitive:
        return False
    if action == ReportAction.CLAIM and report.assignee_id is not None:
        return False
    same_team = report.team_id is not None and report.team_id == staff.team_id
    common_queue = report.team_id is None and report.assignee_id is None
    return same_team or common_queue


def report_for(*, session: Session, staff: Operator, report_id: int, action: str) -> Report:
    """The report if `staff` may do `action` to it; NotFound or Forbidden otherwise."""
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound("There is no such report")
    if not can_access_report(staff=staff, report=report, action=action):
        raise Forbidden("You cannot see or change this report")
    return report


def visible_reports_clause(staff: Operator) -> Any:
    """The SQL condition matching the reports `staff` may read (for lists); None = all."""
    if has_role(staff, Role.SUPERVISOR):
        return None
    mine = col(Report.assignee_id) == staff.id
    team = col(Report.team_id) == staff.team_id if staff.team_id is not None else None
    common = (col(Report.team_id).is_(None)) & (col(Report.assignee_id).is_(None))
    shared = or_(team, common) if team is not None else common
    return or_(mine, col(Report.sensitive).is_(False) & shared)


def person_for(*, session: Session, staff: Operator, person_id: int) -> Person:
    """The person if `staff` may see them; NotFound or Forbidden otherwise."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("There is no such person")
    if has_role(staff, Role.SUPERVISOR):
        return person
    reports = session.exec(select(Report).where(Report.person_id == person_id)).all()
    if any(can_access_report(staff=staff, report=r, action=ReportAction.READ) for r in reports):
        return person
    chat = session.exec(
        select(Conversation.id).where(
            Conversation.person_id == person_id,
            or_(Conversation.assignee_id == staff.id, col(Conversation.assignee_id).is_(None)),
        )
    ).first()
    if chat is not None:
        return person
    raise Forbidden("You cannot see this person's details")


def conversation_for(*, session: Session, staff: Operator, conversation_id: str) -> Conversation:
    """The chat if `staff` may act on it (holder, offered-to, or supervisor+); NotFound or Forbidden.

    Used by every workspace HTTP route and every /ws/console action on a conversation.
    """
    from contact_store.conversations import get_for_operator

    return get_for_operator(session=session, operator=staff, conversation_id=conversation_id)
