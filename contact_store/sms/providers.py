"""SMS providers behind one small interface, chosen by FIRSTCONTACT_SMS_PROVIDER.

Contract every provider keeps:
- `send(outgoing)` makes AT MOST ONE request to the provider and returns the provider's message id.
  It raises `TemporaryFailure` when the text may be retried (network error, timeout, 429, 5xx) and
  `PermanentFailure` when retrying cannot help (bad number, rejected by the provider: 4xx).
- `outgoing.reference` (``fc-sms-<row id>``) goes to the provider as its reference / idempotency
  key. It carries no personal data.
- `lookup(outgoing)` asks the provider whether it already holds a text for that reference (used
  before any second attempt, so a timeout whose request did arrive is never sent twice).
  It returns the provider's message id, None if the provider has no such text, or raises
  `TemporaryFailure` if the provider cannot answer now.

`log` is the offline default: the store is the provider, so "sending" is marking the row sent in
the worker's conditional UPDATE and a lookup is never needed (a worker that died before that
UPDATE sent nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import requests

from contact_store.settings import Settings
from contact_store.text import parse_int

logger = logging.getLogger(__name__)

# Seconds before a provider request is abandoned; must stay well below the claim lease so that a
# slow request finishes (or fails) long before another worker may look at the row again.
PROVIDER_TIMEOUT_SECONDS = 10.0


class TemporaryFailure(Exception):
    """The text may be retried later."""


class PermanentFailure(Exception):
    """The provider refused the text; retrying cannot help."""


@dataclass(frozen=True)
class Outgoing:
    """What a provider needs to send one outbox row."""

    row_id: int
    to_e164: str
    body: str
    template: str = ""
    personalisation: dict[str, Any] = field(default_factory=dict)
    claimed_at: datetime | None = None

    @property
    def reference(self) -> str:
        return reference_for(self.row_id)


def reference_for(row_id: int) -> str:
    """The provider reference of an outbox row: its id only, never personal data."""
    return f"fc-sms-{row_id}"


def row_id_from_reference(reference: str | None) -> int | None:
    """The outbox row id in a provider reference, or None."""
    if not reference or not reference.startswith("fc-sms-"):
        return None
    return parse_int(reference[len("fc-sms-") :], low=1)


class SmsProvider(Protocol):
    name: str

    def send(self, outgoing: Outgoing) -> str: ...

    def lookup(self, outgoing: Outgoing) -> str | None: ...


class LogProvider:
    """Offline provider: the SMS log page in the console is the phone."""

    name = "log"

    def send(self, outgoing: Outgoing) -> str:
        logger.info("SMS (log provider) %s: %d characters", outgoing.reference, len(outgoing.body))
        return f"log-{outgoing.row_id}"

    def lookup(self, outgoing: Outgoing) -> str | None:
        return None


class NotifyProvider:
    """GOV.UK Notify through notifications-python-client.

    Texts are sent with one Notify template whose body is `((body))`: the message is rendered by
    us (the same text the log page shows), and Notify gets it as personalisation.
    """

    name = "notify"

    def __init__(self, settings: Settings, *, timeout: float = PROVIDER_TIMEOUT_SECONDS) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        self.template_id = settings.notify_sms_template_id
        self.client = NotificationsAPIClient(
            settings.notify_api_key, base_url=settings.notify_base_url, timeout=timeout
        )

    @staticmethod
    def _classify(exc: Exception) -> Exception:
        from notifications_python_client.errors import APIError

        if isinstance(exc, APIError):
            status = exc.status_code
            if exc.response is None or status == 429 or status >= 500:
                return TemporaryFailure(f"Notify {status}: {exc.message}")
            return PermanentFailure(f"Notify {status}: {exc.message}")
        return TemporaryFailure(f"Notify: {type(exc).__name__}")

    def send(self, outgoing: Outgoing) -> str:
        try:
            answer = self.client.send_sms_notification(
                phone_number=outgoing.to_e164,
                template_id=self.template_id,
                personalisation={"body": outgoing.body},
                reference=outgoing.reference,
            )
        except Exception as exc:
            raise self._classify(exc) from exc
        return str(answer["id"])

    def lookup(self, outgoing: Outgoing) -> str | None:
        try:
            answer = self.client.get_all_notifications(template_type="sms", reference=outgoing.reference)
        except Exception as exc:
            raise TemporaryFailure(str(self._classify(exc))) from exc
        for item in answer.get("notifications", []):
            if item.get("reference") == outgoing.reference:
                return str(item["id"])
        return None


class TwilioProvider:
    """Twilio through the twilio library; the row id travels in the status-callback URL."""

    name = "twilio"

    def __init__(self, settings: Settings, *, timeout: float = PROVIDER_TIMEOUT_SECONDS) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        base = settings.twilio_base_url.rstrip("/")

        class _RebasedHttpClient(TwilioHttpClient):
            """Twilio's documented custom-HttpClient hook, used to point it at a local fake."""

            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                if base:
                    url = url.replace("https://api.twilio.com", base)
                return super().request(method, url, *args, **kwargs)

        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=_RebasedHttpClient(timeout=timeout),
        )
        self.from_number = settings.twilio_from_number
        self.callback_base = settings.public_base_url.rstrip("/") + "/api/v1/sms/twilio/status"

    @staticmethod
    def _classify(exc: Exception) -> Exception:
        from twilio.base.exceptions import TwilioRestException

        if isinstance(exc, TwilioRestException):
            if exc.status == 429 or exc.status >= 500:
                return TemporaryFailure(f"Twilio {exc.status}: {exc.msg}")
            return PermanentFailure(f"Twilio {exc.status} ({exc.code}): {exc.msg}")
        if isinstance(exc, requests.RequestException):
            return TemporaryFailure(f"Twilio: {type(exc).__name__}")
        return TemporaryFailure(f"Twilio: {type(exc).__name__}")

    def status_callback_url(self, outgoing: Outgoing) -> str:
        return f"{self.callback_base}?{urlencode({'ref': outgoing.reference})}"

    def send(self, outgoing: Outgoing) -> str:
        try:
            message = self.client.messages.create(
                to=outgoing.to_e164,
                from_=self.from_number,
                body=outgoing.body,
                status_callback=self.status_callback_url(outgoing),
            )
        except Exception as exc:
            raise self._classify(exc) from exc
        return str(message.sid)

    def lookup(self, outgoing: Outgoing) -> str | None:
        """Twilio has no client reference: match the same body to the same number since the claim."""
        since = (outgoing.claimed_at or datetime.now().astimezone()) - timedelta(minutes=5)
        try:
            messages = self.client.messages.list(to=outgoing.to_e164, date_sent_after=since, limit=50)
        except Exception as exc:
            raise TemporaryFailure(str(self._classify(exc))) from exc
        for message in messages:
            if message.body == outgoing.body:
                return str(message.sid)
        return None


def make_provider(settings: Settings) -> SmsProvider:
    """The provider named by settings.sms_provider."""
    if settings.sms_provider == "notify":
        return NotifyProvider(settings)
    if settings.sms_provider == "twilio":
        return TwilioProvider(settings)
    return LogProvider()
