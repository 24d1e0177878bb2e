"""Who may read /metrics: configured networks (not through a proxy) or the bearer token."""

from __future__ import annotations

import logging
import secrets

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from chat_server.app import create_app
from contact_store.db import Store
from contact_store.settings import Settings

TOKEN = "metrics-" + secrets.token_urlsafe(32)


def get(app: FastAPI, host: str, **headers: str) -> int:
    with TestClient(app, client=(host, 40000)) as c:
        return c.get("/metrics", headers=headers).status_code


def make(settings: Settings, store: Store, **update: object) -> FastAPI:
    return create_app(settings.model_copy(update=update), store=store)


def test_loopback_only_by_default(settings: Settings, store: Store) -> None:
    app = make(settings, store)
    assert get(app, "127.0.0.1") == 200
    assert get(app, "::1") == 200
    assert get(app, "203.0.113.7") == 404
    assert get(app, "10.1.2.3") == 404
    assert get(app, "testclient") == 404  # not an address at all


def test_a_request_through_a_proxy_needs_the_token(settings: Settings, store: Store) -> None:
    app = make(settings, store)
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert get(app, "127.0.0.1", **{header: "203.0.113.7"}) == 404


def test_configured_networks(settings: Settings, store: Store) -> None:
    app = make(settings, store, metrics_allowed_networks=["10.0.0.0/8", "2001:db8::/32"])
    assert get(app, "10.20.30.40") == 200
    assert get(app, "2001:db8::1") == 200
    assert get(app, "127.0.0.1") == 404  # loopback no longer listed
    assert get(app, "11.0.0.1") == 404


def test_bad_network_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="is not an IP address or network"):
        Settings(metrics_allowed_networks=["10.0.0.0/8", "ten"])


def test_bearer_token_from_anywhere(settings: Settings, store: Store) -> None:
    app = make(settings, store, metrics_token=SecretStr(TOKEN))
    assert get(app, "203.0.113.7", authorization=f"Bearer {TOKEN}") == 200
    assert (
        get(app, "203.0.113.7", **{"authorization": f"bearer {TOKEN}", "X-Forwarded-For": "1.2.3.4"}) == 200
    )
    assert get(app, "203.0.113.7", authorization="Bearer wrong") == 403
    assert get(app, "203.0.113.7", authorization=f"Basic {TOKEN}") == 403
    # A wrong token is refused even from an allowed address (it was presented, it is wrong).
    assert get(app, "127.0.0.1", authorization="Bearer wrong") == 403


def test_no_token_configured_means_no_token_works(settings: Settings, store: Store) -> None:
    app = make(settings, store)
    assert get(app, "203.0.113.7", authorization="Bearer ") == 403
    assert get(app, "203.0.113.7", authorization="Bearer anything") == 403


def test_the_token_is_never_logged_nor_shown(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    configured = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    assert TOKEN not in repr(configured) and TOKEN not in str(configured.model_dump())
    app = create_app(configured, store=store)
    with caplog.at_level(logging.DEBUG):
        assert get(app, "203.0.113.7", authorization=f"Bearer {TOKEN}") == 200
        assert get(app, "203.0.113.7", authorization=f"Bearer {TOKEN}x") == 403
    assert TOKEN not in caplog.text


def test_metrics_is_not_in_the_api_document(settings: Settings, store: Store) -> None:
    with TestClient(make(settings, store)) as c:
        assert "/metrics" not in c.get("/api/v1/openapi.json").json()["paths"]
