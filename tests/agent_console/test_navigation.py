"""The console's navigation and home page offer each section to the roles that may open it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from contact_store.models import Role
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as

NAV = re.compile(r'<ul class="govuk-service-navigation__list" id="console-navigation">(.*?)</ul>', re.S)
HOME = re.compile(r'<ul class="govuk-list fc-cards">(.*?)</ul>', re.S)


def _links(pattern: re.Pattern[str], html: str) -> set[str]:
    found = pattern.search(html)
    assert found is not None
    return set(re.findall(r'href="([^"]+)"', found.group(1)))


@pytest.mark.parametrize(
    ("role", "surveys", "sms"),
    [
        (Role.OPERATOR, False, False),
        (Role.SUPERVISOR, False, False),
        (Role.MANAGER, True, False),
        (Role.ADMIN, True, True),
    ],
)
def test_survey_results_and_sms_log_links_by_role(
    client: TestClient, session: Session, settings: Settings, role: str, surveys: bool, sms: bool
) -> None:
    sign_in_as(client, session, settings, role=role)
    page = client.get("/console")
    assert page.status_code == 200
    for links in (_links(NAV, page.text), _links(HOME, page.text)):
        assert ("/console/surveys" in links) is surveys
        assert ("/console/sms" in links) is sms
    # Every link offered opens for this role (no link to a 403).
    for href in _links(NAV, page.text) | _links(HOME, page.text):
        assert client.get(href).status_code == 200, href


def test_the_open_section_is_marked_current(client: TestClient, session: Session, settings: Settings) -> None:
    sign_in_as(client, session, settings, role=Role.ADMIN)
    for path, label in (("/console/surveys", "Survey results"), ("/console/sms", "SMS log")):
        nav = NAV.search(client.get(path).text)
        assert nav is not None
        assert re.search(rf'href="{path}" aria-current="page"><strong[^>]*>{label}</strong>', nav.group(1))
