"""Console tests make many staff accounts: hash their passwords with cheap argon2 parameters.

Verification still runs the real argon2 code (parameters travel inside each hash), so sign-in
tests keep their meaning; only the cost of making test accounts drops.
"""

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from contact_store import staff

# The smallest parameters argon2 accepts: tests need correctness, not resistance to cracking.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(staff, "_hasher", FAST_HASHER)
    yield
