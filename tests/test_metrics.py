"""`/metrics`: webhook outcomes, adapter calls and errors, queue depths and dead letters."""

from __future__ import annotations

import re

import pytest
import responses

from adapters.http import HttpClient, OutboundRequest, TransientHttpError
from service.metrics import record_adapter_call
from tests.conftest import post_event, unique_event


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_show_webhook_outcomes_and_the_queues(client, running) -> None:  # type: ignore[no-untyped-def]
    before = client.get("/metrics").text
    assert post_event(client, unique_event()).status_code == 202
    text = client.get("/metrics").text
    sample = 'returnbridge_webhook_events_total{marketplace="generic",outcome="accepted"}'
    assert _value(text, sample) == _value(before, sample) + 1
    prefix = client.application.extensions["returnbridge"].topology.prefix
    assert f'returnbridge_queue_messages{{queue="{prefix}.cases",role="work"}}' in text
    assert f'returnbridge_dead_letters{{queue="{prefix}.cases"}} 0.0' in text
    assert "returnbridge_broker_up 1.0" in text


@responses.activate
def test_adapter_calls_are_counted_by_adapter_and_outcome(client) -> None:  # type: ignore[no-untyped-def]
    responses.post("https://carrier.test/ok", json={}, status=201)
    responses.post("https://carrier.test/down", json={}, status=503)
    http = HttpClient(timeout=2, observer=record_adapter_call)
    before = client.get("/metrics").text
    http.send(OutboundRequest("POST", "https://carrier.test/ok", adapter="metrics_test"))
    with pytest.raises(TransientHttpError):
        http.send(OutboundRequest("POST", "https://carrier.test/down", adapter="metrics_test"))
    text = client.get("/metrics").text
    for sample, grew in (
        ('returnbridge_adapter_calls_total{adapter="metrics_test",outcome="ok"}', 1),
        ('returnbridge_adapter_calls_total{adapter="metrics_test",outcome="server_error"}', 1),
        ('returnbridge_adapter_errors_total{adapter="metrics_test"}', 1),
    ):
        assert _value(text, sample) == _value(before, sample) + grew, sample
