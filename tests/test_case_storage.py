"""Opening cases: a concurrent duplicate surfaces at commit, inside the intake's retry loop."""

from __future__ import annotations

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
