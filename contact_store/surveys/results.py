"""Survey results for managers: the Figure 18 table, trends and comments.

Definitions (shown beside the figures on the results page):
- The cohort of a period = the survey invitations for contacts made in that period (by the date of
  the contact itself: report received, chat queued), in the force's time zone, that were sent by
  text or offered in the chat window. Excluded contacts are never invited, so never counted.
- Satisfied % (top-two-box) = answers of 4 or 5 ÷ valid answers (1-5) to that question, over the
  cohort's answers.
- n = valid answers to that question; unanswered questions are not counted.
- Mean = average of the valid 1-5 answers.
- Total = all three score questions pooled: answers of 4-5 ÷ all valid answers.
- Response rate = answered invitations of the cohort ÷ invitations of the cohort. Every answer
  belongs to one invitation, so it can never exceed 100%.
- Team, operator, POD, channel and topic are those the invitation recorded when the contact ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from contact_store.measures.contacts import local_bounds, local_day
from contact_store.models import SurveyInvitation, SurveyResponse, Team
from contact_store.models.surveys import InvitationStatus
from contact_store.surveys.questions import SCORE_FIELDS

# Comments shown per page on the results page.
COMMENTS_PAGE_SIZE = 25
# SQLite trends group answers by this slice of UTC time before Python puts each slice in its local
# week or month: every offset and clock change since 1972, in every zone, falls on a quarter hour, so
# a slice never straddles a local midnight.
SLOT_SECONDS = 15 * 60


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # inclusive
    end: date | None = None  # inclusive
    team_id: int | None = None
    channel: str | None = None
    operator_id: int | None = None
    area_id: int | None = None
    timezone: str = "UTC"  # the force's: a day is a local day (23 or 25 hours at the clock change)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The period as UTC instants: local midnight of `start` to local midnight after `end`."""
        tz = ZoneInfo(self.timezone)
        lo = local_bounds(self.start, self.start, tz)[0] if self.start else None
        hi = local_bounds(self.end, self.end, tz)[1] if self.end else None
        return lo, hi


def _conditions(model: Any, at: Any, filters: Filters) -> list[ColumnElement[bool]]:
    """The filters as WHERE conditions on a table with team/channel/operator/area columns."""
    lo, hi = filters.bounds()
    conds: list[ColumnElement[bool]] = []
    if lo is not None:
        conds.append(at >= lo)
    if hi is not None:
        conds.append(at < hi)
    if filters.team_id is not None:
        conds.append(col(model.team_id) == filters.team_id)
    if filters.channel:
        conds.append(col(model.channel) == filters.channel)
    if filters.operator_id is not None:
        conds.append(col(model.operator_id) == filters.operator_id)
    if filters.area_id is not None:
        conds.append(col(model.area_id) == filters.area_id)
    return conds


def cohort_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE conditions on SurveyInvitation selecting the cohort: offered invitations for contacts
    in the period (by the contact's date), with the filters applied to what the invitation recorded.
    Every figure on the results page and every export starts from these."""
    offered = [
        col(SurveyInvitation.sent_at).is_not(None),
        col(SurveyInvitation.status) != InvitationStatus.EXCLUDED,
    ]
    return [*offered, *_conditions(SurveyInvitation, col(SurveyInvitation.contact_at), filters)]


def response_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE conditions on SurveyResponse joined to its invitation: the cohort's answers."""
    return cohort_conditions(filters)


def responses_of_cohort(*columns: Any) -> Any:
    """SELECT `columns` FROM the cohort's answers (each joined to its invitation); add the filters
    with `.where(*response_conditions(filters))`."""
    return (
        select(*columns)
        .select_from(SurveyResponse)
        .join(SurveyInvitation, col(SurveyInvitation.id) == col(SurveyResponse.invitation_id))
    )


@dataclass
class Figures:
    """One question's figures for one row of the table."""

    n: int = 0
    satisfied: int = 0
    total: int = 0  # sum of scores, for the mean

    @property
    def percent(self) -> float | None:
        return 100.0 * self.satisfied / self.n if self.n else None

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def add(self, other: Figures) -> None:
        self.n += other.n
        self.satisfied += other.satisfied
        self.total += other.total


@dataclass
class TableRow:
    label: str
    team_id: int | None
    responses: int = 0
    invitations: int = 0
    questions: dict[str, Figures] = field(default_factory=lambda: {f: Figures() for f in SCORE_FIELDS})

    @property
    def pooled(self) -> Figures:
        total = Figures()
        for figures in self.questions.values():
            total.add(figures)
        return total

    @property
    def response_rate(self) -> float | None:
        return 100.0 * self.responses / self.invitations if self.invitations else None


def _score_columns() -> list[Any]:
    columns: list[Any] = []
    for name in SCORE_FIELDS:
        column = getattr(SurveyResponse, name)
        columns += [
            func.count(column),
            func.coalesce(func.sum(case((column >= 4, 1), else_=0)), 0),
            func.coalesce(func.sum(column), 0),
        ]
    return columns


def _fill(row: TableRow, values: Any) -> None:
    for i, name in enumerate(SCORE_FIELDS):
        n, sat, tot = values[3 * i : 3 * i + 3]
        row.questions[name] = Figures(n=int(n or 0), satisfied=int(sat or 0), total=int(tot or 0))


def figure18(*, session: Session, filters: Filters) -> list[TableRow]:
    """Per team (by name) then a Total row: satisfied %, n, mean per question, responses, rate."""
    query = (
        responses_of_cohort(col(SurveyInvitation.team_id), func.count(), *_score_columns())
        .where(*response_conditions(filters))
        .group_by(col(SurveyInvitation.team_id))
    )
    invitations = dict(
        session.execute(
            select(col(SurveyInvitation.team_id), func.count())
            .where(*cohort_conditions(filters))
            .group_by(col(SurveyInvitation.team_id))
        ).all()
    )
    names = {t.id: t.name for t in session.exec(sm_select(Team)).all()}
    rows: dict[int | None, TableRow] = {}
    for values in session.execute(query).all():
        team_id = values[0]
        row = TableRow(label=names.get(team_id, "No team"), team_id=team_id, responses=int(values[1]))
        _fill(row, values[2:])
        rows[team_id] = row
    for team_id, count in invitations.items():
        row = rows.setdefault(team_id, TableRow(label=names.get(team_id, "No team"), team_id=team_id))
        row.invitations = int(count)
    ordered = sorted(rows.values(), key=lambda r: (r.team_id is None, r.label.lower()))
    total = TableRow(label="Total", team_id=None)
    for row in ordered:
        total.responses += row.responses
        total.invitations += row.invitations
        for name in SCORE_FIELDS:
            total.questions[name].add(row.questions[name])
    return [*ordered, total]


@dataclass
class TrendPoint:
    period: date
    responses: int
    questions: dict[str, Figures]

    @property
    def pooled(self) -> Figures:
        total = Figures()
        for figures in self.questions.values():
            total.add(figures)
        return total


def _period(day: date, grain: str) -> date:
    """The first day of the week (Monday) or month holding `day`."""
    return day.replace(day=1) if grain == "month" else day - timedelta(days=day.weekday())


def _bucket(session: Session, filters: Filters, grain: str) -> Any:
    """What the trend groups by: the local week or month itself where the database knows time zones,
    else the quarter hour of UTC time (see `trend`)."""
    column = col(SurveyInvitation.contact_at)
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc(grain, func.timezone(filters.timezone, column)), Date)
    return cast(func.strftime("%s", column), Integer) // SLOT_SECONDS


def trend(*, session: Session, filters: Filters, grain: str = "week") -> list[TrendPoint]:
    """The cohort's answers and satisfaction per local week of contact (starting Monday) or month.

    PostgreSQL buckets by `date_trunc(grain, contact_at AT TIME ZONE tz)`. SQLite has no time zones:
    one fixed offset would misplace whatever is on the other side of a clock change, and an offset
    chosen per row in SQL would restate the zone's rules. So SQLite sums per quarter hour of UTC time
    (`SLOT_SECONDS`) and each slice goes to the week or month of its `local_day` here: exact across
    DST, and at most ~35k small rows a year whatever the volume (100k answers over a year: about
    2-3 times the old grouping by UTC date).
    """
    grain = "month" if grain == "month" else "week"
    tz = ZoneInfo(filters.timezone)
    bucket = _bucket(session, filters, grain).label("bucket")
    query = (
        responses_of_cohort(bucket, func.count(), *_score_columns())
        .where(*response_conditions(filters))
        .group_by(bucket)
    )
    sums: dict[date, list[int]] = {}  # period -> [count, then (n, satisfied, total) per question]
    for key, *values in session.execute(query).tuples():
        if key is None:  # no contact date (none are made; older rows were filled by a migration)
            continue
        # PostgreSQL: the period's first day; SQLite: the slot number.
        day = key if isinstance(key, date) else local_day(datetime.fromtimestamp(key * SLOT_SECONDS, UTC), tz)
        period = _period(day, grain)
        acc = sums.setdefault(period, [0] * len(values))
        for i, value in enumerate(values):
            acc[i] += int(value or 0)
    points: list[TrendPoint] = []
    for period in sorted(sums):
        row = TableRow(label="", team_id=None)
        _fill(row, sums[period][1:])
        points.append(TrendPoint(period=period, responses=sums[period][0], questions=row.questions))
    return points


def search_comments(
    *, session: Session, filters: Filters, q: str = "", page: int = 1
) -> tuple[list[SurveyResponse], int]:
    """Responses with a comment (newest first), optionally containing `q`; and the total count."""
    conds = [*response_conditions(filters), col(SurveyResponse.comment).is_not(None)]
    if q.strip():
        escaped = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(col(SurveyResponse.comment).ilike(f"%{escaped}%", escape="\\"))
    total = int(session.execute(responses_of_cohort(func.count()).where(*conds)).scalar_one())
    rows = session.exec(
        sm_select(SurveyResponse)
        .join(SurveyInvitation, col(SurveyInvitation.id) == col(SurveyResponse.invitation_id))
        .where(*conds)
        .order_by(col(SurveyResponse.submitted_at).desc(), col(SurveyResponse.id).desc())
        .offset(max(0, page - 1) * COMMENTS_PAGE_SIZE)
        .limit(COMMENTS_PAGE_SIZE)
    ).all()
    return list(rows), total
