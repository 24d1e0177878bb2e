"""`parse_frame`: the one reader of every client frame on both sockets (chat/protocol.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chat_server.chat.protocol import (
    CONSOLE_FRAMES,
    MAX_FRAME_BYTES,
    VISITOR_FRAMES,
    Refusal,
    dumps,
    parse_frame,
)
from contact_store.text import MAX_DB_INT

MAX_BODY = 2000
CID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def visitor(frame: Any) -> dict[str, Any] | Refusal:
    return parse_frame(
        frame if isinstance(frame, str | bytes) else json.dumps(frame),
        rules=VISITOR_FRAMES,
        max_body=MAX_BODY,
    )


def console(frame: Any) -> dict[str, Any] | Refusal:
    return parse_frame(json.dumps(frame), rules=CONSOLE_FRAMES, max_body=MAX_BODY)


def refused(result: dict[str, Any] | Refusal, code: str = "bad_frame") -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.code == code, result
    return result


def test_valid_frames_come_back_checked() -> None:
    assert visitor({"type": "auth", "token": "abc_DEF-123"}) == {
        "type": "auth",
        "token": "abc_DEF-123",
        "after_seq": None,
    }
    assert visitor({"type": "auth", "token": "t", "after_seq": 7})["after_seq"] == 7  # type: ignore[index]
    assert isinstance(visitor({"type": "auth", "token": "t", "after_seq": "7"}), Refusal)
    assert isinstance(visitor({"type": "auth", "token": "t", "after_seq": -1}), Refusal)
    assert visitor({"type": "resume", "after_seq": 7}) == {"type": "resume", "after_seq": 7}
    assert visitor({"type": "resume"}) == {"type": "resume", "after_seq": 0}
    assert visitor({"type": "resume", "after_seq": MAX_DB_INT})["after_seq"] == MAX_DB_INT  # type: ignore[index]
    assert visitor({"type": "message", "client_id": "c1", "body": " hi\r\n", "extra": [1]}) == {
        "type": "message",
        "client_id": "c1",
        "body": "hi",
    }
    assert console({"type": "message", "conversation_id": CID, "client_id": "c", "body": "x"}) == {
        "type": "message",
        "conversation_id": CID,
        "client_id": "c",
        "body": "x",
        "internal": False,
    }
    assert console({"type": "watch", "conversation_id": CID}) == {"type": "watch", "conversation_id": CID}
    assert console({"type": "status", "status": "away"}) == {"type": "status", "status": "away"}


@pytest.mark.parametrize(
    "data",
    [
        b'{"type": "ping"}',  # binary, even holding JSON
        b"\x00\xff",
        "not json",
        "[]",
        '"ping"',
        "{}",
        '{"type": 1}',
        '{"type": null}',
        '{"type": "nonsense"}',
        '{"type": "\\ud800"}',
        "[" * 50_000,  # over the size cap
        "[" * 8000 + "]" * 8000,  # nested past the parser's stack
        '{"type": "message", "body": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
def test_junk_is_refused_not_raised(data: str | bytes) -> None:
    result = visitor(data)
    assert isinstance(result, Refusal)
    assert result.code in ("bad_frame", "too_big")
    assert result.frame() == {"type": "error", "code": result.code, "message": result.message}


def test_the_size_cap_counts_utf8_bytes() -> None:
    body = "é" * (MAX_FRAME_BYTES // 2)  # fewer characters than the cap, more bytes
    frame = json.dumps({"type": "message", "client_id": "c", "body": body}, ensure_ascii=False)
    assert len(frame) < MAX_FRAME_BYTES
    refused(visitor(frame), "too_big")


@pytest.mark.parametrize(
    "value", [-1, MAX_DB_INT + 1, 2**200, True, False, 1.0, 1.5, "1", "١٢", None, [1], {"n": 1}, float("inf")]
)
def test_integers_are_real_and_bounded(value: Any) -> None:
    raw = json.dumps({"type": "resume", "after_seq": value})
    refused(parse_frame(raw, rules=VISITOR_FRAMES, max_body=MAX_BODY))
    err = refused(console({"type": "resume", "conversation_id": CID, "after_seq": value}))
    assert err.conversation_id == CID


def test_a_number_too_long_to_read_is_refused() -> None:
    refused(visitor('{"type": "resume", "after_seq": ' + "9" * 5000 + "}"))


def test_bodies_lose_nul_and_lone_surrogates() -> None:
    frame = '{"type": "message", "client_id": "c", "body": "a\\u0000b\\ud800c\\udfffd \\ud83d\\ude00"}'
    result = visitor(frame)
    assert result == {"type": "message", "client_id": "c", "body": "abcd \U0001f600"}  # the pair is kept
    dumps(result).encode()  # what is echoed can be sent


@pytest.mark.parametrize("client_id", ["\ud800", "a\x00", "a\x1b", "", "x" * 65, 5, None, ["c"]])
def test_a_bad_client_id_is_refused_and_never_echoed(client_id: Any) -> None:
    err = refused(visitor({"type": "message", "client_id": client_id, "body": "hello"}), "bad_client_id")
    assert "client_id" not in err.frame()
    dumps(err.frame()).encode()


def test_body_errors_carry_the_checked_ids() -> None:
    assert refused(visitor({"type": "message", "client_id": "c", "body": 5}), "bad_body").client_id == "c"
    assert refused(visitor({"type": "message", "client_id": "c", "body": " \x00 "}), "empty").client_id == "c"
    err = refused(
        console({"type": "message", "conversation_id": CID, "client_id": "c", "body": "x" * 2001}), "too_long"
    )
    assert (err.conversation_id, err.client_id) == (CID, "c")


@pytest.mark.parametrize("cid", [None, 5, "", "x" * 37, "a b", "\ud800", "a\x00", "../x", "é"])
def test_console_conversation_ids_are_checked_before_any_lookup(cid: Any) -> None:
    for kind in ("accept", "decline", "watch", "resume", "typing", "end", "message"):
        err = refused(console({"type": kind, "conversation_id": cid, "client_id": "c", "body": "x"}))
        assert "conversation_id" not in err.frame()


@pytest.mark.parametrize("internal", [1, 0, "true", None, []])
def test_internal_is_a_real_boolean(internal: Any) -> None:
    frame = {"type": "message", "conversation_id": CID, "client_id": "c", "body": "x", "internal": internal}
    refused(console(frame))


@pytest.mark.parametrize("status", [None, 1, ["away"], {"a": 1}, "x" * 17])
def test_status_is_short_text(status: Any) -> None:
    refused(console({"type": "status", "status": status}), "bad_status")


@pytest.mark.parametrize("token", [None, 1, "", "a b", "é", "\ud800", "x" * 129])
def test_auth_token_is_url_safe_text(token: Any) -> None:
    refused(visitor({"type": "auth", "token": token}), "bad_token")


def test_types_of_one_socket_are_unknown_to_the_other() -> None:
    refused(console({"type": "auth", "token": "abc"}))
    refused(visitor({"type": "accept", "conversation_id": CID}))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),  # lone surrogates included: json.dumps escapes them
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
field_names = st.sampled_from(
    ["type", "token", "after_seq", "client_id", "body", "conversation_id", "internal", "status"]
)
frames = st.dictionaries(field_names, json_values, max_size=6) | st.fixed_dictionaries(
    {"type": st.sampled_from(sorted({*VISITOR_FRAMES, *CONSOLE_FRAMES}))},
    optional={
        k: json_values for k in ["token", "after_seq", "client_id", "body", "conversation_id", "internal"]
    },
)


@hsettings(max_examples=300, deadline=None)
@given(frame=frames, binary=st.binary(max_size=64), text=st.text(max_size=64))
def test_no_frame_makes_the_parser_raise_or_answer_what_cannot_be_sent(
    frame: dict[str, Any], binary: bytes, text: str
) -> None:
    for data in (json.dumps(frame), binary, text):
        for rules in (VISITOR_FRAMES, CONSOLE_FRAMES):
            result = parse_frame(data, rules=rules, max_body=MAX_BODY)
            out = result.frame() if isinstance(result, Refusal) else result
            dumps(out).encode()  # valid UTF-8: no lone surrogate survives into anything sent or stored
            if not isinstance(result, Refusal):
                assert result["type"] in rules
                if "after_seq" in result:
                    assert type(result["after_seq"]) is int and 0 <= result["after_seq"] <= MAX_DB_INT


def test_the_console_says_what_it_holds_in_a_held_resume() -> None:
    assert console({"type": "resume", "held": {CID: 7, "b": 0}}) == {
        "type": "resume",
        "held": {CID: 7, "b": 0},
    }
    assert console({"type": "resume", "held": {}}) == {"type": "resume", "held": {}}


@pytest.mark.parametrize(
    "held",
    [
        [CID],
        "x",
        None,
        {CID: -1},
        {CID: "3"},
        {CID: True},
        {CID: MAX_DB_INT + 1},
        {"not an id!": 1},
        {"x" * 37: 1},
        {f"c{i}": 1 for i in range(201)},
    ],
)
def test_a_held_resume_that_is_not_ids_to_seqs_is_refused(held: Any) -> None:
    refused(console({"type": "resume", "held": held}))
