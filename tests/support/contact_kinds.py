"""The table behind the person-history access tests: one kind of contact a person can have, who
(by role) may see it, and a builder that gives a person exactly that contact.

Roles (the viewers), relative to the contacts built here:
    op_same_team   operator in team A (the team the team-owned contacts belong to)
    op_other_team  operator in team B
    assignee       operator in team B to whom the assigned contacts are assigned
    supervisor, manager, admin   no team

The expected sets are written out by hand (not computed from the rule under test), so a change
to the rule that widens or narrows what someone sees fails here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from contact_store.models import (
    ConversationStatus,
    InboundSms,
    Operator,
    Person,
    Role,
    SmsMessage,
    SurveyInvitation,
    Team,
)
from tests.builders import make_conversation, make_report, make_team

ROLES = ("op_same_team", "op_other_team", "assignee", "supervisor", "manager", "admin")
OPERATORS = {"op_same_team", "op_other_team", "assignee"}
SUPERVISORS_UP = {"supervisor", "manager", "admin"}
EVERYONE = set(ROLES)


@dataclass(frozen=True)
class Kind:
    name: str
    seen_by: frozenset[str]  # roles that may see it
    counted: bool  # a report or chat (counted by the badges), not only texts


KINDS = {
    k.name: k
    for k in (
        # A sensitive (domestic abuse) report of team A that nobody holds: supervisors+ only.
        Kind("sensitive_report", frozenset(SUPERVISORS_UP), True),
        # A sensitive report assigned to one operator (in another team): that operator and supervisors+.
        Kind("sensitive_report_assigned", frozenset(SUPERVISORS_UP | {"assignee"}), True),
        # A non-sensitive report of team A: team A and supervisors+ (not another team).
        Kind("team_report", frozenset(SUPERVISORS_UP | {"op_same_team"}), True),
        # A non-sensitive report of team B assigned to the assignee: team B (both) and supervisors+.
        Kind("other_team_report_assigned", frozenset(SUPERVISORS_UP | {"op_other_team", "assignee"}), True),
        # The common triage queue (no team, nobody holds it): every member of staff.
        Kind("common_queue_report", frozenset(EVERYONE), True),
        # A chat the viewer holds: the viewer, whoever they are.
        Kind("chat_held_by_viewer", frozenset(EVERYONE), True),
        # A chat someone else holds: supervisors+ only.
        Kind("chat_held_by_other", frozenset(SUPERVISORS_UP), True),
        # A chat waiting in the common queue, held and offered to nobody: supervisors+ only.
        Kind("queued_unassigned_chat", frozenset(SUPERVISORS_UP), True),
        # A chat the visitor ended before anyone answered: nobody's, supervisors+ only.
        Kind("abandoned_unassigned_chat", frozenset(SUPERVISORS_UP), True),
        # Texts (in and out) about the unheld sensitive report: hidden with it.
        Kind("texts_of_hidden_report", frozenset(SUPERVISORS_UP), True),
        # A survey reply by text, attached through its invitation to a chat someone else held.
        Kind("survey_reply_of_hidden_chat", frozenset(SUPERVISORS_UP), True),
        # Texts about the team A report: shown with it.
        Kind("texts_of_team_report", frozenset(SUPERVISORS_UP | {"op_same_team"}), True),
        # A text attached to no contact at all: supervisors+ only.
        Kind("unattached_text", frozenset(SUPERVISORS_UP), False),
    )
}


@dataclass
class World:
    team_a: Team
    team_b: Team
    staff: dict[str, Operator]
    colleague: Operator  # holds the chats "held by someone else"


def _staff(session: Session, role: str = Role.OPERATOR, team_id: int | None = None) -> Operator:
    """A member of staff without a usable password (these tests sign in by session): no argon2
    cost for the hundreds of table rows."""
    name = f"{role}-{secrets.token_hex(4)}"
    op = Operator(username=name, display_name=name, password_hash="!", role=role, team_id=team_id)
    session.add(op)
    session.flush()
    return op


def make_world(session: Session) -> World:
    """Two teams and one member of staff per role (plus a colleague in team A)."""
    team_a, team_b = make_team(session), make_team(session)
    staff = {
        "op_same_team": _staff(session, team_id=team_a.id),
        "op_other_team": _staff(session, team_id=team_b.id),
        "assignee": _staff(session, team_id=team_b.id),
        "supervisor": _staff(session, Role.SUPERVISOR),
        "manager": _staff(session, Role.MANAGER),
        "admin": _staff(session, Role.ADMIN),
    }
    return World(team_a, team_b, staff, _staff(session, team_id=team_a.id))


def add_contact(session: Session, world: World, person: Person, kind: str, viewer: Operator) -> list[str]:
    """Give `person` one contact of `kind`; the strings that would reveal it if shown."""
    mark = f"{kind}-{secrets.token_hex(3)}"
    pid = person.id
    a, b = world.team_a.id, world.team_b.id

    def report(**kw: Any) -> Any:
        return make_report(
            session, person_id=pid, summary=f"summary {mark}", reference=f"FC-{secrets.token_hex(4)}", **kw
        )

    def chat(**kw: Any) -> Any:
        return make_conversation(session, person_id=pid, topic=f"topic {mark}", **kw)

    def texts(**kw: Any) -> list[str]:
        session.add(
            InboundSms(from_e164="+447700900001", body=f"in {mark}", provider="log", person_id=pid, **kw)
        )
        session.add(SmsMessage(to_e164="+447700900001", body=f"out {mark}", person_id=pid, **kw))
        session.flush()
        return [f"in {mark}", f"out {mark}"]

    if kind == "sensitive_report":
        return [report(team_id=a, sensitive=True).reference, mark]
    if kind == "sensitive_report_assigned":
        return [report(team_id=a, sensitive=True, assignee_id=world.staff["assignee"].id).reference, mark]
    if kind == "team_report":
        return [report(team_id=a).reference, mark]
    if kind == "other_team_report_assigned":
        return [report(team_id=b, assignee_id=world.staff["assignee"].id).reference, mark]
    if kind == "common_queue_report":
        return [report().reference, mark]
    if kind == "chat_held_by_viewer":
        chat(status=ConversationStatus.ACTIVE, assignee_id=viewer.id, team_id=viewer.team_id)
        return [mark]
    if kind == "chat_held_by_other":
        chat(status=ConversationStatus.ACTIVE, assignee_id=world.colleague.id, team_id=a)
        return [mark]
    if kind == "queued_unassigned_chat":
        chat(status=ConversationStatus.QUEUED)
        return [mark]
    if kind == "abandoned_unassigned_chat":
        chat(status=ConversationStatus.ABANDONED, team_id=a, ended_by="visitor")
        return [mark]
    if kind == "texts_of_hidden_report":
        hidden = report(team_id=a, sensitive=True)
        return [hidden.reference, mark, *texts(report_id=hidden.id)]
    if kind == "survey_reply_of_hidden_chat":
        held = chat(status=ConversationStatus.ENDED, assignee_id=world.colleague.id, team_id=a)
        invitation = SurveyInvitation(person_id=pid, channel="chat", conversation_id=held.id, team_id=a)
        session.add(invitation)
        session.flush()
        session.add(
            InboundSms(
                from_e164="+447700900001",
                body=f"survey 5 {mark}",
                provider="log",
                person_id=pid,
                survey_invitation_id=invitation.id,
                handled_as="survey",
            )
        )
        session.add(
            SmsMessage(
                to_e164="+447700900001",
                body=f"survey question {mark}",
                kind="survey",
                person_id=pid,
                survey_invitation_id=invitation.id,
            )
        )
        session.flush()
        return [mark]
    if kind == "texts_of_team_report":
        shown = report(team_id=a)
        return [shown.reference, mark, *texts(report_id=shown.id)]
    if kind == "unattached_text":
        return texts()
    raise AssertionError(f"unknown kind {kind}")
