"""Events that could never be processed are refused at intake (400 naming the field, nothing stored), and a case
whose event dead-letters anyway is flagged for attention instead of waiting in `new` unseen."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from queues.publisher import OutgoingMessage
from service.intake import event_envelope
from tests.conftest import post_event, unique_event, wait_for


def _with(event: dict, path: tuple, value: object) -> dict:
    target = event
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("order", "buyer", "timezone"), "Europe/Atlantis", "order.buyer.timezone"),
        (("occurred_at",), "9999-12-31T23:59:59+00:00", "occurred_at"),
        (("order", "delivered_at"), "0001-01-01T00:00:00+00:00", "order.delivered_at"),
        (("items", 0, "unit_price"), "1" * 29, "items[0].unit_price"),
        (("return", "refund_amount"), "0." + "1" * 20, "return.refund_amount"),
        (("order", "order_id"), "ORD\x00-1", "order.order_id"),
    ],
)
def test_an_event_that_could_never_be_processed_is_a_400_naming_the_field(client, path, value, field) -> None:  # type: ignore[no-untyped-def]
    answer = post_event(client, _with(unique_event(), path, value))
    assert answer.status_code == 400, answer.json
    assert field in answer.json["error"]["fields"], answer.json
    assert client.get("/returns").json["total"] == 0, "nothing is stored for a refused event"


def test_an_over_long_webhook_id_is_a_400_and_nothing_is_stored(client) -> None:  # type: ignore[no-untyped-def]
    answer = post_event(client, unique_event(), msg_id="m" * 201)
    assert answer.status_code == 400 and "delivery_id" in answer.json["error"]["fields"]
    assert client.get("/returns").json["total"] == 0


def test_a_case_whose_event_dead_letters_is_flagged_for_attention(client, container, running) -> None:  # type: ignore[no-untyped-def]
    accepted = post_event(client, unique_event(n="dl"))
    case_id = accepted.json["case_id"]
    assert wait_for(lambda: client.get(f"/returns/{case_id}").json["state"] == "requested")
    assert client.get(f"/returns/{case_id}").json["needs_attention"] is False
    # An event stored by an older release, before intake refused it: the worker can never process it.
    bad = unique_event("return.approved", n="dl")
    envelope = event_envelope("evt_unprocessable", case_id, "generic", datetime.now(UTC), _valid_then(bad))
    envelope["event"]["order"]["buyer"] = {"timezone": "Europe/Atlantis"}
    container.publisher.publish(
        OutgoingMessage("evt_unprocessable", container.topology.events.name, "return.approved.generic", envelope)
    )
    assert wait_for(lambda: client.get(f"/returns/{case_id}").json["needs_attention"], timeout=15)
    case = client.get(f"/returns/{case_id}").json
    flagged = [e for e in case["timeline"] if e["name"] == "dead_lettered"]
    assert flagged and flagged[0]["detail"]["message_id"] == "evt_unprocessable"
    assert "Europe/Atlantis" in flagged[0]["detail"]["reason"]
    listed = client.get("/returns?needs_attention=true").json["cases"]
    assert [c["id"] for c in listed] == [case_id]


def _valid_then(event: dict):  # type: ignore[no-untyped-def]
    from service.canonical import load_event

    return load_event(event)


def test_a_dead_letter_the_broker_made_itself_flags_its_case_once(client, container) -> None:  # type: ignore[no-untyped-def]
    """The broker dead-letters a message whose handling crashed the worker each time (its delivery limit): no
    consumer callback runs, so the worker's sweep finds it and flags the case."""
    accepted = post_event(client, unique_event(n="crash"))
    case_id = accepted.json["case_id"]
    queue = f"{container.topology.prefix}.cases"
    body = {"event_id": "evt_crashed", "case_id": case_id, "event": {}}
    death = {"x-death": [{"reason": "delivery_limit", "queue": queue, "count": 5}]}
    container.publisher.publish(OutgoingMessage("evt_crashed", container.topology.dlx.name, queue, body, headers=death))
    assert wait_for(lambda: container.operations.dead_letters(), timeout=10)
    assert container.operations.flag_unrecorded_dead_letters() == 1
    case = client.get(f"/returns/{case_id}").json
    assert case["needs_attention"] is True
    flagged = [e["detail"] for e in case["timeline"] if e["name"] == "dead_lettered"]
    assert [d["message_id"] for d in flagged] == ["evt_crashed"] and "delivery_limit" in flagged[0]["reason"]
    assert container.operations.flag_unrecorded_dead_letters() == 0, "a dead letter is flagged once"
