"""POST /policy/evaluate per the contract: the decision, 400 with field names, nothing stored."""

from __future__ import annotations

import copy

from tests.core.policy_fixtures import BASE


def example() -> dict:
    """The contract's German example (examples/return-requested-de.json), in its essentials."""
    return copy.deepcopy(BASE)


def test_policy_evaluate_answers_the_contract_shape_for_the_german_example(client):
    answer = client.post("/policy/evaluate", json=example())
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["eligible"] is True and body["basis"] == "statutory_withdrawal" and body["right"] == "eu_withdrawal"
    assert body["window"]["jurisdiction"] == "DE" and body["window"]["days"] == 14
    assert body["window"]["last_day"] == "2026-11-16" and body["alternatives"] == []
    assert body["return_shipping_payer"] == "buyer"
    assert body["refund"]["currency"] == "EUR" and body["refund"]["amount"] == "54.89"
    assert {"merchant_response_due_by", "refund_due_by"} <= set(body["deadlines"])
    assert all(rule["source"] or rule["unsourced"] for rule in body["rules"])


def test_policy_evaluate_names_bad_fields_with_400(client):
    bad = example()
    bad["order"]["currency"] = "EURO"
    answer = client.post("/policy/evaluate", json=bad)
    assert answer.status_code == 400
    assert "order.currency" in answer.get_json()["error"]["fields"]


def test_policy_evaluate_refuses_a_non_object_body(client):
    assert client.post("/policy/evaluate", data="[]", content_type="application/json").status_code == 400


def test_policy_evaluate_refuses_a_refund_outside_its_remedy_and_offers_repair_or_exchange(client):
    """Contract: `eligible` judges the resolution asked; Directive (EU) 2019/771 art. 13: repair or replacement first."""
    body = example()
    body["return"]["reason"] = "defective"
    body["occurred_at"] = "2027-02-01T10:00:00+01:00"
    answer = client.post("/policy/evaluate", json=body).get_json()
    assert answer["eligible"] is False and answer["basis"] is None
    assert answer["alternatives"] == ["repair", "exchange"]
    assert "resolution_not_granted" in {r["code"] for r in answer["reasons"]}
    body["return"]["resolution"] = "repair"
    repair = client.post("/policy/evaluate", json=body).get_json()
    assert repair["eligible"] is True and repair["basis"] == "statutory_guarantee"
    assert repair["window"]["last_day"] == "2028-11-02"


def test_policy_evaluate_judges_every_line_a_mixed_request_with_a_perishable_line_is_not_eligible(client):
    """Contract `eligible`: "judges the resolution the buyer asked for ... for every line of the request: true when
    some statutory right, marketplace policy or merchant policy grants exactly that resolution". Directive 2011/83/EU
    art. 16(d) excludes the perishable line, so the request as asked is not granted; the answer names that line,
    still grants the other per line, and owes its price (not the delivery: not the whole order, art. 13(1))."""
    body = example()
    body["items"].append({"sku": "CHEESE-1", "title": "Fresh cheese", "quantity": 1, "unit_price": "19.90",
                          "category": "perishable"})  # fmt: skip
    answer = client.post("/policy/evaluate", json=body).get_json()
    assert answer["eligible"] is False and answer["basis"] is None
    refused = [r["message"] for r in answer["reasons"] if r["code"] == "line_not_granted"]
    assert refused == ["No right or policy grants refund for item CHEESE-1; ask without it, or see the alternatives."]
    assert [(line["sku"], line["eligible"], line["basis"]) for line in answer["lines"]] == [
        (body["items"][0]["sku"], True, "statutory_withdrawal"),
        ("CHEESE-1", False, None),
    ]
    assert answer["refund"]["amount"] == body["items"][0]["unit_price"]
    body["items"].pop()
    alone = client.post("/policy/evaluate", json=body).get_json()
    assert alone["eligible"] is True and alone["basis"] == "statutory_withdrawal"
