"""The staffing planner's parts: Erlang C and A against DOMAIN.md's vectors, the concurrency model,
the half-hour intervals on clock-change days, the forecast against a known synthetic series, and
the history the planner reads from stored chats through the measures (contact_store.measures.planning)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from contact_store.measures.facts import build_days
from contact_store.measures.planning import arrivals_per_interval, handling_by_concurrency, patience
from contact_store.metrics import staffing as metrics_staffing
from contact_store.models import ConversationStatus
from contact_store.settings import Settings
from contact_store.staffing.erlang import erlang_a, erlang_c, required_erlang_a, required_erlang_c, staffing
from contact_store.staffing.forecast import backtest, bank_holidays, fit, predict_day
from contact_store.staffing.intervals import day_intervals
from tests.builders import make_conversation, make_operator
from tests.support.staffing import expected, synthetic_counts

LONDON = ZoneInfo("Europe/London")
LAMBDA = 100 / 1800  # DOMAIN.md: 100 contacts per 30 minutes


# ------------------------------------------------------------------ Erlang C and A


def test_erlang_c_vector_exactly() -> None:
    r = required_erlang_c(
        contacts=100,
        period_seconds=1800,
        aht_seconds=180,
        target_seconds=20,
        target_service_level=0.8,
        shrinkage=0.3,
    )
    assert r.traffic == pytest.approx(10.0)
    assert r.seats == 14 and r.operators == 14 and r.rostered == 20
    assert round(r.p_wait, 4) == 0.1741
    assert round(r.service_level, 4) == 0.8884
    assert round(r.asa_seconds, 2) == 7.84
    assert round(r.occupancy, 3) == 0.714
    # The metrics module still answers the same (callers keep working).
    assert metrics_staffing is staffing
    assert (
        staffing(
            contacts=100,
            period_seconds=1800,
            aht_seconds=180,
            target_seconds=20,
            target_service_level=0.8,
            shrinkage=0.3,
        ).rostered
        == 20
    )


@pytest.mark.parametrize(
    ("agents", "p_wait", "p_abandon", "queue"), [(14, 0.1270, 0.0228, 0.1523), (12, 0.2798, 0.0616, 0.4106)]
)
def test_erlang_a_vectors_exactly(agents: int, p_wait: float, p_abandon: float, queue: float) -> None:
    a = erlang_a(
        arrivals_per_second=LAMBDA, aht_seconds=180, patience_seconds=120, agents=agents, target_seconds=20
    )
    assert (round(a.p_wait, 4), round(a.p_abandon, 4), round(a.expected_queue, 4)) == (
        p_wait,
        p_abandon,
        queue,
    )


def test_erlang_a_becomes_erlang_c_without_abandonment_and_stays_finite_when_understaffed() -> None:
    a = erlang_a(
        arrivals_per_second=LAMBDA, aht_seconds=180, patience_seconds=1e9, agents=14, target_seconds=20
    )
    assert a.p_wait == pytest.approx(erlang_c(10.0, 14), abs=1e-6)
    assert a.service_level == pytest.approx(0.8884, abs=1e-4)
    assert a.asa_seconds == pytest.approx(7.84, abs=1e-2)
    # N ≤ A: Erlang C has no steady state (certain wait); Erlang A does, with many giving up.
    assert erlang_c(10.0, 8) == 1.0
    short = erlang_a(
        arrivals_per_second=LAMBDA, aht_seconds=180, patience_seconds=120, agents=8, target_seconds=20
    )
    assert 0 < short.p_wait < 1 and 0.1 < short.p_abandon < 1 and math.isfinite(short.expected_queue)
    # Little's law on the servers: carried load = λ·(1 − P(abandon))·AHT = busy seats.
    assert short.occupancy * 8 == pytest.approx(LAMBDA * (1 - short.p_abandon) * 180, rel=1e-9)


def test_erlang_a_needs_fewer_seats_when_visitors_give_up() -> None:
    common = dict(
        contacts=100, period_seconds=1800, aht_seconds=180, target_seconds=20, target_service_level=0.8
    )
    c = required_erlang_c(**common)  # type: ignore[arg-type]
    a = required_erlang_a(patience_seconds=120, **common)  # type: ignore[arg-type]
    assert a.seats < c.seats
    assert a.service_level >= 0.8
    below = erlang_a(arrivals_per_second=LAMBDA, aht_seconds=180, patience_seconds=120, agents=a.seats - 1,
                     target_seconds=20)  # fmt: skip
    assert below.service_level < 0.8  # the fewest seats that do it
    zero = required_erlang_a(patience_seconds=120, **{**common, "contacts": 0})  # type: ignore[arg-type]
    assert (zero.seats, zero.rostered) == (0, 0)


def test_chat_concurrency_uses_the_handling_time_measured_at_that_concurrency() -> None:
    """Three chats at once take longer each (300 s, not 180 s): seats come from that AHT."""
    one_at_a_time = required_erlang_c(
        contacts=100, period_seconds=1800, aht_seconds=180, target_seconds=20, target_service_level=0.8
    )
    three = required_erlang_c(
        contacts=100,
        period_seconds=1800,
        aht_seconds=300,
        target_seconds=20,
        target_service_level=0.8,
        shrinkage=0.3,
        concurrency=3,
    )
    assert (
        three.seats
        == required_erlang_c(
            contacts=100, period_seconds=1800, aht_seconds=300, target_seconds=20, target_service_level=0.8
        ).seats
    )
    assert three.operators == math.ceil(three.seats / 3)
    assert three.rostered == math.ceil(three.operators / 0.7)
    # The plain division of the one-at-a-time answer understates the operators needed.
    assert three.operators > math.ceil(one_at_a_time.seats / 3)


# ------------------------------------------------------------------ intervals and the clock change


def test_clock_change_days_have_46_and_50_half_hours() -> None:
    spring, autumn, plain = date(2026, 3, 29), date(2026, 10, 25), date(2026, 10, 26)
    assert len(day_intervals(spring, LONDON)) == 46
    assert len(day_intervals(autumn, LONDON)) == 50
    assert len(day_intervals(plain, LONDON)) == 48
    slots = [iv.slot for iv in day_intervals(autumn, LONDON)]
    assert slots.count(2) == 2 and slots.count(3) == 2  # 01:00–02:00 happens twice
    assert 2 not in [iv.slot for iv in day_intervals(spring, LONDON)]  # 01:00–02:00 never happens
    # The second 01:00 (GMT) is its own interval, with the same measures key as the first (BST).
    first, second = (iv for iv in day_intervals(autumn, LONDON) if iv.slot == 2)
    assert first.start == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 01:00 BST
    assert second.start == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 01:00 GMT
    assert first.key == second.key == (autumn, "01:00")
    assert [iv.key[1] for iv in day_intervals(spring, LONDON)][2:4] == ["02:00", "02:30"]


# ------------------------------------------------------------------ the forecast


def test_bank_holidays_england_and_wales() -> None:
    days = bank_holidays([2026], region="WLS", extra=[date(2026, 7, 1)])
    assert date(2026, 4, 3) in days and date(2026, 8, 31) in days and date(2026, 12, 28) in days
    assert date(2026, 7, 1) in days
    assert date(2026, 8, 3) not in days  # Scotland's summer holiday, not England and Wales's
    assert date(2026, 8, 3) in bank_holidays([2026], region="SCT")


def test_forecast_recovers_weekly_and_daily_seasonality_and_the_bank_holiday() -> None:
    holidays = bank_holidays([2026])
    first, end = date(2026, 3, 2), date(2026, 5, 18)  # 11 weeks, with Easter (2) and May Day (1)
    counts = synthetic_counts(first, end, LONDON, holidays)
    model = fit(counts, first_day=end - timedelta(weeks=5), end_day=end, tz=LONDON, holidays=holidays)
    assert model.holiday_profile == "sun"  # one holiday (May Day) in 5 weeks: forecast like a Sunday
    for day in [end + timedelta(days=k) for k in range(7)] + [date(2026, 5, 25)]:  # the next week; Spring BH
        for iv, value in predict_day(model, day, tz=LONDON, holidays=holidays):
            assert value == pytest.approx(expected(day, iv.slot, holidays), rel=1e-9), (day, iv.label)
    # Spring bank holiday Monday is forecast like a Sunday, not like a Monday.
    bank = sum(v for _, v in predict_day(model, date(2026, 5, 25), tz=LONDON, holidays=holidays))
    assert bank == pytest.approx(48.0) and bank < 96.0
    # With the whole history the holidays get their own profile.
    longer = fit(counts, first_day=first, end_day=end, tz=LONDON, holidays=holidays)
    assert longer.holiday_profile == "holiday"
    # Past weeks forecast from the weeks before them: no error on a series without noise.
    checks = backtest(counts, mondays=[date(2026, 5, 4), date(2026, 5, 11)], history_weeks=8, tz=LONDON,
                      holidays=holidays)  # fmt: skip
    assert [c.mape for c in checks] == [pytest.approx(0.0, abs=1e-9)] * 2
    assert all(c.intervals_skipped == 0 and c.intervals_scored == 7 * 48 for c in checks)


def test_forecast_of_a_noisy_series_is_close_and_mape_skips_empty_half_hours() -> None:
    rng = random.Random(14)
    holidays: set[date] = set()
    first, end = date(2026, 1, 5), date(2026, 3, 2)
    exact = synthetic_counts(first, end, LONDON, holidays)
    # Poisson noise (Knuth's method), so some night half hours have no chats at all.
    noisy: dict[tuple[date, str], float] = {}
    for key, mean in exact.items():
        k, p, limit = 0, 1.0, math.exp(-mean)
        while True:
            p *= rng.random()
            if p <= limit:
                break
            k += 1
        noisy[key] = k
    model = fit(noisy, first_day=first, end_day=end, tz=LONDON, holidays=holidays)
    for weekday in range(7):
        day = end + timedelta(days=weekday)
        total = sum(v for _, v in predict_day(model, day, tz=LONDON, holidays=holidays))
        want = sum(expected(day, s, holidays) for s in range(48))
        assert total == pytest.approx(want, rel=0.15)
    checks = backtest(noisy, mondays=[date(2026, 2, 23)], history_weeks=6, tz=LONDON, holidays=holidays)
    check = checks[0]
    zeros = sum(1 for d in range(7) for iv in day_intervals(date(2026, 2, 23) + timedelta(days=d), LONDON)
                if noisy.get(iv.key, 0) == 0)  # fmt: skip
    assert check.intervals_skipped == zeros > 0
    assert check.intervals_scored + check.intervals_skipped == 7 * 48
    assert check.mape is not None and 0 < check.mape < 1.5


def test_forecast_on_clock_change_days() -> None:
    holidays: set[date] = set()
    counts = synthetic_counts(date(2026, 8, 31), date(2026, 10, 19), LONDON, holidays)
    model = fit(counts, first_day=date(2026, 8, 31), end_day=date(2026, 10, 19), tz=LONDON, holidays=holidays)
    autumn = predict_day(model, date(2026, 10, 25), tz=LONDON, holidays=holidays)
    assert len(autumn) == 50
    repeated = [v for iv, v in autumn if iv.slot == 2]
    assert len(repeated) == 2 and repeated[0] == repeated[1] == pytest.approx(
        expected(date(2026, 10, 25), 2, holidays)
    )
    spring = predict_day(model, date(2027, 3, 28), tz=LONDON, holidays=holidays)
    assert len(spring) == 46
    # A history that includes the autumn change still recovers the pattern (repeated slots count once).
    later = synthetic_counts(date(2026, 10, 5), date(2026, 11, 16), LONDON, holidays)
    m2 = fit(later, first_day=date(2026, 10, 5), end_day=date(2026, 11, 16), tz=LONDON, holidays=holidays)
    for iv, value in predict_day(m2, date(2026, 11, 22), tz=LONDON, holidays=holidays):
        assert value == pytest.approx(expected(date(2026, 11, 22), iv.slot, holidays))


# ------------------------------------------------------------------ history, through the measures


def test_arrivals_follow_the_offered_rule_and_local_time(session: Session, settings: Settings) -> None:
    settings.abandon_ignore_under_seconds = 10
    t = datetime(2026, 7, 4, 18, 40, tzinfo=UTC)  # 19:40 BST
    make_conversation(
        session, status=ConversationStatus.ENDED, queued_at=t, assigned_at=t + timedelta(seconds=5)
    )
    make_conversation(  # a short abandon: not offered
        session, status=ConversationStatus.ABANDONED, queued_at=t, abandoned_at=t + timedelta(seconds=3)
    )
    make_conversation(
        session, status=ConversationStatus.ABANDONED, queued_at=t, abandoned_at=t + timedelta(seconds=30)
    )
    make_conversation(
        session, status=ConversationStatus.ENDED, queued_at=t + timedelta(minutes=30), assigned_at=t
    )
    day = date(2026, 7, 4)
    assert arrivals_per_interval(session=session, start=day, end=day) == {}  # the facts are not built
    build_days(session=session, settings=settings, start=day, end=day)
    counts = arrivals_per_interval(
        session=session, start=day - timedelta(days=1), end=day + timedelta(days=1)
    )
    assert counts == {(day, "19:30"): 2, (day, "20:00"): 1}


def test_arrivals_and_backtest_on_clock_change_days(session: Session, settings: Settings) -> None:
    autumn, spring = date(2026, 10, 25), date(2026, 3, 29)

    def chat(at: datetime) -> None:
        make_conversation(session, status=ConversationStatus.ENDED, queued_at=at, assigned_at=at)

    chat(datetime(2026, 10, 25, 0, 15, tzinfo=UTC))  # 01:15 BST
    for _ in range(3):
        chat(datetime(2026, 10, 25, 1, 15, tzinfo=UTC))  # 01:15 GMT, an hour later
    chat(datetime(2026, 10, 25, 23, 30, tzinfo=UTC))  # 23:30 GMT: still the 25th (a 25-hour day)
    chat(datetime(2026, 10, 24, 23, 30, tzinfo=UTC))  # 00:30 BST on the 25th
    chat(datetime(2026, 3, 29, 0, 45, tzinfo=UTC))  # 00:45 GMT
    chat(datetime(2026, 3, 29, 1, 15, tzinfo=UTC))  # 02:15 BST: the clocks went forward at 01:00 GMT
    chat(datetime(2026, 3, 29, 23, 30, tzinfo=UTC))  # 00:30 BST on the 30th (a 23-hour day)
    for day in (spring, autumn):
        build_days(
            session=session, settings=settings, start=day - timedelta(days=1), end=day + timedelta(days=1)
        )
    counts = arrivals_per_interval(session=session, start=spring, end=autumn + timedelta(days=1))
    assert counts == {
        (autumn, "00:30"): 1, (autumn, "01:00"): 4, (autumn, "23:30"): 1,
        (spring, "00:30"): 1, (spring, "02:00"): 1, (spring + timedelta(days=1), "00:30"): 1,
    }  # fmt: skip
    # The backtest shares the repeated slot between its two intervals: the day's total is exact.
    holidays: set[date] = set()
    (week,) = backtest(counts, mondays=[date(2026, 10, 19)], history_weeks=1, tz=LONDON, holidays=holidays)
    assert week.days[6].day == autumn and week.days[6].actual == 6
    assert week.intervals_scored + week.intervals_skipped == 6 * 48 + 50
    # Fitted on the 25-hour day, the repeated 01:00 slot counts once, at its mean (4 ÷ 2 an interval).
    model = fit(counts, first_day=autumn, end_day=autumn + timedelta(days=1), tz=LONDON, holidays=holidays)
    forecast = dict(
        ((iv.start, iv.slot), f) for iv, f in predict_day(model, autumn, tz=LONDON, holidays=holidays)
    )
    assert [f for (_, slot), f in forecast.items() if slot == 2] == [2.0, 2.0]
    assert sum(forecast.values()) == pytest.approx(6)  # the same day again: 1 + 2 + 2 + 1, as it was


def test_handling_time_by_concurrency(session: Session, settings: Settings) -> None:
    op = make_operator(session)
    other = make_operator(session)
    t = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)
    day = date(2026, 7, 6)
    # Alone: 300 s active + 60 s wrap-up.
    make_conversation(session, status=ConversationStatus.ENDED, queued_at=t, assigned_at=t,
                      ended_at=t + timedelta(seconds=300), wrapped_up_at=t + timedelta(seconds=360),
                      assignee_id=op.id)  # fmt: skip
    # Three at once for 900 s each (another operator's chat at the same time does not count).
    s = t + timedelta(hours=1)
    for _ in range(3):
        make_conversation(session, status=ConversationStatus.ENDED, queued_at=s, assigned_at=s,
                          ended_at=s + timedelta(seconds=900), assignee_id=op.id)  # fmt: skip
    make_conversation(session, status=ConversationStatus.ENDED, queued_at=s, assigned_at=s,
                      ended_at=s + timedelta(seconds=200), assignee_id=other.id)  # fmt: skip
    build_days(session=session, settings=settings, start=day, end=day)
    h = handling_by_concurrency(session=session, settings=settings, start=day, end=day)
    assert [(lv.concurrency, lv.chats, lv.aht_seconds) for lv in h.levels] == [(1, 2, 280.0), (3, 3, 900.0)]
    assert h.aht_at(3) == (900.0, 3)
    assert h.aht_at(2) == (900.0, 3)  # none measured at 2: the nearest, the higher on a tie
    # The dashboards' concurrency: op 300 + 2700 chat-seconds over 300 + 900 busy; other 200 over 200.
    assert h.sustained_concurrency == pytest.approx((300 + 2700 + 200) / (300 + 900 + 200))
    nothing = handling_by_concurrency(session=session, settings=settings, start=day + timedelta(days=1),
                                      end=day + timedelta(days=1))  # fmt: skip
    assert (
        nothing.levels == [] and nothing.sustained_concurrency is None and nothing.aht_at(1) == (None, None)
    )


def test_patience_is_abandoned_over_time_waited_by_all_offered(session: Session, settings: Settings) -> None:
    """Exponential patience, θ = abandoned ÷ total time waited by all offered (answered waits are
    censored patience); short abandons are neither offered nor abandoned (DOMAIN.md, configurable)."""
    settings.abandon_ignore_under_seconds = 5
    p0 = datetime(2026, 7, 8, 9, 0, tzinfo=UTC)
    day = date(2026, 7, 8)
    for waited in (60, 100):
        make_conversation(session, status=ConversationStatus.ABANDONED, queued_at=p0,
                          abandoned_at=p0 + timedelta(seconds=waited))  # fmt: skip
    for _ in range(2):
        make_conversation(
            session, status=ConversationStatus.ENDED, queued_at=p0, assigned_at=p0 + timedelta(seconds=40)
        )
    make_conversation(  # left at once: a short abandon
        session, status=ConversationStatus.ABANDONED, queued_at=p0, abandoned_at=p0 + timedelta(seconds=2)
    )
    make_conversation(  # another local day: not in the period
        session, status=ConversationStatus.ABANDONED, queued_at=p0 + timedelta(days=1),
        abandoned_at=p0 + timedelta(days=1, seconds=500),
    )  # fmt: skip
    pat = patience(session=session, settings=settings, start=day, end=day)
    assert (pat.abandoned, pat.offered) == (2, 4)
    assert pat.waited_seconds == 60 + 100 + 40 + 40
    assert pat.mean_wait_abandoned_seconds == pytest.approx(80.0)
    assert pat.mean_patience_seconds == pytest.approx((60 + 100 + 40 + 40) / 2)  # 120 s
    # Counting every abandon (no short-abandon time), the 2 s one is offered and abandoned too.
    settings.abandon_ignore_under_seconds = 0
    every = patience(session=session, settings=settings, start=day, end=day)
    assert (every.abandoned, every.offered) == (3, 5)
    assert every.mean_patience_seconds == pytest.approx((60 + 100 + 40 + 40 + 2) / 3)
    nobody = patience(
        session=session, settings=settings, start=day - timedelta(days=1), end=day - timedelta(days=1)
    )
    assert nobody.mean_patience_seconds is None and nobody.mean_wait_abandoned_seconds is None


def test_patience_recovers_a_known_exponential_patience(session: Session, settings: Settings) -> None:
    """600 visitors with exponential patience (mean 120 s) and exponential time to answer (mean 60 s):
    each leaves at min(patience, answer). The estimate recovers 120 s; the mean wait of those who
    left (about 1 / (1/120 + 1/60) = 40 s) would understate it threefold."""
    settings.abandon_ignore_under_seconds = 0
    rng = random.Random(14)
    p0 = datetime(2026, 7, 8, 8, 0, tzinfo=UTC)
    for i in range(600):
        queued = p0 + timedelta(seconds=50 * i)
        give_up, answer = rng.expovariate(1 / 120), rng.expovariate(1 / 60)
        if give_up < answer:
            make_conversation(session, status=ConversationStatus.ABANDONED, queued_at=queued,
                              abandoned_at=queued + timedelta(seconds=give_up))  # fmt: skip
        else:
            make_conversation(session, status=ConversationStatus.ENDED, queued_at=queued,
                              assigned_at=queued + timedelta(seconds=answer))  # fmt: skip
    pat = patience(session=session, settings=settings, start=date(2026, 7, 8), end=date(2026, 7, 8))
    assert pat.offered == 600 and 150 < pat.abandoned < 250
    assert pat.mean_patience_seconds == pytest.approx(120, rel=0.15)
    assert pat.mean_wait_abandoned_seconds == pytest.approx(40, rel=0.2)


# ------------------------------------------------------------------ the plan reads fresh facts


def test_the_plan_builds_stale_or_missing_facts_before_reading_them(
    session: Session, settings: Settings
) -> None:
    from contact_store.measures.facts import built_at
    from contact_store.staffing.plan import read_history

    now = datetime(2026, 7, 8, 12, 0, tzinfo=UTC)  # a Wednesday
    yesterday = datetime(2026, 7, 7, 15, 10, tzinfo=UTC)  # 16:10 BST
    long_ago = datetime(2026, 5, 5, 15, 10, tzinfo=UTC)  # nine weeks back: history to backfill
    for at in (yesterday, long_ago):
        make_conversation(session, status=ConversationStatus.ENDED, queued_at=at, assigned_at=at)
    # Never built: the plan builds the recent days and backfills the weeks it reads.
    h = read_history(session=session, settings=settings, now=now)
    assert h.counts == {(date(2026, 7, 7), "16:00"): 1, (date(2026, 5, 5), "16:00"): 1}
    assert h.facts_built_at == now and h.last_day == date(2026, 7, 7)
    # A chat stored since: while the facts are current (the maintenance loop runs), they are read as
    # they are; once they are older than two refresh periods, the plan refreshes them first.
    make_conversation(session, status=ConversationStatus.ENDED, queued_at=yesterday, assigned_at=yesterday)
    soon = now + timedelta(minutes=settings.facts_refresh_minutes)
    assert read_history(session=session, settings=settings, now=soon).counts[(date(2026, 7, 7), "16:00")] == 1
    later = now + timedelta(minutes=2 * settings.facts_refresh_minutes + 1)
    h = read_history(session=session, settings=settings, now=later)
    assert h.counts[(date(2026, 7, 7), "16:00")] == 2 and built_at(session=session) == later
