"""Request and response models of the forms JSON API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SubmissionIn(BaseModel):
    """A submission: answers by question id (dates as YYYY-MM-DD, checkboxes as lists).

    Every form that takes a phone number has a yes/no question (its definition's `identity.sms_ok`,
    `safe_to_contact` on most forms) asking whether it is safe to text the person on it; left out, it
    is "no" on sensitive forms. A number outside the countries the force texts is a 422 field error.
    """

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
    # Whether the person said it is safe to text them on the number given (nothing is sent otherwise).
    safe_to_contact: bool


class FormSummary(BaseModel):
    slug: str
    title: str
    description: str
    sensitive: bool
    url: str
    definition: str


class FormList(BaseModel):
    forms: list[FormSummary]
