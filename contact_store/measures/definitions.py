"""What every dashboard figure means (from DOMAIN.md), and the one rule classifying a chat.

Every figure is about contacts of a period, by the local date of the contact itself (chat queued,
report received, text created, survey cohort by the contact's date) in `settings.timezone`: a local
day is 23 or 25 hours long on the days the clocks change.

- Offered: chats that joined the queue, minus those abandoned in under
  `abandon_ignore_under_seconds` (short abandons, counted apart); online reports received (forms
  filed online or through the API, not reports raised from a chat).
- Answered: offered chats an operator took (assigned); reports with a first response.
- Abandoned: offered chats the visitor left before an operator answered (short abandons excluded).
- Service level: answered within the target ÷ offered. Chats: `service_level_target_seconds` from
  queued to assigned. Online reports: first response within `report_target_hours` of receipt
  ("online reports answered within 24 hours").
- Average speed to answer (ASA): total queue time of answered ÷ answered (reports: time to first
  response).
- Average handling time (AHT): (active time + wrap-up) ÷ handled. Handled = answered chats that have
  ended; active time runs from assignment to the end; wrap-up from the end to the wrap-up being saved
  (nothing when it was saved before the end).
- Concurrency (per operator, time-weighted) = ∑ chat-seconds held ÷ seconds holding at least one
  chat. The store keeps no history of sign-in status, so "signed in and available or busy" is
  measured as the time an operator held chats; a day's figure counts only that day's seconds (a chat
  over midnight gives each day its part).
- Transfers: transfers of chats (to an operator or a team) of the period.
- Texts: texts created in the period; delivered, failed and blocked (refused by the safe-to-text
  gate) are their status now.
- Satisfaction (top-two-box): answers of 4 or 5 ÷ valid answers, with n beside it; the cohort is
  the survey invitations for contacts in the period (as `contact_store.surveys.results`); response
  rate = answered invitations ÷ invitations of the cohort. Total pools the three score questions.
- Team: the contact's team, or else the team of the member of staff who holds it. POD, operator and
  topic (reports: the form) are the contact's.
"""

from __future__ import annotations

from datetime import datetime

from contact_store.models import ConversationStatus

CHANNELS = ("chat", "forms", "sms")
CHANNEL_LABELS = {"chat": "Live chat", "forms": "Online reports", "sms": "Texts", "phone": "Phone"}
# A survey invitation's channel (contact_store.models.SurveyInvitation) → the dashboard channel.
SURVEY_CHANNEL = {"chat": "chat", "report": "forms", "phone": "phone"}

# Time waited, in buckets (upper bounds in seconds), for "abandonment against time waited".
WAIT_BUCKETS = ((30, "0–30 s"), (60, "30–60 s"), (120, "1–2 min"), (300, "2–5 min"), (600, "5–10 min"))
WAIT_OVER = "over 10 min"
WAIT_LABELS = (*(label for _, label in WAIT_BUCKETS), WAIT_OVER)

# The words shown beside each figure on the dashboard.
DEFINITIONS = {
    "offered": "Chats that joined the queue (less short abandons); online reports received.",
    "answered": "Offered chats an operator took; online reports with a first response.",
    "abandoned": "Offered chats the visitor left before an operator answered, not counting those "
    "who left within the short-abandon time.",
    "service_level": "Answered within the target time ÷ offered.",
    "asa": "Average speed to answer: total waiting time of answered contacts ÷ answered.",
    "aht": "Average handling time: (active time from assignment to end + wrap-up from end to wrap-up "
    "saved) ÷ chats handled.",
    "concurrency": "Chats held at once, time-weighted: chat-seconds held ÷ seconds holding at least one.",
    "transfers": "Chats moved to another operator or team.",
    "texts": "Texts created; delivered, failed and blocked (by the safe-to-text rules) as they are now.",
    "satisfaction": "Top-two-box: answers of 4 or 5 ÷ valid answers (n) to the three score questions "
    "of the cohort's survey answers.",
    "response_rate": "Answered survey invitations ÷ invitations of the cohort.",
}


def wait_bucket(seconds: float) -> str:
    """The label of the time-waited bucket `seconds` falls in."""
    for bound, label in WAIT_BUCKETS:
        if seconds < bound:
            return label
    return WAIT_OVER


def classify_chat(
    *,
    status: str,
    queued_at: datetime,
    assigned_at: datetime | None,
    abandoned_at: datetime | None,
    ignore_under: float,
    target: float,
) -> dict[str, float]:
    """The one rule: what a chat counts towards (offered/answered/abandoned/short_abandoned,
    in_target, answer_seconds). Wallboard, facts, raw figures and drill-down all call this."""
    if assigned_at is not None:
        wait = (assigned_at - queued_at).total_seconds()
        return {"offered": 1, "answered": 1, "answer_seconds": wait, "in_target": float(wait <= target)}
    if status == ConversationStatus.ABANDONED:
        waited = ((abandoned_at or queued_at) - queued_at).total_seconds()
        if waited < ignore_under:
            return {"short_abandoned": 1}
        return {"offered": 1, "abandoned": 1}
    return {"offered": 1}  # still waiting (or ended unanswered): offered, not answered
