"""Satisfaction surveys (the Essex questions): scheduling with exclusions, answers by SMS, web link
and chat widget, results for managers and exports. Entry point for other areas:
`contact_store.surveys.service.schedule_survey`.
"""

from contact_store.surveys.service import schedule_survey

__all__ = ["schedule_survey"]
