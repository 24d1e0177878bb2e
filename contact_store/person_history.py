"""The person panel: the contacts a person has made, across chat, online forms and SMS, with the
repeat-contact and double-demand badges the HMIC inspection asks forces to show.

Everything here is read through `access.visible_contacts(staff=..., person_id=...)`: the history
and the badges show only contacts the viewer may open (a sensitive report appears only to its
assignee and supervisors+, a chat only to its holder, the operator it is offered to and
supervisors+, a text only beside the contacts it belongs to). The person page, a report's "earlier
contacts", the workspace person panel and the triage queue's "Repeat" badge read a person's
contacts only through this module; none reads them any other way."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, or_, select

from contact_store.access import visible_contacts
from contact_store.clock import utcnow
from contact_store.models import Conversation, InboundSms, Operator, Person, Report, SmsMessage
from contact_store.people import ContactSignals, contact_signals

# The panel shows the most recent contacts of each kind; a person with more is a long story
# best read on the person page, and capping keeps the panel fast for the most frequent contacts.
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class HistoryItem:
    kind: str  # report | chat | sms_in | sms_out
    at: datetime
    label: str  # reference, or a short description
    status: str
    summary: str
    report_id: int | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class PersonHistory:
    person: Person
    items: list[HistoryItem]
    signals: ContactSignals

    @property
    def repeat_contact(self) -> bool:
        return self.signals.repeat_contact

    @property
    def double_demand(self) -> bool:
        return self.signals.double_demand

    @property
    def last_contact_at(self) -> datetime | None:
        """The newest contact shown (not `Person.last_contact_at`, which counts hidden ones too)."""
        return max((i.at for i in self.items if i.kind in ("report", "chat")), default=None)


def person_history(
    *,
    session: Session,
    staff: Operator,
    person_id: int,
    repeat_contact_days: int,
    exclude_report_id: int | None = None,
    exclude_conversation_id: str | None = None,
    limit: int = HISTORY_LIMIT,
) -> PersonHistory | None:
    """The earlier contacts of this person that `staff` may see (newest first) and the badges
    counted over those alone; None if there is no such person. The caller checks `person_for`
    (or holds a contact of the person) first."""
    person = session.get(Person, person_id)
    if person is None:
        return None
    contacts = visible_contacts(staff=staff, person_id=person_id)
    items: list[HistoryItem] = []
    reports = session.exec(
        select(Report).where(contacts.reports).order_by(col(Report.received_at).desc()).limit(limit)
    ).all()
    for r in reports:
        if r.id == exclude_report_id:
            continue
        items.append(
            HistoryItem(
                "report", r.received_at, r.reference, r.status, r.summary or r.form_slug, report_id=r.id
            )
        )
    chats = session.exec(
        select(Conversation.id, Conversation.queued_at, Conversation.status, Conversation.topic)
        .where(contacts.chats)
        .order_by(col(Conversation.queued_at).desc())
        .limit(limit)
    ).all()
    for cid, at, status, topic in chats:
        if cid == exclude_conversation_id:
            continue
        items.append(HistoryItem("chat", at, "Live chat", status, topic, conversation_id=cid))
    inbound = session.exec(
        select(InboundSms.received_at, InboundSms.body, InboundSms.handled_as, InboundSms.report_id)
        .where(contacts.texts_in)
        .order_by(col(InboundSms.received_at).desc())
        .limit(limit)
    ).all()
    for at, body, handled, rid in inbound:
        if rid is not None and rid == exclude_report_id:
            continue
        items.append(HistoryItem("sms_in", at, "Text received", handled or "", body[:200]))
    outbound = session.exec(
        select(SmsMessage).where(contacts.texts_out).order_by(col(SmsMessage.created_at).desc()).limit(limit)
    ).all()
    for sms in outbound:
        if (sms.report_id is not None and sms.report_id == exclude_report_id) or (
            sms.conversation_id is not None and sms.conversation_id == exclude_conversation_id
        ):
            continue  # texts about the contact in view are in its own timeline
        items.append(HistoryItem("sms_out", sms.created_at, "Text sent", sms.status, sms.body[:200]))
    items.sort(key=lambda i: i.at, reverse=True)
    signals = contact_signals(
        session=session,
        contacts=contacts,
        window_days=repeat_contact_days,
        exclude_report_id=exclude_report_id,
        exclude_conversation_id=exclude_conversation_id,
    )
    return PersonHistory(person=person, items=items[:limit], signals=signals)


def repeat_contact_reports(
    *, session: Session, staff: Operator, report_ids: Collection[int], window_days: int
) -> set[int]:
    """Which of these reports show the "Repeat" badge in a list for `staff`: their person has
    another contact `staff` may see within the window (the report page's badge, for a page of
    rows in one query). A contact the viewer cannot open never lights it."""
    if not report_ids:
        return set()
    since = utcnow() - timedelta(days=window_days)
    row = aliased(Report)
    contacts = visible_contacts(staff=staff, person_id=row.person_id)
    earlier_report = exists().where(
        contacts.reports, col(Report.id) != row.id, col(Report.received_at) >= since
    )
    earlier_chat = exists().where(contacts.chats, col(Conversation.queued_at) >= since)
    found = session.exec(
        select(row.id).where(
            col(row.id).in_(list(report_ids)),
            col(row.person_id).is_not(None),
            or_(earlier_report, earlier_chat),
        )
    ).all()
    return {int(i) for i in found if i is not None}
