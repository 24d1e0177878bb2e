"""Dashboards: who may see which team's figures, the page, its CSV exports and the drill-down."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from contact_store.measures import rebuild_all
from contact_store.models import Role
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.support.dashboard_scenario import build_scenario, utc

MARCH = "from-day=1&from-month=3&from-year=2026&to-day=31&to-month=3&to-year=2026"
NOW = utc(2026, 4, 20, 12)


def _facts(session: Session, settings: Settings) -> None:
    rebuild_all(session=session, settings=settings, now=NOW)
    session.commit()


def test_anonymous_and_operators_are_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    r = client.get("/console/dashboards", follow_redirects=False)
    assert r.status_code in (303, 401)
    sign_in_as(client, session, settings, Role.OPERATOR)
    assert client.get("/console/dashboards").status_code == 403
    assert (
        client.get("/console/dashboards/contacts?measure=offered&start=2026-03-01&end=2026-03-31").status_code
        == 403
    )


def test_manager_sees_every_team_and_drills_to_the_contacts(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sc = build_scenario(session)
    _facts(session, settings)
    sign_in_as(client, session, settings, Role.MANAGER)
    page = client.get(f"/console/dashboards?{MARCH}&channel=chat")
    assert page.status_code == 200
    assert "Team A" in page.text and "Team B" in page.text
    assert 'role="img"' in page.text and '<title id="chart-heat-t">' in page.text
    csv = client.get(f"/console/dashboards?{MARCH}&channel=chat&format=csv&table=teams")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "Team A" in csv.text
    drill = client.get(
        "/console/dashboards/contacts?measure=abandoned&channel=chat&start=2026-03-01&end=2026-03-31"
    )
    assert drill.status_code == 200
    assert sc.chats["chat4"].id[:8] in drill.text and sc.chats["chat1"].id[:8] not in drill.text
    forms = client.get(
        "/console/dashboards/contacts?measure=in_target&channel=forms&start=2026-03-01&end=2026-03-31"
    )
    assert sc.reports["report1"].reference in forms.text and sc.reports["report2"].reference not in forms.text


def test_supervisor_sees_only_their_team(client: TestClient, session: Session, settings: Settings) -> None:
    sc = build_scenario(session)
    _facts(session, settings)
    sign_in_as(client, session, settings, Role.SUPERVISOR, team_id=sc.team_b.id)
    page = client.get(f"/console/dashboards?{MARCH}&channel=chat&team={sc.team_a.id}")
    assert page.status_code == 200
    assert "Team B" in page.text and "Team A" not in page.text
    drill = client.get(
        f"/console/dashboards/contacts?measure=offered&channel=chat&start=2026-03-01&end=2026-03-31&team={sc.team_a.id}"
    )
    assert sc.chats["chat1"].id[:8] not in drill.text and sc.chats["chat5"].id[:8] in drill.text


def test_bad_input_is_a_form_error_not_a_500(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sign_in_as(client, session, settings, Role.MANAGER)
    r = client.get(
        "/console/dashboards?from-day=31&from-month=2&from-year=2026&channel=x&by=y&grain=z&team=abc"
    )
    assert r.status_code == 200 and "There is a problem" in r.text and 'value="31"' in r.text
    assert client.get("/console/dashboards/contacts?measure=nope&start=x&end=y").status_code == 400
    assert (
        client.get("/console/dashboards/contacts?measure=drop&start=2026-01-01&end=2026-01-02").status_code
        == 400
    )


def test_csv_is_safe_from_formula_injection(client: TestClient, session: Session, settings: Settings) -> None:
    from tests.builders import make_conversation, make_team

    team = make_team(session, "=HYPERLINK(1)")
    make_conversation(session, status="queued", team_id=team.id, queued_at=utc(2026, 3, 5, 10))
    _facts(session, settings)
    sign_in_as(client, session, settings, Role.MANAGER)
    csv = client.get(f"/console/dashboards?{MARCH}&channel=chat&format=csv&table=teams")
    assert "'=HYPERLINK(1)" in csv.text


def test_done_when_last_month_by_team_against_the_month_before(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """April against March, chat, by team: service level, AHT and satisfaction with n, each
    traceable to its contacts."""
    sc = build_scenario(session)
    _facts(session, settings)
    sign_in_as(client, session, settings, Role.MANAGER)
    april = "from-day=1&from-month=4&from-year=2026&to-day=30&to-month=4&to-year=2026"
    page = client.get(f"/console/dashboards?{april}&channel=chat&by=team")
    assert "Previous period: 01 Mar 2026 to 31 Mar 2026" in page.text
    csv = client.get(f"/console/dashboards?{april}&channel=chat&by=team&format=csv&table=compare").text
    header, *rows = csv.lstrip("\ufeff").strip().splitlines()
    assert header.startswith("Team,Service level now,Service level before,Average handling time now")
    team_a = next(r for r in rows if r.startswith("Team A"))
    # March: team A offered 3 (chat1, chat2, chat4), chat1 in target; AHT (720 + 480) / 2; 2 of 3 satisfied.
    assert team_a.split(",")[1:7] == ["–", "33.3%", "–", "10.0 min", "– (n 0)", "66.7% (n 3)"]
    march = client.get(f"/console/dashboards?{MARCH}&channel=chat&by=team")
    assert f"dim=team&amp;value={sc.team_a.id}" in march.text  # every team's figures drill down
