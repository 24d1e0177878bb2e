"""The form catalogue: every `forms/*.json` definition, loaded and validated once at start-up.

Adding a form is adding a JSON file (no Python). A page entry `{"use": "<name>"}` reuses the
shared page `forms/pages/<name>.json` (for example the contact-details page). A definition that
does not validate stops the application from starting, naming the file and the problem.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from web_forms.catalogue.schema import (
    Condition,
    FormDefinition,
    Identity,
    Option,
    Page,
    Question,
    QuestionType,
)

FORMS_DIR = Path(__file__).parent / "forms"


class CatalogueError(ValueError):
    """A form definition is not valid."""


def _expand_pages(raw: dict[str, Any], shared: dict[str, dict[str, Any]], source: Path) -> dict[str, Any]:
    pages = []
    for entry in raw.get("pages", []):
        if isinstance(entry, dict) and "use" in entry:
            name = entry["use"]
            if name not in shared:
                raise CatalogueError(f"{source.name}: unknown shared page {name!r}")
            # Keys beside "use" (such as "when") override the shared page's own.
            pages.append({**shared[name], **{k: v for k, v in entry.items() if k != "use"}})
        else:
            pages.append(entry)
    return {**raw, "pages": pages}


def load_catalogue(directory: Path = FORMS_DIR) -> dict[str, FormDefinition]:
    """Every form in `directory`, by slug, in display order; raises CatalogueError if one is invalid."""
    shared = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((directory / "pages").glob("*.json"))
    }
    forms: dict[str, FormDefinition] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            form = FormDefinition.model_validate(_expand_pages(raw, shared, path))
        except (ValidationError, json.JSONDecodeError) as exc:
            raise CatalogueError(f"form definition {path.name} is not valid: {exc}") from exc
        if form.slug != path.stem:
            raise CatalogueError(f"{path.name}: slug {form.slug!r} must match the file name")
        forms[form.slug] = form
    if not forms:
        raise CatalogueError(f"no form definitions in {directory}")
    return dict(sorted(forms.items(), key=lambda item: (item[1].order, item[0])))


@lru_cache(maxsize=1)
def catalogue() -> dict[str, FormDefinition]:
    """The process-wide catalogue (loaded on first use; `web_forms.routes` loads it at import)."""
    return load_catalogue()


__all__ = [
    "FORMS_DIR",
    "CatalogueError",
    "Condition",
    "FormDefinition",
    "Identity",
    "Option",
    "Page",
    "Question",
    "QuestionType",
    "catalogue",
    "load_catalogue",
]
