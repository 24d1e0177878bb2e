"""The Figure 18 table against a hand-computed example, trends, comment search, and exports
opened back with openpyxl and csv (formula injection neutralised, dates as dates)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from contact_store.db import Store
from contact_store.models import SurveyInvitation, SurveyResponse
from contact_store.settings import Settings
from contact_store.surveys.exports import (
    RESPONSE_HEADER,
    csv_stream,
    neutralise,
    responses_csv,
    responses_xlsx,
    table_rows,
    xlsx_stream,
)
from contact_store.surveys.results import Filters, figure18, search_comments, trend
from tests.builders import make_area, make_team

WHEN = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)  # a Wednesday
EVIL = '=HYPERLINK("http://evil.example","click")'


def _seed(session: Session) -> dict[str, int]:
    a = make_team(session, "Alpha team")
    b = make_team(session, "Bravo team")
    pod = make_area(session, "East")
    scores: dict[int | None, list[tuple[int | None, ...]]] = {
        a.id: [(5, 4, 3), (4, 2, 5), (1, 5, None), (3, None, 4)],
        b.id: [(5, 5, 5), (2, 3, 4)],
    }
    comments = iter(["Quick and kind", EVIL, "-2+3 waited", None, "@SUM(1)", "\tTabbed"])
    invited = {a.id: 8, b.id: 3}  # sent invitations of the cohort; the first ones were answered
    for team_id, rows in scores.items():
        invitations = [
            SurveyInvitation(
                channel="chat",
                team_id=team_id,
                area_id=pod.id,
                topic="theft",
                reference="FC-0403-ABCD",
                status="sent",
                contact_at=WHEN,
                sent_at=WHEN,
            )
            for _ in range(invited[team_id])
        ]
        session.add_all(invitations)
        session.flush()
        for invitation, (t, r, o) in zip(invitations, rows, strict=False):
            invitation.status = "completed"
            session.add(
                SurveyResponse(
                    invitation_id=invitation.id,
                    score_time=t,
                    score_resolve=r,
                    score_overall=o,
                    comment=next(comments),
                    response_channel="sms",
                    channel="chat",
                    team_id=team_id,
                    area_id=pod.id,
                    topic="theft",
                    reference="FC-0403-ABCD",
                    submitted_at=WHEN,
                )
            )
    session.add(
        SurveyInvitation(
            channel="chat", team_id=b.id, status="excluded", excluded_reason="under_18", contact_at=WHEN
        )
    )
    session.add(SurveyInvitation(channel="chat", team_id=b.id, status="scheduled", contact_at=WHEN))
    session.flush()
    return {"a": a.id, "b": b.id, "pod": pod.id}  # type: ignore[dict-item]


def test_figure18_matches_a_hand_computed_example(session: Session) -> None:
    _seed(session)
    alpha, bravo, total = figure18(session=session, filters=Filters())
    assert [alpha.label, bravo.label, total.label] == ["Alpha team", "Bravo team", "Total"]
    # Alpha: time 5,4,1,3 -> 2 of 4 satisfied; resolve 4,2,5 -> 2/3; overall 3,5,4 -> 2/3.
    q = alpha.questions
    assert (q["score_time"].n, q["score_time"].satisfied, q["score_time"].percent) == (4, 2, 50.0)
    assert q["score_time"].mean == pytest.approx(3.25)
    assert q["score_resolve"].percent == pytest.approx(66.667, abs=0.001) and q[
        "score_resolve"
    ].mean == pytest.approx(11 / 3)
    assert (q["score_overall"].n, q["score_overall"].percent, q["score_overall"].mean) == (
        3,
        pytest.approx(66.667, abs=0.001),
        4.0,
    )
    assert (alpha.pooled.n, alpha.pooled.satisfied, alpha.pooled.percent) == (10, 6, 60.0)
    assert (alpha.responses, alpha.invitations, alpha.response_rate) == (4, 8, 50.0)
    # Bravo: 5,5,5 and 2,3,4.
    assert [bravo.questions[f].percent for f in ("score_time", "score_resolve", "score_overall")] == [
        50.0,
        50.0,
        100.0,
    ]
    assert bravo.response_rate == pytest.approx(66.667, abs=0.001)  # excluded/scheduled not counted
    # Total: time 3/6, resolve 3/5, overall 4/5, pooled 10/16; rate 6/11.
    assert [total.questions[f].percent for f in ("score_time", "score_resolve", "score_overall")] == [
        50.0,
        60.0,
        80.0,
    ]
    assert total.questions["score_time"].mean == pytest.approx(20 / 6)
    assert total.questions["score_overall"].mean == pytest.approx(4.2)
    assert (total.pooled.n, total.pooled.percent) == (16, 62.5)
    assert total.response_rate == pytest.approx(600 / 11)


def test_filters_narrow_the_table(session: Session) -> None:
    ids = _seed(session)
    rows = figure18(session=session, filters=Filters(team_id=ids["b"]))
    assert [r.label for r in rows] == ["Bravo team", "Total"] and rows[-1].responses == 2
    assert figure18(session=session, filters=Filters(start=date(2026, 3, 5)))[-1].responses == 0
    assert figure18(session=session, filters=Filters(end=date(2026, 3, 4)))[-1].responses == 6
    assert figure18(session=session, filters=Filters(channel="report"))[-1].responses == 0
    assert figure18(session=session, filters=Filters(area_id=ids["pod"]))[-1].responses == 6


def _answered_invitation(
    session: Session, *, team_id: int | None, contact_at: datetime, answered_at: datetime | None
) -> SurveyInvitation:
    invitation = SurveyInvitation(
        channel="chat", team_id=team_id, status="sent", contact_at=contact_at, sent_at=contact_at
    )
    session.add(invitation)
    session.flush()
    if answered_at is not None:
        invitation.status = "completed"
        session.add(
            SurveyResponse(
                invitation_id=invitation.id,
                score_overall=5,
                response_channel="widget",
                channel="chat",
                team_id=team_id,
                submitted_at=answered_at,
            )
        )
        session.flush()
    return invitation


def test_a_cohort_is_its_contacts_period_whenever_they_answered(session: Session) -> None:
    """Answers given in March to February's contacts count for February: the rate never passes 100%."""
    team = make_team(session, "Cohort team")
    feb, march = datetime(2026, 2, 27, 12, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)
    _answered_invitation(session, team_id=team.id, contact_at=feb, answered_at=march)
    _answered_invitation(session, team_id=team.id, contact_at=feb, answered_at=None)
    _answered_invitation(session, team_id=team.id, contact_at=march, answered_at=None)
    february = Filters(start=date(2026, 2, 1), end=date(2026, 2, 28), team_id=team.id)
    row, _total = figure18(session=session, filters=february)
    assert (row.responses, row.invitations, row.response_rate) == (1, 2, 50.0)
    in_march = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31), team_id=team.id)
    row, _total = figure18(session=session, filters=in_march)
    assert (row.responses, row.invitations, row.response_rate) == (0, 1, 0.0)


def test_the_period_is_the_forces_local_day(session: Session) -> None:
    """23:30 UTC on 1 July is 00:30 on 2 July in London (BST): it belongs to 2 July there."""
    team = make_team(session, "Night team")
    _answered_invitation(
        session, team_id=team.id, contact_at=datetime(2026, 7, 1, 23, 30, tzinfo=UTC), answered_at=WHEN
    )
    london = Filters(start=date(2026, 7, 2), end=date(2026, 7, 2), team_id=team.id, timezone="Europe/London")
    assert figure18(session=session, filters=london)[-1].responses == 1
    utc = Filters(start=date(2026, 7, 2), end=date(2026, 7, 2), team_id=team.id)
    assert figure18(session=session, filters=utc)[-1].responses == 0


def test_trend_by_week_and_month(session: Session) -> None:
    _seed(session)
    (week,) = trend(session=session, filters=Filters(), grain="week")
    assert week.period == date(2026, 3, 2) and week.responses == 6  # the Monday
    assert week.pooled.percent == 62.5
    (month,) = trend(session=session, filters=Filters(), grain="month")
    assert month.period == date(2026, 3, 1)


LONDON = "Europe/London"


def test_trend_weeks_are_the_forces_local_weeks(session: Session) -> None:
    """00:30 BST on Monday 6 April (23:30 UTC on Sunday) is in the week of 6 April; 23:30 GMT on
    Sunday 4 January is the same instant in UTC and London, so it stays in the week of 29 December."""
    team = make_team(session, "Week team")
    for at in (datetime(2026, 4, 5, 23, 30, tzinfo=UTC), datetime(2026, 1, 4, 23, 30, tzinfo=UTC)):
        _answered_invitation(session, team_id=team.id, contact_at=at, answered_at=at)
    weeks = trend(session=session, filters=Filters(team_id=team.id, timezone=LONDON), grain="week")
    assert [(p.period, p.responses) for p in weeks] == [(date(2025, 12, 29), 1), (date(2026, 4, 6), 1)]
    utc = trend(session=session, filters=Filters(team_id=team.id), grain="week")
    assert [p.period for p in utc] == [date(2025, 12, 29), date(2026, 3, 30)]


def test_trend_months_are_the_forces_local_months(session: Session) -> None:
    """23:30 UTC on 30 April is 00:30 BST on 1 May: May's, in London; the last minute of April stays."""
    team = make_team(session, "Month team")
    for at in (datetime(2026, 4, 30, 23, 30, tzinfo=UTC), datetime(2026, 4, 30, 22, 59, tzinfo=UTC)):
        _answered_invitation(session, team_id=team.id, contact_at=at, answered_at=at)
    months = trend(session=session, filters=Filters(team_id=team.id, timezone=LONDON), grain="month")
    assert [(p.period, p.responses) for p in months] == [(date(2026, 4, 1), 1), (date(2026, 5, 1), 1)]
    (utc,) = trend(session=session, filters=Filters(team_id=team.id), grain="month")
    assert (utc.period, utc.responses) == (date(2026, 4, 1), 2)


@pytest.mark.parametrize(
    ("day", "inside", "outside"),
    [
        (  # Sunday 29 March 2026: clocks go forward, a 23-hour day
            date(2026, 3, 29),
            [datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 22, 59, tzinfo=UTC)],
            [datetime(2026, 3, 28, 23, 59, tzinfo=UTC), datetime(2026, 3, 29, 23, 0, tzinfo=UTC)],
        ),
        (  # Sunday 25 October 2026: clocks go back, a 25-hour day
            date(2026, 10, 25),
            [datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 23, 59, tzinfo=UTC)],
            [datetime(2026, 10, 24, 22, 59, tzinfo=UTC), datetime(2026, 10, 26, 0, 0, tzinfo=UTC)],
        ),
    ],
)
def test_a_day_at_the_clock_change_is_the_local_day(
    session: Session, day: date, inside: list[datetime], outside: list[datetime]
) -> None:
    team = make_team(session, "Clock team")
    for at in [*inside, *outside]:
        _answered_invitation(session, team_id=team.id, contact_at=at, answered_at=at)
    london = Filters(team_id=team.id, timezone=LONDON)
    one_day = Filters(start=day, end=day, team_id=team.id, timezone=LONDON)
    assert figure18(session=session, filters=one_day)[-1].responses == len(inside)
    (point,) = trend(session=session, filters=one_day, grain="week")
    assert point.responses == len(inside)
    from_day = Filters(start=day, team_id=team.id, timezone=LONDON)
    assert figure18(session=session, filters=from_day)[-1].responses == len(inside) + 1
    to_day = Filters(end=day, team_id=team.id, timezone=LONDON)
    assert figure18(session=session, filters=to_day)[-1].responses == len(inside) + 1
    assert figure18(session=session, filters=london)[-1].responses == len(inside) + len(outside)


def test_comment_search_is_literal(session: Session) -> None:
    _seed(session)
    rows, total = search_comments(session=session, filters=Filters(), q="kind")
    assert total == 1 and rows[0].comment == "Quick and kind"
    assert search_comments(session=session, filters=Filters(), q="%")[1] == 0  # % is not a wildcard
    assert search_comments(session=session, filters=Filters())[1] == 5


def test_neutralise() -> None:
    assert [neutralise(v) for v in ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", 5, None]] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "ok",
        5,
        None,
    ]


def _read(chunks: object) -> bytes:
    return b"".join(chunks)  # type: ignore[arg-type]


def test_responses_csv_opens_back_with_injection_neutralised(
    session: Session, store: Store, settings: Settings
) -> None:
    _seed(session)
    session.commit()
    data = _read(responses_csv(session_factory=store.new_session, settings=settings, filters=Filters()))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "Response id" and rows[0][1] == "Submitted (Europe/London)" and len(rows) == 7
    assert rows[0][2] == "Contact date (Europe/London)" and rows[1][2] == "2026-03-04 10:30:00"
    comments = [r[-1] for r in rows[1:]]
    assert (
        "'" + EVIL in comments
        and "'-2+3 waited" in comments
        and "'@SUM(1)" in comments
        and "'\tTabbed" in comments
    )
    assert rows[1][1] == "2026-03-04 10:30:00" and rows[1][6] == "Alpha team" and rows[1][8] == "East"


def test_responses_xlsx_opens_back_with_real_dates_and_no_formulas(
    session: Session, store: Store, settings: Settings
) -> None:
    _seed(session)
    session.commit()
    data = _read(responses_xlsx(session_factory=store.new_session, settings=settings, filters=Filters()))
    sheet = load_workbook(io.BytesIO(data))["Responses"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0])[3:] == RESPONSE_HEADER[3:] and len(values) == 7
    assert values[1][1] == datetime(2026, 3, 4, 10, 30)  # London is on GMT in March: a real datetime
    assert values[1][10:13] == (5, 4, 3)
    cells = [row[13] for row in sheet.iter_rows(min_row=2)]
    evil = next(c for c in cells if c.value and "HYPERLINK" in str(c.value))
    assert evil.data_type == "s" and evil.value == "'" + EVIL
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_table_exports(session: Session) -> None:
    _seed(session)
    header, rows = table_rows(figure18(session=session, filters=Filters()))
    assert rows[-1][0] == "Total" and rows[-1][header.index("Total satisfied %")] == 62.5
    assert rows[0][header.index("Ability to resolve satisfied %")] == 66.7
    parsed = list(csv.reader(io.StringIO(_read(csv_stream(header, rows)).decode("utf-8-sig"))))
    assert parsed[0] == header and parsed[-1][0] == "Total"
    sheet = load_workbook(io.BytesIO(_read(xlsx_stream([("Table", header, rows)]))))["Table"]
    assert [c.value for c in sheet[1]] == header and sheet.cell(row=4, column=1).value == "Total"
    assert sheet.cell(row=4, column=header.index("Total satisfied %") + 1).value == 62.5
