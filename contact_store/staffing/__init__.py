"""Staffing: Erlang C/A formulas (erlang), half-hour intervals of a local day (intervals), the
arrivals forecast (forecast) and the day's plan that joins them (plan). What the plan reads from
history comes from the dashboards' measures (`contact_store.measures.planning`)."""
