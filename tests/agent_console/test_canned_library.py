"""The canned answer library (issue #15 part 3): search by keywords and synonyms, Welsh versions
in Welsh chats, usage counts, add / edit / retire with history, validation, roles and CSRF."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store import canned
from contact_store.administration import history
from contact_store.models import CannedResponse, CannedSynonym, Role
from contact_store.settings import Settings
from contact_store.web import CSRF_HEADER
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_team


def _titles(rows: list[CannedResponse]) -> list[str]:
    return [r.title for r in rows]


def test_search_matches_title_body_keywords_and_synonyms_in_any_case(session: Session) -> None:
    canned.load_shipped_canned_responses(session=session)
    assert "Cycle theft" in _titles(
        canned.search_canned_responses(session=session, query="BIKE")
    )  # a keyword
    assert "Cycle theft" in _titles(
        canned.search_canned_responses(session=session, query="d-lock")
    )  # the body
    session.add(
        CannedResponse(
            title="Pedal cycle marking",
            body="Mark the frame with your postcode.",
            category="crime-prevention",
        )
    )
    session.flush()
    assert "Pedal cycle marking" not in _titles(
        canned.search_canned_responses(session=session, query="bicycle")
    )
    session.add(CannedSynonym(words=["bicycle", "cycle", "bike"]))
    session.flush()
    found = _titles(canned.search_canned_responses(session=session, query="Bicycle"))
    assert {"Pedal cycle marking", "Cycle theft"} <= set(found)
    assert _titles(canned.search_canned_responses(session=session, query="bicycle postcode")) == [
        "Pedal cycle marking"
    ]
    assert "Cycle theft" in _titles(
        canned.search_canned_responses(session=session, query="beic")
    )  # Welsh text too


def test_welsh_chats_get_the_welsh_version(client: TestClient, session: Session, settings: Settings) -> None:
    canned.load_shipped_canned_responses(session=session)
    sign_in_as(client, session, settings, role=Role.OPERATOR, display_name="Priya")
    cy = client.get("/console/workspace/canned", params={"q": "bike", "language": "cy"}).json()["items"]
    theft = next(i for i in cy if i["id"] == _cycle_id(session))
    assert (
        theft["title"] == "Dwyn beiciau"
        and theft["text"].startswith("I gadw eich beic")
        and theft["language"] == "cy"
    )
    en = client.get("/console/workspace/canned", params={"q": "bike", "language": "en"}).json()["items"]
    assert next(i for i in en if i["id"] == theft["id"])["text"].startswith("To keep your cycle safe")
    greeting = client.get("/console/workspace/canned", params={"q": "greeting", "language": "cy"}).json()[
        "items"
    ][0]
    assert greeting["language"] == "en" and "Priya" in greeting["text"]  # no Welsh version yet: English


def _cycle_id(session: Session) -> int:
    return session.exec(select(CannedResponse.id).where(CannedResponse.title == "Cycle theft")).one() or 0


def test_usage_is_counted_and_sorts_the_library(
    client: TestClient, session: Session, settings: Settings
) -> None:
    canned.load_shipped_canned_responses(session=session)
    _, csrf = sign_in_as(client, session, settings, role=Role.OPERATOR)
    cycle = _cycle_id(session)
    assert client.post(f"/console/workspace/canned/{cycle}/used").status_code == 403  # no CSRF token
    for _ in range(3):
        assert (
            client.post(f"/console/workspace/canned/{cycle}/used", headers={CSRF_HEADER: csrf}).status_code
            == 200
        )
    assert (
        client.post("/console/workspace/canned/999999/used", headers={CSRF_HEADER: csrf}).status_code == 404
    )
    row = session.get(CannedResponse, cycle)
    assert row is not None
    session.refresh(row)
    assert row.usage_count == 3
    page = client.get("/console/canned", params={"sort": "usage"})
    assert page.status_code == 200
    table = page.text[page.text.index('id="canned-table"') :]
    assert table.index("Cycle theft") < table.index("Greeting")  # most used first
    assert ">3<" in table.replace(" ", "")


def test_admin_adds_edits_and_retires_with_history(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    bad = client.post(
        "/console/canned",
        data={
            "csrf_token": csrf,
            "title": "",
            "body": "Lock it",
            "category": "crime prevention",
            "title_cy": "Beiciau",
        },
    )
    assert bad.status_code == 422
    assert (
        "There is a problem" in bad.text
        and "Enter a title" in bad.text
        and "Enter the Welsh answer" in bad.text
    )
    assert "Lock it" in bad.text and 'value="crime prevention"' in bad.text  # answers kept
    r = client.post(
        "/console/canned",
        data={
            "csrf_token": csrf,
            "title": "Scooter theft",
            "body": "Lock it",
            "category": "Crime prevention",
            "keywords": "e-scooter, Moped",
            "title_cy": "Dwyn sgwteri",
            "body_cy": "Clowch ef",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    row = session.exec(select(CannedResponse).where(CannedResponse.title == "Scooter theft")).one()
    assert (row.category, row.keywords, row.body_cy) == (
        "crime-prevention",
        ["e-scooter", "moped"],
        "Clowch ef",
    )
    r = client.post(
        f"/console/canned/{row.id}",
        data={
            "csrf_token": csrf,
            "title": "Scooter theft",
            "body": "Lock it to something fixed",
            "category": "crime-prevention",
            "keywords": "moped",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        client.post(
            f"/console/canned/{row.id}/retire", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    session.refresh(row)
    assert row.is_active is False
    assert "Scooter theft" not in _titles(canned.search_canned_responses(session=session, query="moped"))
    assert "Scooter theft" not in client.get("/console/canned").text
    assert "Scooter theft" in client.get("/console/canned", params={"retired": "yes"}).text  # kept for admins
    versions = history.versions(session=session, object_type="canned", object_id=row.id or 0)
    assert [v.version for v in versions] == [3, 2, 1]
    assert versions[2].before is None and versions[2].after["body"] == "Lock it"
    assert (
        versions[1].before["body"] == "Lock it" and versions[1].after["body"] == "Lock it to something fixed"
    )
    assert versions[1].after["body_cy"] is None  # the Welsh version was removed, and that is recorded
    assert versions[0].before["is_active"] is True and versions[0].after["is_active"] is False
    assert all(v.changed_by == admin.id for v in versions)


def test_synonym_groups_are_edited_with_history(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    bad = client.post("/console/canned-synonyms", data={"csrf_token": csrf, "words": "bike"})
    assert bad.status_code == 422 and "at least two words" in bad.text and 'value="bike"' in bad.text
    assert (
        client.post(
            "/console/canned-synonyms",
            data={"csrf_token": csrf, "words": "Bike, bicycle"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    group = session.exec(select(CannedSynonym)).one()
    assert group.words == ["bike", "bicycle"]
    client.post(
        f"/console/canned-synonyms/{group.id}", data={"csrf_token": csrf, "words": "bike, bicycle, cycle"}
    )
    client.post(f"/console/canned-synonyms/{group.id}", data={"csrf_token": csrf, "words": ""})  # delete
    assert session.exec(select(CannedSynonym)).first() is None
    versions = history.versions(session=session, object_type="synonym", object_id=group.id or 0)
    assert [(v.before, v.after) for v in reversed(versions)] == [
        (None, ["bike", "bicycle"]),
        (["bike", "bicycle"], ["bike", "bicycle", "cycle"]),
        (["bike", "bicycle", "cycle"], None),
    ]


def test_operators_see_the_library_but_cannot_change_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    canned.load_shipped_canned_responses(session=session)
    _, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    page = client.get("/console/canned", params={"q": "bike"})
    assert page.status_code == 200 and "Cycle theft" in page.text and "Add a canned answer" not in page.text
    cycle = _cycle_id(session)
    assert client.get(f"/console/canned/{cycle}").status_code == 403
    assert client.post(f"/console/canned/{cycle}/retire", data={"csrf_token": csrf}).status_code == 403


def test_another_teams_answers_are_neither_offered_nor_counted(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """One rule (`access.visible_canned_clause`): an operator is offered the shared answers and
    their own team's, in the workspace and the library, and may count only those; the library's
    administrators see every team's."""
    own, other = make_team(session, name="Digital Desk"), make_team(session, name="Roads Policing")
    for team, title in ((None, "Shared hello"), (own, "Desk hello"), (other, "Roads hello")):
        session.add(
            CannedResponse(title=title, body="Hello", category="Greetings", team_id=team.id if team else None)
        )
    session.commit()
    roads = session.exec(select(CannedResponse.id).where(CannedResponse.title == "Roads hello")).one()
    _, csrf = sign_in_as(client, session, settings, role=Role.OPERATOR, team_id=own.id)
    offered = [
        i["title"] for i in client.get("/console/workspace/canned", params={"q": "hello"}).json()["items"]
    ]
    assert sorted(offered) == ["Desk hello", "Shared hello"]
    library = client.get("/console/canned", params={"q": "hello"}).text
    assert "Desk hello" in library and "Roads hello" not in library
    used = client.post(f"/console/workspace/canned/{roads}/used", headers={CSRF_HEADER: csrf})
    assert used.status_code == 404
    sign_in_as(client, session, settings, role=Role.ADMIN, username="canned-admin", team_id=own.id)
    assert "Roads hello" in client.get("/console/canned", params={"q": "hello"}).text
    admin_offered = client.get("/console/workspace/canned", params={"q": "hello"}).json()["items"]
    assert "Roads hello" not in [i["title"] for i in admin_offered]  # the workspace offers their team's
