"""Every branch of the report and person access rules (contact_store/access.py)."""

import pytest
from sqlmodel import Session, select

from contact_store.access import (
    ReportAction,
    can_access_report,
    person_for,
    report_for,
    visible_reports_clause,
)
from contact_store.errors import Forbidden, NotFound
from contact_store.models import Report, Role
from tests.builders import make_conversation, make_operator, make_person, make_report, make_team

ALL = [ReportAction.READ, ReportAction.UPDATE, ReportAction.CLAIM, ReportAction.ASSIGN]


@pytest.fixture
def world(session: Session) -> dict:  # type: ignore[type-arg]
    team, other_team = make_team(session), make_team(session)
    op = make_operator(session, team_id=team.id)
    colleague = make_operator(session, team_id=team.id)
    sup = make_operator(session, role=Role.SUPERVISOR)
    return {"team": team, "other": other_team, "op": op, "colleague": colleague, "sup": sup}


def test_supervisor_can_do_everything(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    r = make_report(session, sensitive=True, team_id=world["other"].id, assignee_id=world["colleague"].id)
    assert all(can_access_report(staff=world["sup"], report=r, action=a) for a in ALL)


def test_operator_never_assigns(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    r = make_report(session, assignee_id=world["op"].id)
    assert not can_access_report(staff=world["op"], report=r, action=ReportAction.ASSIGN)


def test_assignee_reads_and_updates_even_sensitive(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    r = make_report(session, sensitive=True, team_id=world["other"].id, assignee_id=world["op"].id)
    assert can_access_report(staff=world["op"], report=r, action=ReportAction.READ)
    assert can_access_report(staff=world["op"], report=r, action=ReportAction.UPDATE)


def test_sensitive_hidden_from_non_assignee_operator(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    r = make_report(session, sensitive=True, team_id=world["team"].id)
    assert not can_access_report(staff=world["op"], report=r, action=ReportAction.READ)
    assert not can_access_report(staff=world["op"], report=r, action=ReportAction.CLAIM)


def test_team_report_readable_and_claimable_until_assigned(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    r = make_report(session, team_id=world["team"].id)
    assert can_access_report(staff=world["op"], report=r, action=ReportAction.READ)
    assert can_access_report(staff=world["op"], report=r, action=ReportAction.CLAIM)
    r.assignee_id = world["colleague"].id
    assert can_access_report(staff=world["op"], report=r, action=ReportAction.READ)  # same team still reads
    assert not can_access_report(staff=world["op"], report=r, action=ReportAction.CLAIM)


def test_common_queue_and_other_teams(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    common = make_report(session)
    other = make_report(session, team_id=world["other"].id)
    other_assigned = make_report(session, assignee_id=world["colleague"].id)
    assert can_access_report(staff=world["op"], report=common, action=ReportAction.UPDATE)
    assert not can_access_report(staff=world["op"], report=other, action=ReportAction.READ)
    assert not can_access_report(staff=world["op"], report=other_assigned, action=ReportAction.READ)


def test_report_for_raises_404_and_403(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    other = make_report(session, team_id=world["other"].id)
    with pytest.raises(NotFound):
        report_for(session=session, staff=world["op"], report_id=999_999, action="read")
    with pytest.raises(Forbidden):
        report_for(session=session, staff=world["op"], report_id=other.id or 0, action="read")
    assert report_for(session=session, staff=world["sup"], report_id=other.id or 0, action="read") is other


def test_list_clause_matches_the_per_object_rule(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    reports = [
        make_report(session),
        make_report(session, sensitive=True),
        make_report(session, team_id=world["team"].id),
        make_report(session, team_id=world["team"].id, sensitive=True),
        make_report(session, team_id=world["other"].id),
        make_report(session, assignee_id=world["op"].id, sensitive=True, team_id=world["other"].id),
        make_report(session, assignee_id=world["colleague"].id),
    ]
    ids = [r.id for r in reports]
    for who in ("op", "sup"):
        staff = world[who]
        clause = visible_reports_clause(staff)
        stmt = select(Report.id).where(Report.id.in_(ids))  # type: ignore[union-attr]
        if clause is not None:
            stmt = stmt.where(clause)
        listed = set(session.exec(stmt).all())
        expected = {r.id for r in reports if can_access_report(staff=staff, report=r, action="read")}
        assert listed == expected


def test_person_access(session: Session, world: dict) -> None:  # type: ignore[type-arg]
    mine, hidden, chat_person = make_person(session), make_person(session), make_person(session)
    make_report(session, person_id=mine.id, team_id=world["team"].id)
    make_report(session, person_id=hidden.id, team_id=world["other"].id)
    make_conversation(session, person_id=chat_person.id, assignee_id=world["op"].id)
    assert person_for(session=session, staff=world["op"], person_id=mine.id or 0) is mine
    assert person_for(session=session, staff=world["op"], person_id=chat_person.id or 0) is chat_person
    with pytest.raises(Forbidden):
        person_for(session=session, staff=world["op"], person_id=hidden.id or 0)
    assert person_for(session=session, staff=world["sup"], person_id=hidden.id or 0) is hidden
    with pytest.raises(NotFound):
        person_for(session=session, staff=world["sup"], person_id=999_999)
