"""`/ops` JSON routes: queues, dead letters (list and replay), overdue cases; the console's pages are web/console.py.

Every route needs the operations token, `Authorization: Bearer $RB_OPS_TOKEN`, compared in
constant time (hmac.compare_digest) so timing reveals nothing of it; with no token set,
everything answers 401. A replay may also come from a console form (signed-in cookie and
its CSRF token; web/console_access.py decides both).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, current_app, jsonify, redirect, request

from queues.inspection import UnknownQueue
from web.console_access import bearer_ok, cookie_ok, csrf_ok
from web.errors import error_response

bp = Blueprint("ops", __name__)


def _token() -> str | None:
    return current_app.extensions["returnbridge"].settings.ops_token


def _unauthorized():  # type: ignore[no-untyped-def]
    response, status = error_response(401, "unauthorized", "send Authorization: Bearer <RB_OPS_TOKEN>")
    response.headers["WWW-Authenticate"] = 'Bearer realm="returnbridge-ops"'
    return response, status


def _operations():  # type: ignore[no-untyped-def]
    return current_app.extensions["returnbridge"].operations


def _broker_down(exc: Exception):  # type: ignore[no-untyped-def]
    return error_response(503, "broker_unavailable", f"the broker did not answer: {type(exc).__name__}")


@bp.get("/ops/queues")
def queues():  # type: ignore[no-untyped-def]
    """Queue depths, consumers and rates.
    ---
    get:
      summary: Every work, retry and dead-letter queue with its depth, consumers and rates
      security: [{opsToken: []}]
      responses:
        200: {description: Queues}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        503: {description: Broker unavailable, content: {application/json: {schema: Error}}}
    """
    if not bearer_ok(_token()):
        return _unauthorized()
    try:
        return jsonify({"queues": _operations().queues()})
    except Exception as exc:
        return _broker_down(exc)


@bp.get("/ops/dead-letters")
def dead_letters():  # type: ignore[no-untyped-def]
    """Dead letters of every work queue.
    ---
    get:
      summary: Dead-lettered messages with their reason, oldest first (browsed, not consumed)
      security: [{opsToken: []}]
      parameters:
        - {in: query, name: queue, schema: {type: string}}
      responses:
        200: {description: Dead letters}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        404: {description: Unknown queue, content: {application/json: {schema: Error}}}
        503: {description: Broker unavailable, content: {application/json: {schema: Error}}}
    """
    if not bearer_ok(_token()):
        return _unauthorized()
    queue = request.args.get("queue")
    try:
        letters = _operations().dead_letters(_full_name(queue) if queue else None)
    except UnknownQueue:
        return error_response(404, "unknown_queue", f"no work queue named {queue!r}")
    except Exception as exc:
        return _broker_down(exc)
    return jsonify({"dead_letters": letters, "count": len(letters)})


def _full_name(queue: str) -> str:
    prefix = current_app.extensions["returnbridge"].topology.prefix + "."
    return queue if queue.startswith(prefix) else prefix + queue


def _replay_request() -> tuple[str | None, bool] | None:
    """(message id, all) from a JSON body, a form or the query string; None when neither is named."""
    data: dict[str, Any] = {}
    if request.is_json:
        loaded = request.get_json(silent=True)
        data = loaded if isinstance(loaded, dict) else {}
    elif request.form:
        data = request.form.to_dict()
    data = {**request.args.to_dict(), **data}
    message_id = data.get("message_id")
    replay_all = str(data.get("all", "")).lower() in ("1", "true", "yes", "on") or data.get("all") is True
    if isinstance(message_id, str) and message_id and not replay_all:
        return message_id, False
    if replay_all and not message_id:
        return None, True
    return None


@bp.post("/ops/dead-letters/<queue>/replay")
def replay(queue: str):  # type: ignore[no-untyped-def]
    """Replay dead letters.
    ---
    post:
      summary: Move one dead letter (by message_id) or all of a queue's back to the work queue
      security: [{opsToken: []}]
      parameters:
        - {in: path, name: queue, required: true, schema: {type: string}}
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {message_id: {type: string}, all: {type: boolean}}}
      responses:
        200: {description: Replayed message ids}
        400: {description: Neither message_id nor all, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        404: {description: Unknown queue or message, content: {application/json: {schema: Error}}}
        503: {description: Broker unavailable, content: {application/json: {schema: Error}}}
    """
    from_page = not bearer_ok(_token()) and cookie_ok(_token()) and not request.is_json
    if not (bearer_ok(_token()) or from_page):
        return _unauthorized()
    if from_page and not csrf_ok():
        return error_response(403, "csrf_failed", "the form's CSRF token is missing or wrong; reload the page")
    wanted = _replay_request()
    if wanted is None:
        return error_response(400, "invalid_request", "name one dead letter (message_id) or all of them (all=true)",
                              {"message_id": ["give a message id, or all=true"]})  # fmt: skip
    message_id, _ = wanted
    try:
        replayed = _operations().replay(_full_name(queue), message_id)
    except UnknownQueue:
        return error_response(404, "unknown_queue", f"no work queue named {queue!r}")
    except Exception as exc:
        return _broker_down(exc)
    if message_id is not None and not replayed:
        return error_response(404, "unknown_message", f"no dead letter {message_id!r} in {queue!r}")
    if from_page:
        return redirect(f"/ops?replayed={len(replayed)}&queue={quote(queue)}#dead-letters", code=303)
    return jsonify({"replayed": replayed, "count": len(replayed)})


@bp.get("/ops/overdue")
def overdue():  # type: ignore[no-untyped-def]
    """Cases past a deadline.
    ---
    get:
      summary: Open cases with a deadline (facts.deadlines) already past, most overdue first
      security: [{opsToken: []}]
      responses:
        200: {description: Overdue cases}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
    """
    if not bearer_ok(_token()):
        return _unauthorized()
    cases = _operations().overdue()
    return jsonify({"overdue": cases, "count": len(cases)})
