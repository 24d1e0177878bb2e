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
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from contact_store.models import Area, Operator, SurveyResponse, Team
from contact_store.settings import Settings
from contact_store.surveys.questions import SCORE_FIELDS
from contact_store.surveys.results import Filters, TableRow, response_conditions

# Rows fetched per query: big enough to amortise the round trip, small enough to keep memory flat.
BATCH_SIZE = 5000
# Bytes per chunk when streaming the finished XLSX file.
CHUNK_BYTES = 256 * 1024
RISKY_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

RESPONSE_HEADER = [
    "Response id",
    "Submitted",
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
    if isinstance(value, str) and value.startswith(RISKY_PREFIXES):
        return "'" + value
    return value


def response_rows(
    *, session: Session, filters: Filters, tz: ZoneInfo, batch_size: int = BATCH_SIZE
) -> Iterator[tuple[Any, ...]]:
    """Every response matching the filters, oldest id first, read in keyset batches."""
    team, operator, area = aliased(Team), aliased(Operator), aliased(Area)
    r = SurveyResponse
    base = (
        select(
            col(r.id),
            col(r.submitted_at),
            col(r.reference),
            col(r.channel),
            col(r.response_channel),
            col(team.name),
            col(operator.display_name),
            col(area.name),
            col(r.topic),
            col(r.score_time),
            col(r.score_resolve),
            col(r.score_overall),
            col(r.comment),
        )
        .outerjoin(team, col(team.id) == r.team_id)
        .outerjoin(operator, col(operator.id) == r.operator_id)
        .outerjoin(area, col(area.id) == r.area_id)
        .where(*response_conditions(filters))
        .order_by(col(r.id))
        .limit(batch_size)
    )
    last_id = 0
    while True:
        batch = session.execute(base.where(col(r.id) > last_id)).all()
        if not batch:
            return
        for row in batch:
            submitted: datetime = row[1]
            yield (row[0], submitted.astimezone(tz).replace(tzinfo=None), *row[2:])
        last_id = batch[-1][0]
        session.expunge_all()


def table_rows(table: Sequence[TableRow]) -> tuple[list[str], list[list[Any]]]:
    """The Figure 18 table as a header and rows of plain values (percentages rounded to 0.1)."""
    header = ["Team", "Responses", "Invitations sent", "Response rate %"]
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
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, flush_every: int = 2000
) -> Iterator[bytes]:
    """CSV bytes (UTF-8 with BOM), yielded every `flush_every` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(
            [v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else neutralise(v) for v in row]
        )
        pending += 1
        if pending >= flush_every:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
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
        yield from csv_stream(header, response_rows(session=session, filters=filters, tz=tz))


def responses_xlsx(
    *, session_factory: Callable[[], Any], settings: Settings, filters: Filters
) -> Iterator[bytes]:
    """The raw responses as XLSX, reading in its own unit of work."""
    tz = ZoneInfo(settings.timezone)
    with session_factory() as session:
        header = list(RESPONSE_HEADER)
        header[1] = f"Submitted ({settings.timezone})"
        yield from xlsx_stream(
            [("Responses", header, response_rows(session=session, filters=filters, tz=tz))]
        )
