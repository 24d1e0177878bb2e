"""Contact-centre measures over history: definitions, per-contact contributions, daily facts,
figures by period and breakdown, and what staffing plans need (see each module's docstring)."""

from contact_store.measures.definitions import CHANNELS, DEFINITIONS, classify_chat
from contact_store.measures.facts import build_days, rebuild_all, refresh_facts
from contact_store.measures.planning import arrivals_per_interval, handling_by_concurrency, patience
from contact_store.measures.query import FactSource, Figures, RawSource, breakdown, series, totals

__all__ = [
    "CHANNELS",
    "DEFINITIONS",
    "FactSource",
    "Figures",
    "RawSource",
    "arrivals_per_interval",
    "breakdown",
    "build_days",
    "classify_chat",
    "handling_by_concurrency",
    "patience",
    "rebuild_all",
    "refresh_facts",
    "series",
    "totals",
]
