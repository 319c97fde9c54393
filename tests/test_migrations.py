"""The Alembic migrations build exactly the schema that adapters/storage/models.py describes.

A model changed without a migration (or a migration without the model) would work in tests that create
tables from the models and fail on a database that `make web` migrated; Alembic's own comparison finds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String

from adapters.storage.database import make_engine, migrate
from adapters.storage.models import Base


def differences(url: str, metadata: MetaData) -> list[Any]:
    """What Alembic's autogenerate would still have to do after every migration ran."""
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/migrated.db"


def test_the_migrations_match_the_models_on_sqlite(tmp_path: Path):
    assert differences(sqlite_url(tmp_path), Base.metadata) == []


@pytest.mark.postgres
def test_the_migrations_match_the_models_on_postgresql(postgres_url: str):
    assert differences(postgres_url, Base.metadata) == []


def test_a_model_column_without_a_migration_is_found(tmp_path: Path):
    models = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(models)
    models.tables["cases"].append_column(Column("unmigrated_note", String(40)))
    found = differences(sqlite_url(tmp_path), models)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "cases", "unmigrated_note")]


def _upgrade(url: str, revision: str) -> None:
    from alembic import command

    from adapters.storage.database import alembic_config

    engine = make_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_0014_moves_the_send_state_of_bookings_notices_decisions_and_claims_to_outbound_effects(tmp_path: Path):
    from sqlalchemy import text

    url = sqlite_url(tmp_path)
    _upgrade(url, "0013_ops_console")
    at = "2026-11-01 10:00:00"
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(text("INSERT INTO cases (id, marketplace, order_id, return_id, state, needs_attention, \"order\", "
                        "\"return\", items, facts, created_at, updated_at, version) VALUES ('case_1', 'generic', 'o', "
                        "'r', 'approved', 0, '{}', '{}', '[]', '{}', :at, :at, 1)"), {"at": at})  # fmt: skip
        db.execute(text("INSERT INTO shipments (id, case_id, carrier, kind, idempotency_key, status, request, response, "
                        "tracking_number, error, created_at, updated_at) VALUES ('shp_1', 'case_1', 'dhl_express', "
                        "'return_label', 'case_1:label', 'booked', '{\"url\": \"u\"}', '{\"ok\": true}', 'T1', NULL, "
                        ":at, :at)"), {"at": at})  # fmt: skip
        db.execute(text("INSERT INTO notice_deliveries (id, case_id, kind, channel, idempotency_key, status, attempts, "
                        "recipient, message, error, created_at, updated_at) VALUES ('ntc_1', 'case_1', "
                        "'request_received', 'email', 'case_1:notice:request_received:email', 'unknown', 2, 'a@b.c', "
                        "'{}', 'timed out', :at, :at)"), {"at": at})  # fmt: skip
        db.execute(text("INSERT INTO marketplace_decisions (id, case_id, marketplace, action, idempotency_key, status, "
                        "answer, created_at, updated_at) VALUES ('dec_1', 'case_1', 'tiktok_shop', 'approve', "
                        "'case_1:approve', 'answered', '{\"accepted\": true}', :at, :at)"), {"at": at})  # fmt: skip
        db.execute(text("INSERT INTO customs_claims (id, case_id, authority, basis, amount, currency, due_by, status, "
                        "adapter, request, error, created_at, updated_at) VALUES ('clm_1', 'case_1', 'DE', 'b', "
                        "'1.00', 'EUR', :at, 'refused', 'eu_ics2', '{}', 'no', :at, :at)"), {"at": at})  # fmt: skip
    engine.dispose()
    _upgrade(url, "head")
    engine = make_engine(url)
    with engine.connect() as db:
        moved = db.execute(text("SELECT id, kind, adapter, idempotency_key, state, attempts, error FROM "
                                "outbound_effects ORDER BY id")).all()  # fmt: skip
        shipment = db.execute(text("SELECT tracking_number FROM shipments")).one()
    engine.dispose()
    assert [tuple(row) for row in moved] == [
        ("clm_1", "customs_claim", "eu_ics2", "case_1:customs_claim:clm_1", "refused", 1, "no"),
        ("dec_1", "marketplace_decision", "tiktok_shop", "case_1:approve", "done", 1, None),
        ("ntc_1", "notice", "email", "case_1:notice:request_received:email", "unknown", 2, "timed out"),
        ("shp_1", "carrier_booking", "dhl_express", "case_1:label", "done", 1, None),
    ]
    assert shipment == ("T1",)
