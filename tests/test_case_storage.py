"""Opening cases: a concurrent duplicate surfaces at commit, inside the intake's retry loop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError

from adapters.storage.ports import ConnectionLost, DuplicateKey
from adapters.storage.unit_of_work import new_id
from core.cases import open_case
from service.canonical import load_event
from tests.conftest import unique_event


def test_a_return_opened_concurrently_fails_at_commit_where_the_intake_looks_again(container):
    event = load_event(unique_event())
    now = datetime.now(UTC)
    with container.uow() as first, container.uow() as second:
        first.cases.add(open_case(new_id("case"), "generic", event, now), now)
        second.cases.add(open_case(new_id("case"), "generic", event, now), now)
        first.commit()
        with pytest.raises(DuplicateKey):
            second.commit()


def test_a_connection_cut_inside_a_transaction_leaves_the_unit_of_work_as_connection_lost(container):
    """The carrier handler retries its answer on ConnectionLost; it must never see the driver's DBAPIError."""
    cut = DBAPIError(
        "SELECT 1", {}, Exception("server closed the connection unexpectedly"), connection_invalidated=True
    )
    with pytest.raises(ConnectionLost) as raised, container.uow():
        raise cut
    assert raised.value.__cause__ is cut


def test_a_driver_error_that_is_no_lost_connection_is_not_dressed_up_as_one(container):
    broken = DBAPIError("SELECT nonsense", {}, Exception("syntax error"))
    with pytest.raises(DBAPIError), container.uow():
        raise broken


def test_marketplace_decisions_are_values_moved_by_status_and_one_per_idempotency_key(container):
    event = load_event(unique_event())
    now = datetime.now(UTC)
    case_id = new_id("case")
    with container.uow() as uow:
        uow.cases.add(open_case(case_id, "generic", event, now), now)
        uow.commit()
    key = f"{case_id}:marketplace:approve"
    with container.uow() as uow:
        added = uow.marketplace_decisions.add(case_id, "generic", "approve", key, "sending", now)
        uow.commit()
    with container.uow() as uow:
        assert uow.marketplace_decisions.by_key(key) == added
        moved = uow.marketplace_decisions.set_status(added.id, "answered", now, {"accepted": True})
        assert moved is not None and moved.status == "answered"
        assert uow.marketplace_decisions.set_status("dec_missing", "answered", now) is None
        uow.commit()
    with container.uow() as uow:
        assert uow.marketplace_decisions.get(added.id) == replace(added, status="answered")
        uow.marketplace_decisions.add(case_id, "generic", "approve", key, "sending", now)
        with pytest.raises(DuplicateKey):
            uow.commit()
