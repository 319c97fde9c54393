"""`/ops` JSON routes: queues, dead letters (list and replay), overdue cases, API keys; the console is web/console.py.

Every route goes through `web.auth.require`: `Authorization: Bearer $RB_OPS_TOKEN` or an API key
(read to look, act to replay, the ops token alone to manage keys), or the console's session cookie
with its CSRF token on POSTs. No token is ever taken from a URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from adapters.storage.access_store import KEY_SCOPES, UnknownKey
from queues.inspection import UnknownQueue
from service.bootstrap import Container
from service.operations import Operations
from web import auth
from web.errors import database_unavailable, error_response

bp = Blueprint("ops", __name__)


def _operations() -> Operations:
    return current_app.extensions["returnbridge"].operations


def _broker_down(exc: Exception) -> tuple[Response, int]:
    if isinstance(exc, SQLAlchemyError):
        return database_unavailable(exc)
    return error_response(503, "broker_unavailable", f"the broker did not answer: {type(exc).__name__}")


@bp.get("/ops/queues")
@auth.require(auth.READ)
def queues() -> ResponseReturnValue:
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
    try:
        return jsonify({"queues": _operations().queues()})
    except Exception as exc:
        return _broker_down(exc)


@bp.get("/ops/dead-letters")
@auth.require(auth.READ)
def dead_letters() -> ResponseReturnValue:
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
    data.pop(auth.CSRF_FIELD, None)
    message_id = data.get("message_id")
    replay_all = str(data.get("all", "")).lower() in ("1", "true", "yes", "on") or data.get("all") is True
    if isinstance(message_id, str) and message_id and not replay_all:
        return message_id, False
    if replay_all and not message_id:
        return None, True
    return None


@bp.post("/ops/dead-letters/<queue>/replay")
@auth.require(auth.ACT)
def replay(queue: str) -> ResponseReturnValue:
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
    principal = auth.current_principal()
    from_page = principal is not None and principal.via_cookie and not request.is_json
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
@auth.require(auth.READ)
def overdue() -> ResponseReturnValue:
    """Cases past a deadline.
    ---
    get:
      summary: Open cases with a deadline (facts.deadlines) already past, most overdue first
      security: [{opsToken: []}]
      responses:
        200: {description: Overdue cases}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
    """
    cases = _operations().overdue()
    return jsonify({"overdue": cases, "count": len(cases)})


@bp.get("/ops/api-keys")
@auth.require(auth.ADMIN)
def list_keys() -> ResponseReturnValue:
    """API keys.
    ---
    get:
      summary: Every API key issued (id, name, scope, created, revoked, last used; never the key)
      security: [{opsToken: []}]
      responses:
        200: {description: Keys}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        403: {description: Only the operations token manages keys, content: {application/json: {schema: Error}}}
    """
    keys = _container().api_keys.list()
    return jsonify({"api_keys": keys, "count": len(keys)})


@bp.post("/ops/api-keys")
@auth.require(auth.ADMIN)
def create_key() -> ResponseReturnValue:
    """Issue an API key.
    ---
    post:
      summary: A new API key; the key is in this answer only (only its digest is stored)
      security: [{opsToken: []}]
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [name, scope], properties: {name: {type: string, maxLength: 200}, scope: {type: string, enum: [read, act]}}}
      responses:
        201: {description: The key (once) and its record}
        400: {description: Bad name or scope, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        403: {description: Only the operations token manages keys, content: {application/json: {schema: Error}}}
    """
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    name, scope, errors = body.get("name"), body.get("scope"), {}
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = ["give a name of 1 to 200 characters"]
    if scope not in KEY_SCOPES:
        errors["scope"] = [f"one of {list(KEY_SCOPES)}"]
    if errors or not isinstance(name, str) or not isinstance(scope, str):  # narrows the types; `errors` names the fault
        return error_response(400, "invalid_request", "the key needs a name and a scope", errors)
    issued = _container().api_keys.create(name.strip(), scope)
    return jsonify({"key": issued.key, **issued.view}), 201


@bp.post("/ops/api-keys/<key_id>/<action>")
@auth.require(auth.ADMIN)
def change_key(key_id: str, action: str) -> ResponseReturnValue:
    """Rotate or revoke an API key.
    ---
    post:
      summary: "`rotate`: a new key with the same name and scope, the old one dead at once; `revoke`: dead"
      security: [{opsToken: []}]
      parameters:
        - {in: path, name: key_id, required: true, schema: {type: string}}
        - {in: path, name: action, required: true, schema: {type: string, enum: [rotate, revoke]}}
      responses:
        200: {description: "The key's record; on rotate, the new key (once)"}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        403: {description: Only the operations token manages keys, content: {application/json: {schema: Error}}}
        404: {description: No such live key or action, content: {application/json: {schema: Error}}}
    """
    keys, sessions = _container().api_keys, _container().web_sessions
    try:
        if action == "revoke":
            view = keys.revoke(key_id)
            sessions.revoke_all(f"api key {key_id}")
            return jsonify(view)
        if action == "rotate":
            issued = keys.rotate(key_id)
            sessions.revoke_all(f"api key {key_id}")
            return jsonify({"key": issued.key, **issued.view, "replaces": key_id})
    except UnknownKey:
        return error_response(404, "unknown_key", f"no live API key {key_id!r}")
    return error_response(404, "unknown_action", f"no key action {action!r}", {"action": ["rotate or revoke"]})


@bp.post("/ops/sessions/revoke")
@auth.require(auth.ADMIN)
def revoke_sessions() -> ResponseReturnValue:
    """End every console session.
    ---
    post:
      summary: Revoke every open console session (everyone signs in again)
      security: [{opsToken: []}]
      responses:
        200: {description: How many sessions were ended}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        403: {description: Only the operations token manages sessions, content: {application/json: {schema: Error}}}
    """
    return jsonify({"revoked": _container().web_sessions.revoke_all()})


def _container() -> Container:
    return current_app.extensions["returnbridge"]
