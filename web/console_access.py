"""The console's one seam to authorization (web/auth.py decides everything; the console asks only here).

- `page`: a page to look at (scope `read`); without a credential, the sign-in form (401).
- `act`: a form that changes something (scope `act`); a session cookie must bring the form's
  CSRF token (`csrf_token()` in every template, field `csrf_token`), else 403.
- `api`: a JSON route (scope `read`); without a credential, 401 JSON.
- `render`: an HTML answer with the console's security headers.
"""

from __future__ import annotations

from flask import Response

from web import auth

page = auth.require(auth.READ, page=True)
act = auth.require(auth.ACT, page=True)
api = auth.require(auth.READ)
CSRF_FIELD = auth.CSRF_FIELD


def render(html: str, status: int = 200) -> Response:
    return auth.page(html, status)
