"""One source of "now" (UTC, timezone-aware) so tests and services agree.

Tests move time with `travel(timedelta)`: every caller of `utcnow` (the live server's threads
included) sees the shifted clock until the block ends. Nothing in the application shifts it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC) + _offset


@contextmanager
def travel(by: timedelta) -> Iterator[None]:
    """Tests only: within the block, `utcnow()` is `by` later than the real time."""
    global _offset
    before = _offset
    _offset = before + by
    try:
        yield
    finally:
        _offset = before
