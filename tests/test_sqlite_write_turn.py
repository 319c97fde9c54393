"""SQLite under `make run`: a transaction waiting for the write lock starts as soon as the one before it ends."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from adapters.storage.database import make_engine


def test_a_waiting_writer_begins_right_after_the_holder_commits(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/rb.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    held = threading.Event()
    committed_at: list[float] = []
    began_at: list[float] = []

    def holder() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            held.set()
            time.sleep(0.25)  # past SQLite's own busy-handler steps, which would wake late
        committed_at.append(time.monotonic())

    def waiter() -> None:
        held.wait(5)
        with engine.begin() as connection:
            began_at.append(time.monotonic())
            connection.execute(text("INSERT INTO t VALUES (2)"))

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert began_at[0] - committed_at[0] < 0.02
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM t")) == 2
    engine.dispose()


def test_a_failed_transaction_hands_the_turn_on(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/rb.db")
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT no_such_function()"))
    except Exception:
        pass
    started = time.monotonic()
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    assert time.monotonic() - started < 1
    engine.dispose()
