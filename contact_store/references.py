"""Human-friendly, unique contact references such as `FC-2611-7Q4K`.

Format: `FC-` + day and month (DDMM, so staff can tell roughly when at a glance) + `-` + four
characters from an alphabet without look-alikes (no 0/O, 1/I/L, U). 31^4 = 923,521 codes a day;
uniqueness is enforced by the database and a clash is retried with a longer suffix.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from contact_store.clock import utcnow

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
SUFFIX_LENGTH = 4


def new_reference(*, at: datetime | None = None, length: int = SUFFIX_LENGTH) -> str:
    """A new reference for a contact received at `at` (default: now)."""
    at = at or utcnow()
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"FC-{at:%d%m}-{suffix}"

