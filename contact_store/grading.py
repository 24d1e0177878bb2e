"""Grades and THRIVE: one definition, used by the chat wrap-up, report triage and every page.

THRIVE (Threat, Harm, Risk, Investigation, Vulnerability, Engagement) is recorded on every contact
as one short assessment per key. The grade is the response the police will make (a common set;
forces vary): it is about attendance, not about how soon an online report is answered (that is
`REPORT_TARGET_HOURS`), so every label says "attend" where it promises a time.
"""

from __future__ import annotations

from typing import Any

THRIVE_KEYS = ("threat", "harm", "risk", "investigation", "vulnerability", "engagement")
# One short assessment each: a sentence or two, not a statement.
THRIVE_MAX_LENGTH = 500

# Grade -> its meaning, without the number (pages add "n – " where a list needs it).
GRADES = {
    1: "Immediate: attend within 15 minutes",
    2: "Priority: attend within 60 minutes",
    3: "Non-urgent: attend within 48 hours",
    4: "Scheduled appointment",
    5: "Resolved without attendance",
}
# "2 – Priority: attend within 60 minutes": for selects and a report's summary.
GRADE_LABELS = {number: f"{number} – {meaning}" for number, meaning in GRADES.items()}


def clean_thrive(raw: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The six THRIVE answers as trimmed text, and errors for unknown keys or over-long answers."""
    errors = {key: "Unknown THRIVE field" for key in set(raw) - set(THRIVE_KEYS)}
    out: dict[str, str] = {}
    for key in THRIVE_KEYS:
        value = str(raw.get(key) or "").strip()
        if len(value) > THRIVE_MAX_LENGTH:
            errors[key] = f"Use {THRIVE_MAX_LENGTH} characters or fewer"
        out[key] = value
    return out, errors
