"""Babel extractor for the form definitions: every text the public sees in a form's JSON is a
message id for the catalogue (`babel.cfg` maps `web_forms/catalogue/forms/**.json` to it).

Which keys are public text is stated once, in `PUBLIC_TEXT_KEYS`; `team`, ids, values and the rest
are internal and never translated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

# Keys whose string (or list of strings) value is shown to the public.
PUBLIC_TEXT_KEYS = frozenset(
    {
        "title",
        "description",
        "start_body",
        "response_time",
        "sms_response_time",
        "what_next",
        "label",
        "hint",
        "summary_label",
        "error_required",
    }
)


def public_texts(node: Any) -> Iterator[str]:
    """Every public text in a form definition (or page fragment), in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in PUBLIC_TEXT_KEYS:
                if isinstance(value, str) and value:
                    yield value
                elif isinstance(value, list):
                    yield from (v for v in value if isinstance(v, str) and v)
            else:
                yield from public_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from public_texts(item)


def extract_form_definition(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method: (line, funcname, message, comments) for each public text."""
    text = fileobj.read().decode("utf-8")
    for message in public_texts(json.loads(text)):
        at = text.find(json.dumps(message, ensure_ascii=False)[1:-1])
        yield (text.count("\n", 0, at) + 1 if at >= 0 else 1), "_", message, []
