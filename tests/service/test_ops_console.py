"""The ops console in the service layer, on the broker port's fake and an in-memory store: no broker, no database.

The HTTP side (`/ops/...`, the token, 404s) stays in tests/test_ops.py on the embedded broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.storage.operations_store import OpenCase
from core.case_parts import Timer
from core.cases import open_case
from service.canonical import load_event
from service.operations import DEAD_LETTER_MARK, Operations
from tests.conftest import example
from tests.fakes import (
    FakeBrokerInspector,
    FakeDeadLetter,
    FakeOperationsStore,
    FakeQueue,
    FakeStore,
    FakeUnitOfWork,
)

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
WORK = "rb.returns.cases"


def console(
    inspector: FakeBrokerInspector, store: FakeOperationsStore | None = None, cases: FakeStore | None = None
) -> Operations:
    return Operations(
        store or FakeOperationsStore(), FakeUnitOfWork(cases or FakeStore()), (WORK,), "rb", inspector, lambda: NOW
    )


def test_work_queues_show_what_their_consumer_handled_and_other_queues_do_not():
    inspector = FakeBrokerInspector([FakeQueue(WORK, "work", 3), FakeQueue(f"{WORK}.dead", "dead", 1)])
    shown = console(inspector, FakeOperationsStore(handled={"returns.cases": 7}, parked={WORK: 2})).queues()
    assert [(q["name"], q["messages"], q["handled_last_minute"], q["source"]) for q in shown] == [
        (WORK, 3, 7, "broker"),
        (f"{WORK}.dead", 1, None, "broker"),
        (f"{WORK}.retry", 2, None, "database"),  # retries parked in the schedule, counted in the database
    ]


def test_a_dead_letter_no_consumer_recorded_flags_its_case_once_and_a_replay_forgets_it():
    cases = FakeStore()
    case = open_case("case_1", "generic", load_event(example()), NOW)
    cases.put(case)
    inspector = FakeBrokerInspector(dead={WORK: [FakeDeadLetter(WORK, "m1", "case_1", "delivery limit")]})
    store = FakeOperationsStore()
    ops = console(inspector, store, cases)
    assert ops.flag_unrecorded_dead_letters() == 1
    assert ops.flag_unrecorded_dead_letters() == 0, "recorded once"
    with FakeUnitOfWork(cases)() as uow:
        flagged = uow.cases.get("case_1")
    assert flagged is not None and flagged.needs_attention
    assert flagged.timeline[-1].detail["reason"] == "delivery limit"
    assert ops.replay(WORK) == ["m1"] and (DEAD_LETTER_MARK + "returns.cases", "m1") not in store.marks


def test_overdue_lists_past_deadlines_whose_timer_still_binds_most_overdue_first():
    def open_(case_id: str, due: datetime, timers: dict[str, Timer] | None) -> OpenCase:
        return OpenCase(case_id, "generic", "o", "r", "requested", {"merchant_response_due_by": due}, timers)

    armed = {"timer.merchant_response_overdue": Timer(NOW)}
    fired = {"timer.merchant_response_overdue": Timer(NOW, fired_at=NOW)}
    store = FakeOperationsStore(
        open=[
            open_("case_armed", NOW - timedelta(hours=2), armed),
            open_("case_fired", NOW - timedelta(hours=9), fired),
            open_("case_before_timers", NOW - timedelta(hours=5), None),
            open_("case_future", NOW + timedelta(hours=1), armed),
        ]
    )
    overdue = console(FakeBrokerInspector(), store).overdue()
    assert [(c["case_id"], c["overdue_hours"]) for c in overdue] == [("case_before_timers", 5.0), ("case_armed", 2.0)]
