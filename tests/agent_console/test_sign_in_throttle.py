"""Sign-in that resists spraying and floods, with the production limits: attempts throttled per
client address and per account (429 with Retry-After, on the sign-in page and the token API), shared
by two workers through Redis; a locked account answers exactly like an unknown username; and at
most `sign_in_hash_concurrency` password checks run at once."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from chat_server.app import create_app
from contact_store import staff
from contact_store.db import Store
from contact_store.settings import Settings
from contact_store.throttle import Throttles
from contact_store.web import TOO_MANY_SIGN_INS
from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.conftest import REAL_THROTTLES, LiveServer, make_test_settings
from tests.support.databases import TEST_REDIS_URL

PER_ADDRESS = int(str(REAL_THROTTLES["sign_in_attempts_per_address"]))
PER_ACCOUNT = int(str(REAL_THROTTLES["sign_in_attempts_per_account"]))
TOKEN = re.compile(r'name="presign_token" value="([^"]+)"')
NONCE = re.compile(r'nonce="[^"]*"')


def _app(
    tmp_path: Path, database_url: str, store: Store, *, frozen: bool = True, **overrides: object
) -> FastAPI:
    """An app with the real limits. `frozen`: its throttles in this process on a clock that stands
    still, so no token comes back while a slow run spends the budget (Redis sharing is tested on
    its own below)."""
    settings = make_test_settings(
        tmp_path, database_url, routing_loop_enabled=False, **(REAL_THROTTLES | overrides)
    )
    app = create_app(settings, store=store)
    if frozen:
        app.state.throttles = Throttles(settings.model_copy(update={"redis_url": None}), clock=lambda: 0.0)
    return app


def _from(app: FastAPI, address: str) -> TestClient:
    """A browser at `address` (each has its own cookies)."""
    return TestClient(app, client=(address, 50000))


def _sign_in(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    page = client.get("/console/sign-in")
    token = TOKEN.search(page.text)
    assert token
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "presign_token": token.group(1)},
        follow_redirects=False,
    )


def _token(client: TestClient, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _assert_throttled_page(r: httpx.Response, username: str) -> None:
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert "<title>Error: Sign in" in r.text and "govuk-error-summary" in r.text
    assert TOO_MANY_SIGN_INS in r.text
    assert f'value="{username}"' in r.text  # what they typed is kept
    assert TOKEN.search(r.text), "a fresh form to try again later"


def test_attempts_from_one_address_are_throttled(
    tmp_path: Path, database_url: str, store: Store, session: Session
) -> None:
    op = make_operator(session)
    session.commit()
    app = _app(tmp_path, database_url, store)
    sprayer = _from(app, "198.51.100.20")
    # Spraying: one password against many usernames, from one address.
    codes = [_sign_in(sprayer, f"user-{i}", "Winter2026!").status_code for i in range(PER_ADDRESS)]
    assert codes == [401] * PER_ADDRESS
    _assert_throttled_page(_sign_in(sprayer, op.username), op.username)  # even the right password
    assert sprayer.get("/console", follow_redirects=False).status_code == 303  # not signed in
    api = _token(sprayer, op.username)
    assert api.status_code == 429 and api.json()["error"] == {
        "code": "rate_limited",
        "message": TOO_MANY_SIGN_INS,
    }
    assert int(api.headers["retry-after"]) >= 1
    # Someone else, elsewhere, signs in as usual.
    assert _sign_in(_from(app, "203.0.113.20"), op.username).status_code == 303


def test_attempts_at_one_account_are_throttled_from_any_address_known_or_not(
    tmp_path: Path, database_url: str, store: Store, session: Session
) -> None:
    op = make_operator(session)
    session.commit()
    app = _app(tmp_path, database_url, store)
    for username in (op.username, "no-such-user"):
        # A flood at one account from many addresses (one attempt each).
        codes = [
            _sign_in(_from(app, f"198.51.100.{i}"), username, "guess").status_code for i in range(PER_ACCOUNT)
        ]
        assert codes == [401] * PER_ACCOUNT
        _assert_throttled_page(_sign_in(_from(app, "203.0.113.30"), username), username)
        assert _token(_from(app, "203.0.113.31"), username.upper()).status_code == 429  # same account
    # Other accounts are untouched.
    other = make_operator(session)
    session.commit()
    assert _sign_in(_from(app, "203.0.113.32"), other.username).status_code == 303


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs FIRSTCONTACT_TEST_REDIS_URL")
def test_two_workers_share_the_budgets_through_redis(tmp_path: Path, database_url: str, store: Store) -> None:
    shared = {"redis_channel_prefix": f"fctest-{secrets.token_hex(4)}"}
    worker_a = _app(tmp_path / "a", database_url, store, frozen=False, **shared)
    worker_b = _app(tmp_path / "b", database_url, store, frozen=False, **shared)
    # One account, alternately on each worker: the budget is spent once, not once per worker.
    codes = [
        _token(_from(w, f"198.51.100.{i}"), "shared-target", "guess").status_code
        for i, w in enumerate([worker_a, worker_b] * (PER_ACCOUNT // 2))
    ]
    assert codes == [401] * PER_ACCOUNT
    assert _token(_from(worker_a, "203.0.113.40"), "shared-target").status_code == 429
    assert _token(_from(worker_b, "203.0.113.41"), "shared-target").status_code == 429
    # One address, alternately on each worker, spraying many accounts: fewer than the limit on each
    # worker, so separate budgets would answer every one.
    a, b = _from(worker_a, "198.51.100.99"), _from(worker_b, "198.51.100.99")
    started = time.monotonic()
    codes = [_token(c, f"spray-{i}", "guess").status_code for i, c in enumerate([a, b] * (PER_ADDRESS - 1))]
    # Redis refills a token every 15 min / PER_ADDRESS of the run (counted, not asserted on).
    refilled = int((time.monotonic() - started) * PER_ADDRESS / 900) + 1
    assert set(codes) == {401, 429}
    assert PER_ADDRESS <= codes.count(401) <= PER_ADDRESS + refilled


def _lock(client: TestClient, settings: Settings, username: str) -> None:
    for _ in range(settings.sign_in_max_failures):
        assert _sign_in(client, username, "wrong-password").status_code == 401


def test_a_locked_account_answers_exactly_like_an_unknown_username(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op = make_operator(session)
    session.commit()
    _lock(client, settings, op.username)
    unknown = "x" + op.username[1:]  # as long as the real one, so the pages are the same length
    answers = {
        "locked, right password": _sign_in(client, op.username),
        "locked, wrong password": _sign_in(client, op.username, "wrong-password"),
        "unknown username": _sign_in(client, unknown),
    }
    other = make_operator(session)
    session.commit()
    answers["wrong password"] = _sign_in(client, other.username, "wrong-password")

    def normalised(r: httpx.Response, username: str) -> bytes:
        # The fresh anti-CSRF token, the CSP nonce and the echoed username are the only
        # differences allowed.
        body = TOKEN.sub('name="presign_token" value=""', r.text).replace(f'value="{username}"', 'value=""')
        return NONCE.sub('nonce=""', body).encode()

    typed = {
        "locked, right password": op.username,
        "locked, wrong password": op.username,
        "unknown username": unknown,
        "wrong password": other.username,
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert set(statuses.values()) == {401}, statuses
    bodies = {normalised(r, typed[name]) for name, r in answers.items()}
    assert len(bodies) == 1
    assert len({r.headers["content-length"] for r in answers.values()}) == 1
    assert "locked" not in answers["locked, right password"].text.lower()

    # The API answers byte for byte the same, headers included.
    locked_api = _token(client, op.username)
    unknown_api = _token(client, unknown)
    assert locked_api.status_code == unknown_api.status_code == 401
    assert locked_api.content == unknown_api.content
    same = ("content-type", "content-length", "www-authenticate")
    assert [locked_api.headers.get(h) for h in same] == [unknown_api.headers.get(h) for h in same]
    assert set(locked_api.headers) == set(unknown_api.headers)


def test_every_failed_sign_in_runs_one_password_check(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work, so similar time, for unknown, locked and wrong (no timed assertion)."""
    checks: list[str] = []
    real = staff.verify_password

    def counting(password_hash: str, password: str) -> bool:
        checks.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(staff, "verify_password", counting)
    op = make_operator(session)
    for _ in range(settings.sign_in_max_failures):
        staff.authenticate(session=session, settings=settings, username=op.username, password="nope")
    for case, username in (("unknown", "ghost"), ("locked", op.username)):
        checks.clear()
        out = staff.authenticate(
            session=session, settings=settings, username=username, password=DEFAULT_PASSWORD
        )
        assert out == staff.wrong_credentials(settings), case
        assert len(checks) == 1, case
    assert checks == [op.password_hash]  # the locked account's own hash, as for a wrong password


def test_no_free_password_check_slot_is_429_busy_on_the_page_and_the_api(
    client: TestClient, session: Session, settings: Settings
) -> None:
    op = make_operator(session)
    session.commit()
    settings.sign_in_hash_wait_seconds = 0.05
    gate = staff.hash_gate(settings)
    with gate.slot() as first, gate.slot() as second:  # every slot is taken (the default is 2)
        assert first and second and gate.slots == settings.sign_in_hash_concurrency == 2
        page = _sign_in(client, op.username)
        api = _token(client, op.username)
    assert page.status_code == 429 and int(page.headers["retry-after"]) >= 1
    assert "Sign-in is busy" in page.text and "govuk-error-summary" in page.text
    assert api.status_code == 429 and api.json()["error"]["code"] == "rate_limited"
    assert int(api.headers["retry-after"]) >= 1
    assert _sign_in(client, op.username).status_code == 303  # a slot is free again


def test_concurrent_sign_ins_never_run_more_password_checks_than_the_bound(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = live_server.settings
    monkeypatch.setattr(settings, "sign_in_hash_wait_seconds", 30.0)  # waiters wait for the release
    gate = staff.hash_gate(settings)
    bound = settings.sign_in_hash_concurrency
    lock = threading.Lock()
    running = [0, 0]  # now, most at once
    release = threading.Event()

    def slow_check(password_hash: str, password: str) -> bool:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        release.wait(30)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(staff, "verify_password", slow_check)
    n = gate.slots + gate.max_waiting + 3
    statuses: list[int] = []

    def attempt(i: int) -> None:
        with httpx.Client(base_url=live_server.base_url, timeout=60) as http:
            page = http.get("/console/sign-in")
            token = TOKEN.search(page.text)
            assert token
            r = http.post(
                "/console/sign-in",
                data={"username": f"flood-{i}", "password": "x", "presign_token": token.group(1)},
            )
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    _wait_for(lambda: statuses.count(429) == 3 and running[0] == bound)
    with lock:
        assert running[1] == bound  # the slots are full, the queue is full, the rest were told "busy"
    release.set()
    for t in threads:
        t.join(60)
    assert running[1] == bound
    assert sorted(statuses) == [401] * (n - 3) + [429] * 3


def _wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll until `condition()` holds (a deadline for a hung test, not a timing assertion)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("condition not reached")
