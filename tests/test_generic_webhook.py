"""`POST /webhooks/generic` answers exactly as the contract's table says."""

from __future__ import annotations

import json
import time

from tests.conftest import post_event, sign_generic, unique_event


def test_signed_event_is_accepted_with_event_and_case_ids(client):
    response = post_event(client, unique_event())
    assert response.status_code == 202
    assert response.json["event_id"].startswith("evt_")
    assert response.json["case_id"].startswith("case_")


def test_same_delivery_again_is_a_duplicate_with_the_same_ids(client):
    event = unique_event()
    first = post_event(client, event, msg_id="msg_same")
    again = post_event(client, event, msg_id="msg_same")
    assert again.status_code == 200
    assert again.json == {**first.json, "duplicate": True}


def test_same_marketplace_event_id_under_a_new_delivery_id_is_a_duplicate(client):
    event = unique_event()
    first = post_event(client, event)
    again = post_event(client, event)
    assert again.status_code == 200
    assert again.json["event_id"] == first.json["event_id"]


def test_same_delivery_id_with_another_event_id_is_a_duplicate(client):
    first = post_event(client, unique_event(n="a1"), msg_id="msg_resent")
    again = post_event(client, unique_event(n="a2"), msg_id="msg_resent")
    assert again.status_code == 200
    assert again.json["event_id"] == first.json["event_id"]


def test_events_of_one_return_share_a_case(client):
    requested = unique_event(n="shared")
    approved = {**unique_event("return.approved", n="shared")}
    first = post_event(client, requested)
    second = post_event(client, approved)
    assert second.status_code == 202
    assert second.json["case_id"] == first.json["case_id"]
    assert second.json["event_id"] != first.json["event_id"]


def test_forged_signature_is_refused(client):
    body = json.dumps(unique_event()).encode()
    headers = sign_generic(body)
    headers["webhook-signature"] = "v1,AAAA" + headers["webhook-signature"][7:]
    response = client.post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_signature"


def test_one_valid_signature_among_several_suffices(client):
    body = json.dumps(unique_event()).encode()
    headers = sign_generic(body)
    headers["webhook-signature"] = "v1,Zm9yZ2Vk " + headers["webhook-signature"]
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 202


def test_unsigned_post_is_refused(client):
    response = client.post("/webhooks/generic", json=unique_event())
    assert response.status_code == 401


def test_timestamp_more_than_five_minutes_old_or_ahead_is_refused(client):
    body = json.dumps(unique_event()).encode()
    for skew in (-301, 301):
        response = client.post("/webhooks/generic", data=body, headers=sign_generic(body, ts=int(time.time()) + skew))
        assert response.status_code == 401


def test_signature_with_another_key_is_refused(client):
    body = json.dumps(unique_event()).encode()
    response = client.post("/webhooks/generic", data=body, headers=sign_generic(body, key=b"another-key"))
    assert response.status_code == 401


def test_without_a_configured_secret_everything_is_refused(tmp_path):
    from tests.conftest import make_settings
    from wsgi import create_app

    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/x.db", RB_GENERIC_WEBHOOK_SECRET=""))
    response = post_event(app.test_client(), unique_event())
    assert response.status_code == 401
    app.extensions["returnbridge"].close()


def test_invalid_event_is_refused_naming_the_fields(client):
    event = unique_event(order={"currency": "EURO"})
    response = post_event(client, event)
    assert response.status_code == 400
    assert "order.currency" in response.json["error"]["fields"]


def test_broken_json_is_refused(client):
    body = b"{not json"
    response = client.post("/webhooks/generic", data=body, headers=sign_generic(body))
    assert response.status_code == 400


def test_a_signed_body_that_is_not_utf8_is_refused_as_a_bad_body_not_a_bad_signature(client):
    """The contract's answers: not JSON -> 400; the signature was not what was wrong (JSON is UTF-8, RFC 8259)."""
    body = b"\xff\xfe\x00garbage"
    response = client.post("/webhooks/generic", data=body, headers=sign_generic(body))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_payload"
    assert "not UTF-8" in response.json["error"]["message"]


def test_an_unsigned_body_that_is_not_utf8_is_unauthorized(client):
    body = b"\xff\xfe\x00garbage"
    response = client.post("/webhooks/generic", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_signature"


def test_wrong_content_type_is_refused(client):
    body = json.dumps(unique_event()).encode()
    headers = {**sign_generic(body), "Content-Type": "text/plain"}
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 415


def test_body_over_one_mebibyte_is_refused(client):
    event = unique_event(return_={})
    event["return"]["reason_detail"] = "x" * (1024 * 1024)
    body = json.dumps(event).encode()
    assert client.post("/webhooks/generic", data=body, headers=sign_generic(body)).status_code == 413


def test_unknown_marketplace_is_not_found(client):
    body = json.dumps(unique_event()).encode()
    response = client.post("/webhooks/nosuchmarket", data=body, headers=sign_generic(body))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "unknown_marketplace"


def test_an_accepted_event_is_stored_with_its_outgoing_message(client, container):
    response = post_event(client, unique_event())
    with container.uow() as uow:
        from adapters.storage.models import OutboxRow

        rows = uow.session.query(OutboxRow).all()
        assert [r.message_id for r in rows] == [response.json["event_id"]]
        assert rows[0].routing_key == "return.requested.generic"


def test_an_invalid_event_leaves_nothing_behind(client, container):
    post_event(client, unique_event(order={"currency": "EURO"}))
    with container.uow() as uow:
        assert uow.cases.list()[1] == 0
    assert container.outbox_store.pending() == 0
