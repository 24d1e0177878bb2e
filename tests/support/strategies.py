"""Hypothesis strategies for hostile input: the text and numbers that broke naive code."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Lone surrogates, NUL and other controls, non-ASCII digits, numbers beyond 32 and 64 bits, blanks.
NASTY_STRINGS = ["\ud800", "a\udfffb", "\x00", "nul\x00byte", "٣", "²", "9" * 40, "-1", " ", ""]
nasty_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # surrogates included
    st.sampled_from(NASTY_STRINGS),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, nasty_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)),
    max_leaves=12,
)
