"""Daily fact tables for the dashboards (built by `contact_store.measures.facts`).

`fact_contact_day` holds, for each local day of the force's time zone, channel and team, the sums
behind every dashboard figure, once per breakdown: `dim` names the breakdown ("all", "area",
"operator", "topic", "halfhour", "wait") and `dim_value` its value ("" for "all" and for "none").
Dashboards add these rows up instead of reading every contact. `fact_build_state` remembers how far
the builder has read the event tables, so a change to an old contact marks its day for rebuilding.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Float, Index, Integer, PrimaryKeyConstraint, String, Table

from contact_store.models.base import metadata
from contact_store.types import UTCDateTime

# The sums kept per fact row, in this order (see contact_store.measures.definitions).
MEASURE_COLUMNS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "in_target",
    "answer_seconds",
    "handled",
    "active_seconds",
    "wrap_seconds",
    "transfers",
    "held_seconds",
    "busy_seconds",
    "texts",
    "delivered",
    "failed",
    "blocked",
    "invited",
    "responded",
    "time_n",
    "time_top",
    "time_sum",
    "resolve_n",
    "resolve_top",
    "resolve_sum",
    "overall_n",
    "overall_top",
    "overall_sum",
)

fact_contact_day = Table(
    "fact_contact_day",
    metadata,
    Column("local_date", Date(), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("team_id", Integer(), nullable=False),  # 0 = no team
    Column("dim", String(10), nullable=False),
    Column("dim_value", String(64), nullable=False),
    *(Column(name, Float(), nullable=False, server_default="0") for name in MEASURE_COLUMNS),
    PrimaryKeyConstraint("local_date", "channel", "team_id", "dim", "dim_value"),
    # Dashboards read one breakdown of one channel over a range of days.
    Index("ix_fact_contact_day_dim_channel_local_date", "dim", "channel", "local_date"),
)

fact_build_state = Table(
    "fact_build_state",
    metadata,
    Column("id", Integer(), primary_key=True),
    # The highest ConversationEvent / ReportEvent / SurveyResponse id the builder has seen.
    Column("conversation_event_id", Integer(), nullable=False, server_default="0"),
    Column("report_event_id", Integer(), nullable=False, server_default="0"),
    Column("survey_response_id", Integer(), nullable=False, server_default="0"),
    Column("built_at", UTCDateTime(), nullable=True),
    # Days before this one are still to be built by the backfill (None: history complete).
    Column("backfill_to", Date(), nullable=True),
)
