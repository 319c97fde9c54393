"""`python -m bench.profile [events] [--postgres]`: cProfile of each stage, in-process, top lines by own time.

The stages are the service's own objects wired by `Container`, driven as the processes
drive them: the webhook's intake transaction, the relay's claim-publish-mark, the case
handler, and notice delivery (one command per notice, delivered on both channels; the webhook
channel posting to a local sink, email recorded and not sent as no SMTP server is set). What each prints is the README's "profile" lines.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bench.common import BENCH_SECRET, fresh_event, postgres_database
from bench.pipeline import NOTIFY_SECRET, NoticeSink


def _profile(name: str, work: Callable[[], int], statements: list[int], lines: int = 12) -> None:
    """`statements`: a counter the engine bumps per statement sent (BEGIN and COMMIT are not counted)."""
    sent = statements[0]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    count = work()
    profiler.disable()
    elapsed = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    per_item = (statements[0] - sent) / max(count, 1)
    print(
        f"\n## {name}: {count} items, {elapsed / max(count, 1) * 1000:.2f} ms each (under the profiler), "
        f"{per_item:.1f} statements each"
    )
    text = out.getvalue()
    print(text[text.index("   ncalls") :] if "   ncalls" in text else text)


def run(database_url: str, events: int) -> None:
    from adapters.marketplaces.base import ParsedDelivery
    from adapters.messages import SCHEMA_VERSION
    from config.settings import Settings
    from queues.consumer import IncomingMessage
    from service.bootstrap import Container

    sink = NoticeSink()
    settings = Settings.from_env({"RB_GENERIC_WEBHOOK_SECRET": BENCH_SECRET, "RB_DATABASE_URL": database_url,
                                  "RB_LOG_LEVEL": "WARNING", "RB_TOPOLOGY_PREFIX": "bench",
                                  "RB_NOTIFY_WEBHOOK_URL": sink.url, "RB_NOTIFY_WEBHOOK_SECRET": NOTIFY_SECRET})  # fmt: skip
    container = Container(settings)
    statements = [0]

    @event.listens_for(container.engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        statements[0] += 1

    run_id = uuid.uuid4().hex[:8]
    messages: list[Any] = []

    def as_incoming(message: Any) -> IncomingMessage:
        """As a consumer receives it: with the `x-rb-schema` header the publisher stamps on every message."""
        headers = {"x-rb-schema": SCHEMA_VERSION, **message.headers}
        return IncomingMessage(message.message_id, message.body, message.routing_key, headers)

    def relay() -> int:
        before = len(messages)
        while container.outbox_store.relay_batch(datetime.now(UTC), 100, messages.append, timedelta(seconds=1))[0]:
            continue
        return len(messages) - before

    def consume(queue: str, routing_prefix: str) -> int:
        handler = container.handlers[queue]
        mine = [m for m in messages if m.routing_key.startswith(routing_prefix)]
        for message in mine:
            handler(as_incoming(message))
        return len(mine)

    def intake(tag: str) -> int:
        for n in range(events):
            delivery = ParsedDelivery(f"profile-{run_id}-{tag}-{n}", [fresh_event(n, run_id + tag)])
            container.intake.accept("generic", delivery)
        return events

    try:
        intake("warm")
        relay()
        consume("cases", "return.")
        relay()
        consume("notify.buyer", "notify.buyer.")
        messages.clear()
        _profile("web intake (Intake.accept)", lambda: intake("p"), statements)
        _profile("relay (claim, publish to a list, mark)", relay, statements)
        events_only = list(messages)
        _profile("case handler (returns.cases)", lambda: consume("cases", "return."), statements)
        messages.clear()
        relay()
        _profile(
            "notice delivery (notify.buyer: email and webhook)",
            lambda: consume("notify.buyer", "notify.buyer."),
            statements,
        )
        print(f"\n{len(events_only)} events, notices posted to the sink: {sink.posts}")
    finally:
        container.close()
        sink.close()


def main(argv: list[str]) -> None:
    events = int(argv[0]) if argv and argv[0].isdigit() else 200
    if "--postgres" in argv:
        with postgres_database("profile") as url:
            run(url, events)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="rb-profile-") as scratch:
            run(f"sqlite:///{scratch}/rb.db", events)


if __name__ == "__main__":
    main(sys.argv[1:])
