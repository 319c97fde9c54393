"""Service routes: liveness, readiness, metrics, the OpenAPI document, JSON errors everywhere."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.conftest import post_event, unique_event


def test_openapi_document_is_valid_and_describes_every_route(client, app):
    document = client.get("/openapi.json").get_json()
    validate(document)
    rules = {_path(str(rule)) for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert rules <= set(document["paths"]), rules - set(document["paths"])
    assert "ReturnEvent" in document["components"]["schemas"]


def _path(rule: str) -> str:
    """`/returns/<case_id>` and `/x/<string:y>` as OpenAPI writes them."""
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_liveness_and_readiness_answer_on_the_embedded_default(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_metrics_count_webhook_outcomes(client):
    post_event(client, unique_event())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'returnbridge_webhook_events_total{marketplace="generic",outcome="accepted"}' in text


def test_unknown_routes_and_methods_answer_json_errors(client):
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.get("/webhooks/generic")
    assert wrong.status_code == 405 and "error" in wrong.get_json()


def test_unknown_case_is_not_found(client):
    response = client.get("/returns/case_missing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_bad_list_filters_are_refused_naming_the_field(client):
    response = client.get("/returns?limit=0&needs_attention=maybe")
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"limit", "needs_attention"}


def test_cases_are_listed_and_filtered(client):
    first = post_event(client, unique_event(n="list1")).get_json()
    post_event(client, unique_event(n="list2"))
    listing = client.get("/returns?marketplace=generic").get_json()
    assert listing["total"] == 2
    only = client.get("/returns?order_id=ORD-list1").get_json()
    assert [c["id"] for c in only["cases"]] == [first["case_id"]]
