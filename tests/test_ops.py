"""`/ops`: the token guard, queues, dead letters and their replay, overdue cases (embedded broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from adapters.storage.case_record import deadline_due
from adapters.storage.models import CaseRow
from config.settings import Settings
from core.case_parts import Timer
from core.cases import open_case
from queues.publisher import OutgoingMessage
from queues.worker import Worker
from service.bootstrap import Container
from service.canonical import load_event
from service.intake import event_envelope
from tests.conftest import make_settings, unique_event, wait_for

TOKEN = "ops-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN=TOKEN)


@pytest.mark.parametrize("path", ["/ops/queues", "/ops/dead-letters", "/ops/overdue"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic " + TOKEN}]
)
def test_ops_routes_refuse_a_missing_or_wrong_token(anonymous: FlaskClient, path: str, headers: dict[str, str]) -> None:
    response = anonymous.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_ops_routes_refuse_everyone_when_no_token_is_configured(tmp_path: Path) -> None:
    from wsgi import create_app

    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN=""))
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert client.get("/ops/queues", headers=headers).status_code == 401
    assert client.get("/ops").status_code == 401
    app.extensions["returnbridge"].close()


def test_queues_show_every_work_retry_and_dead_queue(client: FlaskClient, running: Worker) -> None:
    response = client.get("/ops/queues", headers=AUTH)
    assert response.status_code == 200
    roles = {q["name"]: q["role"] for q in response.json["queues"]}
    prefix = client.application.extensions["returnbridge"].topology.prefix
    assert roles[f"{prefix}.cases"] == "work"
    assert roles[f"{prefix}.cases.dead"] == "dead"
    assert roles[f"{prefix}.cases.retry"] == "retry"
    cases = next(q for q in response.json["queues"] if q["name"] == f"{prefix}.cases")
    assert cases["messages"] == 0
    assert cases["source"] == "broker"


def test_the_retries_waiting_for_a_queue_are_counted_from_the_database(client, container) -> None:  # type: ignore[no-untyped-def]
    """Parked deliveries are rows, not broker messages: the `retry` entry counts them, in the same shape."""
    work = container.topology.queue_name(container.topology.specs["cases"])
    for n in range(2):
        container.retry_schedule.park(work, OutgoingMessage(f"m{n}", "", work, {"n": n}), delay_seconds=3600)
    queues = {q["name"]: q for q in client.get("/ops/queues", headers=AUTH).json["queues"]}
    parked = queues[f"{work}.retry"]
    assert (parked["role"], parked["messages"], parked["consumers"], parked["source"]) == ("retry", 2, None, "database")
    assert set(parked) == set(queues[work]), "every entry has the same fields"
    assert not any(name.startswith(f"{work}.retry.") for name in queues), "no delay queues any more"


def _orphan_event(container: Container) -> tuple[str, dict]:
    """An event for a case that does not exist (yet): the case consumer dead-letters it at once."""
    event = load_event(unique_event(n="orphan"))
    now = datetime.now(UTC)
    body = event_envelope("evt_orphan_1", "case_orphan_1", "generic", now, event)
    container.publisher.publish(
        OutgoingMessage("evt_orphan_1", container.topology.events.name, "return.requested.generic", body)
    )
    return "evt_orphan_1", body


def test_a_dead_letter_is_listed_with_its_reason_and_replayed_into_handling(
    client: FlaskClient, container: Container, running: Worker
) -> None:
    message_id, _ = _orphan_event(container)
    letters = wait_for(lambda: client.get("/ops/dead-letters", headers=AUTH).json["dead_letters"], timeout=10)
    assert [letter["message_id"] for letter in letters] == [message_id]
    assert "case case_orphan_1 does not exist" in letters[0]["reason"]
    queue = letters[0]["queue"]
    with container.uow() as uow:
        assert uow.processed.seen(f"dead-letter:{queue.split('.', 1)[1]}", message_id)
        event = load_event(unique_event(n="orphan"))
        uow.cases.add(open_case("case_orphan_1", "generic", event, datetime.now(UTC)), datetime.now(UTC))
        uow.commit()
    assert client.post(f"/ops/dead-letters/{queue}/replay", json={}, headers=AUTH).status_code == 400
    missing = client.post(f"/ops/dead-letters/{queue}/replay", json={"message_id": "nope"}, headers=AUTH)
    assert missing.status_code == 404
    replayed = client.post(f"/ops/dead-letters/{queue}/replay", json={"message_id": message_id}, headers=AUTH)
    assert replayed.status_code == 200
    assert replayed.json["replayed"] == [message_id]

    def handled() -> bool:
        with container.uow() as uow:
            return uow.processed.seen("cases", message_id)

    assert wait_for(handled, timeout=10)
    assert client.get("/ops/dead-letters", headers=AUTH).json["count"] == 0
    with container.uow() as uow:
        assert not uow.processed.seen(f"dead-letter:{queue.split('.', 1)[1]}", message_id)
        assert uow.cases.get("case_orphan_1").state == "requested"


def test_replay_all_moves_every_dead_letter_of_the_queue(
    client: FlaskClient, container: Container, running: Worker
) -> None:
    for n in range(3):
        event = load_event(unique_event(n=f"o{n}"))
        body = event_envelope(f"evt_o{n}", f"case_missing_{n}", "generic", datetime.now(UTC), event)
        container.publisher.publish(
            OutgoingMessage(f"evt_o{n}", container.topology.events.name, "return.requested.generic", body)
        )
    assert wait_for(lambda: client.get("/ops/dead-letters", headers=AUTH).json["count"] == 3, timeout=10)
    queue = f"{container.topology.prefix}.cases"
    response = client.post(f"/ops/dead-letters/{queue}/replay", json={"all": True}, headers=AUTH)
    assert sorted(response.json["replayed"]) == ["evt_o0", "evt_o1", "evt_o2"]
    # Still orphans: each comes back to the dead letters, its reason kept.
    assert wait_for(lambda: client.get("/ops/dead-letters", headers=AUTH).json["count"] == 3, timeout=10)


def test_unknown_queue_is_404(client: FlaskClient) -> None:
    response = client.post("/ops/dead-letters/nope/replay", json={"all": True}, headers=AUTH)
    assert response.status_code == 404


def test_overdue_lists_open_cases_past_a_deadline_only(client: FlaskClient, container: Container) -> None:
    now = datetime.now(UTC)
    specs = {
        "case_late": ("requested", {"merchant_response_due_by": (now - timedelta(hours=5)).isoformat()}),
        "case_met": ("requested", {"refund_due_by": {"due_by": (now - timedelta(days=1)).isoformat(), "met_at": "x"}}),
        "case_future": ("requested", {"refund_due_by": (now + timedelta(days=3)).isoformat()}),
        "case_closed": ("cancelled", {"refund_due_by": (now - timedelta(days=3)).isoformat()}),
        "case_timer_fired": ("requested", {"merchant_response_due_by": (now - timedelta(days=1)).isoformat()}),
        "case_timer_armed": ("requested", {"merchant_response_due_by": (now - timedelta(hours=1)).isoformat()}),
    }
    timers = {
        "case_timer_fired": {"timer.merchant_response_overdue": Timer(now, fired_at=now)},
        "case_timer_armed": {"timer.merchant_response_overdue": Timer(now)},
    }
    with container.uow() as uow:
        for n, (case_id, (state, _)) in enumerate(specs.items()):
            case = open_case(case_id, "generic", load_event(unique_event(n=f"d{n}")), now)
            case.state = state
            if case_id in timers:
                case.timers = timers[case_id]
            uow.cases.add(case, now)
        uow.commit()
    with container.uow() as uow:  # the deadlines as stored, in every shape rows keep them
        for case_id, (_, deadlines) in specs.items():
            facts = uow.session.scalars(select(CaseRow.facts).where(CaseRow.id == case_id)).one()
            uow.session.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(facts={**facts, "deadlines": deadlines})
            )
        uow.commit()
    response = client.get("/ops/overdue", headers=AUTH)
    assert response.status_code == 200
    assert [c["case_id"] for c in response.json["overdue"]] == ["case_late", "case_timer_armed"]
    assert response.json["overdue"][0]["overdue_hours"] == pytest.approx(5, abs=0.2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T10:00:00+00:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)),
        ({"due_by": "2026-11-20T10:00:00Z"}, datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ({"due_by": "2026-11-20", "met_at": "2026-11-19"}, None),
        ("soon", None),
        (42, None),
    ],
)
def test_deadlines_are_read_in_every_shape_cases_keep_them(value: object, expected: datetime | None) -> None:
    assert deadline_due(value) == expected
