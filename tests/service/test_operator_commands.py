"""Operator commands in the service layer, on the in-memory unit of work: no database, broker or threads.

The HTTP side (bearer token, 404/409 answers, OpenAPI) stays in tests/test_operator_commands.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.storage.ports import ConcurrentUpdate
from core.cases import CommandRefused, open_case
from core.lifecycle import CaseState
from service.canonical import load_event
from service.handlers import CaseMoves
from service.operator import CaseNotFound, OperatorCommands, UnknownCommand
from tests.conftest import example
from tests.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def requested_case(store: FakeStore, case_id: str = "case_1") -> None:
    event = load_event(example())
    case = open_case(case_id, "generic", event, NOW)
    case.apply(event, "evt_1", NOW)
    store.put(case)


def commands(store: FakeStore, known: bool = True) -> OperatorCommands:
    committed: list[int] = []
    ops = OperatorCommands(
        FakeUnitOfWork(store), lambda: NOW, CaseMoves("commands", lambda _: known), lambda: committed.append(1)
    )
    ops.committed = committed  # type: ignore[attr-defined]  # the test reads how often on_commit ran
    return ops


def test_approve_moves_the_case_and_puts_the_label_booking_in_the_outbox_in_one_commit():
    store = FakeStore()
    requested_case(store)
    ops = commands(store)

    event_id = ops.run("case_1", "approve", {})

    case = store.case("case_1")
    assert case.state == CaseState.APPROVED
    assert any(e.detail.get("operator_command") == "approve" and e.name == "return.approved" for e in case.timeline)
    keys = [m.routing_key for m in store.outbox]
    assert keys[0] == "carrier.dhl_express.book_return"
    assert store.outbox[0].correlation_id == "case_1"
    assert store.commits == 1 and ops.committed == [1]  # type: ignore[attr-defined]
    assert event_id.startswith("op_")


def test_a_command_the_state_forbids_is_refused_and_nothing_is_committed():
    store = FakeStore()
    requested_case(store)
    before = store.case("case_1")

    with pytest.raises(CommandRefused, match="requested"):
        commands(store).run("case_1", "mark_refunded", {})

    assert store.commits == 0 and store.outbox == []
    assert store.case("case_1").timeline == before.timeline


def test_an_unknown_case_and_an_unknown_command_are_told_apart():
    store = FakeStore()
    requested_case(store)
    with pytest.raises(CaseNotFound):
        commands(store).run("case_missing", "approve", {})
    with pytest.raises(UnknownCommand):
        commands(store).run("case_1", "teleport", {})
    assert store.commits == 0


def test_a_case_saved_by_someone_else_meanwhile_is_loaded_again_and_the_command_applied_once():
    store = FakeStore()
    requested_case(store)

    def another_worker_saves(s: FakeStore) -> None:
        s.put(s.case("case_1"))

    store.after_get.append(another_worker_saves)
    commands(store).run("case_1", "approve", {})

    case = store.case("case_1")
    assert case.state == CaseState.APPROVED
    assert sum(e.name == "return.approved" for e in case.timeline) == 1
    assert store.commits == 1
    assert [m.routing_key for m in store.outbox].count("carrier.dhl_express.book_return") == 1


def test_a_case_that_keeps_changing_gives_up_after_three_attempts():
    store = FakeStore()
    requested_case(store)
    store.after_get.extend([lambda s: s.put(s.case("case_1"))] * 3)

    with pytest.raises(ConcurrentUpdate):
        commands(store).run("case_1", "approve", {})
    assert store.commits == 0 and store.outbox == []


def test_a_command_for_an_adapter_we_do_not_run_flags_the_case_instead_of_queueing_it():
    store = FakeStore()
    requested_case(store)

    commands(store, known=False).run("case_1", "approve", {})

    case = store.case("case_1")
    assert case.state == CaseState.APPROVED and case.needs_attention
    assert store.outbox == []
