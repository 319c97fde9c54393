"""gunicorn settings for `make web`: bind from RB_HOST/RB_PORT, and an outbox relay in each worker.

The relay in the web process publishes a webhook's event right after its commit, so
the worker sees it at once; the worker process runs its own relay as a safety net.
"""

import os
from pathlib import Path

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
threads = int(os.environ.get("RB_WEB_THREADS", "4"))
worker_class = "gthread"
graceful_timeout = 20
timeout = 30
accesslog = "-"


def on_starting(server):
    from service.metrics import prune_dead_processes

    prune_dead_processes(METRICS_DIR)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


def post_worker_init(worker):
    app = worker.wsgi
    container = getattr(app, "extensions", {}).get("returnbridge")
    if container is not None:
        container.relay.start()


def worker_exit(server, worker):
    app = getattr(worker, "wsgi", None)
    container = getattr(app, "extensions", {}).get("returnbridge") if app else None
    if container is not None:
        container.close()
