"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from adapters.storage.database import ping
from queues.publisher import connection_for
from service.metrics import QueueCollector, exposition

bp = Blueprint("service", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness.
    ---
    get:
      summary: 200 while the process serves
      responses:
        200: {description: Alive}
    """
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness.
    ---
    get:
      summary: 200 when the database and the broker answer, else 503 naming what is down
      responses:
        200: {description: Ready}
        503: {description: Not ready}
    """
    container = current_app.extensions["returnbridge"]
    checks: dict[str, str] = {}
    try:
        ping(container.engine)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        with connection_for(container.settings.broker_url, confirm_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus metrics.
    ---
    get:
      summary: Prometheus text exposition
      responses:
        200: {description: Metrics}
    """
    collector = current_app.extensions.get("returnbridge.queue_metrics")
    if collector is None:
        operations = current_app.extensions["returnbridge"].operations
        collector = QueueCollector(operations.inspector.queues)
        current_app.extensions["returnbridge.queue_metrics"] = collector
    return Response(exposition(collector), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """This document.
    ---
    get:
      summary: The OpenAPI 3 description of every route, generated from the schemas
      responses:
        200: {description: OpenAPI document}
    """
    return jsonify(current_app.extensions["returnbridge.openapi"])
