"""The one opening-hours parser: spans, refusals, closed days, next opening."""

from datetime import UTC, date, datetime

import pytest

from contact_store.opening_hours import is_open, next_opening, spans, spec_problem

WEEKDAYS = {
    "mon": "08:00-12:00,13:00-24:00",
    "tue": "",
    "wed": "",
    "thu": "",
    "fri": "",
    "sat": "",
    "sun": "",
}


@pytest.mark.parametrize("spec", ["", "08:00-20:00", "00:00-24:00", "08:00-12:00, 13:00-24:00"])
def test_good_specs(spec: str) -> None:
    assert spec_problem(spec) is None


@pytest.mark.parametrize("spec", ["8 till 8", "20:00-08:00", "08:00", "25:00-26:00", "12:00-12:00"])
def test_bad_specs_are_refused(spec: str) -> None:
    assert spec_problem(spec) is not None
    with pytest.raises(ValueError):
        spans(spec)


def test_open_closed_and_next() -> None:
    monday_noon_30 = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)  # a Monday, GMT
    assert not is_open(hours=WEEKDAYS, closed=[], timezone="Europe/London", at=monday_noon_30)
    assert is_open(hours=WEEKDAYS, closed=[], timezone="Europe/London", at=monday_noon_30.replace(hour=13))
    assert not is_open(
        hours=WEEKDAYS,
        closed=[date(2026, 11, 30)],
        timezone="Europe/London",
        at=monday_noon_30.replace(hour=13),
    )
    nxt = next_opening(hours=WEEKDAYS, closed=[], timezone="Europe/London", at=monday_noon_30)
    assert nxt is not None and (nxt.day, nxt.hour) == (30, 13)
    nxt = next_opening(
        hours=WEEKDAYS,
        closed=[date(2026, 12, 7)],
        timezone="Europe/London",
        at=monday_noon_30.replace(hour=14),
    )
    assert nxt is not None and nxt.day == 14  # the next Monday is closed
