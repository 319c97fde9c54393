"""Fuzzing, bounded in time: schemathesis against /openapi.json in-process, hypothesis on every parser.

Whatever arrives, the answer is a 4xx naming the problem, never a 5xx (contract README),
and a parser raises only the errors it documents.
"""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from adapters.carriers import CARRIERS
from adapters.carriers.base import BookedShipment, CarrierRejected
from adapters.http import HttpResult
from adapters.marketplaces import MARKETPLACES
from adapters.marketplaces.base import InboundRequest, ParsedDelivery, PayloadError, SignatureError
from core.events import ReturnEvent
from service.canonical import load_event
from tests.conftest import example, make_settings, sign_generic

TOKEN = "fuzz-ops-token-0123456789"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from wsgi import create_app

    folder: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{folder}/rb.db", RB_OPS_TOKEN=TOKEN))
    yield app
    app.extensions["returnbridge"].close()


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
    elif path.startswith("/ops"):
        headers["Authorization"] = f"Bearer {TOKEN}"
    response = client.open(path, method=case.method, data=body, headers=headers, query_string=case.query or {})
    assert response.status_code < 500, f"{case.method} {path} -> {response.status_code}: {response.data[:300]!r}"


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
