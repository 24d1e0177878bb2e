"""Security headers: CSP with a per-request nonce on every response, frame rules, no-store on
everything that is not a public static asset (console pages, console JSON, exports), HSTS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from chat_server.app import create_app
from chat_server.security_headers import is_cacheable
from contact_store.db import Store
from contact_store.models import CannedResponse, CannedSynonym, Evidence, Role
from contact_store.settings import Settings
from contact_store.staff import start_session
from contact_store.web import SESSION_COOKIE
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_area, make_conversation, make_operator, make_person, make_report, make_team
from tests.conftest import LiveServer
from web_forms.catalogue import catalogue

NONCE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{16,})'")
# The wallboard's event stream never ends: its headers are read over a real socket below.
ENDLESS = {"/console/wallboard/stream"}
REPO = Path(__file__).resolve().parents[2]
TEMPLATE_TREES = [
    REPO / "contact_store/templates",
    REPO / "web_forms/templates",
    REPO / "agent_console/templates",
    REPO / "chat_server/widget/templates",
]


@dataclass
class World:
    values: dict[str, str]

    def fill(self, path: str) -> str:
        return re.sub(r"{(\w+)}", lambda m: self.values[m.group(1)], path)


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    person = make_person(session, phone_e164="+447700900556")
    report = make_report(session, person_id=person.id)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    (settings.upload_dir / "ev-headers.txt").write_bytes(b"evidence")
    ev = Evidence(
        report_id=report.id,
        stored_name="ev-headers.txt",
        original_name="note.txt",
        content_type="text/plain",
        size_bytes=8,
        sha256="0" * 64,
    )
    session.add(ev)
    other = make_operator(session)
    conv = make_conversation(session, person_id=person.id)
    team, area = make_team(session), make_area(session)
    canned = CannedResponse(title="Headers", body="Advice", category="Test")
    synonyms = CannedSynonym(words=["bike", "cycle"])
    session.add_all([canned, synonyms])
    session.commit()
    crime = catalogue()["crime"]
    return World(
        {
            "report_id": str(report.id),
            "evidence_id": str(ev.id),
            "person_id": str(person.id),
            "operator_id": str(other.id),
            "conversation_id": conv.id,
            "inbound_id": "1",
            "fmt": "csv",
            "action": "disable",
            "slug": "crime",
            "page_id": crime.pages[0].id,
            "token": "not-a-real-token",
            "team_id": str(team.id),
            "area_id": str(area.id),
            "canned_id": str(canned.id),
            "group_id": str(synonyms.id),
            "section": "force",
            "name": "report_ack",
            "language": "cy",
            "path": "not-an-asset.css",
        }
    )


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves over HTTP, from its route table."""
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, route.path))
    return sorted(found)


def assert_protected(r: httpx.Response, where: str) -> None:
    assert r.status_code < 500, f"{where}: {r.status_code}"
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors" in csp and "'unsafe-inline'" not in csp, f"{where}: {csp!r}"
    assert r.headers.get("cache-control") == "no-store", f"{where}: {r.headers.get('cache-control')!r}"
    assert r.headers.get("x-content-type-options") == "nosniff", where
    assert r.headers.get("referrer-policy") == "same-origin", where
    assert "camera=()" in r.headers.get("permissions-policy", ""), where


def test_every_route_is_found(app: FastAPI) -> None:
    routes = http_routes(app)
    paths = {p for _, p in routes}
    # The walk below must see the console, its JSON and every export, or it proves nothing.
    for expected in (
        "/console/people/{person_id}",
        "/console/reports/{report_id}",
        "/console/wallboard/data",
        "/console/surveys/export/responses.{fmt}",
        "/console/admin/people/{person_id}/export",
        "/api/v1/auth/me",
    ):
        assert expected in paths
    assert len(routes) > 60


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_every_response_as_admin_carries_csp_and_no_store(
    client: TestClient, app: FastAPI, session: Session, settings: Settings, world: World, accept: str
) -> None:
    _, csrf = sign_in_as(client, session, settings, Role.ADMIN)
    checked = 0
    for method, path in http_routes(app):
        if path in ENDLESS or is_cacheable(path):
            continue
        url = world.fill(path)
        headers = {"accept": accept, "x-csrf-token": csrf}
        if method == "GET":
            r = client.get(url, headers=headers, follow_redirects=False)
        else:
            r = client.request(
                method, url, headers=headers, data={"csrf_token": csrf}, follow_redirects=False
            )
        assert_protected(r, f"{method} {url}")
        checked += 1
    assert checked > 60


def test_console_pages_and_exports_answer_and_are_not_cached(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    sign_in_as(client, session, settings, Role.ADMIN)
    for path in (
        "/console",
        "/console/people/{person_id}",
        "/console/reports/{report_id}",
        "/console/reports/{report_id}/evidence/{evidence_id}",
        "/console/wallboard/data",
        "/console/surveys/export/responses.csv",
        "/console/surveys/export/responses.xlsx",
        "/console/surveys/export/table.csv",
        "/console/admin/people/{person_id}/export",
        "/console/admin/people/{person_id}/export.json",
        "/console/workspace/workspace.js",
    ):
        r = client.get(world.fill(path), follow_redirects=False)
        assert r.status_code == 200, path
        assert_protected(r, path)


def test_anonymous_console_redirects_are_not_cached(client: TestClient, app: FastAPI, world: World) -> None:
    for method, path in http_routes(app):
        if method == "GET" and path.startswith("/console") and path not in ENDLESS:
            assert_protected(client.get(world.fill(path), follow_redirects=False), path)


def test_evidence_keeps_its_own_sandbox_policy_with_no_framing(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    sign_in_as(client, session, settings, Role.OPERATOR)
    r = client.get(world.fill("/console/reports/{report_id}/evidence/{evidence_id}"))
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/", "/report", "/report/crime", "/chat/demo", "/console/sign-in"])
def test_public_pages_carry_a_fresh_nonce_used_by_their_inline_code(client: TestClient, path: str) -> None:
    first, second = client.get(path), client.get(path)
    assert first.status_code == 200
    csp = first.headers["content-security-policy"]
    match = NONCE.search(csp)
    assert match, csp
    nonce = match.group(1)
    assert f"style-src 'self' 'nonce-{nonce}'" in csp
    assert "frame-ancestors 'none'" in csp and first.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    # Every inline <script>/<style> on the page carries this response's nonce; no style attributes.
    inline = re.findall(r"<(script|style)\b([^>]*)>", first.text)
    for tag, attrs in inline:
        if tag == "style" or "src=" not in attrs:
            assert f'nonce="{nonce}"' in attrs, f"{tag} without the nonce on {path}"
    assert not re.search(r"<[^>]+\sstyle=", first.text)
    assert NONCE.search(second.headers["content-security-policy"]).group(1) != nonce  # type: ignore[union-attr]


def test_layout_brand_colour_arrives_through_the_nonced_style(client: TestClient) -> None:
    r = client.get("/report")
    nonce = NONCE.search(r.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
    assert f'<style nonce="{nonce}">:root {{ --fc-brand: #0b3d91; }}</style>' in r.text


def _app(settings: Settings, store: Store, **overrides: object) -> FastAPI:
    return create_app(settings.model_copy(update=overrides), store=store)


def test_hosted_chat_page_may_be_framed_only_by_allowed_origins(settings: Settings, store: Store) -> None:
    app = _app(
        settings,
        store,
        allowed_origins=["https://www.northshire.police.uk/contact", "https://cy.northshire.police.uk"],
    )
    with TestClient(app) as c:
        chat = c.get("/chat")
        demo = c.get("/chat/demo")
    csp = chat.headers["content-security-policy"]
    assert csp.endswith("frame-ancestors https://cy.northshire.police.uk https://www.northshire.police.uk"), (
        csp
    )
    assert "x-frame-options" not in chat.headers
    assert "frame-ancestors 'none'" in demo.headers["content-security-policy"]


def test_hosted_chat_page_without_allowed_origins_is_framed_by_nobody(client: TestClient) -> None:
    r = client.get("/chat")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_hsts_only_with_an_https_base_url(settings: Settings, store: Store) -> None:
    with TestClient(_app(settings, store, public_base_url="http://127.0.0.1:8000")) as c:
        assert "strict-transport-security" not in c.get("/report").headers
    https = _app(settings, store, public_base_url="https://chat.northshire.police.uk")
    with TestClient(https) as c:
        r = c.get("/report")
        static = c.get("/static/app.css")
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert static.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "wss://chat.northshire.police.uk" in r.headers["content-security-policy"]


def test_static_assets_stay_cacheable(client: TestClient) -> None:
    widget = client.get("/chat/widget.js")
    assert widget.headers["cache-control"] == "public, max-age=300"
    css = client.get("/static/app.css")
    assert "no-store" not in css.headers.get("cache-control", "")
    assert "content-security-policy" in css.headers


def test_api_docs_script_runs_by_nonce(client: TestClient) -> None:
    r = client.get("/api/docs")
    nonce = NONCE.search(r.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
    scripts = re.findall(r"<script\b[^>]*>", r.text)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)


def test_wallboard_stream_is_not_cached(live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        sup = make_operator(s, role=Role.SUPERVISOR)
        token = start_session(session=s, settings=live_server.settings, operator=sup).token
    with (
        httpx.Client(base_url=live_server.base_url, cookies={SESSION_COOKIE: token}) as c,
        c.stream("GET", "/console/wallboard/stream") as r,
    ):
        assert r.status_code == 200
        assert_protected(r, "wallboard stream")


def test_templates_hold_no_inline_code_without_the_nonce() -> None:
    """Static guard: a new inline <script>, <style>, style="" or on*= handler fails here first."""
    problems = []
    for tree in TEMPLATE_TREES:
        for template in tree.rglob("*.html"):
            text = template.read_text(encoding="utf-8")
            for tag, attrs in re.findall(r"<(script|style)\b([^>]*)>", text):
                if (tag == "style" or "src=" not in attrs) and 'nonce="{{ csp_nonce }}"' not in attrs:
                    problems.append(f"{template}: <{tag}{attrs}> without nonce")
            if re.search(r"<[^>]*\sstyle\s*=", text):
                problems.append(f"{template}: style attribute")
            if re.search(r"<[^>]*\son[a-z]+\s*=", text):
                problems.append(f"{template}: inline event handler")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_an_unexpected_error_500_carries_the_security_headers(
    settings: Settings, store: Store, accept: str
) -> None:
    """The catch-all 500 is sent from outside the middleware stack; it still gets every header."""
    app = create_app(settings, store=store)

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/test-only/boom", headers={"Accept": accept})
    assert response.status_code == 500
    assert "RuntimeError" not in response.text  # nothing of the fault is shown
    assert NONCE.search(response.headers["content-security-policy"])
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    if accept == "text/html":
        nonce = NONCE.search(response.headers["content-security-policy"]).group(1)  # type: ignore[union-attr]
        tags = re.findall(r"<(?:script|style)\b[^>]*>", response.text)
        assert all(f'nonce="{nonce}"' in tag for tag in tags)
