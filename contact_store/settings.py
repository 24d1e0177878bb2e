"""Settings: one `Settings` object read from `FIRSTCONTACT_*` environment variables (or `.env`)."""

import ipaddress
import math
import secrets
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contact_store.i18n import N_

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "placeholder", "dev", "development"}

# --- Secret strength (issue #10, point 9) ---
# Outside development the secret key must be at least SECRET_MIN_LENGTH characters and carry an
# estimated SECRET_MIN_BITS bits: length x log2(alphabet), where
# - the alphabet is the smaller of the size of the character classes it uses (lower 26, upper 26,
#   digits 10, ASCII symbols and space 33, anything else 128) and its number of distinct characters;
# - the length counts each distinct run of three characters once (+2), so a repeated pattern
#   counts once.
# So 32 repeated characters count 0 bits, "0123456789" four times 40 bits, and a fresh
# `secrets.token_urlsafe(48)` about 350 (32 hex characters, exactly 128 bits, fall just short).
SECRET_MIN_LENGTH = 32
SECRET_MIN_BITS = 128
_SECRET_CLASSES = (
    (str.islower, 26),
    (str.isupper, 26),
    (str.isdigit, 10),
    (lambda c: c.isascii() and not c.isalnum(), 33),
)
_OTHER_CLASS_SIZE = 128


def secret_bits(secret: str) -> float:
    """The estimated entropy of a secret in bits (the rule above)."""
    if not secret:
        return 0.0
    pool = 0
    for belongs, size in _SECRET_CLASSES:
        if any(c.isascii() and belongs(c) for c in secret):
            pool += size
    if any(not c.isascii() for c in secret):
        pool += _OTHER_CLASS_SIZE
    alphabet = min(pool, len(set(secret)))
    runs = len({secret[i : i + 3] for i in range(len(secret) - 2)}) + 2 if len(secret) > 2 else len(secret)
    return runs * math.log2(alphabet) if alphabet > 1 else 0.0


def secret_key_problem(secret: str) -> str | None:
    """Why this secret key is not good enough outside development, or None when it is."""
    if secret.strip().lower() in PLACEHOLDER_SECRETS:
        return "FIRSTCONTACT_SECRET_KEY is missing or a placeholder"
    if len(secret) < SECRET_MIN_LENGTH:
        return f"FIRSTCONTACT_SECRET_KEY is shorter than {SECRET_MIN_LENGTH} characters"
    if secret_bits(secret) < SECRET_MIN_BITS:
        return (
            f"FIRSTCONTACT_SECRET_KEY is too predictable (about {secret_bits(secret):.0f} bits; "
            f"{SECRET_MIN_BITS} needed): generate one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return None


# --- end secret strength ---

# Lancashire's trip-over history went 7 min -> 3 min -> 20 s; 3 minutes is the middle ground.
DEFAULT_TRIP_OVER_SECONDS = 180

DEFAULT_DANGER_PHRASES = [
    "knife",
    "gun",
    "weapon",
    "machete",
    "he's here now",
    "hes here now",
    "she's here now",
    "they're here now",
    "outside my house now",
    "breaking in",
    "kill myself",
    "end my life",
    "suicide",
    "self harm",
    "self-harm",
    "overdose",
    "going to kill",
    "can't breathe",
    "bleeding",
]


class Settings(BaseSettings):
    """Everything an operator of FirstContact can configure. See the README for each one."""

    model_config = SettingsConfigDict(env_prefix="FIRSTCONTACT_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""  # default: sqlite file under data_dir
    redis_url: str | None = None  # unset: in-process event bus (one worker)
    redis_channel_prefix: str = "firstcontact"
    secret_key: str = ""  # development: generated into data_dir/secret_key
    public_base_url: str = "http://127.0.0.1:8000"
    # Origins allowed to open the visitor websocket (the force's websites); public_base_url always is.
    allowed_origins: list[str] = Field(default_factory=list)
    # Reverse proxies (issue #12; docs/readme/proxy-and-restarts.md): addresses or CIDRs, e.g.
    # ["10.0.0.0/24", "127.0.0.1"]. Only a TCP peer in this list may name the client in
    # X-Forwarded-For / X-Forwarded-Proto (contact_store.web.client_address); empty: never trusted.
    trusted_proxies: list[str] = Field(default_factory=list)

    # Branding: a police site is not GOV.UK, so its own name and colours.
    force_name: str = "Northshire Police"
    force_brand_colour: str = Field(default="#0b3d91", pattern=r"^#[0-9a-fA-F]{6}$")
    force_phone_non_emergency: str = "101"

    # Opening hours of live chat, local time, per weekday (mon..sun); "" means closed that day.
    timezone: str = "Europe/London"
    chat_opening_hours: dict[str, str] = Field(
        default_factory=lambda: dict.fromkeys(
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00"
        )
    )
    chat_holidays: list[date] = Field(default_factory=list)
    # Staffing forecast (#14): the bank holidays of this UK region (ENG, WLS, SCT, NIR; England and
    # Wales share theirs) are forecast as holidays, with chat_holidays added to them.
    staffing_bank_holiday_region: Literal["ENG", "WLS", "SCT", "NIR"] = "ENG"

    # Routing.
    trip_over_seconds: int = DEFAULT_TRIP_OVER_SECONDS
    offer_timeout_seconds: int = 30
    operator_grace_seconds: int = 60
    danger_phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_DANGER_PHRASES))
    message_max_length: int = 2000
    # Live chat (chat_server): see docs/readme/chat.md.
    # Run the routing loop in this process (tests that share one DB connection with the app turn it
    # off; a deployment could run it in fewer processes than serve HTTP).
    routing_loop_enabled: bool = True
    routing_interval_seconds: float = 1.0  # the routing loop also wakes at once on queue changes
    visitor_grace_seconds: int = 120  # a waiting visitor gone this long counts as abandoned
    chat_heartbeat_seconds: float = 20.0  # server ping frame interval on both websockets
    chat_rate_per_second: float = 5.0  # visitor messages: token bucket refill per conversation
    chat_rate_burst: int = 20  # visitor messages: token bucket size per conversation (all its sockets)
    staff_rate_per_second: float = 50.0  # console messages per connection (many chats at once)
    # Issue #13 (overload): hot-path work in flight per worker (contact_store/admission.py); past it
    # a chat message gets a `busy` error frame and a form submission 429, both with a retry delay.
    # The bound caps the queue, so accepted work waits about bound / throughput at most.
    chat_max_pending_messages: int = Field(default=400, ge=1)
    forms_max_pending_submissions: int = Field(default=200, ge=1)
    busy_retry_after_seconds: float = Field(default=1.0, gt=0)
    # ...and while the worker's event loop runs more than this late (ms; 0 = off): the bound on
    # how long accepted work waits, wherever the backlog sits (contact_store/admission.py).
    overload_max_delay_ms: int = Field(default=250, ge=0)
    chat_default_max_chats: int = 3  # capacity when neither operator nor team sets one
    # Issue #10 (chat websockets): the visitor's chat token (socket, transcript, in-chat survey)
    # stops working this long after the chat ended or was abandoned.
    chat_token_ttl_after_end_minutes: int = Field(default=60, ge=0)

    # Measures (definitions in the README and beside every figure).
    service_level_target_seconds: int = 60
    abandon_ignore_under_seconds: int = 0
    report_target_hours: int = 24
    repeat_contact_days: int = 30
    # Dashboard fact tables (contact_store.measures.facts): the builder rebuilds this many recent
    # local days on every run (texts get receipts, chats end, surveys are answered), plus any older
    # day a change was recorded for; it runs every `facts_refresh_minutes` in the maintenance loop.
    facts_recent_days: int = Field(default=3, ge=1, le=60)
    facts_refresh_minutes: int = Field(default=5, ge=1, le=1440)

    # Staff sessions.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    sign_in_max_failures: int = 5
    sign_in_lockout_minutes: int = 15
    # Secure cookies: automatically true when public_base_url is https (set explicitly to override).
    cookie_secure: bool = False

    # SMS.
    sms_provider: Literal["log", "notify", "twilio"] = "log"
    # An inbound text with no reference threads to the contact of the last text sent to its number
    # within this many days; older, it waits in triage's "Texts to match".
    sms_reply_thread_days: int = 30
    sms_max_attempts: int = 8
    notify_api_key: str = ""
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    notify_sms_template_id: str = ""
    notify_callback_token: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_base_url: str = ""  # empty: Twilio's own; tests point it at a local fake
    # A 'sending' row older than this belonged to a dead worker and is recovered (far above the
    # 10 s provider timeout, so a live worker always finishes first).
    sms_claim_lease_seconds: int = 120
    # Run the outbox worker inside the web process (`firstcontact serve` turns this on).
    sms_worker_embedded: bool = False

    # Surveys.
    survey_delay_minutes: int = 60
    survey_excluded_topics: list[str] = Field(default_factory=lambda: ["domestic-abuse"])
    survey_excluded_grades: list[int] = Field(default_factory=list)
    survey_min_days_between: int = 30
    # The Essex questions: three 1-5 scores then free text (score_time, score_resolve, score_overall,
    # comment). Reword them here; the order and kinds are fixed.
    survey_questions: list[str] = Field(
        default_factory=lambda: [
            # N_: the default wording is a message id of the Welsh catalogue (contact_store.i18n).
            N_("How satisfied were you with the time it took to answer your contact?"),
            N_("How satisfied were you with the ability of the call handler to resolve your issue?"),
            N_("How satisfied were you with the overall service provided by the call handler?"),
            N_("Finally, good and bad, tell us about the overall service that you received."),
        ],
        min_length=4,
        max_length=4,
    )
    # How long a survey link works, and how long SMS replies count as survey answers.
    survey_link_days: int = 14
    survey_reply_days: int = 7

    # Data protection: personal data of contacts closed longer than this is erased by the worker.
    retention_days: int = 730

    # Evidence uploads.
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_max_files: int = 5

    # Rate limits (per client address, per minute).
    api_submissions_per_minute: int = 30

    # --- Request limits (issue #10, point 8; chat_server/body_limit.py) ---
    # Largest request body anywhere except evidence uploads (JSON API, HTML forms, callbacks);
    # refused while it streams. Uploads may carry upload_max_files x upload_max_bytes + 1 MiB.
    request_body_max_bytes: int = Field(default=256 * 1024, ge=1024)
    # --- end request limits ---

    # SMS gate (issue #10, safe to contact): where texts may go and how many one number may get.
    # E.164 prefixes a text may be sent to; the default is UK mobiles only. The public may only
    # give numbers in these prefixes' countries (a UK landline still passes for a call back).
    sms_allowed_prefixes: list[str] = Field(default_factory=lambda: ["+447"], min_length=1)
    # Texts to one number in any 24 hours, across every template, counted in the store.
    sms_max_per_recipient_per_day: int = Field(default=10, ge=1)
    # Issue #15 (administration): text-message wording replacing the shipped templates, keyed by
    # template name ("chat_ack") or name and language ("chat_ack.cy"). Administrators edit them in
    # the console (a saved value there wins over this one).
    sms_templates: dict[str, str] = Field(default_factory=dict)

    # --- Throttles (contact_store/throttle.py): shared by every worker through Redis when
    # redis_url is set. ---
    # Chat starts per client address per hour (a bucket that refills over the hour).
    chat_starts_per_address_per_hour: int = 20
    # Sign-in attempts (HTML and API) per client address and per username, known or not, in a
    # bucket that refills over sign_in_throttle_minutes; past that: 429 with Retry-After.
    sign_in_attempts_per_address: int = 30
    sign_in_attempts_per_account: int = 10
    sign_in_throttle_minutes: int = 15
    # Password checks (argon2, 64 MiB each) running at once in one process; a sign-in that finds
    # none free within sign_in_hash_wait_seconds is answered 429 "busy" with Retry-After.
    sign_in_hash_concurrency: int = 2
    sign_in_hash_wait_seconds: float = 2.0

    # Issue #15: the environment's values of settings an administrator overrode in the console
    # (contact_store/administration/config.py keeps them, to return to when an override goes).
    _env_defaults: dict[str, object] | None = PrivateAttr(default=None)

    # --- Observability (issue #12; docs/readme/observability.md) ---
    # Log lines: "text" (the default) or "json" (one object per line with time, level, logger,
    # message and request id).
    log_format: Literal["text", "json"] = "text"
    # Who may read /metrics without a token: client addresses in these networks (CIDR), and only
    # when the request did not come through a proxy (no X-Forwarded-For / Forwarded / X-Real-IP).
    metrics_allowed_networks: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    # A bearer token that opens /metrics from anywhere (`Authorization: Bearer <token>`); empty:
    # no token works. Never logged (a SecretStr prints as stars).
    metrics_token: SecretStr = SecretStr("")
    # --- end observability ---

    @field_validator("metrics_allowed_networks", "trusted_proxies")
    @classmethod
    def _entries_are_networks(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                name = (info.field_name or "").upper()
                raise ValueError(f"{name}: {entry!r} is not an IP address or network (CIDR)") from None
        return [entry.strip() for entry in value]

    @model_validator(mode="after")
    def _secure_cookies_behind_https(self) -> "Settings":
        if "cookie_secure" not in self.model_fields_set and self.public_base_url.lower().startswith(
            "https://"
        ):
            self.cookie_secure = True
        return self

    @model_validator(mode="after")
    def _refuse_weak_secret_outside_development(self) -> "Settings":
        # Production needs a real secret; a test setup may leave it empty (one is generated into
        # data_dir) but any secret it sets must pass the same rule. See secret_key_problem().
        if self.env == "development" or (self.env == "test" and not self.secret_key):
            return self
        problem = secret_key_problem(self.secret_key)
        if problem:
            raise ValueError(f"{problem} (ENV={self.env})")
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured database, or an SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'firstcontact.db').as_posix()}"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    def resolved_secret_key(self) -> str:
        """The secret key; in development one is generated once and kept in data_dir/secret_key."""
        if self.secret_key:
            return self.secret_key
        if self.env == "production":
            raise ValueError("FIRSTCONTACT_SECRET_KEY is required in production")
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` instead)."""
    return Settings()
