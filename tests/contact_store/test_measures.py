"""Every measure against the hand-built scenario (tests/support/dashboard_scenario.py), from the
contacts and from the fact table, which must agree — also after late changes."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from contact_store.conversations import record_event
from contact_store.measures import FactSource, RawSource, breakdown, refresh_facts, totals
from contact_store.measures.contacts import local_bounds
from contact_store.measures.facts import rebuild_all
from contact_store.measures.planning import arrivals_per_interval, handling_by_concurrency, patience
from contact_store.measures.query import by_hour, by_weekday, heatmap, series
from contact_store.metrics import period_figures
from contact_store.models import ReportEvent, fact_contact_day
from contact_store.settings import Settings
from tests.builders import make_conversation, make_report
from tests.support.dashboard_scenario import Scenario, build_scenario, scenario_settings, utc

DAY = date(2026, 3, 10)
NOW = utc(2026, 4, 20, 12)  # long after: the scenario's days are no longer "recent"


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return scenario_settings(settings)


@pytest.fixture
def sc(session: Session) -> Scenario:
    return build_scenario(session)


def _sources(session: Session, cfg: Settings) -> list[FactSource | RawSource]:
    rebuild_all(session=session, settings=cfg, now=NOW)
    return [RawSource(session, cfg), FactSource(session)]


def test_local_days_are_23_and_25_hours_at_the_clock_changes() -> None:
    tz = ZoneInfo("Europe/London")
    for day, hours in ((date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (DAY, 24)):
        lo, hi = local_bounds(day, day, tz)
        assert hi - lo == timedelta(hours=hours)


def test_chat_measures_of_the_day(session: Session, cfg: Settings, sc: Scenario) -> None:
    for source in _sources(session, cfg):
        f = totals(source, start=DAY, end=DAY, channel="chat", team_id=None)
        assert (f["offered"], f["answered"], f["abandoned"], f["short_abandoned"]) == (4, 3, 1, 1)
        assert f.service_level == pytest.approx(2 / 4)  # chat1 (40 s) and chat5 (30 s) in 60 s
        assert f.asa_seconds == pytest.approx((40 + 120 + 30) / 3)
        # active 600 + 480 + 1770 (over midnight), wrap-up 120 + 0 + 60, over 3 handled
        assert f.aht_seconds == pytest.approx((600 + 480 + 1770 + 120 + 60) / 3)
        assert f["transfers"] == 1
        assert f.satisfaction == pytest.approx(2 / 3) and f.satisfaction_n == 3
        assert f.question("overall") == (0.0, 1, 2.0)
        assert f.response_rate == 1.0


def test_concurrency_is_time_weighted_and_split_at_midnight(
    session: Session, cfg: Settings, sc: Scenario
) -> None:
    for source in _sources(session, cfg):
        ops = breakdown(source, start=DAY, end=DAY, channel="chat", team_id=None, by="operator")
        one = ops[str(sc.op1.id)]
        assert (one["held_seconds"], one["busy_seconds"]) == (1080, 860)  # overlap 10:07-10:10:40
        assert one.concurrency == pytest.approx(1080 / 860)
        assert ops[str(sc.op2.id)]["held_seconds"] == 570  # 23:50:30 to midnight
        next_day = breakdown(
            source, start=DAY + timedelta(days=1), end=DAY + timedelta(days=1), channel="chat", team_id=None,
            by="operator",
        )  # fmt: skip
        assert next_day[str(sc.op2.id)]["held_seconds"] == 1200


def test_chat_over_the_clock_change(session: Session, cfg: Settings, sc: Scenario) -> None:
    spring = date(2026, 3, 29)
    for source in _sources(session, cfg):
        f = totals(source, start=spring, end=spring, channel="chat", team_id=None)
        assert f.aht_seconds == 3600  # 00:31 GMT to 02:31 BST is one hour
        assert by_hour(source, start=spring, end=spring, channel="chat", team_id=None)[0]["offered"] == 1
        assert by_weekday(source, start=spring, end=spring, channel="chat", team_id=None)[6]["offered"] == 1


def test_reports_answered_within_24_hours(session: Session, cfg: Settings, sc: Scenario) -> None:
    for source in _sources(session, cfg):
        f = totals(source, start=DAY, end=DAY, channel="forms", team_id=None)
        assert (f["offered"], f["answered"], f["in_target"]) == (2, 2, 1)  # report3 came from a chat
        assert f.service_level == 0.5
        assert f.asa_seconds == pytest.approx((6 + 48) * 3600 / 2)


def test_texts(session: Session, cfg: Settings, sc: Scenario) -> None:
    for source in _sources(session, cfg):
        f = totals(source, start=DAY, end=DAY, channel="sms", team_id=None)
        assert (f["texts"], f["delivered"], f["failed"], f["blocked"]) == (3, 1, 1, 1)
        assert (
            breakdown(source, start=DAY, end=DAY, channel="sms", team_id=None, by="team")[sc.team_a.id][
                "texts"
            ]
            == 3
        )


def test_breakdowns_by_team_topic_and_wait(session: Session, cfg: Settings, sc: Scenario) -> None:
    for source in _sources(session, cfg):
        teams = breakdown(source, start=DAY, end=DAY, channel="chat", team_id=None, by="team")
        assert (teams[sc.team_a.id]["offered"], teams[sc.team_b.id]["offered"]) == (3, 1)
        assert teams[sc.team_a.id].service_level == pytest.approx(1 / 3)
        topics = breakdown(source, start=DAY, end=DAY, channel="chat", team_id=None, by="topic")
        assert topics["theft"]["answered"] == 2
        waits = breakdown(source, start=DAY, end=DAY, channel="chat", team_id=None, by="wait")
        assert waits["30–60 s"]["answered"] == 2  # 40 s and 30 s
        assert (waits["2–5 min"]["answered"], waits["2–5 min"]["abandoned"]) == (1, 1)  # 120 s each
        only_b = totals(source, start=DAY, end=DAY, channel="chat", team_id=sc.team_b.id)
        assert only_b["offered"] == 1
        month = series(source, start=DAY, end=date(2026, 3, 31), channel="chat", team_id=None, grain="month")
        assert month[date(2026, 3, 1)]["offered"] == 5
        weeks = series(source, start=DAY, end=date(2026, 3, 31), channel="chat", team_id=None, grain="week")
        assert weeks[date(2026, 3, 9)]["offered"] == 4
        heat = heatmap(source, start=DAY, end=DAY, channel="chat", team_id=None)
        assert heat[(1, 10)]["offered"] == 2 and heat[(1, 23)]["offered"] == 1


def _all_rows(session: Session) -> set[tuple[object, ...]]:
    return {tuple(r) for r in session.execute(select(fact_contact_day)).all()}


def test_facts_follow_late_changes(session: Session, cfg: Settings, sc: Scenario) -> None:
    rebuild_all(session=session, settings=cfg, now=NOW)
    # A chat left waiting on the 10th and marked abandoned weeks later; a report first answered late.
    waiting = make_conversation(session, status="queued", queued_at=utc(2026, 3, 10, 14))
    late = make_report(session, received_at=utc(2026, 3, 12, 9))
    refresh_facts(session=session, settings=cfg, now=NOW)  # not recent: only the events mark days
    waiting.status, waiting.abandoned_at = "abandoned", utc(2026, 3, 10, 14, 5)
    session.add(waiting)
    record_event(session=session, conversation_id=waiting.id, kind="abandoned")
    late.first_response_at = utc(2026, 4, 1)
    session.add(late)
    session.add(ReportEvent(report_id=late.id or 0, kind="status", body="resolved"))
    session.flush()
    rebuilt = refresh_facts(session=session, settings=cfg, now=NOW)
    assert DAY in rebuilt and date(2026, 3, 12) in rebuilt
    after = _all_rows(session)
    rebuild_all(session=session, settings=cfg, now=NOW)
    assert after == _all_rows(session)  # incremental equals a full rebuild
    f = totals(FactSource(session), start=DAY, end=DAY, channel="chat", team_id=None)
    assert f["abandoned"] == 2
    raw = RawSource(session, cfg)
    for by in ("team", "area", "operator", "topic", "halfhour", "wait"):
        for channel in ("chat", "forms", "sms"):
            kw = {"start": DAY, "end": date(2026, 3, 31), "channel": channel, "team_id": None, "by": by}
            assert breakdown(FactSource(session), **kw) == breakdown(raw, **kw)  # type: ignore[arg-type]


def test_wallboard_uses_the_same_rule(session: Session, cfg: Settings, sc: Scenario) -> None:
    lo, _ = local_bounds(DAY, DAY, ZoneInfo(cfg.timezone))
    wall = period_figures(session=session, settings=cfg, since=lo, label="x")  # the 10th onwards
    month = totals(RawSource(session, cfg), start=DAY, end=date(2026, 3, 31), channel="chat", team_id=None)
    assert (wall.offered, wall.answered, wall.abandoned) == (5, 4, 1)
    assert (month["offered"], month["answered"], month["abandoned"]) == (5, 4, 1)


def test_what_the_staffing_planner_needs(session: Session, cfg: Settings, sc: Scenario) -> None:
    rebuild_all(session=session, settings=cfg, now=NOW)
    arrivals = arrivals_per_interval(session=session, start=DAY, end=DAY)
    assert arrivals == {(DAY, "10:00"): 2, (DAY, "11:00"): 1, (DAY, "23:30"): 1}
    handling = handling_by_concurrency(session=session, settings=cfg, start=DAY, end=DAY)
    (level,) = handling.levels  # chat1 overlaps chat2 for 220 s of 600 (and of 480): rounds to 1
    assert (level.concurrency, level.chats) == (1, 3)
    assert level.aht_seconds == pytest.approx((600 + 480 + 1770 + 120 + 60) / 3)  # as the dashboards' AHT
    assert handling.sustained_concurrency == pytest.approx((1080 + 570) / (860 + 570))  # op1, op2 that day
    p = patience(session=session, settings=cfg, start=DAY, end=DAY)
    # Offered as the dashboards count them: chat3 (left after 10 s, under 30 s) is a short abandon.
    assert (p.offered, p.abandoned, p.waits_of_abandoned) == (4, 1, [120])
    assert p.mean_patience_seconds == pytest.approx((40 + 120 + 120 + 30) / 1)


def test_history_is_built_backwards_in_chunks(session: Session, cfg: Settings, sc: Scenario) -> None:
    from contact_store.measures.facts import backfill_facts, backfill_to

    first = refresh_facts(session=session, settings=cfg, now=NOW)  # a first run: recent days only
    assert first == [date(2026, 4, 18), date(2026, 4, 19), date(2026, 4, 20)]
    assert backfill_to(session=session) == date(2026, 4, 18)
    assert totals(FactSource(session), start=DAY, end=DAY, channel="chat", team_id=None)["offered"] == 0
    chunks = []
    while chunk := backfill_facts(session=session, settings=cfg, now=NOW):
        chunks.append(chunk)
    assert chunks[-1][0] == DAY and backfill_to(session=session) is None  # down to the oldest contact
    incremental = _all_rows(session)
    rebuild_all(session=session, settings=cfg, now=NOW)
    assert incremental == _all_rows(session)
