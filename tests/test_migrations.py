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
