"""The Flask app: `create_app()` for gunicorn and `flask --app wsgi`, plus the process commands.

`flask --app wsgi serve`   the embedded default: HTTP, relay, consumers and case timers in one process
`flask --app wsgi worker`  the relay, consumers and case timers alone (production, against RabbitMQ)
`flask --app wsgi migrate` bring the database schema up to date
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

import click
from flask import Flask, current_app
from flask.json.provider import DefaultJSONProvider
from werkzeug.serving import make_server

from config.settings import Settings
from queues.worker import Worker
from service.bootstrap import Container
from service.metrics import prune_dead_processes, record_outcome
from service.privacy import install_redaction, secrets_of
from web import auth, buyer, carriers, console, fx, operator, ops, policy, returns, service_routes, webhooks
from web.errors import ChunkedBodyLimit, register_error_handlers
from web.openapi import build_spec
from web.priority import RequestsFirst

log = logging.getLogger("returnbridge")


class KeysAsWritten(DefaultJSONProvider):
    """JSON answers keep their keys in the order the code writes them (Flask sorts them by default)."""

    sort_keys = False


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def create_app(settings: Settings | None = None, container: Container | None = None, migrate: bool = True) -> Flask:
    """The app; `migrate=False` where the schema was brought up to date once before (gunicorn workers)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    install_redaction(secrets_of(dict(settings.env)))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = KeysAsWritten(app)
    app.extensions["returnbridge"] = container or Container(settings, run_migrations=migrate)
    # POST /policy/evaluate converts the refund for display with the same rates the cases use.
    app.extensions["returnbridge.rates"] = app.extensions["returnbridge"].rates
    register_error_handlers(app)
    auth.install(app, settings)
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, settings.max_body_bytes)  # type: ignore[method-assign]  # Flask's middleware hook
    blueprints = (webhooks.bp, carriers.bp, returns.bp, service_routes.bp, policy.bp, fx.bp, operator.bp, ops.bp)
    for blueprint in (*blueprints, console.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(buyer.bp)  # GET /r/<token>: public by design, the signed token is the key
    app.extensions["returnbridge.openapi"] = build_spec(app)
    app.cli.add_command(serve)
    app.cli.add_command(worker)
    app.cli.add_command(migrate_command)
    return app


def __getattr__(name: str) -> Any:
    """`wsgi:app` for servers that want a module attribute; built on first use, not at import."""
    if name == "app":
        return create_app()
    raise AttributeError(name)


def _consumers(container: Container) -> list:
    consumers = container.consumers()
    for consumer in consumers:
        consumer.on_outcome = record_outcome
    return consumers


def _wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(1)


@click.command("serve")
def serve() -> None:
    """The embedded default: HTTP on RB_HOST:RB_PORT with the relay and consumers in this process."""
    container: Container = current_app.extensions["returnbridge"]
    settings = container.settings
    container.recover_embedded_messages()
    first = RequestsFirst(settings.embedded_quiet_seconds, settings.embedded_max_wait_seconds)
    consumers = _consumers(container)
    for consumer in consumers:
        consumer.handler = first.handler(consumer.handler)
        if consumer.batch_handler is not None:  # a batch waits for a quiet web, and goes one by one under load
            consumer.batch_handler = first.batch_handler(consumer.batch_handler)
    running = Worker(container.relay, consumers, container.periodic_tasks())
    running.start()
    container.rate_refresher.start()
    if not running.wait_ready(30):
        log.warning("some consumers are not ready yet; they keep trying")
    # The app itself for the server's threads: `current_app` is declared as the Flask it proxies, not as a proxy.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    server = make_server(settings.host, settings.port, first.wsgi(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    mode = "embedded broker" if settings.embedded_broker else settings.broker_url.split("@")[-1]
    log.info("Returnbridge serving on http://%s:%s (%s)", settings.host, settings.port, mode)
    _wait_for_stop()
    log.info("stopping: no new requests, finishing messages in hand")
    server.shutdown()
    running.stop()
    container.close()


@click.command("worker")
def worker() -> None:
    """The outbox relay and every consumer, against RB_BROKER_URL (RabbitMQ)."""
    container: Container = current_app.extensions["returnbridge"]
    if container.settings.embedded_broker:
        raise click.ClickException(
            "RB_BROKER_URL is memory://: a separate worker would never see the web's messages. "
            "Set RB_BROKER_URL=amqp://… or use `make run` for the one-process default."
        )
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        prune_dead_processes(metrics_dir)
    running = Worker(container.relay, _consumers(container), container.periodic_tasks())
    running.start()
    container.rate_refresher.start()
    log.info("worker consuming %s", ", ".join(c.queue_name for c in running.consumers))
    _wait_for_stop()
    running.stop()
    container.close()


@click.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (also done at every start).

    An unreachable database is said and is not a failure: `make web` goes on to start gunicorn, which answers
    503 until the database is back; `flask migrate` (or `make migrate`) then, or a `make worker` that waits."""
    container = current_app.extensions["returnbridge"]
    where = container.settings.database_url.split("@")[-1]
    if container.schema_current:
        click.echo(f"schema up to date: {where}")
    else:
        click.echo(f"database unreachable, schema not migrated: {where}; run `make migrate` once it answers", err=True)
