"""The database down, unreachable or slow: the web starts, answers 503 with Retry-After, and says what is down."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import OPS_TOKEN, example, make_settings, operator_client, sign_generic, wait_for

REFUSED = "postgresql+psycopg://postgres@127.0.0.1:1/returnbridge"  # nothing listens on port 1


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A server that accepts connections and never says a word: a database that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def app_without_database(url: str, **env: str):  # type: ignore[no-untyped-def]
    from wsgi import create_app

    settings = make_settings(RB_DATABASE_URL=url, RB_DB_CONNECT_TIMEOUT_SECONDS="1", **env)
    return create_app(settings, migrate=False)  # as `make web` starts its workers


def signed_post(client):  # type: ignore[no-untyped-def]
    body = json.dumps(example()).encode()
    return client.post("/webhooks/generic", data=body, headers=sign_generic(body))


@pytest.mark.parametrize("where", ["refused", "hanging"])
def test_the_web_starts_and_answers_503_with_retry_after_naming_the_database(where: str, black_hole: int) -> None:
    url = REFUSED if where == "refused" else f"postgresql+psycopg://postgres@127.0.0.1:{black_hole}/returnbridge"
    started = time.monotonic()
    app = app_without_database(url)
    assert time.monotonic() - started < 5, "starting must not wait for the database"
    client = operator_client(app)
    try:
        assert client.get("/healthz").status_code == 200
        for answer in (client.get("/returns"), client.get("/returns/case_x"), client.get("/ops/overdue"),
                       signed_post(client)):  # fmt: skip
            assert answer.status_code == 503, answer.get_data(as_text=True)
            assert answer.json["error"]["code"] == "database_unavailable"
            assert int(answer.headers["Retry-After"]) > 0
        t0 = time.monotonic()
        ready = client.get("/readyz")
        assert time.monotonic() - t0 < 5, "a hanging database must not hang the answer"
        assert ready.status_code == 503 and ready.json["checks"]["database"].startswith("down")
        page = client.get("/ops").get_data(as_text=True)
        assert "the database did not answer" in page and "the broker did not answer" not in page
        # Exchange rates are loaded lazily: the open policy route still answers from the rates held.
        assert client.post("/policy/evaluate", json=example()).status_code == 200
    finally:
        app.extensions["returnbridge"].close()


def test_the_bearer_token_needs_no_database_but_an_api_key_gets_503_not_401() -> None:
    app = app_without_database(REFUSED)
    client = app.test_client()
    try:
        assert client.get("/ops/queues", headers={"Authorization": f"Bearer {OPS_TOKEN}"}).status_code != 401
        keyed = client.get("/returns", headers={"Authorization": "Bearer rbk_0123456789abcdef_secret"})
        assert keyed.status_code == 503
    finally:
        app.extensions["returnbridge"].close()


@pytest.mark.postgres
def test_a_slow_statement_is_cut_by_the_statement_timeout_and_answered_503(postgres_url: str) -> None:
    import psycopg

    from service.bootstrap import Container
    from wsgi import create_app

    settings = make_settings(RB_DATABASE_URL=postgres_url, RB_DB_STATEMENT_TIMEOUT_SECONDS="1")
    container = Container(settings)
    client = operator_client(create_app(settings, container))
    raw = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        assert client.get("/returns").status_code == 200
        with psycopg.connect(raw) as locker:  # another session holds the table: every read of it waits
            locker.execute("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            answer = client.get("/returns")
            waited = time.monotonic() - started
            locker.rollback()
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert waited < 5, f"the request waited {waited:.1f}s"
        assert client.get("/returns").status_code == 200, "the pool recovers once the database answers"
    finally:
        container.close()


def test_a_process_started_without_its_database_migrates_once_it_answers(postgres_url: str) -> None:
    """Issue 16 §7: `make run` / `make worker` start with the database down and catch up when it is back."""
    import psycopg
    from sqlalchemy import inspect

    from adapters.storage.database import make_engine
    from service import bootstrap

    later = postgres_url.rsplit("/", 1)[0] + "/" + postgres_url.rsplit("/", 1)[1] + "_later"
    settings = make_settings(RB_DATABASE_URL=later, RB_DB_CONNECT_TIMEOUT_SECONDS="1")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    retry, bootstrap.SCHEMA_RETRY_SECONDS = bootstrap.SCHEMA_RETRY_SECONDS, 0.2
    container = bootstrap.Container(settings)  # the database does not exist yet: no exception
    try:
        assert container.schema_current is False
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{later.rsplit("/", 1)[1]}"')
        assert wait_for(lambda: container.schema_current, timeout=20)
        engine = make_engine(later)
        assert "cases" in inspect(engine).get_table_names()
        engine.dispose()
    finally:
        bootstrap.SCHEMA_RETRY_SECONDS = retry
        container.close()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{later.rsplit("/", 1)[1]}" WITH (FORCE)')


def test_migrate_says_the_database_is_unreachable_and_lets_make_web_go_on() -> None:
    """`make web` runs `flask migrate` before gunicorn: with the database down it must not stop there."""
    from wsgi import create_app

    app = create_app(make_settings(RB_DATABASE_URL=REFUSED, RB_DB_CONNECT_TIMEOUT_SECONDS="1"))
    try:
        with app.app_context():  # as the `flask` command runs it
            result = app.test_cli_runner().invoke(args=["migrate"])
        assert result.exit_code == 0
        assert "database unreachable, schema not migrated" in result.stderr
    finally:
        app.extensions["returnbridge"].close()
