"""`python -m bench [--quick] [--only http|messaging|scale|memory|analytics]`: figures, floors, ratios, goals."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import common
from bench.report import Goal, Report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (about 2 minutes) to check it works")
    parser.add_argument("--only", action="append", choices=["http", "messaging", "scale", "memory", "analytics"],
                        help="run only these parts (repeatable); default all")  # fmt: skip
    parser.add_argument("--rate", type=float, default=100.0, help="offered load for latency, requests/s")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="end-to-end events per stage (1 worker, then 2; default 1,000; --quick 300)",
    )
    parser.add_argument(
        "--large-cases",
        type=int,
        default=None,
        help="stored cases for the scale part's large side (default 100,000; --quick 20,000; "
        "the issue's 1,000,000 takes about 4 minutes more to set up)",
    )
    parser.add_argument("--memory-events", type=int, default=None,
                        help="events for the memory part (default 5,000; --quick 2,000)")  # fmt: skip
    parser.add_argument("--logs", type=Path, default=None, help="keep server logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    parts = args.only or ["http", "messaging", "scale", "memory", "analytics"]
    quick = args.quick
    report = Report(common.machine())
    logs = args.logs or Path(tempfile.mkdtemp(prefix="rb-bench-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    need_services = {"http", "messaging", "scale", "analytics"} & set(parts)
    if need_services and not (common.broker_available() and common.postgres_available()):
        print("RabbitMQ (5672) or PostgreSQL (5432) does not answer on 127.0.0.1: only the embedded parts run")

    def attempt(name: str, part) -> None:  # type: ignore[no-untyped-def]
        """One part failing (a shared broker refusing connections) must not cost the others' figures."""
        try:
            part()
        except Exception as exc:
            report.notes.append(f"{name} did not finish: {type(exc).__name__}: {str(exc)[:200]}")
            report.goals.append(Goal(f"{name} measured", "failed", False))

    if "http" in parts:
        from bench import http_bench

        seconds = 3.0 if quick else 5.0
        attempt("http embedded", lambda: report.http(http_bench.embedded(seconds, args.rate, 8, logs)))
        if common.broker_available() and common.postgres_available():
            attempt("http gunicorn", lambda: report.http(http_bench.gunicorn(seconds, args.rate, 8, logs)))
    if "messaging" in parts and common.broker_available() and common.postgres_available():
        from bench import messaging, pipeline

        count = args.events or (300 if quick else 1000)
        attempt("messaging floor", lambda: report.broker_floor(messaging.broker_floor(count)))
        attempt("end to end", lambda: report.pipeline(pipeline.end_to_end(count, logs)))
    if "scale" in parts and common.postgres_available():
        from bench import scale

        large = args.large_cases or (20_000 if quick else 100_000)
        attempt("scale", lambda: report.scale(scale.per_event_cost(small=1_000, large=large,
                                                                  events=100 if quick else 200)))  # fmt: skip
    if "memory" in parts:
        from bench import scale

        attempt("memory", lambda: report.memory(scale.memory(args.memory_events or (2_000 if quick else 5_000))))
    if "analytics" in parts and common.postgres_available():
        from bench import analytics

        attempt("analytics", lambda: report.analytics(analytics.report_at_scale(50_000 if quick else 1_000_000)))
    report.print(time.monotonic() - started)
    return 0 if report.goals_held() else 1


if __name__ == "__main__":
    sys.exit(main())
