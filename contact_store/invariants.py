"""The store's invariants, checked rather than hoped for.

Each check is one read-only query that returns the rows breaking a rule (at most `EXAMPLES` of
them, plus how many there are). `check_store` runs them all; `firstcontact db check` prints the
result and exits non-zero when anything is broken; the browser, two-worker and benchmark runs call
it at the end so a run that corrupts the store fails.

The rules:
- chat.seq_unique        no two messages of a conversation share a seq
- chat.seq_contiguous    a conversation's messages are numbered 1..n with no gap, and its seq
                         allocator (`conversation.last_seq`) is n
- chat.client_id_unique  one message per (conversation, client_id): a resend never stores twice
- survey.answers_bounded every invitation has at most one response, and its SMS question pointer
                         never runs past the questions
- survey.answer_has_invitation  every survey answer belongs to an existing invitation
- sms.same_person        a text (sent or received) attached to a report or a chat belongs to that
                         contact's person
- report.chat_linked     every report raised from a chat is linked to an existing chat

The constraints in the schema already enforce some of these; the checks still run, because a store
restored from a backup, migrated by hand or written by an older release may not have them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import SelectBase
from sqlmodel import Session, col

from contact_store.models import (
    Conversation,
    InboundSms,
    Message,
    Report,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
)
from contact_store.surveys.questions import FIELDS

# How many offending rows each check lists; the count covers them all.
EXAMPLES = 5


@dataclass(frozen=True)
class CheckResult:
    """One invariant: its name, what it means, and the rows that break it (if any)."""

    name: str
    rule: str
    broken: int = 0
    examples: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken == 0


@dataclass(frozen=True)
class StoreCheck:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def describe(self) -> str:
        """A human-readable report, one line per rule (and one per example of a broken rule)."""
        lines = []
        for r in self.results:
            lines.append(
                f"{'ok    ' if r.ok else 'BROKEN'} {r.name}: {r.rule}"
                + ("" if r.ok else f" ({r.broken} rows)")
            )
            lines.extend(f"         {example}" for example in r.examples)
        return "\n".join(lines)


def _run(session: Session, name: str, rule: str, query: SelectBase) -> CheckResult:
    subquery = query.subquery()
    broken = session.execute(select(func.count()).select_from(subquery)).scalar_one()
    examples = (
        [tuple(row) for row in session.execute(select(subquery).limit(EXAMPLES)).all()] if broken else []
    )
    return CheckResult(name=name, rule=rule, broken=int(broken), examples=examples)


def _seq_unique() -> SelectBase:
    return (
        select(col(Message.conversation_id), col(Message.seq), func.count().label("n"))
        .group_by(col(Message.conversation_id), col(Message.seq))
        .having(func.count() > 1)
    )


def _seq_contiguous() -> SelectBase:
    per_chat = (
        select(
            col(Message.conversation_id).label("conversation_id"),
            func.count().label("n"),
            func.min(Message.seq).label("first"),
            func.max(Message.seq).label("last"),
        )
        .group_by(col(Message.conversation_id))
        .subquery()
    )
    chats_with_messages = (
        select(
            col(Conversation.id),
            func.coalesce(per_chat.c.n, 0).label("messages"),
            per_chat.c.first,
            per_chat.c.last,
            col(Conversation.last_seq),
        )
        .select_from(Conversation)
        .outerjoin(per_chat, per_chat.c.conversation_id == Conversation.id)
    )
    messages = func.coalesce(per_chat.c.n, 0)
    return chats_with_messages.where(
        or_(
            and_(messages > 0, or_(per_chat.c.first != 1, per_chat.c.last != messages)),
            col(Conversation.last_seq) != messages,
        )
    )


def _client_id_unique() -> SelectBase:
    return (
        select(col(Message.conversation_id), col(Message.client_id), func.count().label("n"))
        .group_by(col(Message.conversation_id), col(Message.client_id))
        .having(func.count() > 1)
    )


def _answers_bounded() -> SelectBase:
    responses = (
        select(col(SurveyResponse.invitation_id).label("invitation_id"), func.count().label("n"))
        .where(col(SurveyResponse.invitation_id).is_not(None))
        .group_by(col(SurveyResponse.invitation_id))
        .subquery()
    )
    # The SMS flow's pointer is the index of the question awaiting an answer: at most one past the last.
    last_question = len(FIELDS)
    return (
        select(
            col(SurveyInvitation.id),
            func.coalesce(responses.c.n, 0).label("responses"),
            col(SurveyInvitation.next_question),
        )
        .select_from(SurveyInvitation)
        .outerjoin(responses, responses.c.invitation_id == SurveyInvitation.id)
        .where(or_(func.coalesce(responses.c.n, 0) > 1, col(SurveyInvitation.next_question) > last_question))
    )


def _answer_has_invitation() -> SelectBase:
    invitation = aliased(SurveyInvitation)
    return (
        select(
            col(SurveyResponse.id), col(SurveyResponse.invitation_id), col(SurveyResponse.response_channel)
        )
        .select_from(SurveyResponse)
        .outerjoin(invitation, col(invitation.id) == SurveyResponse.invitation_id)
        .where(col(invitation.id).is_(None))
    )


def _texts_same_person() -> SelectBase:
    def broken(table: Any, kind: str) -> Any:
        report = aliased(Report)
        chat = aliased(Conversation)
        return (
            select(literal(kind).label("kind"), table.id, table.person_id)
            .select_from(table)
            .outerjoin(report, report.id == table.report_id)
            .outerjoin(chat, chat.id == table.conversation_id)
            .where(
                col(table.person_id).is_not(None),
                or_(
                    and_(col(report.person_id).is_not(None), report.person_id != table.person_id),
                    and_(col(chat.person_id).is_not(None), chat.person_id != table.person_id),
                ),
            )
        )

    return union_all(broken(SmsMessage, "sent"), broken(InboundSms, "received"))


def _report_chat_linked() -> SelectBase:
    chat = aliased(Conversation)
    return (
        select(col(Report.id), col(Report.reference), col(Report.conversation_id))
        .select_from(Report)
        .outerjoin(chat, col(chat.id) == Report.conversation_id)
        .where(col(Report.channel) == "chat", col(chat.id).is_(None))
    )


CHECKS: Sequence[tuple[str, str, Callable[[], SelectBase]]] = (
    ("chat.seq_unique", "no two messages of a conversation share a seq", _seq_unique),
    ("chat.seq_contiguous", "messages are numbered 1..n and last_seq is n", _seq_contiguous),
    ("chat.client_id_unique", "one message per (conversation, client_id)", _client_id_unique),
    (
        "survey.answers_bounded",
        "at most one response per invitation; questions not overrun",
        _answers_bounded,
    ),
    ("survey.answer_has_invitation", "every survey answer belongs to an invitation", _answer_has_invitation),
    ("sms.same_person", "a text on a contact belongs to that contact's person", _texts_same_person),
    ("report.chat_linked", "every report raised from a chat is linked to its chat", _report_chat_linked),
)


def check_store(*, session: Session, only: Sequence[str] | None = None) -> StoreCheck:
    """Run every invariant (or those named in `only`) and return what each found."""
    return StoreCheck(
        results=[
            _run(session, name, rule, query()) for name, rule, query in CHECKS if only is None or name in only
        ]
    )


def check_database(url: str) -> StoreCheck:
    """`check_store` on the database at `url` (for benchmarks and tools outside a running app)."""
    from contact_store.db import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return check_store(session=session)
    finally:
        engine.dispose()
