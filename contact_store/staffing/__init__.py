"""Staffing: Erlang C/A formulas (erlang), history read from the store (history), the arrivals
forecast (forecast) and the day's plan that joins them (plan)."""
