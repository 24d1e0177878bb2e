"""SMS segment counting: GSM-7 160/153, UCS-2 70/67, extension characters count twice."""

import pytest

from contact_store.sms.segments import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "length", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # the euro sign is an escape plus a character
        ("[" * 81, "GSM-7", 162, 2),
        ("Diolch ŵ", "UCS-2", 8, 1),
        ("ŷ" + "a" * 69, "UCS-2", 70, 1),
        ("ŷ" + "a" * 70, "UCS-2", 71, 2),
        ("ŷ" + "a" * 134, "UCS-2", 135, 3),
        ("😀", "UCS-2", 2, 1),  # outside the BMP: two UTF-16 code units
    ],
)
def test_count_segments(text: str, encoding: str, length: int, segments: int) -> None:
    result = count_segments(text)
    assert (result.encoding, result.length, result.segments) == (encoding, length, segments)


def test_the_characters_that_forced_ucs2_are_named() -> None:
    assert count_segments("Croeso â ŵ â").non_gsm == ("â", "ŵ")
    assert count_segments("Café £5 ü").non_gsm == ()
