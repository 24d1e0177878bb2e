"""Report submissions per client address, with the production limit, through both doors: the API
and the HTML journey's "Send report" share one budget. Over it, the API answers 429 with
Retry-After and a JSON error; the journey shows "Check your answers" again with an error summary,
the answers kept and nothing filed. With Redis, two workers share the budget."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from chat_server.app import create_app
from contact_store.db import Store
from contact_store.models import FormSession, Report
from contact_store.settings import Settings
from contact_store.throttle import Throttles
from tests.conftest import make_test_settings
from tests.support.databases import TEST_REDIS_URL
from tests.web_forms.helpers import complete_journey, full_answers
from web_forms.catalogue import catalogue
from web_forms.journey.routes import TOO_MANY_REPORTS

PER_MINUTE = int(str(Settings.model_fields["api_submissions_per_minute"].default))
FEEDBACK = {"answers": full_answers(catalogue()["feedback"])}


def _submit_token(html: str) -> str:
    match = re.search(r'name="submit_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _reports(session: Session) -> int:
    session.expire_all()
    return len(session.exec(select(Report)).all())


@pytest.fixture
def frozen(client: TestClient, settings: Settings) -> TestClient:
    """The app's throttles in this process on a clock that stands still, so no token comes back
    while the test spends the budget (30 a minute is one every 2 s: a slow run would refill)."""
    assert settings.api_submissions_per_minute == PER_MINUTE  # the real limit
    client.app.state.throttles = Throttles(settings.model_copy(update={"redis_url": None}), clock=lambda: 0.0)  # type: ignore[attr-defined]
    return client


def test_over_the_limit_the_check_page_comes_back_with_the_answers_kept(
    frozen: TestClient, session: Session
) -> None:
    client = frozen
    check = complete_journey(client, "crime")
    token = _submit_token(client.get(check).text)
    # The address spends its budget through the API...
    codes = [
        client.post("/api/v1/forms/feedback/submissions", json=FEEDBACK).status_code
        for _ in range(PER_MINUTE)
    ]
    assert codes == [201] * PER_MINUTE
    api = client.post("/api/v1/forms/feedback/submissions", json=FEEDBACK)
    assert api.status_code == 429 and api.json()["error"]["code"] == "rate_limited"
    assert int(api.headers["retry-after"]) >= 1
    filed = _reports(session)
    # ...so the journey's "Send report" is refused too, clearly, and keeps everything.
    r = client.post("/report/crime/submit", data={"submit_token": token}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.headers["cache-control"].startswith("no-store")
    assert "<title>Error: Check your answers" in r.text
    summary = re.search(r'class="govuk-error-summary".*?</div>\s*</div>', r.text, re.S)
    assert summary and TOO_MANY_REPORTS in summary.group(0) and 'href="#send-report"' in summary.group(0)
    assert 'id="send-report"' in r.text
    assert "Someone took my bike from outside the shop." in r.text  # the answers are shown again
    assert _submit_token(r.text) == token  # and the same report can be sent once allowed
    assert _reports(session) == filed  # nothing was filed
    form_session = session.exec(select(FormSession).where(FormSession.submit_token == token)).one()
    assert form_session.report_id is None and form_session.answers


def test_the_refusal_is_in_welsh_for_a_welsh_visitor(frozen: TestClient) -> None:
    client = frozen
    client.get("/language?lang=cy&next=/")
    check = complete_journey(client, "feedback")
    token = _submit_token(client.get(check).text)
    for _ in range(PER_MINUTE):
        client.post("/api/v1/forms/feedback/submissions", json=FEEDBACK)
    r = client.post("/report/feedback/submit", data={"submit_token": token}, follow_redirects=False)
    assert r.status_code == 429
    assert "Mae eich atebion wedi&#39;u cadw" in r.text and TOO_MANY_REPORTS not in r.text


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs FIRSTCONTACT_TEST_REDIS_URL")
def test_two_workers_share_one_budget_per_address_through_redis(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    prefix = f"fctest-{secrets.token_hex(4)}"
    apps = [
        create_app(
            make_test_settings(
                tmp_path / name, database_url, routing_loop_enabled=False, redis_channel_prefix=prefix
            ),
            store=store,
        )
        for name in ("a", "b")
    ]
    # Fewer than PER_MINUTE on each worker: separate budgets would accept every one.
    attempts = 2 * PER_MINUTE - 2
    started = time.monotonic()
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        codes = [
            (a if i % 2 else b).post("/api/v1/forms/feedback/submissions", json=FEEDBACK).status_code
            for i in range(attempts)
        ]
    # Redis refills one token every 60 / PER_MINUTE s of the run (counted, not asserted on).
    refilled = int((time.monotonic() - started) * PER_MINUTE / 60) + 1
    assert set(codes) == {201, 429}
    assert PER_MINUTE <= codes.count(201) <= PER_MINUTE + refilled
    assert codes[:PER_MINUTE] == [201] * PER_MINUTE
