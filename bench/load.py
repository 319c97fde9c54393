"""HTTP load on 127.0.0.1 from threads with keep-alive `http.client` connections, bounded in count and time.

Two shapes: closed loop (N threads send back to back: what the server can take) and
open loop (requests leave on a fixed schedule whatever the answers do, and latency
counts from the scheduled start, so a stalled server cannot hide its queue:
no coordinated omission).
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Request = tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers


@dataclass
class LoadResult:
    sent: int
    seconds: float
    latencies: list[float] = field(repr=False)  # seconds, successful requests only
    statuses: dict[int, int]
    errors: int

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def p50_ms(self) -> float:
        return self.percentile(50) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000


class _Client:
    def __init__(self, port: int, ok: tuple[int, ...]) -> None:
        self.port = port
        self.ok = ok
        self.connection: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> int:
        method, path, body, headers = request
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                if response.will_close:
                    self.connection.close()
                    self.connection = None
                return response.status
            except (ConnectionError, http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def closed_loop(port: int, requests: Callable[[int], Request], threads: int, seconds: float, limit: int,
                ok: tuple[int, ...] = (200, 202)) -> LoadResult:  # fmt: skip
    """`threads` clients back to back for `seconds` or `limit` requests, whichever comes first."""
    counter = iter(range(limit))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.monotonic() + seconds

    def run() -> None:
        nonlocal errors
        client = _Client(port, ok)
        mine: list[float] = []
        try:
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter, None)
                if n is None:
                    break
                request = requests(n)
                started = time.perf_counter()
                try:
                    status = client.send(request)
                except OSError:
                    with lock:
                        errors += 1
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                if status in ok:
                    mine.append(elapsed)
        finally:
            client.close()
            with lock:
                latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return LoadResult(sum(statuses.values()) + errors, elapsed, latencies, statuses, errors)


def open_loop(port: int, requests: Callable[[int], Request], rate: float, seconds: float, threads: int = 32,
              ok: tuple[int, ...] = (200, 202)) -> LoadResult:  # fmt: skip
    """`rate` requests a second for `seconds` on a fixed schedule; latency from the scheduled start."""
    total = int(rate * seconds)
    work: queue.Queue[tuple[int, float] | None] = queue.Queue()
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    def run() -> None:
        nonlocal errors
        client = _Client(port, ok)
        try:
            while (item := work.get()) is not None:
                n, scheduled = item
                request = requests(n)
                try:
                    status = client.send(request)
                except OSError:
                    with lock:
                        errors += 1
                    continue
                elapsed = time.perf_counter() - scheduled
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status in ok:
                        latencies.append(elapsed)
        finally:
            client.close()

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    for n in range(total):
        scheduled = started + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        work.put((n, scheduled))
    for _ in workers:
        work.put(None)
    for worker in workers:
        worker.join(60)
    elapsed = time.perf_counter() - started
    return LoadResult(total, elapsed, latencies, statuses, errors)
