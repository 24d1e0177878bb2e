"""Request and response models of the forms JSON API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SubmissionIn(BaseModel):
    """A submission: answers by question id (dates as YYYY-MM-DD, checkboxes as lists)."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, Any] = Field(max_length=200)
    language: Literal["en", "cy"] = "en"


class SubmissionOut(BaseModel):
    reference: str
    status: Literal["received"]
    form: str
    received_at: str
    response_time: str
    sensitive: bool


class FormSummary(BaseModel):
    slug: str
    title: str
    description: str
    sensitive: bool
    url: str
    definition: str


class FormList(BaseModel):
    forms: list[FormSummary]
