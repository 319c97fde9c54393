"""Fuzzing, bounded in time: schemathesis against /openapi.json in-process, hypothesis on every parser.

Whatever arrives, the answer is a 4xx naming the problem, never a 5xx (contract README),
and a parser raises only the errors it documents.
"""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from schemathesis.specs.openapi.checks import response_schema_conformance

from adapters.carriers import CARRIERS
from adapters.carriers.base import BookedShipment, CarrierRejected
from adapters.http import HttpResult
from adapters.marketplaces import MARKETPLACES
from adapters.marketplaces.base import InboundRequest, ParsedDelivery, PayloadError, SignatureError
from core.events import ReturnEvent
from service.canonical import load_event
from tests.conftest import example, make_settings, sign_generic, wait_for

TOKEN = "fuzz-ops-token-0123456789"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def fuzz_app(hostile_app):  # type: ignore[no-untyped-def]
    """The app the schemathesis fuzz calls: on SQLite and on PostgreSQL (see `hostile_app` below)."""
    return hostile_app


def _schema():  # type: ignore[no-untyped-def]
    from wsgi import create_app

    # Only to read the document; the test itself runs against `fuzz_app`.
    folder = tempfile.mkdtemp(prefix="rb-openapi-")
    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{folder}/rb.db"))
    document = app.test_client().get("/openapi.json").json
    app.extensions["returnbridge"].close()
    return schemathesis.openapi.from_dict(document)


schema = _schema()


@schema.parametrize()
@FUZZ
def test_no_request_generated_from_the_openapi_document_gets_a_5xx(case, fuzz_app) -> None:  # type: ignore[no-untyped-def]
    client = fuzz_app.test_client()
    path = case.formatted_path
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    body = None
    if not isinstance(case.body, schemathesis.core.NotSet):
        raw = case.body
        body = raw if isinstance(raw, bytes) else raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
        headers.setdefault("Content-Type", case.media_type or "application/json")
    if path.startswith("/webhooks/") and body is not None:
        headers.update(sign_generic(body))  # signed, so the fuzz reaches parsing and validation
    elif not path.startswith(("/webhooks/", "/carriers/")):
        headers["Authorization"] = f"Bearer {TOKEN}"  # past web/auth.py, so the fuzz reaches the route itself
    response = client.open(path, method=case.method, data=body, headers=headers, query_string=case.query or {})
    assert response.status_code < 500, f"{case.method} {path} -> {response.status_code}: {response.data[:300]!r}"
    if case.operation.path.startswith("/returns"):
        # The case routes answer what the document says (issue 17, item 8), with the operator's token.
        case.validate_response(response, checks=[response_schema_conformance])


def _mutations() -> st.SearchStrategy[dict]:
    """A valid event with one field replaced by anything, or removed."""
    base = example("return-requested-de")
    paths = [("type",), ("occurred_at",), ("order",), ("order", "currency"), ("order", "ship_to"),
             ("order", "placed_at"), ("return",), ("return", "reason"), ("items",), ("marketplace_event_id",)]  # fmt: skip

    @st.composite
    def mutate(draw) -> dict:  # type: ignore[no-untyped-def]
        event = copy.deepcopy(base)
        path = draw(st.sampled_from(paths))
        target = event
        for key in path[:-1]:
            target = target[key]
        if draw(st.booleans()):
            target[path[-1]] = draw(json_values)
        else:
            target.pop(path[-1], None)
        return event

    return mutate()


@given(st.one_of(json_values, _mutations()))
@FUZZ
def test_the_canonical_codec_answers_anything_with_an_event_or_a_validation_error(data: object) -> None:
    try:
        event = load_event(data)
    except ValidationError as exc:
        assert exc.messages  # the answer names what is wrong
    else:
        assert isinstance(event, ReturnEvent)


@pytest.mark.parametrize("name", MARKETPLACES.names())
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
       headers=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=4))  # fmt: skip
@FUZZ
def test_every_marketplace_parser_refuses_garbage_with_its_own_errors(name: str, body: bytes, headers: dict) -> None:
    adapter = MARKETPLACES.get(name)
    request = InboundRequest(body=body, headers=headers, url=f"http://127.0.0.1/webhooks/{name}")
    with pytest.raises(SignatureError):
        adapter.verify(request, None, datetime.now(UTC))
    with pytest.raises(SignatureError):
        adapter.verify(request, "whsec_c2VjcmV0LWtleS0wMTIzNDU2Nzg5", datetime.now(UTC))
    try:
        parsed = adapter.parse(request)
    except PayloadError:
        return
    assert isinstance(parsed, ParsedDelivery)


@pytest.mark.parametrize("name", CARRIERS.names())
@given(status=st.sampled_from([200, 201, 400, 401, 404, 422]), body=json_values | st.text(max_size=50))
@FUZZ
def test_every_carrier_parser_turns_any_answer_into_a_booking_or_a_refusal(
    name: str, status: int, body: object
) -> None:
    adapter = CARRIERS.get(name)
    try:
        booked = adapter.parse_return_shipment(HttpResult(status, body, {}))
    except CarrierRejected:
        return
    assert isinstance(booked, BookedShipment) and booked.tracking_number


# ---- issue 16: the inputs that were 500s, fuzzed on SQLite and on PostgreSQL ------------------------------

CARRIER_SECRETS = {"RB_FEDEX_WEBHOOK_SECRET": "aiv-token", "RB_UPS_WEBHOOK_SECRET": "ups-credential",
                   "RB_DHL_EXPRESS_WEBHOOK_SECRET": "dhl-token"}  # fmt: skip


def _hostile_app(url: str):  # type: ignore[no-untyped-def]
    from wsgi import create_app

    return create_app(make_settings(RB_DATABASE_URL=url, RB_OPS_TOKEN=TOKEN, RB_POLICY_RATE="100000/minute",
                                    **CARRIER_SECRETS))  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hostile_app(request, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The app on SQLite, and on PostgreSQL (NUL bytes and over-long ids failed only there)."""
    if request.param == "sqlite":
        app = _hostile_app(f"sqlite:///{tmp_path_factory.mktemp('hostile')}/rb.db")
        yield app
        app.extensions["returnbridge"].close()
        return
    import uuid

    import psycopg

    from tests.conftest import need_server

    need_server("PostgreSQL", 5432)
    admin, name = "postgresql://postgres@127.0.0.1:5432/postgres", f"rb_fuzz_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    app = _hostile_app(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    yield app
    app.extensions["returnbridge"].close()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


nasty_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["\x00", "a\x00b", "x" * 5000, "9" * 400, "Mars/Olympus", "9999-12-31T23:59:59+00:00", "1" * 29, "1e300", "-1"]
)
nasty_numbers = st.integers() | st.sampled_from([10**400, 1e300, -(10**30)]) | st.floats(allow_nan=False)
EVENT_PATHS = [("occurred_at",), ("as_of",), ("order", "placed_at"), ("order", "delivered_at"), ("order", "currency"),
               ("order", "order_id"), ("order", "buyer", "timezone"), ("order", "buyer", "locale"),
               ("items", 0, "unit_price"), ("items", 0, "quantity"), ("items", 0, "sku"), ("return", "refund_amount"),
               ("return", "id"), ("marketplace_event_id",), ("order", "ship_to", "country")]  # fmt: skip


@st.composite
def hostile_events(draw) -> dict:  # type: ignore[no-untyped-def]
    event = copy.deepcopy(example("return-requested-de"))
    event["marketplace_event_id"] = f"fuzz-{draw(st.uuids())}"
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(EVENT_PATHS))
        target = event
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
        target[path[-1]] = draw(nasty_text | nasty_numbers | json_values)
    return event


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


@given(event=hostile_events(), msg_id=st.none() | nasty_text.filter(lambda s: s.isprintable() and s.strip()),
       timestamp=st.none() | st.sampled_from(["9" * 400, "-1", "1e300", "0x10", ""]))  # fmt: skip
@FUZZ
def test_the_generic_webhook_answers_hostile_signed_events_without_a_5xx(hostile_app, event, msg_id, timestamp) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(event).encode()
    headers = sign_generic(body, msg_id=msg_id)
    if timestamp is not None:
        headers["webhook-timestamp"] = timestamp
    answer = hostile_app.test_client().post("/webhooks/generic", data=body, headers=headers)
    assert answer.status_code < 500, answer.get_data(as_text=True)
    if answer.status_code == 400:
        assert answer.json["error"]["fields"] or answer.json["error"]["code"] == "invalid_json"


@given(path=st.sampled_from(["/returns/{}", "/returns/{}/notices", "/returns?order_id={}", "/returns?state={}",
                             "/returns?marketplace={}", "/fx/ledger?from={}", "/fx/rates?base={}",
                             "/ops/dead-letters?queue={}"]),
       value=nasty_text)  # fmt: skip
@FUZZ
def test_reading_routes_answer_nul_and_overlong_values_without_a_5xx(hostile_app, path: str, value: str) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    client = hostile_app.test_client()
    answer = client.get(path.format(quote(value, safe="")), headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code < 500 or answer.json["error"]["code"] == "broker_unavailable", answer.data[:300]


@pytest.mark.parametrize("route", ["/webhooks/generic", "/policy/evaluate"])
def test_deeply_nested_json_is_a_400(hostile_app, route: str) -> None:  # type: ignore[no-untyped-def]
    body = _nested(100_000)
    headers = {**sign_generic(body), "Content-Type": "application/json"}
    answer = hostile_app.test_client().post(route, data=body, headers=headers)
    assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_json"


def _carrier_headers(carrier: str, body: bytes) -> dict[str, str]:
    import base64
    import hashlib
    import hmac

    if carrier == "fedex":
        return {"fdx-signature": base64.b64encode(hmac.new(b"aiv-token", body, hashlib.sha256).digest()).decode()}
    return {"credential": "ups-credential"} if carrier == "ups" else {"DHL-Push-Token": "dhl-token"}


@pytest.mark.parametrize("carrier", ["fedex", "ups", "dhl_express"])
@given(body=st.binary(max_size=200) | (json_values | hostile_events()).map(lambda v: json.dumps(v).encode()))
@FUZZ
def test_malformed_but_authentic_carrier_pushes_get_4xx_not_5xx(hostile_app, carrier: str, body: bytes) -> None:  # type: ignore[no-untyped-def]
    headers = {**_carrier_headers(carrier, body), "Content-Type": "application/json"}
    answer = hostile_app.test_client().post(f"/carriers/{carrier}/tracking", data=body, headers=headers)
    assert answer.status_code < 500, answer.get_data(as_text=True)[:300]


# ---- issue 17, item 8: the case view and the OpenAPI `Case` are one schema ---------------------------------


def _seed_cases(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Cases at several points of their lifecycle, made the way marketplaces make them: signed webhooks."""
    from uuid import uuid4

    client = app.test_client()
    tag = uuid4().hex[:8]
    orders = []
    for name, follow_up in (("return-requested-de", "return-approved"), ("order-delivered-fr", None)):
        first = example(name)
        order_id, return_id = f"{first['order']['id']}-{tag}", f"{first['return']['id']}-{tag}"
        events = [first] + ([example(follow_up)] if follow_up else [])
        for number, event in enumerate(events):
            event["marketplace_event_id"] = f"schema-{tag}-{name}-{number}"
            event["order"]["id"], event["return"]["id"] = order_id, return_id
            body = json.dumps(event).encode()
            answer = client.post("/webhooks/generic", data=body, headers=sign_generic(body))
            assert answer.status_code in (200, 202), answer.get_data(as_text=True)
        orders.append(order_id)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def case_ids() -> list[str] | None:
        found = []
        for order_id in orders:
            listed = client.get(f"/returns?order_id={order_id}", headers=auth).json["cases"]
            if not listed:
                return None
            found.append(listed[0]["id"])
        return found

    return wait_for(case_ids)


def test_every_case_route_answers_what_the_openapi_document_says(hostile_app) -> None:  # type: ignore[no-untyped-def]
    client, auth = hostile_app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    case_ids = _seed_cases(hostile_app)
    reads = [("/returns/{case_id}", {"case_id": case_id}, {}) for case_id in case_ids]
    reads += [("/returns/{case_id}/notices", {"case_id": case_id}, {"locale": "de-DE"}) for case_id in case_ids]
    reads += [("/returns", {}, {"limit": 5})]
    for path, parameters, query in reads:
        operation = schema[path]["GET"]
        case = operation.Case(path_parameters=parameters, query=query, headers=auth)
        response = client.get(case.formatted_path, query_string=query, headers=auth)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        case.validate_response(response, checks=[response_schema_conformance])


def test_the_case_view_shows_exactly_the_fields_the_document_names(hostile_app) -> None:  # type: ignore[no-untyped-def]
    client, auth = hostile_app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    case_id = _seed_cases(hostile_app)[0]
    view = client.get(f"/returns/{case_id}", headers=auth).json
    document = client.get("/openapi.json").json
    described = document["components"]["schemas"]["Case"]["properties"]
    assert set(view) == set(described)
    assert view["order"]["id"] and view["return"]["id"] and view["buyer_url"].startswith("http")
