"""The staffing plan page and its CSV: from stored chats, a manager gets the operators needed
for Saturday evening next week, the past weeks' forecast errors, and a CSV; bad inputs are 422."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.models import Role
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.support.staffing import store_chats

LONDON = ZoneInfo("Europe/London")
PER_DAY = {0: 6, 1: 4, 2: 4, 3: 4, 4: 6, 5: 8, 6: 2}


@pytest.fixture
def history(session: Session) -> int:
    today = utcnow().astimezone(LONDON).date()
    made = store_chats(session, tz=LONDON, first=today - timedelta(weeks=12), end=today, per_day=PER_DAY,
                       evening_extra=6)  # fmt: skip
    session.commit()
    return made


def _next_saturday(settings: Settings) -> str:
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    return (today + timedelta(days=(5 - today.weekday()) % 7 or 7)).isoformat()


def test_saturday_evening_next_week(
    client: TestClient, session: Session, settings: Settings, history: int
) -> None:
    sign_in_as(client, session, settings, role=Role.MANAGER)
    day = _next_saturday(settings)
    r = client.get("/console/staffing", params={"day": day, "sl": "80", "target": "60", "shrinkage": "30",
                                                "concurrency": "1"})  # fmt: skip
    assert r.status_code == 200, r.text
    page = r.text
    assert "Operators to roster by part of the day" in page
    # The evening rush (6 chats at 19:00 every Saturday) is forecast and staffed.
    evening = page.split(">Evening <")[1].split("</tr>")[0]
    assert 'data-label="Most rostered, Erlang C">0' not in evening
    assert 'role="img"' in page and '<title id="chart-demand-title">' in page
    assert "19:00–19:30" in page
    assert "How good is the forecast?" in page and "MAPE" in page
    assert "handling time" in page.lower() and "measured at 1 chat at once" in page
    assert "/console/staffing/plan.csv?" in page


def test_plan_csv(client: TestClient, session: Session, settings: Settings, history: int) -> None:
    sign_in_as(client, session, settings, role=Role.MANAGER)
    day = _next_saturday(settings)
    r = client.get("/console/staffing/plan.csv", params={"day": day, "concurrency": "2", "aht": "900"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="staffing-plan-{day}.csv"' in r.headers["content-disposition"]
    text = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Date", "Interval (local time)", "Interval start (UTC)", "Forecast chats"]
    assert len(body) in (46, 48, 50)
    evening = next(row for row in body if row[1] == "19:00–19:30")
    assert (
        float(evening[3]) >= 6 * 0.75
    )  # three in four of them were offered (one abandoned is still offered)
    c_seats, c_ops = int(evening[4]), int(evening[5])
    assert c_ops == -(-c_seats // 2)  # operators = ⌈seats ÷ 2 chats at once⌉
    assert evening[13] == "900" and evening[15] == "2"
    # Every cell is a number or a plain label: nothing a spreadsheet would run as a formula.
    assert not any(cell[:1] in ("=", "+", "-", "@") for row in body for cell in row)


def test_bad_inputs_are_422_with_the_answers_kept(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sign_in_as(client, session, settings, role=Role.MANAGER)
    r = client.get("/console/staffing", params={"day": "2001-01-01", "sl": "150", "concurrency": "2.5"})
    assert r.status_code == 422
    assert "Choose a day from the list" in r.text
    assert "Service level wanted (%): enter a number from 1 to 99.9" in r.text
    assert "Chats per operator at once: enter a whole number" in r.text
    assert 'value="150"' in r.text
    r = client.get("/console/staffing/plan.csv", params={"day": "nope"})
    assert r.status_code == 422
    r = client.get("/console/staffing/calculator", params={"concurrency": "1.5", "contacts": "10"})
    assert r.status_code == 422


def test_calculator_prefilled_from_history_and_erlang_a(
    client: TestClient, session: Session, settings: Settings, history: int
) -> None:
    sign_in_as(client, session, settings, role=Role.MANAGER)
    r = client.get("/console/staffing/calculator")
    assert r.status_code == 200
    assert "Prefilled from the store" in r.text
    # Measured: 600 s active + 60 s wrap-up alone; patience from those who left after 90 s.
    assert 'id="aht"' in r.text and 'value="660"' in r.text
    example = {"contacts": "100", "period": "30", "aht": "180", "patience": "120", "target": "20", "sl": "80"}
    r = client.get("/console/staffing/calculator", params=example | {"shrinkage": "30", "concurrency": "1"})
    assert r.status_code == 200
    assert (
        '<strong id="plan-agents">14</strong>' in r.text
        and '<strong id="plan-rostered">20</strong>' in r.text
    )
    assert '<strong id="plan-a-agents">12</strong>' in r.text


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR])
def test_staff_below_manager_cannot_plan(
    client: TestClient, session: Session, settings: Settings, role: str
) -> None:
    sign_in_as(client, session, settings, role=role)
    for path in ("/console/staffing", "/console/staffing/plan.csv", "/console/staffing/calculator"):
        assert client.get(path).status_code == 403


def test_without_history_the_plan_says_so(client: TestClient, session: Session, settings: Settings) -> None:
    sign_in_as(client, session, settings, role=Role.ADMIN)
    r = client.get("/console/staffing")
    assert r.status_code == 200
    assert "default: no answered chats measured yet" in r.text
    assert "Nobody has left the queue" in r.text
