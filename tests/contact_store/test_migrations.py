"""Alembic is the only way a schema is made, and the models agree with the migration head."""

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
