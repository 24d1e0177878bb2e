"""Exports of survey responses and of the Figure 18 table, as CSV and XLSX, streamed.

Guarantees:
- Flat memory: responses are read in batches by keyset pagination (`id > last ORDER BY id LIMIT n`),
  CSV is yielded batch by batch, XLSX is written by openpyxl in write-only mode (rows go straight
  to a temporary file on disk, strings inline, no shared-string table) and the finished file is
  streamed in chunks.
- Formula injection neutralised: in CSV a text cell starting with = + - @ tab or CR gets a
  leading apostrophe; in XLSX every text cell is written as a string cell (`t="inlineStr"`), which
  Excel never evaluates, and risky ones get the same apostrophe so they read alike in both.
- Dates are real dates in XLSX (local time of `settings.timezone`; Excel has no time zones) and
  ISO text in CSV. CSV starts with a UTF-8 byte-order mark so Excel reads accents correctly.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import literal_column, select
from sqlmodel import Session, col

from contact_store.models import Area, Operator, SurveyInvitation, SurveyResponse, Team
from contact_store.settings import Settings
from contact_store.surveys.questions import SCORE_FIELDS
from contact_store.surveys.results import Filters, TableRow, response_conditions
from contact_store.surveys.xlsx import stream_xlsx

# Rows fetched per query: big enough to amortise the round trip, small enough to keep memory flat.
BATCH_SIZE = 5000
# Bytes per chunk when streaming the finished XLSX file.
CHUNK_BYTES = 256 * 1024
RISKY_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
RISKY_FIRST = frozenset("=+-@\t\r")

RESPONSE_HEADER = [
    "Response id",
    "Submitted",
    "Contact date",
    "Reference",
    "Contact channel",
    "Answered by",
    "Team",
    "Operator",
    "POD",
    "Topic",
    "Time to answer (1-5)",
    "Ability to resolve (1-5)",
    "Overall service (1-5)",
    "Comment",
]


def neutralise(value: Any) -> Any:
    """A text value made safe from formula injection (others unchanged)."""
    if value and isinstance(value, str) and value[0] in RISKY_FIRST:
        return "'" + value
    return value


def _names(session: Session) -> tuple[dict[Any, str], dict[Any, str], dict[Any, str]]:
    """Team, operator and POD names by id (small tables: read once instead of joining per row)."""
    teams = {i: neutralise(n) for i, n in session.execute(select(col(Team.id), col(Team.name))).all()}
    ops = {
        i: neutralise(n)
        for i, n in session.execute(select(col(Operator.id), col(Operator.display_name))).all()
    }
    areas = {i: neutralise(n) for i, n in session.execute(select(col(Area.id), col(Area.name))).all()}
    return teams, ops, areas


def _to_local(tz: ZoneInfo) -> Callable[[Any], datetime]:
    """A converter from the stored UTC value (datetime, or ISO text on SQLite) to naive local time.

    The UTC offset is looked up once per hour of data (offsets change on the hour), not per row.
    """
    offsets: dict[Any, timedelta] = {}

    def convert(value: Any) -> datetime:
        if isinstance(value, str):
            naive = datetime.fromisoformat(value[:19])
        else:
            naive = value.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        key = naive.replace(minute=0, second=0)
        offset = offsets.get(key)
        if offset is None:
            offset = key.replace(tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)
            offsets[key] = offset
        return naive + offset

    return convert


def response_rows(
    *, session: Session, filters: Filters, tz: ZoneInfo, batch_size: int = BATCH_SIZE
) -> Iterator[tuple[Any, ...]]:
    """Every response matching the filters, oldest id first, read in keyset batches.

    Text values come back already neutralised against formula injection; the submitted time is a
    naive datetime in `tz`. Columns are selected untyped so rows skip per-value ORM processing.
    """
    answer = SurveyResponse.__table__  # type: ignore[attr-defined]
    invitation = SurveyInvitation.__table__  # type: ignore[attr-defined]
    # What the contact was (team, operator, POD, topic, reference) is what the invitation recorded
    # when it ended; the scores and comment are the answer's.
    columns = [
        answer.c.id,
        answer.c.submitted_at,
        invitation.c.contact_at,
        invitation.c.reference,
        invitation.c.channel,
        answer.c.response_channel,
        invitation.c.team_id,
        invitation.c.operator_id,
        invitation.c.area_id,
        invitation.c.topic,
        answer.c.score_time,
        answer.c.score_resolve,
        answer.c.score_overall,
        answer.c.comment,
    ]
    # Untyped copies of the columns: rows skip per-value result processing.
    base: Any = (
        select(*[literal_column(f"{c.table.name}.{c.name}") for c in columns])
        .select_from(answer.join(invitation, invitation.c.id == answer.c.invitation_id))
        .where(*response_conditions(filters))
        .order_by(answer.c.id)
        .limit(batch_size)
    )
    teams, ops, areas = _names(session)
    local = _to_local(tz)
    conn = session.connection()
    last_id = 0
    while True:
        result = conn.execute(base.where(col(SurveyResponse.id) > last_id))
        # Untyped columns need no result processing: take the driver's tuples directly (no Row
        # objects), which roughly halves the cost of reading a million rows.
        batch = result.cursor.fetchall() if result.cursor is not None else result.all()
        result.close()
        if not batch:
            return
        for rid, at, contact_at, ref, chan, rchan, team, op, area, topic, s1, s2, s3, comment in batch:
            yield (
                rid,
                local(at),
                local(contact_at) if contact_at is not None else None,
                neutralise(ref),
                chan,
                rchan,
                teams.get(team),
                ops.get(op),
                areas.get(area),
                neutralise(topic),
                s1,
                s2,
                s3,
                neutralise(comment),
            )
        last_id = batch[-1][0]


def table_rows(table: Sequence[TableRow]) -> tuple[list[str], list[list[Any]]]:
    """The Figure 18 table as a header and rows of plain values (percentages rounded to 0.1)."""
    header = ["Team", "Answered invitations", "Invitations (cohort)", "Response rate %"]
    for name in ("Time to answer", "Ability to resolve", "Overall service"):
        header += [f"{name} satisfied %", f"{name} n", f"{name} mean"]
    header += ["Total satisfied %", "Total n"]

    def r1(x: float | None) -> float | None:
        return round(x, 1) if x is not None else None

    def r2(x: float | None) -> float | None:
        return round(x, 2) if x is not None else None

    rows: list[list[Any]] = []
    for row in table:
        values: list[Any] = [row.label, row.responses, row.invitations, r1(row.response_rate)]
        for name in SCORE_FIELDS:
            q = row.questions[name]
            values += [r1(q.percent), q.n, r2(q.mean)]
        values += [r1(row.pooled.percent), row.pooled.n]
        rows.append(values)
    return header, rows


def csv_stream(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    neutralised: bool = False,
    flush_every: int = 5000,
) -> Iterator[bytes]:
    """CSV bytes (UTF-8 with BOM), yielded every `flush_every` rows.

    Pass `neutralised=True` only for rows whose text is already neutralised (`response_rows`).
    Datetimes are written as `YYYY-MM-DD HH:MM:SS`.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(header)
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row if neutralised else [neutralise(v) for v in row])
        if len(chunk) >= flush_every:
            writer.writerows(chunk)
            chunk.clear()
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(chunk)
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def xlsx_stream(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> Iterator[bytes]:
    """An XLSX workbook (one sheet per entry), built on disk in write-only mode and streamed."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        bold = Font(bold=True)
        heading = []
        for text in header:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font = bold
            heading.append(cell)
        sheet.append(heading)
        for row in rows:
            out: list[Any] = []
            for value in row:
                if isinstance(value, str) and value.startswith(RISKY_PREFIXES):
                    cell = WriteOnlyCell(sheet, value=None)
                    cell._value = neutralise(value)
                    cell.data_type = "s"  # a string cell: never a formula
                    out.append(cell)
                else:
                    out.append(value)
            sheet.append(out)
    with tempfile.TemporaryFile() as handle:
        workbook.save(handle)
        handle.seek(0)
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def responses_csv(
    *, session_factory: Callable[[], Any], settings: Settings, filters: Filters
) -> Iterator[bytes]:
    """The raw responses as CSV, reading in its own unit of work."""
    tz = ZoneInfo(settings.timezone)
    with session_factory() as session:
        header = list(RESPONSE_HEADER)
        header[1] = f"Submitted ({settings.timezone})"
        header[2] = f"Contact date ({settings.timezone})"
        yield from csv_stream(
            header, response_rows(session=session, filters=filters, tz=tz), neutralised=True
        )


def responses_xlsx(
    *, session_factory: Callable[[], Any], settings: Settings, filters: Filters
) -> Iterator[bytes]:
    """The raw responses as XLSX, reading in its own unit of work."""
    tz = ZoneInfo(settings.timezone)
    with session_factory() as session:
        header = list(RESPONSE_HEADER)
        header[1] = f"Submitted ({settings.timezone})"
        header[2] = f"Contact date ({settings.timezone})"
        yield from stream_xlsx("Responses", header, response_rows(session=session, filters=filters, tz=tz))
