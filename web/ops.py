"""`/ops`: queues, dead letters (list and replay), overdue cases, and a light dashboard page for people.

Every route needs the operations token, `Authorization: Bearer $RB_OPS_TOKEN`, compared in
constant time (hmac.compare_digest) so timing reveals nothing of it; with no token set,
everything answers 401. The page may instead carry an HttpOnly, SameSite=Strict cookie
holding a keyed digest of the token (never the token itself), set once from `?token=` or
the sign-in form, so a browser never needs to keep the token in its address bar.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

from queues.inspection import UnknownQueue
from web.errors import error_response

bp = Blueprint("ops", __name__, template_folder="templates")
COOKIE = "rb_ops"
PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _token() -> str | None:
    return current_app.extensions["returnbridge"].settings.ops_token


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"returnbridge ops dashboard", hashlib.sha256).hexdigest()


def bearer_ok(token: str | None) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def cookie_ok(token: str | None) -> bool:
    given = request.cookies.get(COOKIE, "")
    return bool(token and given) and hmac.compare_digest(given.encode(), cookie_value(token).encode())  # type: ignore[arg-type]


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
        return redirect("/ops", code=303)
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


def _page(html: str, status: int = 200) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(PAGE_SECURITY)
    return response


def _with_cookie(response: Response, token: str) -> Response:
    response.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Strict", path="/ops",
                        secure=request.is_secure, max_age=12 * 3600)  # fmt: skip
    return response


@bp.get("/ops")
def dashboard():  # type: ignore[no-untyped-def]
    """The operations dashboard (HTML).
    ---
    get:
      summary: A server-rendered page of queues, dead letters, overdue cases and recent failures
      security: [{opsToken: []}]
      parameters:
        - {in: query, name: token, schema: {type: string}}
      responses:
        200: {description: The page, content: {text/html: {}}}
        303: {description: Token accepted from the query string; cookie set}
        401: {description: The sign-in form, content: {text/html: {}}}
    """
    token = _token()
    given = request.args.get("token")
    if given is not None:
        if token and hmac.compare_digest(given.encode(), token.encode()):
            return _with_cookie(redirect("/ops", code=303), token)  # type: ignore[arg-type]
        return _page(render_template("ops_login.html", failed=True), 401)
    if not (bearer_ok(token) or cookie_ok(token)):
        return _page(render_template("ops_login.html", failed=False), 401)
    return _page(render_template("ops.html", **_dashboard_data()))


@bp.post("/ops/login")
def login():  # type: ignore[no-untyped-def]
    """Sign in to the dashboard.
    ---
    post:
      summary: Exchange the operations token (form field `token`) for the dashboard's HttpOnly cookie
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {token: {type: string}}}
      responses:
        303: {description: Signed in; cookie set}
        401: {description: Wrong or missing token, content: {text/html: {}}}
    """
    token = _token()
    given = request.form.get("token", "")
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return _with_cookie(redirect("/ops", code=303), token)  # type: ignore[arg-type]
    return _page(render_template("ops_login.html", failed=True), 401)


def _dashboard_data() -> dict[str, Any]:
    operations = _operations()
    data: dict[str, Any] = {"broker_error": None, "queues": [], "dead_letters": []}
    try:
        data["queues"] = operations.queues()
        data["dead_letters"] = operations.dead_letters(limit=50)
    except Exception as exc:
        data["broker_error"] = f"the broker did not answer: {type(exc).__name__}"
    data["overdue"] = operations.overdue(limit=50)
    data["failures"] = operations.recent_failures(limit=20)
    data["now"] = operations.clock().isoformat(timespec="seconds")
    return data
