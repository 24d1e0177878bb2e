"""The visitor message rate limit, per conversation.

Every connection of one conversation draws on ONE token bucket (`chat_rate_burst` tokens, refilled
at `chat_rate_per_second`), so opening more sockets to a chat never raises its limit. With
`redis_url` set the bucket lives in Redis and is shared by every worker (one round trip per
message, measured in `bench/throttle_hot_path.py`); otherwise it is this worker's own. Both come
from `contact_store.throttle` (the `chat-message` throttle); a Redis outage falls back to the
worker's own bucket, never to no limit.

A message over the limit is refused with an `error` frame, code `rate_limited`, with `retry_after`
(seconds), and NOT stored: the client resends it (same `client_id`) after that delay.
"""

from __future__ import annotations

from typing import Any

from contact_store.throttle import CHAT_MESSAGE, Limiter, throttles_for


class ConversationRate:
    """The app's per-conversation message limiter."""

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter

    @classmethod
    def of(cls, app: Any) -> ConversationRate:
        """The limiter of this app (one per app, shared by all its sockets)."""
        existing: ConversationRate | None = getattr(app.state, "conversation_rate", None)
        if existing is None:
            existing = app.state.conversation_rate = cls(throttles_for(app).limiter(CHAT_MESSAGE))
        return existing

    async def allow(self, conversation_id: str) -> bool:
        """Take a token from the conversation's bucket: False when it is empty (refuse the message)."""
        return await self.wait(conversation_id) == 0.0

    async def wait(self, conversation_id: str) -> float:
        """Take a token: 0.0, or the seconds until one is there (refuse the message; nothing taken)."""
        return await self._limiter.take_async(conversation_id)
