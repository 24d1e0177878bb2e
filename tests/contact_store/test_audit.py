from datetime import timedelta

from sqlmodel import Session

from contact_store import audit
from contact_store.clock import utcnow
from tests.builders import make_operator, make_person


def test_record_and_search_by_each_filter(session: Session) -> None:
    alice = make_operator(session)
    bob = make_operator(session)
    person = make_person(session)
    audit.record(
        session=session,
        operator_id=alice.id,
        action="person.view",
        object_type="person",
        object_id=person.id or 0,
        person_id=person.id,
        ip="10.0.0.1",
    )
    audit.record(
        session=session,
        operator_id=bob.id,
        action="report.note",
        object_type="report",
        object_id=7,
        detail={"x": 1},
    )
    rows, total = audit.search(session=session, query=audit.AuditQuery(operator_id=alice.id))
    assert total == 1 and rows[0].action == "person.view" and rows[0].ip_address == "10.0.0.1"
    rows, total = audit.search(session=session, query=audit.AuditQuery(action="report."))
    assert [r.operator_id for r in rows] == [bob.id]
    rows, total = audit.search(session=session, query=audit.AuditQuery(person_id=person.id))
    assert total == 1
    rows, total = audit.search(session=session, query=audit.AuditQuery(object_type="report", object_id="7"))
    assert total == 1 and rows[0].detail == {"x": 1}
    future = utcnow() + timedelta(days=1)
    assert audit.search(session=session, query=audit.AuditQuery(since=future))[1] == 0
