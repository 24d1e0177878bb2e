"""The widget's words, in every language, from the gettext catalogue (`contact_store.i18n`).

They are written into widget.js when it is served (`widget_source`): a page on another origin gets
them with the script itself, so the widget can speak the visitor's language even when it may not
call the API (an origin missing from `allowed_origins`). Keys are the widget's (`t("key")`).
"""

from __future__ import annotations

import json
from typing import Any

from contact_store.chat_topics import TOPICS
from contact_store.i18n import LANGUAGE_NAMES, LANGUAGES, N_, translator
from contact_store.surveys.questions import SCORE_LABELS
from contact_store.surveys.service import SCORE_ERRORS

WIDGET_STRINGS: dict[str, str] = {
    "open": N_("Chat with us"),
    "title": N_("Live chat"),
    "close": N_("Minimise chat"),
    "exit": N_("Quick exit"),
    "exitHint": N_("Leave this page quickly"),
    "danger": N_(
        "If you are in danger now or a crime is happening, call 999. "
        "If you cannot speak, call 999 and press 55."
    ),
    "closed": N_("Live chat is closed now."),
    "closedNext": N_("It opens again {when}."),
    "forms": N_("Report online instead"),
    "intro": N_("Tell us a little about you so we can put you through to the right team."),
    "name": N_("Your name"),
    "mobile": N_("Mobile number (optional)"),
    "mobileHint": N_("For example, 07700 900123"),
    "safe": N_("Is it safe for us to text you on this number?"),
    "safeHint": N_("We will only text you, for example your reference, if you say it is safe."),
    "safeYes": N_("Yes, it is safe to text me"),
    "safeNo": N_("No, do not text me"),
    "email": N_("Email address (optional)"),
    "topic": N_("What is your chat about?"),
    "choose": N_("Choose a topic"),
    "postcode": N_("Postcode (optional)"),
    "postcodeHint": N_("So we can route you to your local team"),
    "area": N_("Or choose your area"),
    "anyArea": N_("I don't know"),
    "start": N_("Start chat"),
    "problem": N_("There is a problem"),
    "connecting": N_("Connecting…"),
    "reconnecting": N_("Connection lost. Reconnecting…"),
    "queue": N_("You are number {n} in the queue."),
    "waitNone": N_("An operator will be with you shortly."),
    "noStaff": N_(
        "Nobody is available to chat right now. You can stay and we will answer as soon as someone is free."
    ),
    "wait": N_("Estimated wait: about {m} minute(s)."),
    "assigned": N_("You are chatting with {name}."),
    "typing": N_("{name} is typing…"),
    "operator": N_("Operator"),
    "you": N_("You"),
    "system": N_("Police"),
    "message": N_("Your message"),
    "send": N_("Send"),
    "sending": N_("Sending"),
    "sent": N_("Sent"),
    "delivered": N_("Delivered"),
    "end": N_("End chat"),
    "endConfirm": N_("End this chat?"),
    "ended": N_("The chat has ended."),
    "transcript": N_("Download transcript"),
    "again": N_("Start a new chat"),
    "expired": N_("This chat is no longer available. Start a new chat if you need us."),
    "tooLong": N_("Your message is too long"),
    "ratelimited": N_("Slow down: we will send it in a moment"),
    "svTitle": N_("Tell us how we did"),
    "svIntro": N_("Three short questions about this chat. Answering is optional."),
    "svOptional": N_("Optional"),
    "svSend": N_("Send answers"),
    "svThanks": N_("Thank you for your feedback."),
    "svLong": N_("Your comments must be 2,000 characters or fewer"),
    # Embedded on a website whose origin is not in allowed_origins (the API refuses it).
    "notHere": N_("Live chat is not available on this website."),
    "notHereCall": N_("To contact us, call {number} (in an emergency, call 999), or report online."),
}
ERROR_STRINGS: dict[str, str] = {
    "name": N_("Enter your name"),
    "mobile": N_("Enter a UK mobile number, like 07700 900123"),
    "email": N_("Enter an email address in the correct format, like name@example.com"),
    "topic": N_("Choose what your chat is about"),
    "postcode": N_("Enter a real postcode, like PR1 2AB"),
    "area_id": N_("Choose an area from the list"),
    "other": N_("Something went wrong. Try again."),
    "rate_limited": N_(
        "Too many chats have been started from your connection. Wait a few minutes and try again. "
        "If you are in danger now, call 999."
    ),
}


def widget_strings(lang: str, *, non_emergency_number: str) -> dict[str, Any]:
    """Every string the widget shows, in `lang`."""
    _ = translator(lang)
    other = next(code for code in LANGUAGES if code != lang)
    words: dict[str, Any] = {key: _(text) for key, text in WIDGET_STRINGS.items()}
    words["notHereCall"] = words["notHereCall"].format(number=non_emergency_number)
    words.update(
        lang=LANGUAGE_NAMES[other],
        langCode=other,
        svScale=[_(SCORE_LABELS[n]) for n in sorted(SCORE_LABELS)],
        svErr={field: _(text) for field, text in SCORE_ERRORS.items()},
        err={key: _(text) for key, text in ERROR_STRINGS.items()},
        topics={key: _(text) for key, text in TOPICS.items()},
    )
    return words


def widget_source(template: str, *, allowed_origins: set[str], non_emergency_number: str) -> str:
    """widget.js with its words (`__FC_STRINGS__`) and the origins that may use the chat API
    (`__FC_ALLOWED_ORIGINS__`) written in."""
    strings = {lang: widget_strings(lang, non_emergency_number=non_emergency_number) for lang in LANGUAGES}
    # JSON is valid JavaScript; "</" is escaped so the text can never close a <script> element.
    as_js = json.dumps(strings, ensure_ascii=False).replace("</", "<\\/")
    origins = json.dumps(sorted(allowed_origins))
    return template.replace("__FC_STRINGS__", as_js).replace("__FC_ALLOWED_ORIGINS__", origins)
