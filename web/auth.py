"""One authorization check for every protected route: bearer token, scoped API keys, console sessions.

Who may call:
- `Authorization: Bearer $RB_OPS_TOKEN` (the scheme in any case): every scope, including `admin`
  (managing API keys and sessions).
- `Authorization: Bearer rbk_<id>_<secret>`, an API key the project issued (`flask --app wsgi api-keys
  create`, or `POST /ops/api-keys`): scope `read` (see cases and queues) or `act` (read, and change
  things: operator commands, replays). Keys live hashed in the database, so they are listed, rotated and
  revoked without a restart.
- The console's session cookie, set by `POST /ops/login` (see `login`): signed with itsdangerous,
  expiring after RB_SESSION_HOURS, revocable (the signed value is a session id kept in the database;
  sign-out, revoking the API key it came from or changing RB_OPS_TOKEN ends it). Every state-changing
  request made with the cookie must carry the session's CSRF token (form field `csrf_token` or header
  `X-CSRF-Token`); bearer callers need none, since a browser never adds that header by itself.

No credential is ever read from a URL.

Interface for views (kept stable; the operator console builds on it):

    from web import auth

    @bp.get("/things")
    @auth.require(auth.READ)              # 401 JSON without a credential, 403 without the scope
    def things(): ...

    @bp.get("/console")
    @auth.require(auth.READ, page=True)   # an HTML page: answers the sign-in form (401) instead
    def console(): ...

    auth.current_principal()              # who is calling (inside a guarded view)
    auth.csrf_token()                     # in templates as {{ csrf_token() }}: put it in every POST form
    auth.sign_in_page(failed=False)       # the sign-in form as a Response
    @auth.rate_limited("policy", lambda s: s.policy_rate)   # per client address, 429 + Retry-After

`install(app)` wires it into an app (create_app does): ProxyFix when RB_PROXY_HOPS > 0, the template
global, the per-app rate-limit storage, and this module's sign-in/out routes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request
from flask.cli import AppGroup
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from adapters.storage.access_store import KEY_SCOPES, UnknownKey
from config.settings import Settings
from service.bootstrap import Container
from web.errors import error_response

READ, ACT, ADMIN = "read", "act", "admin"
SCOPES_OF_KEY = {READ: frozenset({READ}), ACT: frozenset({READ, ACT})}
OPS_TOKEN_SCOPES = frozenset({READ, ACT, ADMIN})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "rb_session"
LOGIN_COOKIE = "rb_login"  # the sign-in form's CSRF nonce (double submit)
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"

bp = Blueprint("auth", __name__, template_folder="templates")


@dataclass(frozen=True)
class Principal:
    """Who is calling: `name` is "ops token <fingerprint>" or "api key <id>"; `session_id` when by cookie."""

    name: str
    scopes: frozenset[str]
    session_id: str | None = None

    @property
    def via_cookie(self) -> bool:
        return self.session_id is not None


# ---- configuration -------------------------------------------------------------------------------


def _container() -> Container:
    return current_app.extensions["returnbridge"]


def _settings() -> Settings:
    return _container().settings


def _fingerprint(token: str) -> str:
    return hashlib.sha256(b"returnbridge ops token\0" + token.encode()).hexdigest()[:16]


def _signing_key(settings: Settings) -> bytes | None:
    """RB_SECRET_KEY, else a key derived from RB_OPS_TOKEN (never the token itself); None: no sessions."""
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.ops_token:
        return hmac.new(settings.ops_token.encode(), b"returnbridge session signing", hashlib.sha256).digest()
    return None


def _serializer() -> URLSafeTimedSerializer | None:
    key = _signing_key(_settings())
    return URLSafeTimedSerializer(key, salt="returnbridge console session") if key else None


def _mac(purpose: str, value: str) -> str:
    key = _signing_key(_settings()) or b""
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


# ---- authentication ------------------------------------------------------------------------------


def bearer_credential() -> str | None:
    """The credential of `Authorization: Bearer <credential>`, the scheme matched in any case."""
    scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


def principal_for(credential: str) -> Principal | None:
    """The ops token or a live API key, each compared in constant time."""
    token = _settings().ops_token
    if token and hmac.compare_digest(credential.encode(), token.encode()):
        return Principal(f"ops token {_fingerprint(token)}", OPS_TOKEN_SCOPES)
    found = _container().api_keys.check(credential)
    if found is not None:
        key_id, scope = found
        return Principal(f"api key {key_id}", SCOPES_OF_KEY[scope])
    return None


def _session_principal() -> Principal | None:
    raw, serializer = request.cookies.get(SESSION_COOKIE), _serializer()
    if not raw or serializer is None:
        return None
    try:
        session_id = serializer.loads(raw, max_age=int(_settings().session_hours * 3600))
    except BadSignature:  # also SignatureExpired
        return None
    live = _container().web_sessions.live(session_id) if isinstance(session_id, str) else None
    if live is None:
        return None
    name, scopes = live
    if name.startswith("ops token "):
        token = _settings().ops_token  # a changed RB_OPS_TOKEN ends the sessions the old one opened
        if not token or name != f"ops token {_fingerprint(token)}":
            return None
    return Principal(name, scopes, session_id)


def authenticate() -> Principal | None:
    """The caller, from the bearer header when one is sent (a wrong one is not rescued by a cookie)."""
    credential = bearer_credential()
    if credential is not None:
        return principal_for(credential)
    if request.headers.get("Authorization"):
        return None
    return _session_principal()


def current_principal() -> Principal | None:
    return g.get("rb_principal")


# ---- answers -------------------------------------------------------------------------------------


def unauthorized() -> tuple[Response, int]:
    response, status = error_response(401, "unauthorized", "send Authorization: Bearer <RB_OPS_TOKEN or an API key>")
    response.headers["WWW-Authenticate"] = 'Bearer realm="returnbridge"'
    return response, status


def forbidden(scope: str) -> tuple[Response, int]:
    return error_response(403, "forbidden", f"this needs the {scope!r} scope", {"scope": [f"needs {scope}"]})


PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(html: str, status: int = 200) -> Response:
    """An HTML answer with the console's security headers."""
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(PAGE_SECURITY)
    return response


def _secure_cookies() -> bool:
    """HTTPS seen directly, or through a configured proxy (which terminates TLS in production)."""
    return request.is_secure or _settings().proxy_hops > 0


def sign_in_page(
    failed: bool = False, status: int = 401, message: str | None = None, next_path: str | None = None
) -> Response:
    """The sign-in form with a fresh CSRF nonce (the nonce in an HttpOnly cookie, its MAC in the form);
    after signing in the browser goes to `next_path` (a local path), else to where the form says."""
    nonce = secrets.token_urlsafe(24)
    g.rb_login_nonce = nonce
    html = render_template("ops_login.html", failed=failed, message=message, next=_safe_next(next_path))
    response = page(html, status)
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", path="/ops",
                        secure=_secure_cookies(), max_age=3600)  # fmt: skip
    return response


def csrf_token() -> str:
    """The token to put in every POST form: bound to the session, or to the sign-in form's nonce."""
    principal = current_principal()
    if principal is not None and principal.session_id:
        return _mac("csrf", principal.session_id)
    nonce = g.get("rb_login_nonce")
    return _mac("login", nonce) if nonce else ""


def _csrf_ok(principal: Principal) -> bool:
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    return bool(given) and hmac.compare_digest(given.encode(), _mac("csrf", principal.session_id or "").encode())


# ---- the decorator -------------------------------------------------------------------------------


def require(scope: str, *, page: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard a view: a credential with `scope` (read, act or admin), and a CSRF token on cookie POSTs.

    `page=True` answers a missing credential with the sign-in form instead of JSON.
    """
    if scope not in OPS_TOKEN_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if principal is None:
                return sign_in_page(next_path=request.full_path.rstrip("?")) if page else unauthorized()
            if scope not in principal.scopes:
                return forbidden(scope)
            g.rb_principal = principal
            if principal.via_cookie and request.method not in SAFE_METHODS and not _csrf_ok(principal):
                return error_response(403, "csrf", "a form sent with the session cookie needs its csrf_token",
                                      {CSRF_FIELD: ["missing or wrong"]})  # fmt: skip
            return view(*args, **kwargs)

        guarded.required_scope = scope  # type: ignore[attr-defined]  # a marker on the view; tests check every route has one
        return guarded

    return decorate


# ---- rate limits ---------------------------------------------------------------------------------


def rate_limited(name: str, rate_of: Callable[[Settings], str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """At most `rate_of(settings)` calls per client address (after ProxyFix), else 429 with Retry-After."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            refusal = _over_limit(name, rate_of(_settings()))
            return refusal if refusal is not None else view(*args, **kwargs)

        return limited

    return decorate


def _over_limit(name: str, rate: str) -> tuple[Response, int] | None:
    limiter: MovingWindowRateLimiter = current_app.extensions["returnbridge.limiter"]
    item, key = parse(rate), request.remote_addr or "unknown"
    if limiter.hit(item, name, key):
        return None
    reset = limiter.get_window_stats(item, name, key).reset_time
    response, status = error_response(429, "rate_limited", f"at most {rate} from one address; try again later")
    response.headers["Retry-After"] = str(max(1, int(reset - time.time()) + 1))
    return response, status


# ---- sign-in and sign-out ------------------------------------------------------------------------


def _safe_next(wanted: str | None = None) -> str:
    """Where to go after signing in: a local path only (no open redirect)."""
    wanted = wanted or request.values.get("next") or "/ops"
    parts = urlsplit(wanted)
    if parts.scheme or parts.netloc or not wanted.startswith("/") or wanted.startswith("//") or "\\" in wanted:
        return "/ops"
    return wanted


def _login_csrf_ok() -> bool:
    nonce, given = request.cookies.get(LOGIN_COOKIE, ""), request.form.get(CSRF_FIELD, "")
    return bool(nonce and given) and hmac.compare_digest(given.encode(), _mac("login", nonce).encode())


@bp.get("/ops/login")
def login_form() -> ResponseReturnValue:
    """The console's sign-in form.
    ---
    get:
      summary: The sign-in form (HTML) of the operations console
      responses:
        200: {description: The form, content: {text/html: {}}}
    """
    return sign_in_page(status=200)


@bp.post("/ops/login")
@rate_limited("login", lambda s: s.login_rate)
def login() -> ResponseReturnValue:
    """Sign in to the console.
    ---
    post:
      summary: Exchange the operations token or an API key (form field `token`) for a session cookie
      description: >
        The form's `csrf_token` must match the sign-in page's cookie. Rate-limited per address
        (RB_LOGIN_RATE). The cookie is HttpOnly, SameSite=Strict, Secure over HTTPS or behind a
        configured proxy, and expires after RB_SESSION_HOURS.
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {token: {type: string}, csrf_token: {type: string}, next: {type: string}}}
      responses:
        303: {description: Signed in; cookie set}
        401: {description: Wrong or missing token, content: {text/html: {}}}
        403: {description: Missing or wrong csrf_token, content: {text/html: {}}}
        429: {description: Too many attempts from this address, content: {application/json: {schema: Error}}}
    """
    serializer = _serializer()
    if serializer is None:
        return sign_in_page(failed=True, message="sign-in is off: RB_OPS_TOKEN is not set")
    if not _login_csrf_ok():
        return sign_in_page(failed=True, status=403, message="the form expired; please sign in again")
    given = request.form.get("token", "").strip()
    principal = principal_for(given) if given else None
    if principal is None:
        return sign_in_page(failed=True)
    lifetime = timedelta(hours=_settings().session_hours)
    session_id = _container().web_sessions.open(principal.name, principal.scopes, lifetime)
    response = redirect(_safe_next(), code=303)
    response.set_cookie(SESSION_COOKIE, serializer.dumps(session_id), httponly=True, samesite="Strict",
                        path="/", secure=_secure_cookies(), max_age=int(lifetime.total_seconds()))  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/ops")
    return response


@bp.post("/ops/logout")
@require(READ, page=True)
def logout() -> ResponseReturnValue:
    """Sign out.
    ---
    post:
      summary: End the console session (revoked server-side, cookie cleared)
      responses:
        303: {description: Signed out}
        401: {description: Not signed in, content: {text/html: {}}}
        403: {description: Missing or wrong csrf_token, content: {application/json: {schema: Error}}}
    """
    principal = current_principal()
    if principal is not None and principal.session_id:
        _container().web_sessions.revoke(principal.session_id)
    response = redirect("/ops/login", code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- command line: `flask --app wsgi api-keys ...` -----------------------------------------------------


@click.group("api-keys", cls=AppGroup)
def api_keys_cli() -> None:
    """Issue, list, rotate and revoke API keys (the running service sees changes at once)."""


@api_keys_cli.command("create")
@click.option("--name", required=True, help="who or what uses the key")
@click.option("--scope", type=click.Choice(KEY_SCOPES), required=True, help="read: look; act: look and change")
def _create_key(name: str, scope: str) -> None:
    """Print a new key once; only its digest is stored."""
    issued = _container().api_keys.create(name, scope)
    click.echo(issued.key)
    click.echo(f"id {issued.view['id']} scope {scope}: keep the key now, it cannot be shown again", err=True)


@api_keys_cli.command("list")
def _list_keys() -> None:
    """Every key: id, scope, name, created, revoked, last used (never the key)."""
    for key in _container().api_keys.list():
        state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "live"
        click.echo(
            f"{key['id']}  {key['scope']:<4}  {state:<12}  last used {key['last_used_at'] or '-'}  {key['name']}"
        )


@api_keys_cli.command("rotate")
@click.argument("key_id")
def _rotate_key(key_id: str) -> None:
    """Print a new key with the same name and scope; the old one stops working now."""
    try:
        issued = _container().api_keys.rotate(key_id)
    except UnknownKey as exc:
        raise click.ClickException(f"no live API key {key_id!r}") from exc
    _container().web_sessions.revoke_all(f"api key {key_id}")
    click.echo(issued.key)


@api_keys_cli.command("revoke")
@click.argument("key_id")
def _revoke_key(key_id: str) -> None:
    """The key, and console sessions opened with it, stop working now."""
    try:
        _container().api_keys.revoke(key_id)
    except UnknownKey as exc:
        raise click.ClickException(f"no API key {key_id!r}") from exc
    _container().web_sessions.revoke_all(f"api key {key_id}")
    click.echo(f"revoked {key_id}")


# ---- wiring --------------------------------------------------------------------------------------


def install(app: Flask, settings: Settings) -> None:
    """ProxyFix (RB_PROXY_HOPS), per-app rate-limit storage, `csrf_token()` in templates, the sign-in routes."""
    if settings.proxy_hops > 0:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]  # Flask's middleware hook
    app.extensions["returnbridge.limiter"] = MovingWindowRateLimiter(MemoryStorage())
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.register_blueprint(bp)
    app.cli.add_command(api_keys_cli)
