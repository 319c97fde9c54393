"""An in-memory unit of work (cosmicpython, chapter 6): service tests without a database, threads or waiting.

It keeps the SQL unit of work's promises that the services rely on: nothing is visible to another
unit of work before `commit`, leaving the `with` block rolls back, a case saved by someone else
since it was loaded raises `ConcurrentUpdate`, and a consumer's message is marked once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.storage.ports import ConcurrentUpdate
from core.cases import ReturnCase


@dataclass
class OutboxMessage:
    message_id: str
    exchange: str
    routing_key: str
    body: dict[str, Any]
    correlation_id: str | None


@dataclass
class FakeStore:
    """What has been committed: cases with their versions, the outbox, the consumers' inbox."""

    cases: dict[str, tuple[int, ReturnCase]] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    processed: set[tuple[str, str]] = field(default_factory=set)
    commits: int = 0
    # One runs after each case read: a test's stand-in for another worker saving the case meanwhile.
    after_get: list[Callable[[FakeStore], None]] = field(default_factory=list)

    def put(self, case: ReturnCase) -> None:
        version = self.cases[case.id][0] + 1 if case.id in self.cases else 1
        self.cases[case.id] = (version, copy.deepcopy(case))

    def case(self, case_id: str) -> ReturnCase:
        return copy.deepcopy(self.cases[case_id][1])


class FakeCases:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.loaded: dict[str, int] = {}
        self.saved: dict[str, ReturnCase] = {}

    def get(self, case_id: str, for_update: bool = False) -> ReturnCase | None:
        if case_id not in self.store.cases:
            return None
        version, case = self.store.cases[case_id]
        self.loaded[case_id] = version
        case = copy.deepcopy(case)
        if self.store.after_get:
            self.store.after_get.pop(0)(self.store)
        return case

    def add(self, case: ReturnCase, now: datetime, *_: Any) -> None:
        self.loaded[case.id] = 0
        self.saved[case.id] = copy.deepcopy(case)

    def save(self, case: ReturnCase, now: datetime) -> None:
        stored = self.store.cases.get(case.id)
        if stored is not None and stored[0] != self.loaded.get(case.id):
            raise ConcurrentUpdate(f"case {case.id} changed since it was loaded")
        self.saved[case.id] = copy.deepcopy(case)


class FakeOutbox:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.added: list[OutboxMessage] = []

    def add(self, exchange: str, routing_key: str, body: dict[str, Any], now: datetime,
            message_id: str | None = None, correlation_id: str | None = None, **_: Any) -> str:  # fmt: skip
        message_id = message_id or f"msg_{len(self.store.outbox) + len(self.added) + 1}"
        self.added.append(OutboxMessage(message_id, exchange, routing_key, body, correlation_id))
        return message_id

    def has(self, message_id: str) -> bool:
        return any(m.message_id == message_id for m in self.store.outbox + self.added)

    def prefetch(self, message_ids: list[str]) -> None:
        """Nothing to ask ahead of time in memory."""


class FakeProcessed:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.added: set[tuple[str, str]] = set()

    def seen(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.store.processed | self.added

    def mark(self, consumer: str, message_id: str, now: datetime) -> None:
        self.added.add((consumer, message_id))

    def mark_once(self, consumer: str, message_id: str, now: datetime) -> None:
        self.mark(consumer, message_id, now)


class FakeUnitOfWork:
    """One transaction over a `FakeStore`; call it the way the services call `UnitOfWork(...)`."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def __enter__(self) -> FakeUnitOfWork:
        self.cases = FakeCases(self.store)
        self.outbox = FakeOutbox(self.store)
        self.processed = FakeProcessed(self.store)
        return self

    def __exit__(self, *exc: object) -> None:
        """Whatever was not committed is dropped, as the SQL unit of work rolls back."""

    def commit(self) -> None:
        for case_id, case in self.cases.saved.items():
            if self.store.cases.get(case_id, (0, None))[0] != self.cases.loaded.get(case_id):
                raise ConcurrentUpdate(f"case {case_id} changed since it was loaded")
            self.store.put(case)
            self.cases.loaded[case_id] = self.store.cases[case_id][0]
        self.store.outbox.extend(self.outbox.added)
        self.store.processed |= self.processed.added
        self.cases.saved, self.outbox.added, self.processed.added = {}, [], set()
        self.store.commits += 1
