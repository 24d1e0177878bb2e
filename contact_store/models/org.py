"""The organisation: teams, areas (PODs), staff accounts and their sessions."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field, utc_field


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMIN = "admin"


# Each role can do everything the roles before it can.
ROLE_RANK = {Role.OPERATOR: 1, Role.SUPERVISOR: 2, Role.MANAGER: 3, Role.ADMIN: 4}


class OperatorStatus(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    # Concurrency limit for operators of this team who have no limit of their own.
    default_max_chats: int = Field(default=3, ge=1, le=20)
    created_at: datetime = created_at_field()
    # Set when an administrator retires the team: it takes no new chats, reports or operators but
    # stays (never deleted) so reports, chats, facts and dashboards keep its name. None: in use.
    retired_at: datetime | None = utc_field()

    @property
    def label(self) -> str:
        """The name, marked "(retired)" once retired: for lists and pickers that show both."""
        return f"{self.name} (retired)" if self.retired_at else self.name


class Area(SQLModel, table=True):
    """A geographic POD (Lancashire: East, South, West). Contacts have a home area."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    # Postcode districts that belong to this area, e.g. ["PR1", "PR2"], for routing by postcode.
    postcode_prefixes: list[str] = json_field(default_factory=list)
    # The POD's own chat opening hours ({"mon": "08:00-20:00", ...}) and closed days (ISO dates);
    # None: the service's hours (`chat_opening_hours`, `chat_holidays`) apply to its chats.
    opening_hours: dict[str, str] | None = Field(default=None, sa_type=JSON, nullable=True)
    closed_days: list[str] | None = Field(default=None, sa_type=JSON, nullable=True)
    created_at: datetime = created_at_field()
    # Set when an administrator retires the POD: routing by postcode ignores it (its postcodes
    # fall to the common queue) but it stays, so old contacts keep its name. None: in use.
    retired_at: datetime | None = utc_field()

    @property
    def label(self) -> str:
        """The name, marked "(retired)" once retired: for lists and pickers that show both."""
        return f"{self.name} (retired)" if self.retired_at else self.name


class Operator(SQLModel, table=True):
    """A member of staff. `role` decides what they may see; chat fields matter for operators."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.OPERATOR, max_length=20)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    # None means "use the team default"; see routing for the precedence.
    max_concurrent_chats: int | None = Field(default=None, ge=1, le=20)
    skills: list[str] = json_field(default_factory=list)
    status: str = Field(default=OperatorStatus.OFFLINE, max_length=20, index=True)
    status_changed_at: datetime | None = utc_field()
    # When the operator last finished or was given a chat: ties in routing go to the longest idle.
    idle_since: datetime | None = utc_field()
    last_seen_at: datetime | None = utc_field()
    is_active: bool = Field(default=True)
    failed_sign_ins: int = Field(default=0)
    locked_until: datetime | None = utc_field()
    created_at: datetime = created_at_field()


class OperatorArea(SQLModel, table=True):
    """The PODs an operator serves first."""

    operator_id: int = Field(foreign_key="operator.id", primary_key=True, ondelete="CASCADE")
    area_id: int = Field(foreign_key="area.id", primary_key=True, ondelete="CASCADE")


class StaffSession(SQLModel, table=True):
    """A server-side sign-in session (cookie or bearer token). Only the token's hash is kept."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    operator_id: int = Field(foreign_key="operator.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="cookie", max_length=10)  # cookie | bearer
    csrf_token: str = Field(max_length=64)
    created_at: datetime = created_at_field()
    last_seen_at: datetime = created_at_field()
    expires_at: datetime = created_at_field()
    revoked_at: datetime | None = utc_field()
    ip_address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=255)
