"""PostgreSQL's NOTIFY as the outbox's doorbell: a relay in another process hears each commit at once.

Every INSERT into `outbox` issues `pg_notify` from a statement trigger (migration 0020), which PostgreSQL
delivers only when that transaction commits, so a relay woken by it never looks before the rows are there.
The web then needs no relay of its own (README "Settings", `RB_WEB_RELAY`): the worker's relay LISTENs on a
dedicated connection. A lost connection is reconnected; until then the relay's poll finds the rows, late
but never lost, and after each (re)connect the relay is woken once for what was committed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import make_url

OUTBOX_CHANNEL = "rb_outbox"

log = logging.getLogger(__name__)


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL (`postgresql+psycopg://…`) as psycopg's own connection string."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxListener:
    """LISTENs on the outbox channel in a thread of its own and calls `on_commit` for each notification."""

    def __init__(
        self,
        database_url: str,
        on_commit: Callable[[], None],
        retry_seconds: float = 1.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._url = libpq_url(database_url)
        self._on_commit = on_commit
        self._retry_seconds = retry_seconds
        self._connect_timeout = max(1, round(connect_timeout))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: psycopg.Connection | None = None
        self.listening = threading.Event()  # set while a LISTEN connection is up (tests, /healthz-style checks)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="outbox-listener", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        quiet = False  # one warning per outage, not one per reconnect attempt
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # psycopg's errors above all; whatever it is, the poll covers for it
                if self.listening.is_set() or not quiet:
                    log.warning("outbox listener: no LISTEN connection (%s); the relay polls until it is back", exc)
                quiet = True
            finally:
                self._close()
            self._stop.wait(self._retry_seconds)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout) as connection:
            self._connection = connection
            connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
            self.listening.set()
            self._on_commit()  # whatever was committed while nobody listened
            while not self._stop.is_set():
                for _ in connection.notifies(timeout=1.0):
                    self._on_commit()
                    if self._stop.is_set():
                        break

    def _close(self) -> None:
        self.listening.clear()
        self._connection = None

    def backend_pid(self) -> int | None:
        """The LISTEN connection's server process (tests end it to show the fall-back to polling)."""
        connection = self._connection
        return connection.info.backend_pid if connection is not None else None
