"""`python -m bench.slowloris [--port 8101] [--connections 200] [--seconds 20]`: a bounded slowloris probe.

Opens `connections` sockets to a server on the loopback interface, each sending a request's headers one
line at a time every `--drip` seconds and never finishing them, while it asks `GET /healthz` once a second
on a fresh connection. It prints how many health checks were answered and how long they took, how many
slow sockets the server closed, then closes everything: it stops by itself after `seconds`, and refuses
any address but 127.0.0.1 / ::1 (it is a measurement of our own server, not a tool against others).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from dataclasses import asdict, dataclass, field

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class SlowlorisResult:
    connections: int
    seconds: float
    health_checks: int = 0
    answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    closed_by_server: int = 0

    @property
    def worst_ms(self) -> float | None:
        return max(self.latencies_ms) if self.latencies_ms else None


def _slow_client(host: str, port: int, stop: threading.Event, drip: float, closed: list[int]) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        n = 0
        while not stop.wait(drip):
            n += 1
            sock.sendall(f"X-Slow-{n}: {'a' * 8}\r\n".encode())
    except OSError:
        closed.append(1)  # refused, reset or timed out by the server
        return
    sock.close()


def _health(host: str, port: int) -> float | None:
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(host, port, timeout=5)
        connection.request("GET", "/healthz")
        ok = connection.getresponse().status == 200
        connection.close()
    except OSError:
        return None
    return (time.perf_counter() - started) * 1000 if ok else None


def run(host: str, port: int, connections: int, seconds: float, drip: float = 2.0) -> SlowlorisResult:
    """Hold `connections` half-sent requests for `seconds` while checking /healthz once a second."""
    if host not in LOOPBACK:
        raise ValueError("the slowloris probe runs against the loopback interface only")
    stop, closed = threading.Event(), []
    threads = [
        threading.Thread(target=_slow_client, args=(host, port, stop, drip, closed), daemon=True)
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    result = SlowlorisResult(connections, seconds)
    time.sleep(min(1.0, seconds / 4))  # let the slow sockets take their places first
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result.health_checks += 1
        latency = _health(host, port)
        if latency is not None:
            result.answered += 1
            result.latencies_ms.append(round(latency, 1))
        time.sleep(max(0.0, 1.0 - (latency or 0) / 1000))
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    result.closed_by_server = len(closed)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slowloris", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--drip", type=float, default=2.0, help="seconds between header lines of a slow client")
    args = parser.parse_args()
    result = run(args.host, args.port, min(args.connections, 2000), min(args.seconds, 300.0), args.drip)
    print(json.dumps({**asdict(result), "latencies_ms": None, "worst_ms": result.worst_ms}, indent=2))


if __name__ == "__main__":
    main()
