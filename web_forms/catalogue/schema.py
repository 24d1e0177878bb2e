"""The form catalogue's data model: one declarative JSON definition per form.

A definition lists pages; a page holds one or more questions and may be shown only when an earlier
answer matches (`when`). `identity` says which answers identify the person (matched to earlier
contacts). Every form that takes a phone number asks whether it is safe to contact the person there
(`identity.sms_ok`, a yes/no question): nothing is texted without a "yes", and on `sensitive` forms
(which also get the quick exit) that question must default to "no". `team` and `grade` are the
defaults the report is filed with.

Every English string in a definition is a message id: the Welsh catalogue translates it.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Text limits: a name or a line fits 200 characters; a free-text account 5,000 (about two pages).
DEFAULT_TEXT_MAX = 200
DEFAULT_TEXTAREA_MAX = 5000


class QuestionType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    RADIOS = "radios"
    CHECKBOXES = "checkboxes"
    DATE = "date"
    PHONE = "phone"
    EMAIL = "email"
    POSTCODE = "postcode"
    REFERENCE = "reference"
    EVIDENCE = "evidence"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    value: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    label: str
    hint: str | None = None


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    type: QuestionType
    label: str
    hint: str | None = None
    required: bool = True
    max_length: int | None = Field(default=None, ge=1, le=20000)
    options: list[Option] = Field(default_factory=list)
    # Dates: refuse dates in the future (when something happened).
    past_only: bool = True
    # Inputs: the browser's autocomplete token (e.g. "name", "tel", "email", "postal-code").
    autocomplete: str | None = None
    # Shown on "Check your answers" (defaults to the label).
    summary_label: str | None = None
    # The error when a required answer is missing, e.g. "Enter your full name" (a generic one if unset).
    error_required: str | None = None
    # Radios: the option chosen until the person picks another (shown selected; a blank answer is it).
    default: str | None = None

    @property
    def limit(self) -> int:
        """The maximum length of a text answer."""
        if self.max_length:
            return self.max_length
        return DEFAULT_TEXTAREA_MAX if self.type == QuestionType.TEXTAREA else DEFAULT_TEXT_MAX

    @model_validator(mode="after")
    def _options_where_needed(self) -> Question:
        choice = self.type in (QuestionType.RADIOS, QuestionType.CHECKBOXES)
        if choice and len(self.options) < 2:
            raise ValueError(f"question {self.id}: {self.type} needs at least two options")
        if not choice and self.options:
            raise ValueError(f"question {self.id}: only radios and checkboxes have options")
        if self.type == QuestionType.EVIDENCE and self.required:
            raise ValueError(f"question {self.id}: evidence uploads are always optional")
        if self.default is not None and (
            self.type != QuestionType.RADIOS or self.default not in {o.value for o in self.options}
        ):
            raise ValueError(f"question {self.id}: a default must be one of a radios question's options")
        return self


class Condition(_Strict):
    """Show a page only when an earlier answer is one of `in` (for checkboxes: contains one)."""

    question: str
    in_: list[str] = Field(alias="in", min_length=1)


class Page(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    title: str | None = None  # needed when the page has several questions
    description: str | None = None
    questions: list[Question] = Field(min_length=1)
    when: Condition | None = None

    @property
    def heading(self) -> str:
        return self.title or self.questions[0].label

    @property
    def single(self) -> bool:
        """One question whose label is the page heading (GOV.UK "one thing per page")."""
        return len(self.questions) == 1 and not self.title

    @model_validator(mode="after")
    def _title_when_several(self) -> Page:
        if len(self.questions) > 1 and not self.title:
            raise ValueError(f"page {self.id}: a page with several questions needs a title")
        return self


class Identity(_Strict):
    """Which answers identify the person; `sms_ok` names the yes/no question "is it safe for us to
    text you on this number?" (every form with a phone question has one)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    postcode: str | None = None
    sms_ok: str | None = None


class FormDefinition(_Strict):
    slug: str = Field(pattern=r"^[a-z][a-z0-9-]{1,63}$")
    title: str
    description: str
    start_body: list[str] = Field(default_factory=list)  # paragraphs on the start page
    sensitive: bool = False
    team: str | None = None
    grade: int | None = Field(default=None, ge=1, le=5)
    response_time: str = "24 hours"
    sms_response_time: str | None = None  # text used in the acknowledgement SMS
    what_next: list[str] = Field(default_factory=list)
    identity: Identity = Field(default_factory=Identity)
    area_postcode: str | None = None  # the question whose postcode files the report to an area
    summary: list[str] = Field(min_length=1)  # questions whose answers make the triage line
    order: int = 100
    pages: list[Page] = Field(min_length=1)

    @cached_property
    def questions(self) -> dict[str, Question]:
        """Every question by id (computed once: a definition is frozen). Do not modify."""
        return {q.id: q for p in self.pages for q in p.questions}

    def page(self, page_id: str) -> Page | None:
        return next((p for p in self.pages if p.id == page_id), None)

    def page_of(self, question_id: str) -> Page | None:
        return next((p for p in self.pages if any(q.id == question_id for q in p.questions)), None)

    @property
    def has_evidence(self) -> bool:
        return any(q.type == QuestionType.EVIDENCE for q in self.questions.values())

    @model_validator(mode="after")
    def _references_resolve(self) -> FormDefinition:
        seen_pages: set[str] = set()
        seen: dict[str, Question] = {}
        for page in self.pages:
            if page.id in seen_pages or page.id in ("check", "done", "exit", "start", "safety"):
                raise ValueError(f"{self.slug}: page id {page.id!r} repeated or reserved")
            seen_pages.add(page.id)
            if page.when is not None:
                target = seen.get(page.when.question)
                if target is None:
                    raise ValueError(f"{self.slug}/{page.id}: condition on an unknown or later question")
                values = {o.value for o in target.options}
                if not set(page.when.in_) <= values:
                    raise ValueError(f"{self.slug}/{page.id}: condition values not among the options")
            for q in page.questions:
                if q.id in seen:
                    raise ValueError(f"{self.slug}: question id {q.id!r} repeated")
                seen[q.id] = q
        expected = {
            "name": (QuestionType.TEXT,),
            "phone": (QuestionType.PHONE,),
            "email": (QuestionType.EMAIL,),
            "postcode": (QuestionType.POSTCODE,),
            "sms_ok": (QuestionType.RADIOS,),
        }
        for role, types in expected.items():
            qid = getattr(self.identity, role)
            if qid is not None and (qid not in seen or seen[qid].type not in types):
                raise ValueError(f"{self.slug}: identity.{role} must name a {types[0]} question")
        if self.area_postcode and (
            self.area_postcode not in seen or seen[self.area_postcode].type != QuestionType.POSTCODE
        ):
            raise ValueError(f"{self.slug}: area_postcode must name a postcode question")
        for qid in self.summary:
            if qid not in seen:
                raise ValueError(f"{self.slug}: summary names unknown question {qid!r}")
        if self.identity.phone and not self.identity.sms_ok:
            raise ValueError(f"{self.slug}: a form with a phone question needs identity.sms_ok")
        if self.identity.sms_ok:
            sms_ok = seen[self.identity.sms_ok]
            if {o.value for o in sms_ok.options} != {"yes", "no"}:
                raise ValueError(f"{self.slug}: identity.sms_ok must be a yes/no question")
            if self.sensitive and sms_ok.default != "no":
                raise ValueError(f"{self.slug}: on a sensitive form identity.sms_ok must default to no")
        return self

    def public(self) -> dict[str, Any]:
        """The definition as the JSON API shows it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
