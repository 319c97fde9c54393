"""gunicorn settings for `make web`: bind from RB_HOST/RB_PORT, and where the outbox relay runs.

On PostgreSQL the web runs no relay (RB_WEB_RELAY off by default): each intake commit NOTIFYs the worker's
relay, which LISTENs and publishes within milliseconds, so no web worker spends CPU on publishing. With
RB_WEB_RELAY=on (the default on SQLite, which has no NOTIFY) each web worker runs a relay woken by its own
commits, and the worker's relay polls as a safety net.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

# Several processes: prometheus_client's multiprocess mode, set before any worker imports the app.
METRICS_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent.parent / "var" / "prometheus")
)
Path(METRICS_DIR).mkdir(parents=True, exist_ok=True)

if os.environ.get("RB_BROKER_URL", "memory://").startswith("memory"):
    raise SystemExit(
        "make web needs RB_BROKER_URL=amqp://… (RabbitMQ): with the in-process broker no worker would ever see "
        "the web's messages. Use `make run` for the one-process default."
    )

bind = f"{os.environ.get('RB_HOST', '127.0.0.1')}:{os.environ.get('RB_PORT', '8080')}"
workers = int(os.environ.get("RB_WEB_WORKERS", "2"))
# gevent by default, not gthread (issue 16, slowloris): a gthread worker gives each connection a thread while it
# reads the request's headers, so a few dozen clients sending headers a line at a time took every thread and
# /healthz went unanswered. A gevent worker holds each connection in a greenlet (up to worker_connections per
# process) and bounds the reading of each request's headers to `keepalive` seconds in all (gevent.Timeout
# around the parse), so a slow client is dropped instead of waiting forever. Measured in the README
# (bench/slowloris.py), with its cost in webhook throughput. psycopg 3 cooperates with gevent by itself
# (>= 3.1.14); kombu, pika and requests use patched sockets. RB_WEB_WORKER_CLASS=gthread is for a deployment
# behind a proxy that buffers whole requests (nginx's default), which then bounds slow clients itself.
worker_class = os.environ.get("RB_WEB_WORKER_CLASS", "gevent")
if worker_class not in ("gevent", "gthread"):
    raise SystemExit(f"RB_WEB_WORKER_CLASS must be gevent or gthread, got {worker_class!r}")
threads = int(os.environ.get("RB_WEB_THREADS", "4"))  # gthread only
worker_connections = int(os.environ.get("RB_WEB_CONNECTIONS", "1000"))  # gevent only
keepalive = int(os.environ.get("RB_WEB_HEADER_TIMEOUT_SECONDS", "5"))
graceful_timeout = 20
timeout = 30
accesslog = "-"
control_socket_disable = True  # no gunicornc control socket under $HOME: nothing we use, one surface less
logger_class = "web.access_log.RedactingLogger"  # access and error lines redacted like the app's (issue 16)


def on_starting(server: Arbiter) -> None:
    from service.metrics import prune_dead_processes

    prune_dead_processes(METRICS_DIR)


def child_exit(server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


def post_worker_init(worker: Worker) -> None:
    app = worker.wsgi
    container = getattr(app, "extensions", {}).get("returnbridge")
    if container is not None and container.settings.web_relay:
        container.relay.start(listen=False)  # its own commits wake it; other processes' are the worker's


def worker_exit(server: Arbiter, worker: Worker) -> None:
    app = getattr(worker, "wsgi", None)
    container = getattr(app, "extensions", {}).get("returnbridge") if app else None
    if container is not None:
        container.close()
