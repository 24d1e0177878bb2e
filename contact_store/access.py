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

Conversations (live chats): supervisors+ may open every chat; an operator may open a chat they
hold (assignee) or are being offered. A chat held by nobody (waiting in the queue, abandoned, or
ended before anyone answered) opens nothing for an operator. `can_access_conversation` (one chat)
and `visible_conversations_clause` (lists) both read the rule from `CHAT_HOLDER_FIELDS`.

People: `visible_contacts` is the only source of "the contacts of this person that this member of
staff may see": their reports through `visible_reports_clause`, their chats through
`visible_conversations_clause`, and texts (in and out, survey replies included) only when
everything they are attached to is one of those contacts (a text attached to nothing is for
supervisors+). Every person-derived view (the person page, a report's earlier contacts, the
workspace person panel, the repeat-contact and double-demand badges) reads through it, and
`person_for` lets an operator see a person only when it finds at least one contact; supervisors+
may see anyone. A phone number typed by the public is a claim, not an identity: an unanswered chat
started with someone's number gives nobody access to that person. Every view is audited by the
caller.

Figures and shared tools (not contact records, but the same question of who sees what):
- Dashboards (`dashboard_team`): a supervisor sees the figures of their own team only (no team:
  none); managers and admins see every team's, or all teams together. Their drill-down to the
  contacts behind a figure reads through the report and chat rules above.
- Canned answers (`visible_canned_clause`): an operator is offered the shared answers (no team) and
  their own team's; the library's administrators see and manage every team's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, true
from sqlmodel import Session, and_, col, or_, select

from contact_store.errors import Forbidden, NotFound
from contact_store.models import (
    CannedResponse,
    Conversation,
    InboundSms,
    Operator,
    Person,
    Report,
    Role,
    SmsMessage,
    SurveyInvitation,
)
from contact_store.models.org import ROLE_RANK
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


# The columns of a chat naming the operators who may open it (besides supervisors+): the holder
# and the operator it is being offered to. Both the per-object check and the list clause read it.
CHAT_HOLDER_FIELDS = ("assignee_id", "offered_to_id")


def holds_chat(*, role: str, staff_id: int | None, holders: dict[str, int | None]) -> bool:
    """The chat rule on plain values: supervisor+, or named in one of `CHAT_HOLDER_FIELDS`.
    The message hot path (`message_sql`) reads these in its one joined query and calls this."""
    if ROLE_RANK.get(Role(role), 0) >= ROLE_RANK[Role.SUPERVISOR]:
        return True
    return staff_id is not None and any(holders.get(f) == staff_id for f in CHAT_HOLDER_FIELDS)


def can_access_conversation(*, staff: Operator, conversation: Conversation) -> bool:
    """True when `staff` may open this chat (the rules in this module's docstring)."""
    holders = {f: getattr(conversation, f) for f in CHAT_HOLDER_FIELDS}
    return holds_chat(role=staff.role, staff_id=staff.id, holders=holders)


def visible_conversations_clause(staff: Operator) -> Any:
    """The SQL condition matching the chats `staff` may open (for lists); None = all."""
    if has_role(staff, Role.SUPERVISOR):
        return None
    return or_(*(col(getattr(Conversation, f)) == staff.id for f in CHAT_HOLDER_FIELDS))


@dataclass(frozen=True)
class PersonContacts:
    """The contacts of one person that one member of staff may see, as SQL conditions (one per
    table). Made only by `visible_contacts`."""

    person_id: Any  # the person's id, or a column of an outer query (for a list of people)
    reports: Any  # condition on Report
    chats: Any  # condition on Conversation
    texts_in: Any  # condition on InboundSms
    texts_out: Any  # condition on SmsMessage

    def any_visible(self, session: Session) -> bool:
        """True when at least one report or chat is visible (a visible text implies one)."""
        report, chat = session.exec(select(exists().where(self.reports), exists().where(self.chats))).one()
        return bool(report or chat)


def _where(condition: Any, rule: Any) -> Any:
    return condition if rule is None else and_(condition, rule)


def _attached_to(table: Any, reports: Any, chats: Any, invitations: Any) -> Any:
    """A row (text or invitation) attached to at least one contact, and only to visible ones."""
    links = [(col(table.report_id), reports), (col(table.conversation_id), chats)]
    if invitations is not None:
        links.append((col(table.survey_invitation_id), invitations))
    return and_(
        or_(*(column.is_not(None) for column, _ in links)),
        *(or_(column.is_(None), column.in_(visible)) for column, visible in links),
    )


def visible_contacts(*, staff: Operator, person_id: Any) -> PersonContacts:
    """The contacts of this person that `staff` may see: the one source for every person view.

    `person_id` is an id, or a column of an outer query (e.g. `aliased(Report).person_id`) to
    ask about the person of each row of a list at once."""
    reports = _where(col(Report.person_id) == person_id, visible_reports_clause(staff))
    chats = _where(col(Conversation.person_id) == person_id, visible_conversations_clause(staff))
    texts_in = col(InboundSms.person_id) == person_id
    texts_out = col(SmsMessage.person_id) == person_id
    if has_role(staff, Role.SUPERVISOR):
        return PersonContacts(person_id, reports, chats, texts_in, texts_out)
    report_ids = select(Report.id).where(reports)
    chat_ids = select(Conversation.id).where(chats)
    invitation_ids = select(SurveyInvitation.id).where(
        _attached_to(SurveyInvitation, report_ids, chat_ids, None)
    )
    return PersonContacts(
        person_id,
        reports,
        chats,
        and_(texts_in, _attached_to(InboundSms, report_ids, chat_ids, invitation_ids)),
        and_(texts_out, _attached_to(SmsMessage, report_ids, chat_ids, invitation_ids)),
    )


def person_for(*, session: Session, staff: Operator, person_id: int) -> Person:
    """The person if `staff` may see at least one of their contacts (supervisors+: anyone);
    NotFound or Forbidden otherwise."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("There is no such person")
    if has_role(staff, Role.SUPERVISOR):
        return person
    if visible_contacts(staff=staff, person_id=person_id).any_visible(session):
        return person
    raise Forbidden("You cannot see this person's details")


def conversation_for(*, session: Session, staff: Operator, conversation_id: str) -> Conversation:
    """The chat if `staff` may act on it (holder, offered-to, or supervisor+); NotFound or Forbidden.

    Used by every workspace HTTP route and every /ws/console action on a conversation.
    """
    from contact_store.conversations import get_for_operator

    return get_for_operator(session=session, operator=staff, conversation_id=conversation_id)


def dashboard_team(*, staff: Operator, requested: int | None) -> int | None:
    """The team whose figures `staff` may see: a supervisor their own (0 = no team, so nothing),
    managers and admins the one they ask for (None = every team)."""
    if has_role(staff, Role.MANAGER):
        return requested
    return staff.team_id or 0


def visible_canned_clause(staff: Operator, *, every_team_for_admins: bool = False) -> Any:
    """The canned answers `staff` is offered: the shared ones and their own team's. In the library
    (`every_team_for_admins`) an administrator sees every team's, to manage them."""
    if every_team_for_admins and has_role(staff, Role.ADMIN):
        return true()
    return or_(col(CannedResponse.team_id).is_(None), col(CannedResponse.team_id) == staff.team_id)
