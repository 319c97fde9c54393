"""Engines and sessions for SQLite (embedded default) and PostgreSQL, and migrations through Alembic."""

from __future__ import annotations

import threading
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


class _SqliteWriter:
    """The process's turn at SQLite's one write lock, handed over the moment a transaction ends.

    Every transaction takes SQLite's write lock at BEGIN (`_begin`). A thread that finds it taken is
    put to sleep by SQLite's busy handler in growing steps (1, 2, 5, 10 ... 100 ms) and checks
    again, so under `make run` a webhook behind the relay's or a consumer's short transaction waited
    up to tens of milliseconds after the lock was free. Threads of this process queue on this lock
    first and wake as soon as the transaction before them ends; SQLite's own lock still guards
    against other processes. Waiting here is bounded by the busy timeout, after which BEGIN waits
    as it did before.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()

    def begin(self, connection: Any) -> None:
        """Take the write lock at BEGIN: a deferred transaction that upgrades later can fail at once with SQLITE_BUSY."""
        holds = self._lock.acquire(timeout=self.timeout)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if holds:
                self._lock.release()
            raise
        if holds:
            connection.info[_HOLDS_TURN] = True  # the pooled connection's own dict: `end_on_return` sees it too

    def end(self, connection: Any) -> None:
        if connection.info.pop(_HOLDS_TURN, False):
            self._lock.release()

    def end_on_reset(self, _dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        if record.info.pop(_HOLDS_TURN, False):
            self._lock.release()

    def end_on_invalidate(self, _dbapi_connection: Any, record: Any, _exception: Any) -> None:
        if record.info.pop(_HOLDS_TURN, False):
            self._lock.release()


_HOLDS_TURN = "rb_sqlite_write_turn"


def make_engine(url: str, connect_timeout: float = 5.0, statement_timeout: float | None = 30.0) -> Engine:
    """An engine that gives up rather than hangs: `connect_timeout` to reach the server (and to wait for a pooled
    connection), `statement_timeout` per statement (PostgreSQL) or per lock wait (SQLite); None for migrations."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy = statement_timeout if statement_timeout is not None else 30.0
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy})
        writer = _SqliteWriter(busy)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", writer.begin)
        event.listen(engine, "commit", writer.end)
        event.listen(engine, "rollback", writer.end)
        event.listen(engine, "reset", writer.end_on_reset)  # a connection returned mid-transaction
        event.listen(engine, "invalidate", writer.end_on_invalidate)
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
