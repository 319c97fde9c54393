"""Periodic tasks run by the worker beside its consumers (tracking polls): one daemon thread each.

A task that fails is logged and tried again at the next tick; stopping waits for the
run in hand to finish, as the consumers do (worker.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicTask:
    def __init__(self, name: str, interval_seconds: float, action: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval_seconds
        self.action = action
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"periodic-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def run_once(self) -> None:
        try:
            self.action()
        except Exception:
            log.exception("periodic task %s failed; it runs again in %ss", self.name, self.interval)
        finally:
            self.runs += 1

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
