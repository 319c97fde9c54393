"""One error shape everywhere: `{"error": {"code", "message", "fields"}}`; a 5xx only for our own bugs."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WsgiResponse

from adapters.storage.ports import ConnectionLost

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> tuple[Response, int]:
    body: dict = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def _nul_in_request() -> tuple[Response, int] | None:
    """A NUL in a path segment or query parameter: 400 naming it (PostgreSQL text cannot hold one; it was a 500)."""
    fields = {name: ["must not contain NUL characters"] for name, value in (request.view_args or {}).items()
              if isinstance(value, str) and "\x00" in value}  # fmt: skip
    fields.update({name or "query": ["must not contain NUL characters"] for name, value in request.args.items(multi=True)
                   if "\x00" in value or "\x00" in name})  # fmt: skip
    if request.blueprint not in _SIGNED_BODIES and request.method in ("POST", "PUT", "PATCH"):
        fields.update(_nul_in_body())
    if fields:
        return error_response(400, "invalid_request", "NUL characters are not accepted", fields)
    return None


# Webhooks and carrier pushes are read as signed bytes and validated by their own codecs, which name the field.
_SIGNED_BODIES = frozenset({"webhooks", "carriers"})


def _nul_in_body() -> dict[str, list[str]]:
    """A NUL in a JSON or form body of our own routes (the API key's name, an operator's note, a form field)."""
    if request.is_json:
        return _nul_paths(request.get_json(silent=True), "")
    return {name: ["must not contain NUL characters"] for name, value in request.form.items(multi=True)
            if "\x00" in value or "\x00" in name}  # fmt: skip


def _nul_paths(value: Any, path: str) -> dict[str, list[str]]:
    if isinstance(value, str):
        return {path or "body": ["must not contain NUL characters"]} if "\x00" in value else {}
    found: dict[str, list[str]] = {}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        if "\x00" in str(key):
            found[path or "body"] = ["a key contains a NUL character"]
        found.update(_nul_paths(item, where))
    return found


def register_error_handlers(app: Flask) -> None:
    app.before_request(_nul_in_request)

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> ResponseReturnValue:
        # Only the JSON decoder recurses on input: a body of 100,000 nested brackets (issue 16) was a 500.
        return error_response(400, "invalid_json", "the body is nested too deeply to be read")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    @app.errorhandler(ConnectionLost)
    def _database_down(exc: Exception) -> ResponseReturnValue:
        return database_unavailable(exc)

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> ResponseReturnValue:
        if exc.connection_invalidated:
            return database_unavailable(exc)
        log.exception("unhandled database error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: Exception) -> tuple[Response, int]:
    """The database is down, unreachable or too slow (connect or statement timeout): 503, try again soon."""
    log.warning("database unavailable: %s", type(exc).__name__)
    response, status = error_response(
        503, "database_unavailable", f"the database did not answer ({type(exc).__name__}); try again shortly"
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response, status


class ChunkedBodyLimit:
    """WSGI middleware: a body sent without Content-Length (chunked) over the limit is a 413, like any other.

    Werkzeug only cuts such a stream at `MAX_CONTENT_LENGTH`, so the route saw a truncated body and answered
    400 or 401 (issue 16). Read up to one byte past the limit here; over it, 413 without calling the app;
    otherwise the app gets the body with its length, as if it had been sent with one.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("CONTENT_LENGTH") in (None, "") and (
            environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            body, stream = bytearray(), environ["wsgi.input"]
            while len(body) <= self.limit:
                chunk = stream.read(min(65536, self.limit + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
            if len(body) > self.limit:
                message = {"error": {"code": "too_large", "message": f"the body exceeds {self.limit} bytes"}}
                response = WsgiResponse(json.dumps(message), status=413, mimetype="application/json")
                response.headers["Connection"] = "close"  # the rest of the body is not read
                return response(environ, start_response)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(bytes(body)), str(len(body))
            environ["wsgi.input_terminated"] = False
        return self.app(environ, start_response)
