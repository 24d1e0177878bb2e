"""The form catalogue as data: validation at start-up, adding a form without Python, Welsh."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from web_forms.catalogue import FORMS_DIR, CatalogueError, FormDefinition, catalogue, load_catalogue
from web_forms.i18n import choose_language, parse_accept_language

REQUIRED_FORMS = {
    "crime",
    "anti-social-behaviour",
    "road-traffic-collision",
    "lost-property",
    "vehicle",
    "fraud",
    "information",
    "existing-reference",
    "domestic-abuse",
    "feedback",
}
TEMPLATES = Path(__file__).resolve().parents[2] / "web_forms" / "templates"


def test_catalogue_ships_every_form() -> None:
    forms = catalogue()
    assert set(forms) >= REQUIRED_FORMS
    assert [f.slug for f in forms.values() if f.sensitive] == ["domestic-abuse"]
    assert forms["domestic-abuse"].identity.sms_ok == "safe_to_text"


def _minimal(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "slug": "extra",
        "title": "Report a noisy owl",
        "description": "Owls.",
        "summary": ["what"],
        "pages": [
            {"id": "what", "questions": [{"id": "what", "type": "textarea", "label": "What did the owl do?"}]}
        ],
    }
    form.update(overrides)
    return form


def _catalogue_with(tmp_path: Path, definition: dict[str, Any], name: str = "extra.json") -> Path:
    directory = tmp_path / "forms"
    shutil.copytree(FORMS_DIR, directory)
    (directory / name).write_text(json.dumps(definition))
    return directory


def test_adding_a_form_is_adding_a_json_file(tmp_path: Path) -> None:
    directory = _catalogue_with(tmp_path, _minimal(pages=[{"use": "contact"}, *_minimal()["pages"]]))
    forms = load_catalogue(directory)
    assert forms["extra"].page("contact") is not None
    assert forms["extra"].title == "Report a noisy owl"


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        (_minimal(pages=[]), "pages"),
        (_minimal(summary=["nope"]), "summary names unknown question"),
        (_minimal(unknown_key=1), "Extra inputs"),
        (
            _minimal(
                pages=[
                    {"id": "a", "questions": [{"id": "what", "type": "radios", "label": "x", "options": []}]}
                ]
            ),
            "at least two options",
        ),
        (
            _minimal(
                pages=[
                    {"id": "a", "questions": [{"id": "what", "type": "text", "label": "x"}]},
                    {"id": "b", "questions": [{"id": "what", "type": "text", "label": "y"}]},
                ]
            ),
            "repeated",
        ),
        (
            _minimal(
                pages=[
                    {
                        "id": "a",
                        "when": {"question": "later", "in": ["yes"]},
                        "questions": [{"id": "what", "type": "text", "label": "x"}],
                    }
                ]
            ),
            "unknown or later question",
        ),
        (
            _minimal(
                pages=[
                    {
                        "id": "a",
                        "questions": [
                            {"id": "what", "type": "text", "label": "x"},
                            {"id": "b", "type": "text", "label": "y"},
                        ],
                    }
                ]
            ),
            "needs a title",
        ),
        (
            _minimal(
                sensitive=True,
                identity={"phone": "tel"},
                pages=[
                    {"id": "a", "questions": [{"id": "what", "type": "text", "label": "x"}]},
                    {"id": "b", "questions": [{"id": "tel", "type": "phone", "label": "y"}]},
                ],
            ),
            "needs identity.sms_ok",
        ),
        (_minimal(pages=[{"use": "nope"}]), "unknown shared page"),
    ],
)
def test_invalid_definitions_stop_start_up(tmp_path: Path, definition: dict[str, Any], problem: str) -> None:
    directory = _catalogue_with(tmp_path, definition)
    with pytest.raises(CatalogueError, match=problem):
        load_catalogue(directory)


def test_slug_must_match_file_name(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="must match the file name"):
        load_catalogue(_catalogue_with(tmp_path, _minimal(), name="other.json"))


def test_definition_round_trips_through_the_api(client: TestClient) -> None:
    for slug, form in catalogue().items():
        body = client.get(f"/api/v1/forms/{slug}").json()
        assert FormDefinition.model_validate(body) == form


def _form_strings(form: FormDefinition) -> list[str]:
    strings = [form.title, form.description, *form.start_body, form.response_time, *form.what_next]
    for page in form.pages:
        strings += [page.title or "", page.description or ""]
        for q in page.questions:
            strings += [q.label, q.hint or "", q.summary_label or ""]
            strings += [text for o in q.options for text in (o.label, o.hint or "")]
    return [s for s in strings if s]


def _template_strings() -> list[str]:
    found = []
    for path in TEMPLATES.rglob("*.html"):
        found += [m.group(2) for m in re.finditer(r"""_\((["'])(.+?)\1\)""", path.read_text())]
    return found


def test_language_negotiation() -> None:
    assert parse_accept_language("cy-GB,cy;q=0.9,en;q=0.8") == "cy"
    assert parse_accept_language("fr, en;q=0.5, cy;q=0.7") == "cy"
    assert parse_accept_language("fr") is None
    assert parse_accept_language("cy;q=bad, en") == "en"
    assert choose_language(cookie="en", accept_language="cy") == "en"
    assert choose_language(cookie="xx", accept_language=None) == "en"
