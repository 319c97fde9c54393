"""One error shape everywhere: `{"error": {"code", "message", "fields"}}`; a 5xx only for our own bugs."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None):  # type: ignore[no-untyped-def]
    body: dict = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_down(exc: Exception):  # type: ignore[no-untyped-def]
        return database_unavailable(exc)

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):  # type: ignore[no-untyped-def]
        if exc.connection_invalidated:
            return database_unavailable(exc)
        log.exception("unhandled database error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")

    @app.errorhandler(Exception)
    def _bug(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: Exception):  # type: ignore[no-untyped-def]
    """The database is down, unreachable or too slow (connect or statement timeout): 503, try again soon."""
    log.warning("database unavailable: %s", type(exc).__name__)
    response, status = error_response(
        503, "database_unavailable", f"the database did not answer ({type(exc).__name__}); try again shortly"
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response, status
