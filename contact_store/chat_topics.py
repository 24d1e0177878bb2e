"""What a visitor may say a chat is about, which topics are sensitive, and the online form each
one corresponds to when a chat becomes a report. Used by chat start (`chat_server`) and by the
wrap-up that raises a report from a chat (`contact_store.wrapup`)."""

from __future__ import annotations

from contact_store.i18n import N_

# The names are English message ids: the widget shows them in the visitor's language.
TOPICS = {
    "crime": N_("Report a crime"),
    "asb": N_("Antisocial behaviour"),
    "road": N_("Roads and traffic"),
    "lost-found": N_("Lost or found property"),
    "update": N_("An update on something already reported"),
    "domestic-abuse": N_("Domestic abuse"),
    "other": N_("Something else"),
}
# Topics where a police text could reach an abuser: "safe to text?" defaults to no (safeguarding),
# and a report raised from such a chat is sensitive (supervisors and its assignee only).
SENSITIVE_TOPICS = frozenset({"domestic-abuse"})
# The online form (web_forms catalogue slug) a report raised from a chat on this topic is filed as.
FORM_FOR_TOPIC = {
    "crime": "crime",
    "asb": "anti-social-behaviour",
    "road": "road-traffic-collision",
    "lost-found": "lost-property",
    "update": "existing-reference",
    "domestic-abuse": "domestic-abuse",
    "other": "information",
}
# A topic typed at wrap-up that is none of the above is filed as information.
DEFAULT_FORM = "information"


def form_for_topic(topic: str | None) -> str:
    """The form a report raised from a chat on `topic` is filed as."""
    return FORM_FOR_TOPIC.get(topic or "", DEFAULT_FORM)
