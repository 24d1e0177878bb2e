"""People who contact the force, matched across channels by normalised phone and email."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, utc_field


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=200)
    phone_e164: str | None = Field(default=None, max_length=20, index=True)
    email_normalised: str | None = Field(default=None, max_length=320, index=True)
    postcode: str | None = Field(default=None, max_length=10)
    under_18: bool | None = Field(default=None)
    # STOP received: no surveys or non-essential texts.
    sms_opted_out_at: datetime | None = utc_field()
    # Personal data removed under the retention policy; the row stays for anonymous statistics.
    erased_at: datetime | None = utc_field()
    created_at: datetime = created_at_field()
    last_contact_at: datetime | None = utc_field(index=True)
