"""The console's one seam to authorization: who may read, who is signed in, and each form's CSRF token.

Today: the operations token (`Authorization: Bearer $RB_OPS_TOKEN`, compared in constant time)
for the JSON routes, and for pages an HttpOnly, SameSite=Strict cookie holding a keyed digest
of the token (never the token itself), set by the sign-in form. Every form the console
renders carries a CSRF token, and every POST from a page is refused without it. Nothing
else in the console knows how any of this is decided.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Response, current_app, request

COOKIE = "rb_ops"
COOKIE_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"


def _token() -> str | None:
    return current_app.extensions["returnbridge"].settings.ops_token


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"returnbridge ops dashboard", hashlib.sha256).hexdigest()


def bearer_ok(token: str | None = None) -> bool:
    """The request carries the operations token as a bearer token."""
    token = token if token is not None else _token()
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def cookie_ok(token: str | None = None) -> bool:
    """The browser is signed in to the console."""
    token = token if token is not None else _token()
    given = request.cookies.get(COOKIE, "")
    return bool(token and given) and hmac.compare_digest(given.encode(), cookie_value(token).encode())  # type: ignore[arg-type]


def api_allowed() -> bool:
    return bearer_ok()


def page_allowed() -> bool:
    return bearer_ok() or cookie_ok()


def token_matches(given: str) -> bool:
    token = _token()
    return bool(token and given) and hmac.compare_digest(given.encode(), token.encode())  # type: ignore[union-attr]


def sign_in(response: Response) -> Response:
    token = _token()
    assert token, "sign_in after token_matches only"
    response.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Strict", path="/ops",
                        secure=request.is_secure, max_age=COOKIE_MAX_AGE)  # fmt: skip
    return response


def sign_out(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/ops")
    return response


def csrf_token() -> str:
    """The token each console form carries: bound to the sign-in, so another site cannot know it."""
    token = _token() or ""
    return hmac.new(token.encode(), b"csrf|" + request.cookies.get(COOKIE, "").encode(), hashlib.sha256).hexdigest()


def csrf_ok() -> bool:
    """A POST from a page: signed in and carrying the form's CSRF token (a bearer client needs none)."""
    if bearer_ok():
        return True
    given = request.form.get(CSRF_FIELD, "")
    return cookie_ok() and bool(given) and hmac.compare_digest(given.encode(), csrf_token().encode())
