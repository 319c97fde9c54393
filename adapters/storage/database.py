"""Engines and sessions for SQLite (embedded default) and PostgreSQL, and migrations through Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work beside the one writer; a busy timeout makes writers queue instead of failing."""
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN IMMEDIATE itself (see _begin_immediate)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Take the write lock at BEGIN: a deferred transaction that upgrades later can fail at once with SQLITE_BUSY."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, connect_timeout: float = 5.0, statement_timeout: float | None = 30.0) -> Engine:
    """An engine that gives up rather than hangs: `connect_timeout` to reach the server (and to wait for a pooled
    connection), `statement_timeout` per statement (PostgreSQL) or per lock wait (SQLite); None for migrations."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy = statement_timeout if statement_timeout is not None else 30.0
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout))}
    if statement_timeout is not None:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=connect_timeout,
                         connect_args=connect_args)  # fmt: skip


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class DatabaseUnreachable(Exception):
    """The database did not take a connection: nothing was migrated, and a later attempt may succeed."""


def migrate(url: str, connect_timeout: float = 5.0) -> None:
    """Bring the schema to the newest revision; run by `make run`, `make web` and `make worker` before serving.

    Only a failure to connect is `DatabaseUnreachable`; a migration that fails once connected raises as it is."""
    engine = make_engine(url, connect_timeout=connect_timeout, statement_timeout=None)
    try:
        try:
            connection = engine.connect()
        except OperationalError as exc:
            raise DatabaseUnreachable(str(exc.orig or exc).splitlines()[0]) from exc
        with connection, connection.begin():
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
