"""Client addresses behind a reverse proxy (`contact_store.web.client_address`): X-Forwarded-For is
believed only from a TCP peer in `trusted_proxies`, and then only up to the right-most address that
is not a trusted proxy. Spoofed headers from anyone else change nothing: not the chat-start
throttle, not the sign-in audit row."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, col, select

from chat_server.app import create_app
from contact_store.db import Store
from contact_store.models import StaffSession
from contact_store.web import forwarded_client
from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.conftest import make_test_settings

CHAT = {"name": "Alex Visitor", "topic": "crime"}
NGINX = "10.0.0.5"
TRUSTED = ("10.0.0.0/24", "192.0.2.1")


def _nets(*entries: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("203.0.113.50", ["1.2.3.4"], "203.0.113.50"),
        ("203.0.113.50", [], "203.0.113.50"),
        # A trusted proxy with no header: the proxy itself.
        (NGINX, [], NGINX),
        # The proxy appended the real client.
        (NGINX, ["198.51.100.7"], "198.51.100.7"),
        # The client made up a chain: only the right-most untrusted hop counts (nginx appended it).
        (NGINX, ["6.6.6.6, 7.7.7.7, 198.51.100.7"], "198.51.100.7"),
        # Two trusted proxies (a load balancer in front of nginx): walk past both.
        (NGINX, ["198.51.100.7, 192.0.2.1"], "198.51.100.7"),
        (NGINX, ["6.6.6.6, 198.51.100.7", "192.0.2.1"], "198.51.100.7"),  # several headers, in order
        # Everyone in the chain is trusted (a client inside the network): the left-most.
        (NGINX, ["10.0.0.9, 192.0.2.1"], "10.0.0.9"),
        # Junk ends the walk at the last address that was good.
        (NGINX, ["not-an-ip, 192.0.2.1"], "192.0.2.1"),
        (NGINX, ["198.51.100.7:4711"], NGINX),  # an IPv4 with a port is not an address
        # IPv6, bracketed, and an IPv4-mapped peer.
        (NGINX, ["[2001:db8::1]"], "2001:db8::1"),
        ("::ffff:10.0.0.5", ["198.51.100.7"], "198.51.100.7"),
        (NGINX, ["   "], NGINX),
    ],
)
def test_forwarded_client_takes_the_right_most_untrusted_hop(
    peer: str, headers: list[str], expected: str
) -> None:
    assert forwarded_client(peer, headers, _nets(*TRUSTED)) == expected


def test_nothing_is_trusted_without_a_list() -> None:
    assert forwarded_client(NGINX, ["198.51.100.7"], ()) == NGINX
    assert forwarded_client("testclient", ["198.51.100.7"], _nets(*TRUSTED)) == "testclient"


def test_the_setting_refuses_what_is_not_an_address(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        make_test_settings(tmp_path, "sqlite://", trusted_proxies=["nginx.internal"])
    ok = make_test_settings(tmp_path, "sqlite://", trusted_proxies=[" 10.0.0.0/8", "::1"])
    assert ok.trusted_proxies == ["10.0.0.0/8", "::1"]


def _client(tmp_path: Path, database_url: str, store: Store, peer: str, **overrides: object) -> TestClient:
    settings = make_test_settings(tmp_path, database_url, routing_loop_enabled=False, **overrides)
    return TestClient(create_app(settings, store=store), client=(peer, 50000))


def test_a_spoofed_header_from_an_untrusted_peer_does_not_escape_the_throttle(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    limit = {"chat_starts_per_address_per_hour": 2}
    with _client(tmp_path, database_url, store, "203.0.113.60", **limit, trusted_proxies=list(TRUSTED)) as c:
        codes = [
            c.post("/api/v1/chats", json=CHAT, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(4)
        ]
    assert codes == [201, 201, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    limit = {"chat_starts_per_address_per_hour": 1}
    with _client(tmp_path, database_url, store, NGINX, **limit, trusted_proxies=list(TRUSTED)) as c:
        first = c.post("/api/v1/chats", json=CHAT, headers={"X-Forwarded-For": "198.51.100.21"})
        other = c.post("/api/v1/chats", json=CHAT, headers={"X-Forwarded-For": "198.51.100.22"})
        # The same client again, with a made-up address in front: still the same client.
        again = c.post("/api/v1/chats", json=CHAT, headers={"X-Forwarded-For": "9.9.9.9, 198.51.100.21"})
    assert [first.status_code, other.status_code, again.status_code] == [201, 201, 429]


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [([], "203.0.113.70"), (["203.0.113.0/24"], "198.51.100.30")],
)
def test_the_sign_in_audit_records_the_client_the_rule_allows(
    tmp_path: Path, database_url: str, store: Store, session: Session, trusted: list[str], expected: str
) -> None:
    op = make_operator(session)
    session.commit()
    with _client(tmp_path, database_url, store, "203.0.113.70", trusted_proxies=trusted) as c:
        r = c.post(
            "/api/v1/auth/token",
            data={"username": op.username, "password": DEFAULT_PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.30"},
        )
    assert r.status_code == 200, r.text
    session.expire_all()
    row = session.exec(
        select(StaffSession)
        .where(col(StaffSession.operator_id) == op.id)
        .order_by(col(StaffSession.id).desc())
    ).first()
    assert row is not None and row.ip_address == expected
