"""The submission service on its own: the stored answer quotes the reference the report got."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from contact_store.models import IdempotencyRecord, Report
from contact_store.settings import Settings
from tests.builders import make_report
from tests.web_forms.helpers import full_answers
from web_forms.api import service
from web_forms.catalogue import catalogue


def test_a_taken_proposed_reference_is_replaced_in_the_stored_answer(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = make_report(session).reference
    monkeypatch.setattr(service, "new_reference", lambda **_: taken)
    form = catalogue()["crime"]
    checked = service.check(form=form, answers=full_answers(form), language="en", settings=settings)
    result = service.file_checked(
        session=session, settings=settings, form=form, checked=checked, idempotency_key="k1"
    )
    assert result.body["reference"] != taken
    report = session.exec(select(Report).where(Report.reference == result.body["reference"])).one()
    record = session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "k1")).one()
    assert record.response == result.body and record.status_code == 201
    assert report.channel == "api"
