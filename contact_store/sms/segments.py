"""How many SMS segments a text costs: GSM-7 when every character is in the GSM 03.38 alphabet,
else UCS-2 (one Welsh "ŵ" or "ŷ", or an emoji, turns the whole text into UCS-2)."""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 basic alphabet (one septet each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets (an escape and the character).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Single-segment limits and per-segment limits once a text is split (6 octets of UDH per part).
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    length: int  # in septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    non_gsm: tuple[str, ...]  # the characters that forced UCS-2, in order of appearance


def count_segments(text: str) -> SegmentCount:
    """The encoding, length and number of segments of one text message."""
    non_gsm = tuple(dict.fromkeys(c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENDED))
    if not non_gsm:
        length = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    segments = 0 if length == 0 else 1 if length <= single else -(-length // part)
    return SegmentCount(encoding, length, segments, non_gsm)
