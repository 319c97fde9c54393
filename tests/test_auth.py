"""web/auth.py attacked: open personal data, tokens in URLs, scopes, keys, sessions, CSRF, brute force, proxies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from config.settings import Settings
from service.bootstrap import Container
from tests.case_helpers import MovableClock as Clock
from tests.conftest import example, make_settings, post_event, wait_for

TOKEN = "auth-test-ops-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# Routes anyone may call: they reveal no personal or merchant data (webhooks and pushes are signed instead).
OPEN = {
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/policy/evaluate", "/fx/rates",
    "/webhooks/<marketplace>", "/carriers/<carrier>/tracking", "/ops/login", "/static/<path:filename>",
    # The buyer's page: its signed, expiring token is the key (web/buyer.py, tests/test_buyer_page.py).
    "/r/<token>", "/r/<token>/label", "/r/<token>/withdraw", "/r/<token>/withdraw/confirm",
}  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN=TOKEN, RB_LOGIN_RATE="50/minute")


@pytest.fixture
def case_id(client, running) -> str:  # type: ignore[no-untyped-def]
    case = post_event(client, example()).json["case_id"]
    assert wait_for(lambda: client.get(f"/returns/{case}", headers=BEARER).json.get("state") == "requested")
    return case


def test_every_route_but_the_open_ones_goes_through_the_one_check(app) -> None:  # type: ignore[no-untyped-def]
    unguarded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule not in OPEN and not hasattr(app.view_functions[rule.endpoint], "required_scope")
    ]
    assert unguarded == [], "every route that is not open must use web.auth.require"


def test_buyer_data_is_not_served_without_a_credential(anonymous, case_id: str) -> None:  # type: ignore[no-untyped-def]
    for path in ("/returns", f"/returns/{case_id}", f"/returns/{case_id}/notices", "/fx/ledger", "/ops/overdue"):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            answer = anonymous.get(path, headers=headers)
            assert answer.status_code == 401, path
            assert "Schmidt" not in answer.get_data(as_text=True)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_matched_in_any_case_on_every_route(anonymous, case_id: str, scheme: str) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"{scheme} {TOKEN}"}
    assert anonymous.get(f"/returns/{case_id}", headers=headers).status_code == 200
    assert anonymous.get("/ops/overdue", headers=headers).status_code == 200
    assert anonymous.post("/returns/case_none/commands/approve", headers=headers).status_code == 404


def test_a_token_in_the_url_is_never_accepted(anonymous, case_id: str) -> None:  # type: ignore[no-untyped-def]
    for path in (f"/ops?token={TOKEN}", f"/returns?token={TOKEN}", f"/returns/{case_id}?token={TOKEN}"):
        answer = anonymous.get(path)
        assert answer.status_code == 401, path
        assert "rb_session" not in answer.headers.get("Set-Cookie", "")


def _issue(client, scope: str, name: str = "warehouse") -> dict:  # type: ignore[no-untyped-def]
    answer = client.post("/ops/api-keys", json={"name": name, "scope": scope}, headers=BEARER)
    assert answer.status_code == 201
    return answer.json


def test_a_read_key_reads_but_cannot_act_and_an_act_key_can(anonymous, case_id: str) -> None:  # type: ignore[no-untyped-def]
    read, act = _issue(anonymous, "read"), _issue(anonymous, "act")
    as_read = {"Authorization": f"Bearer {read['key']}"}
    as_act = {"Authorization": f"Bearer {act['key']}"}
    assert anonymous.get(f"/returns/{case_id}", headers=as_read).json["order"]["buyer"]
    refused = anonymous.post(f"/returns/{case_id}/commands/approve", headers=as_read)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert anonymous.get(f"/returns/{case_id}", headers=BEARER).json["state"] == "requested"
    assert anonymous.post(f"/returns/{case_id}/commands/approve", headers=as_act).status_code == 200
    # Only the operations token manages keys.
    assert anonymous.get("/ops/api-keys", headers=as_act).status_code == 403
    assert anonymous.post("/ops/api-keys", json={"name": "x", "scope": "act"}, headers=as_act).status_code == 403


def test_a_nul_character_in_a_json_body_is_a_400_naming_the_field_and_nothing_is_stored(anonymous) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL text cannot hold NUL: found by the OpenAPI fuzz as a 500 on POST /ops/api-keys."""
    answer = anonymous.post("/ops/api-keys", json={"name": "ware\x00house", "scope": "read"}, headers=BEARER)
    assert answer.status_code == 400
    assert answer.json["error"]["fields"] == {"name": ["must not contain NUL characters"]}
    assert anonymous.get("/ops/api-keys", headers=BEARER).json["count"] == 0


def test_keys_are_listed_rotated_and_revoked_without_a_restart_and_never_stored_or_shown(  # type: ignore[no-untyped-def]
    anonymous, container: Container
) -> None:
    issued = _issue(anonymous, "read")
    key, key_id = issued["key"], issued["id"]
    as_key = {"Authorization": f"Bearer {key}"}
    assert anonymous.get("/returns", headers=as_key).status_code == 200
    listing = anonymous.get("/ops/api-keys", headers=BEARER)
    assert [k["id"] for k in listing.json["api_keys"]] == [key_id]
    assert listing.json["api_keys"][0]["last_used_at"]
    secret_part = key.removeprefix("rbk_").partition("_")[2]  # the secret may itself hold "_" (URL-safe base64)
    assert len(secret_part) >= 40
    assert secret_part not in listing.get_data(as_text=True)
    with container.engine.connect() as connection:
        stored = repr(connection.execute(text("SELECT * FROM api_keys")).all())
    assert key_id in stored and secret_part not in stored

    rotated = anonymous.post(f"/ops/api-keys/{key_id}/rotate", headers=BEARER).json
    assert rotated["replaces"] == key_id and rotated["scope"] == "read"
    assert anonymous.get("/returns", headers=as_key).status_code == 401
    as_new = {"Authorization": f"Bearer {rotated['key']}"}
    assert anonymous.get("/returns", headers=as_new).status_code == 200
    assert anonymous.post(f"/ops/api-keys/{rotated['id']}/revoke", headers=BEARER).json["revoked_at"]
    assert anonymous.get("/returns", headers=as_new).status_code == 401
    assert anonymous.post("/ops/api-keys/nope/rotate", headers=BEARER).status_code == 404
    bad = anonymous.post("/ops/api-keys", json={"name": "", "scope": "root"}, headers=BEARER)
    assert bad.status_code == 400 and set(bad.json["error"]["fields"]) == {"name", "scope"}


def test_api_keys_from_the_command_line(app, anonymous) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    created = runner.invoke(args=["api-keys", "create", "--name", "bi export", "--scope", "read"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    key_id = key.split("_")[1]
    assert anonymous.get("/returns", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = runner.invoke(args=["api-keys", "list"])
    assert (
        key_id in listed.output
        and "bi export" in listed.output
        and key.removeprefix("rbk_").partition("_")[2] not in listed.output
    )
    assert runner.invoke(args=["api-keys", "revoke", key_id]).exit_code == 0
    assert anonymous.get("/returns", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert runner.invoke(args=["api-keys", "rotate", key_id]).exit_code != 0


# ---- the console's session -------------------------------------------------------------------------


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client, credential: str = TOKEN):  # type: ignore[no-untyped-def]
    form = client.get("/ops/login")
    return client.post("/ops/login", data={"token": credential, "csrf_token": _csrf(form.get_data(as_text=True))})


def test_sign_in_sets_an_httponly_strict_cookie_holding_no_token(anonymous) -> None:  # type: ignore[no-untyped-def]
    answer = sign_in(anonymous)
    assert answer.status_code == 303 and answer.headers["Location"] == "/ops"
    cookie = answer.headers.getlist("Set-Cookie")
    session = next(c for c in cookie if c.startswith("rb_session="))
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Secure" not in session
    assert TOKEN not in session
    assert anonymous.get("/ops").status_code == 200
    assert anonymous.get("/returns").status_code == 200


def test_a_wrong_token_or_a_forged_form_signs_nobody_in(anonymous) -> None:  # type: ignore[no-untyped-def]
    assert sign_in(anonymous, "wrong").status_code == 401
    anonymous.get("/ops/login")
    forged = anonymous.post("/ops/login", data={"token": TOKEN, "csrf_token": "made-up"})
    assert forged.status_code == 403
    assert anonymous.get("/ops").status_code == 401


def test_cookie_posts_need_the_csrf_token(anonymous, case_id: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(anonymous)
    page = anonymous.get("/ops").get_data(as_text=True)
    token = _csrf(page)
    without = anonymous.post(f"/returns/{case_id}/commands/approve")
    assert without.status_code == 403 and without.json["error"]["code"] == "csrf"
    wrong = anonymous.post(f"/returns/{case_id}/commands/approve", headers={"X-CSRF-Token": "x" * 64})
    assert wrong.status_code == 403
    assert anonymous.get(f"/returns/{case_id}").json["state"] == "requested"
    done = anonymous.post(f"/returns/{case_id}/commands/approve", headers={"X-CSRF-Token": token})
    assert done.status_code == 200


def test_sign_out_revokes_the_session_even_if_the_cookie_is_kept(anonymous, app) -> None:  # type: ignore[no-untyped-def]
    sign_in(anonymous)
    stolen = anonymous.get_cookie("rb_session").value
    token = _csrf(anonymous.get("/ops").get_data(as_text=True))
    assert anonymous.post("/ops/logout", data={"csrf_token": token}).status_code == 303
    thief = app.test_client()
    thief.set_cookie("rb_session", stolen)
    assert thief.get("/ops").status_code == 401
    assert thief.get("/returns").status_code == 401


def test_sessions_expire_and_end_when_revoked_or_the_token_changes(tmp_path: Path) -> None:
    from wsgi import create_app

    clock = Clock(datetime.now(UTC))
    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/s.db", RB_OPS_TOKEN=TOKEN, RB_SESSION_HOURS="1",
                             RB_SECRET_KEY="k" * 40)  # fmt: skip
    container = Container(settings, clock=clock)
    try:
        client = create_app(settings, container).test_client()
        sign_in(client)
        assert client.get("/ops").status_code == 200
        clock.advance(minutes=61)
        assert client.get("/ops").status_code == 401
        clock.advance(minutes=-61)
        assert client.get("/ops").status_code == 200
        assert client.post("/ops/sessions/revoke", headers=BEARER).json["revoked"] == 1
        assert client.get("/ops").status_code == 401
        sign_in(client)
        changed = Settings.from_env({**settings.env, "RB_OPS_TOKEN": "a-new-token-0123456789"})
        other = create_app(changed, Container(changed, clock=clock)).test_client()
        other.set_cookie("rb_session", client.get_cookie("rb_session").value)
        assert client.get("/ops").status_code == 200
        assert other.get("/ops").status_code == 401, "a session of the old token outlives its rotation"
    finally:
        container.close()


def test_sessions_of_a_revoked_key_end_with_it(anonymous) -> None:  # type: ignore[no-untyped-def]
    issued = _issue(anonymous, "read")
    sign_in(anonymous, issued["key"])
    assert anonymous.get("/ops").status_code == 200
    assert anonymous.post("/ops/dead-letters/cases/replay", json={"all": True}).status_code == 403
    anonymous.post(f"/ops/api-keys/{issued['id']}/revoke", headers=BEARER)
    assert anonymous.get("/ops").status_code == 401


def test_sign_in_redirects_only_to_local_paths(anonymous) -> None:  # type: ignore[no-untyped-def]
    for wanted in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        form = anonymous.get(f"/ops/login?next={wanted}").get_data(as_text=True)
        answer = anonymous.post("/ops/login", data={"token": TOKEN, "csrf_token": _csrf(form), "next": wanted})
        assert answer.headers["Location"] == "/ops"


def test_sign_in_is_rate_limited_per_address(tmp_path: Path) -> None:
    from wsgi import create_app

    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/r.db", RB_OPS_TOKEN=TOKEN, RB_LOGIN_RATE="3/minute")
    container = Container(settings)
    try:
        client = create_app(settings, container).test_client()
        assert [sign_in(client, f"guess-{n}").status_code for n in range(3)] == [401, 401, 401]
        refused = sign_in(client, TOKEN)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert client.get("/ops").status_code == 401
        elsewhere = client.post("/ops/login", data={"token": TOKEN}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert elsewhere.status_code == 403, "another address is not limited (only its forged form is refused)"
    finally:
        container.close()


@pytest.mark.parametrize("hops", ["0", "1"])
def test_behind_a_configured_proxy_cookies_are_secure_and_the_client_address_is_the_forwarded_one(  # type: ignore[no-untyped-def]
    tmp_path: Path, hops: str
) -> None:
    from wsgi import create_app

    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/p.db", RB_OPS_TOKEN=TOKEN,
                             RB_PROXY_HOPS=hops, RB_LOGIN_RATE="1/minute")  # fmt: skip
    container = Container(settings)
    try:
        client = create_app(settings, container).test_client()
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        form = client.get("/ops/login", headers=forwarded)
        answer = client.post("/ops/login", headers=forwarded,
                             data={"token": TOKEN, "csrf_token": _csrf(form.get_data(as_text=True))})  # fmt: skip
        session = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("rb_session="))
        assert ("Secure" in session) is (hops == "1")
        other_client = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.8"}
        second = client.post("/ops/login", headers=other_client, data={"token": "x"})
        # Behind the proxy each forwarded address has its own budget; without one, a forged header changes nothing.
        assert (second.status_code == 429) is (hops == "0")
    finally:
        container.close()


def test_policy_evaluate_stays_open_but_is_rate_limited(tmp_path: Path) -> None:
    from wsgi import create_app

    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/e.db", RB_POLICY_RATE="2/minute")
    container = Container(settings)
    try:
        client = create_app(settings, container).test_client()
        body = example()
        codes = [client.post("/policy/evaluate", json=body).status_code for _ in range(3)]
        assert codes[:2] == [200, 200] and codes[2] == 429
        assert client.post("/policy/evaluate", json=body).headers["Retry-After"]
    finally:
        container.close()


def test_the_session_outlives_nothing_past_its_max_age(anonymous, container: Container) -> None:  # type: ignore[no-untyped-def]
    sign_in(anonymous)
    with container.engine.connect() as connection:
        (expires,) = connection.execute(text("SELECT expires_at FROM web_sessions")).one()
    expires_at = datetime.fromisoformat(str(expires)).replace(tzinfo=UTC)
    assert timedelta(hours=7, minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=8)
