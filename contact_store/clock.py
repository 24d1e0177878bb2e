"""One source of "now" (UTC, timezone-aware) so tests and services agree."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
