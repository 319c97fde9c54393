"""Opening cases: a concurrent duplicate surfaces at commit, inside the intake's retry loop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.storage.unit_of_work import IntegrityError, new_id
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
        with pytest.raises(IntegrityError):
            second.commit()
