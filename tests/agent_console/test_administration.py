"""Administration pages (issue #15): admin only (403 for every other role, sign-in for nobody),
CSRF on every POST, GOV.UK error summaries with answers kept, every change audited with a history
version (before and after), settings that override the environment and return to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.administration import config, history
from contact_store.models import Area, AuditEvent, ChangeHistory, ConfigOverride, Conversation, Role, Team
from contact_store.outbox import SMS_TEMPLATES, queue_sms
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_area, make_operator, make_team

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
VALID_POSTS = [
    ("/console/admin/teams", {"name": "Night shift", "max_chats": "4"}),
    ("/console/admin/pods", {"name": "Riverside", "postcodes": "ZZ9"}),
    (
        "/console/admin/settings/force",
        {"force_name": "Test Police", "force_brand_colour": "#112233", "force_phone_non_emergency": "101"},
    ),
    ("/console/admin/settings/danger/reset", {}),
    (
        "/console/admin/sms-templates/chat_ack/cy",
        {"text": "((force)): diolch. ((reference))", "action": "save"},
    ),
    ("/console/canned", {"title": "Cycle theft", "body": "Lock it.", "category": "crime-prevention"}),
    ("/console/canned-synonyms", {"words": "bike, bicycle"}),
]
ADMIN_GETS = [
    "/console/admin/teams",
    "/console/admin/pods",
    "/console/admin/pods/new",
    "/console/admin/settings",
    "/console/admin/sms-templates",
    "/console/admin/sms-templates/chat_ack/en",
    "/console/admin/history",
    "/console/canned/new",
    "/console/canned-synonyms",
]


def test_nobody_signed_in_is_sent_to_sign_in(client: TestClient) -> None:
    for path in [*ADMIN_GETS, "/console/canned"]:
        r = client.get(path, follow_redirects=False)
        assert r.status_code in (303, 401), path


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR, Role.MANAGER])
def test_other_roles_get_403(client: TestClient, session: Session, settings: Settings, role: str) -> None:
    _, csrf = sign_in_as(client, session, settings, role=role)
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 403, path
    for path, data in VALID_POSTS:
        assert client.post(path, data={"csrf_token": csrf, **data}).status_code == 403, path
    assert session.exec(select(ChangeHistory)).first() is None
    # Everyone may read the library (and count a use).
    assert client.get("/console/canned").status_code == 200


def test_every_post_needs_the_csrf_token(client: TestClient, session: Session, settings: Settings) -> None:
    sign_in_as(client, session, settings, role=Role.ADMIN)
    for path, data in VALID_POSTS:
        assert client.post(path, data=data, follow_redirects=False).status_code == 403, path
        assert (
            client.post(path, data={"csrf_token": "wrong", **data}, follow_redirects=False).status_code == 403
        )
    assert session.exec(select(ChangeHistory)).first() is None


def test_every_valid_post_is_audited_with_a_version(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    config.save(session=session, settings=settings, key="danger_phrases", value=["knife"], operator_id=None)
    session.commit()
    for path, data in VALID_POSTS:
        r = client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert r.status_code == 303, (path, r.text[:500])
    kinds = {
        row.object_type
        for row in session.exec(select(ChangeHistory).where(ChangeHistory.changed_by == admin.id))
    }
    assert kinds == {"team", "area", "setting", "canned", "synonym"}
    actions = {e.action for e in session.exec(select(AuditEvent).where(AuditEvent.operator_id == admin.id))}
    assert {
        "team.add",
        "area.add",
        "setting.update",
        "setting.reset",
        "sms_template.update",
        "canned.add",
        "synonym.update",
    } <= actions
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 200, path


def test_team_capacity_validated_and_history_kept(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    r = client.post("/console/admin/teams", data={"csrf_token": csrf, "name": "Days", "max_chats": "99"})
    assert r.status_code == 422
    assert "There is a problem" in r.text and "from 1 to 20" in r.text
    assert 'value="Days"' in r.text and 'value="99"' in r.text  # answers kept
    team = make_team(session, name="Days", default_max_chats=3)
    session.commit()
    r = client.post(
        f"/console/admin/teams/{team.id}",
        data={"csrf_token": csrf, "name": "Days", "max_chats": "5"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.refresh(team)
    assert team.default_max_chats == 5
    (version,) = history.versions(session=session, object_type="team", object_id=team.id or 0)
    assert version.before == {"name": "Days", "default_max_chats": 3, "retired": False}
    assert version.after == {"name": "Days", "default_max_chats": 5, "retired": False}
    assert version.changed_by == admin.id
    page = client.get(f"/console/admin/history?type=team&id={team.id}")
    assert page.status_code == 200 and "Days" in page.text


def test_pod_validation_keeps_answers(client: TestClient, session: Session, settings: Settings) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    make_area(session, name="East", postcode_prefixes=["BB1"])
    session.commit()
    data = {
        "csrf_token": csrf,
        "name": "",
        "postcodes": "BB1, not-a-postcode",
        "own_hours": "yes",
        **{f"hours_{d}": "09:00-08:00" for d in DAYS},
        "closed_days": "Christmas",
    }
    r = client.post("/console/admin/pods", data=data)
    assert r.status_code == 422
    for message in (
        "Enter a name",
        "is not one",
        "Enter times like 08:00-20:00",
        "Enter closed days",
    ):
        assert message in r.text, message
    assert "BB1, not-a-postcode" in r.text and 'value="09:00-08:00"' in r.text and "Christmas" in r.text
    data.update(postcodes="BB1", name="West")
    r = client.post("/console/admin/pods", data=data)
    assert "BB1 already belongs to East" in r.text
    assert session.exec(select(Area).where(Area.name == "West")).first() is None


def test_new_pod_routes_by_postcode_with_its_own_hours(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Service hours closed all week; a POD with its own hours opens chat for its postcodes."""
    settings.chat_opening_hours = dict.fromkeys(DAYS, "")
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    assert (
        client.post("/api/v1/chats", json={"name": "Al", "topic": "crime", "postcode": "ZZ9 1AA"}).status_code
        == 409
    )
    r = client.post(
        "/console/admin/pods",
        data={
            "csrf_token": csrf,
            "name": "Riverside",
            "postcodes": "zz9 zz10",
            "own_hours": "yes",
            **{f"hours_{d}": "00:00-24:00" for d in DAYS},
            "closed_days": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    area = session.exec(select(Area).where(Area.name == "Riverside")).one()
    r = client.post("/api/v1/chats", json={"name": "Al", "topic": "crime", "postcode": "ZZ9 1AA"})
    assert r.status_code == 201, r.text
    assert session.get(Conversation, r.json()["conversation_id"]).area_id == area.id  # type: ignore[union-attr]
    assert (
        client.post("/api/v1/chats", json={"name": "Al", "topic": "crime", "postcode": "PR1 1AA"}).status_code
        == 409
    )
    # A closed day closes the POD's chat.
    today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
    client.post(
        f"/console/admin/pods/{area.id}",
        data={
            "csrf_token": csrf,
            "name": "Riverside",
            "postcodes": "ZZ9",
            "own_hours": "yes",
            **{f"hours_{d}": "00:00-24:00" for d in DAYS},
            "closed_days": today,
        },
    )
    assert (
        client.post("/api/v1/chats", json={"name": "Al", "topic": "crime", "postcode": "ZZ9 1AA"}).status_code
        == 409
    )


def test_settings_override_the_environment_and_return_to_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    bad = client.post(
        "/console/admin/settings/force",
        data={
            "csrf_token": csrf,
            "force_name": "Gwent Police",
            "force_brand_colour": "blue",
            "force_phone_non_emergency": "101",
        },
    )
    assert bad.status_code == 422 and "There is a problem" in bad.text and 'value="blue"' in bad.text
    assert 'href="#force_brand_colour"' in bad.text and "six hexadecimal digits" in bad.text
    ok = client.post(
        "/console/admin/settings/force",
        data={
            "csrf_token": csrf,
            "force_name": "Gwent Police",
            "force_brand_colour": "#123456",
            "force_phone_non_emergency": "01633 838111",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    # The saving worker applies the change as it commits: the page after the redirect shows it
    # without waiting for the bus (the CI race: the page rendered before the follower re-read).
    assert (settings.force_name, settings.force_brand_colour) == ("Gwent Police", "#123456")
    assert "Gwent Police" in client.get("/console/admin/settings").text  # the page shell follows
    config.reload(session=session, settings=settings)  # what every worker's follower does
    assert (settings.force_name, settings.force_brand_colour) == ("Gwent Police", "#123456")
    hours = {f"hours_{d}": "08:00-20:00" for d in DAYS} | {"hours_sun": ""}
    r = client.post(
        "/console/admin/settings/chat-hours",
        data={"csrf_token": csrf, **hours, "chat_holidays": "2026-12-25\n2026-12-26"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        "/console/admin/settings/danger",
        data={"csrf_token": csrf, "danger_phrases": "knife\nhe has a gun\n"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    survey = {f"question_{i}": f"Question {i}?" for i in range(4)}
    r = client.post(
        "/console/admin/settings/survey",
        data={
            "csrf_token": csrf,
            **survey,
            "survey_excluded_topics": "domestic-abuse\nhate-crime",
            "survey_excluded_grades": "1, 2",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    bad = client.post(
        "/console/admin/settings/survey",
        data={"csrf_token": csrf, **survey, "question_2": "", "survey_excluded_grades": "7"},
    )
    assert bad.status_code == 422 and "Enter question 3" in bad.text and "grades from 1 to 5" in bad.text
    config.reload(session=session, settings=settings)
    assert settings.chat_opening_hours["sun"] == "" and str(settings.chat_holidays[0]) == "2026-12-25"
    assert settings.danger_phrases == ["knife", "he has a gun"]
    assert settings.survey_excluded_topics == [
        "domestic-abuse",
        "hate-crime",
    ] and settings.survey_excluded_grades == [1, 2]
    assert settings.survey_questions[0] == "Question 0?"
    (v,) = history.versions(session=session, object_type="setting", object_id="force_name")
    assert (v.before, v.after, v.changed_by) == ("Northshire Police", "Gwent Police", admin.id)
    r = client.post("/console/admin/settings/force/reset", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    config.reload(session=session, settings=settings)
    assert settings.force_name == "Northshire Police"
    assert session.get(ConfigOverride, "force_name") is None
    latest = history.versions(session=session, object_type="setting", object_id="force_name")[0]
    assert (latest.version, latest.before, latest.after) == (2, "Gwent Police", "Northshire Police")


def test_sms_template_preview_counts_segments_and_saves_per_language(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    page = client.get("/console/admin/sms-templates/chat_ack/en")
    assert page.status_code == 200 and "GSM-7" in page.text
    page = client.get("/console/admin/sms-templates/chat_ack/cy")  # the catalogue's Welsh wording
    assert page.status_code == 200 and ("GSM-7" in page.text or "UCS-2" in page.text)
    welsh = "((force)): diolch am gysylltu â ni. Eich cyfeirnod yw ((reference)). Mewn argyfwng ffoniwch 999."
    preview = client.post(
        "/console/admin/sms-templates/chat_ack/cy",
        data={"csrf_token": csrf, "text": welsh, "action": "preview"},
    )
    assert preview.status_code == 200
    assert "UCS-2" in preview.text and "â" in preview.text  # â is not GSM-7
    assert 'id="sms-segments">2 texts' in preview.text
    assert session.get(ConfigOverride, "sms:chat_ack:cy") is None  # a preview saves nothing
    bad = client.post(
        "/console/admin/sms-templates/chat_ack/cy",
        data={"csrf_token": csrf, "text": "Hi ((nonsense))", "action": "save"},
    )
    assert bad.status_code == 422 and "((nonsense))" in bad.text and "There is a problem" in bad.text
    saved = client.post(
        "/console/admin/sms-templates/chat_ack/cy",
        data={"csrf_token": csrf, "text": welsh, "action": "save"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    config.reload(session=session, settings=settings)
    cy = queue_sms(
        session=session,
        settings=settings,
        to="+447700900123",
        template="chat_ack",
        personalisation={"force": "Heddlu", "reference": "AB12"},
        kind="ack",
        language="cy",
    )
    en = queue_sms(
        session=session,
        settings=settings,
        to="+447700900124",
        template="chat_ack",
        personalisation={"force": "Police", "reference": "AB12"},
        kind="ack",
    )
    assert cy is not None and cy.body.startswith("Heddlu: diolch am gysylltu")
    assert en is not None and en.body.startswith(
        "Police: thank you"
    )  # English falls back to the shipped text
    assert SMS_TEMPLATES["chat_ack"] in client.get("/console/admin/sms-templates/chat_ack/cy").text
    assert client.get("/console/admin/sms-templates/nope/cy").status_code == 404


def test_history_answers_what_the_text_said_on_a_date(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin, _ = sign_in_as(client, session, settings, role=Role.ADMIN)
    key = config.sms_key("report_update", "en")
    config.save(
        session=session,
        settings=settings,
        key=key,
        value="March wording ((reference)) ((message))",
        operator_id=admin.id,
    )
    config.save(
        session=session,
        settings=settings,
        key=key,
        value="April wording ((reference)) ((message))",
        operator_id=admin.id,
    )
    first, second = sorted(
        history.versions(session=session, object_type="setting", object_id=key), key=lambda v: v.version
    )
    first.changed_at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    second.changed_at = datetime(2026, 4, 20, 10, tzinfo=UTC)
    session.add_all([first, second])
    session.commit()
    march = history.version_at(
        session=session, object_type="setting", object_id=key, at=datetime(2026, 3, 31, tzinfo=UTC)
    )
    assert march is not None and march.after.startswith("March wording")
    assert (
        history.version_at(
            session=session, object_type="setting", object_id=key, at=datetime(2026, 2, 1, tzinfo=UTC)
        )
        is None
    )
    page = client.get(f"/console/admin/history?type=setting&id={key}&at=2026-03-31")
    assert page.status_code == 200 and "version 1 was in force" in page.text and "March wording" in page.text
    assert "April wording" in client.get(f"/console/admin/history?type=setting&id={key}&at=2026-05-01").text
    bad = client.get(f"/console/admin/history?type=setting&id={key}&at=31/03/2026")
    assert bad.status_code == 422 and "Enter a date as YYYY-MM-DD" in bad.text


def test_operator_changes_keep_versions(client: TestClient, session: Session, settings: Settings) -> None:
    admin, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    team = make_team(session)
    area = make_area(session)
    op = make_operator(session, display_name="Sam")
    session.commit()
    r = client.post(
        f"/console/admin/operators/{op.id}",
        data={
            "csrf_token": csrf,
            "display_name": "Sam",
            "role": "operator",
            "team_id": str(team.id),
            "max_chats": "4",
            "areas": [str(area.id)],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    (v,) = history.versions(session=session, object_type="operator", object_id=op.id or 0)
    assert v.before["team_id"] is None and v.after["team_id"] == team.id
    assert v.after["areas"] == [area.id] and v.after["max_concurrent_chats"] == 4
    assert v.changed_by == admin.id
    assert session.get(Team, team.id) is not None


def test_version_numbers_count_per_object(session: Session) -> None:
    for i in range(3):
        history.record_version(
            session=session, object_type="team", object_id=7, before=i, after=i + 1, operator_id=None
        )
    history.record_version(
        session=session, object_type="team", object_id=8, before=None, after=1, operator_id=None
    )
    assert [v.version for v in history.versions(session=session, object_type="team", object_id=7)] == [
        3,
        2,
        1,
    ]
    assert (
        history.version_at(
            session=session, object_type="team", object_id=7, at=datetime.now(UTC) + timedelta(seconds=5)
        ).after
        == 3
    )  # type: ignore[union-attr]
