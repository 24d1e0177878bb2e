"""Duplicates that arrive at the same time, against a real server: still one report."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import select

from contact_store.models import IdempotencyRecord, Report
from tests.conftest import LiveServer
from tests.web_forms.helpers import form_fields, full_answers
from web_forms.catalogue import catalogue

PARALLEL = 6


def test_concurrent_api_retries_with_one_key_file_one_report(live_server: LiveServer) -> None:
    payload = {"answers": full_answers(catalogue()["crime"])}

    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{live_server.base_url}/api/v1/forms/crime/submissions",
            json=payload,
            headers={"Idempotency-Key": "same-key-at-once"},
            timeout=30,
        )

    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = list(pool.map(post, range(PARALLEL)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["reference"] for r in responses}) == 1
    with live_server.store.session_scope() as s:
        assert len(s.exec(select(Report)).all()) == 1
        assert len(s.exec(select(IdempotencyRecord)).all()) == 1


def test_concurrent_double_click_on_send_files_one_report(live_server: LiveServer) -> None:
    form = catalogue()["feedback"]
    answers = full_answers(form)
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        location = client.post("/report/feedback/start").headers["location"]
        while not location.endswith("/check"):
            page_id = location.rsplit("/", 1)[-1]
            location = client.post(location, data=form_fields(form, page_id, answers)).headers["location"]
        token = re.search(r'name="submit_token" value="([^"]+)"', client.get(location).text)
        assert token
        cookies = dict(client.cookies)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=live_server.base_url, cookies=cookies, timeout=30) as c:
            return c.post("/report/feedback/submit", data={"submit_token": token.group(1)})

    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = list(pool.map(send, range(PARALLEL)))
    assert all(r.status_code == 303 and r.headers["location"] == "/report/feedback/done" for r in responses)
    with live_server.store.session_scope() as s:
        assert len(s.exec(select(Report)).all()) == 1
