"""Alembic is the only way a schema is made, and the models agree with the migration head."""

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from contact_store.migrate import is_up_to_date
from contact_store.models import metadata


def test_models_and_migration_head_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_database_is_at_head(engine: Engine, database_url: str) -> None:
    assert is_up_to_date(engine, database_url)


def test_every_table_exists_with_named_constraints(engine: Engine) -> None:
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    assert set(metadata.tables) <= tables
    pk = inspector.get_pk_constraint("message")
    if engine.dialect.name == "postgresql":
        assert pk["name"] == "pk_message"
    uniques = {u["name"] for u in inspector.get_unique_constraints("message")}
    assert uniques == {"uq_message_conversation_id_seq", "uq_message_conversation_id_client_id"}


def test_safe_to_contact_backfill_keeps_the_decision_already_made(tmp_path: Path) -> None:
    """Upgrading a store with history: a contact that was acknowledged by text said it was safe to
    text that number; every other contact is "not safe to contact" (migration 5afe7e47c0de)."""
    from sqlalchemy import create_engine, text

    from contact_store.migrate import upgrade_database
    from tests.support.databases import TEST_DATABASE_URL

    def _check(url: str) -> None:
        upgrade_database(url, "c4a7e1f0b2d9")
        engine = create_engine(url)
        now = datetime.now(UTC)
        report = (
            "INSERT INTO report (id, reference, form_slug, answers, summary, status, thrive, sensitive,"
            " language, channel, repeat_contact, received_at, updated_at) VALUES (:id, :ref, 'crime',"
            " '{}', '', 'received', '{}', :sensitive, 'en', 'web', false, :now, :now)"
        )
        sms = (
            "INSERT INTO smsmessage (to_e164, body, template, personalisation, kind, essential, status,"
            " attempts, next_attempt_at, created_at, report_id, conversation_id) VALUES (:to, 'x', '',"
            " '{}', :kind, true, 'sent', 1, :now, :now, :report_id, :conv)"
        )
        with engine.begin() as conn:
            conn.execute(text(report), {"id": 1, "ref": "FC-A", "sensitive": False, "now": now})
            conn.execute(text(report), {"id": 2, "ref": "FC-B", "sensitive": True, "now": now})
            conn.execute(
                text(
                    "INSERT INTO conversation (id, token_hash, status, visitor_name, topic, language,"
                    " priority, danger_flag, last_seq, queued_at, thrive) VALUES ('c1', 'h', 'ended',"
                    " 'Jo', 'crime', 'en', 0, false, 0, :now, '{}')"
                ),
                {"now": now},
            )
            ack = {"kind": "ack", "now": now, "conv": None}
            conn.execute(text(sms), ack | {"to": "+447700900001", "report_id": 1})
            conn.execute(text(sms), ack | {"to": "+447700900003", "report_id": None, "conv": "c1"})
            # An update alone is not the consent the acknowledgement recorded.
            conn.execute(text(sms), ack | {"kind": "update", "to": "+447700900002", "report_id": 2})
        engine.dispose()
        upgrade_database(url)
        engine = create_engine(url)
        with engine.connect() as conn:
            reports = conn.execute(
                text("SELECT id, safe_to_contact, contact_e164 FROM report ORDER BY id")
            ).all()
            chat = conn.execute(text("SELECT safe_to_contact, contact_e164 FROM conversation")).one()
        engine.dispose()
        assert [tuple(r) for r in reports] == [(1, True, "+447700900001"), (2, False, None)]
        assert tuple(chat) == (True, "+447700900003")

    if not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite"):
        _check(f"sqlite:///{(tmp_path / 'backfill.db').as_posix()}")
    else:
        from contact_store.migrate import scratch_postgres_database

        with scratch_postgres_database(TEST_DATABASE_URL, prefix="fc_test_backfill") as url:
            _check(url)
