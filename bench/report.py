"""Print what was measured as Markdown tables (pasted as-is into the README), and check the goals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Goal:
    name: str
    measured: str
    held: bool


@dataclass
class Report:
    machine: dict[str, str]
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # part, what, figure, floor/ratio
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def http(self, figures: Any) -> None:
        target = figures.target
        hc, wc, hf, wf = (
            figures.healthz_capacity,
            figures.webhook_capacity,
            figures.healthz_fixed,
            figures.webhook_fixed,
        )
        self.rows += [
            ("http", f"{target}: `/healthz` capacity (floor)", f"{hc.throughput:.0f} req/s", f"p50 {hc.p50_ms:.1f} ms"),
            ("http", f"{target}: webhook acceptance capacity", f"{wc.throughput:.0f} req/s",
             f"{figures.capacity_ratio:.2f} of floor"),
            ("http", f"{target}: `/healthz` at {figures.rate:.0f} req/s", f"p50 {hf.p50_ms:.1f} ms",
             f"p99 {hf.p99_ms:.1f} ms"),
            ("http", f"{target}: webhook at {figures.rate:.0f} req/s", f"p50 {wf.p50_ms:.1f} ms",
             f"p99 {wf.p99_ms:.1f} ms"),
        ]  # fmt: skip
        for result, label in ((wc, "capacity"), (wf, "fixed load")):
            bad = {s: c for s, c in result.statuses.items() if s not in (200, 202)}
            if bad or result.errors:
                self.notes.append(f"{target} {label}: unexpected answers {bad}, {result.errors} connection errors")
        self.goals += [
            Goal(f"{target}: acceptance >= 0.3 x /healthz", f"{figures.capacity_ratio:.2f}",
                 figures.capacity_ratio >= 0.3),
            Goal(f"{target}: p99 acceptance < 50 ms at {figures.rate:.0f} req/s", f"{wf.p99_ms:.1f} ms",
                 wf.p99_ms < 50 and len(wf.latencies) == wf.sent),
        ]  # fmt: skip

    def broker_floor(self, floor: Any) -> None:
        self.rows.append(("messaging", f"kombu publish (confirms, one at a time) + consume, {floor.count} msgs",
                          f"{floor.per_second:.0f} msg/s", "the broker alone, for reference"))  # fmt: skip

    def pipeline(self, figures: Any) -> None:
        """The issue's end-to-end target: ratio to the same gunicorn's `/healthz`, and 1 -> 2 workers."""
        self.rows.append(("end to end", "gunicorn (make web): `/healthz` capacity, 8 clients (floor)",
                          f"{figures.healthz.throughput:.0f} req/s", ""))  # fmt: skip
        for stage in figures.stages:
            self.rows.append((
                "end to end",
                f"{stage.events} events, {stage.workers} worker process{'es' if stage.workers > 1 else ''}: accepted -> "
                f"case `requested` -> {figures.notices_per_event:.0f} buyer notices posted to the notifier webhook",
                f"{stage.per_second:.1f} events/s",
                f"{stage.per_second / figures.healthz.throughput:.3f} of floor",
            ))  # fmt: skip
            if stage.done < stage.events:
                self.notes.append(f"end to end, {stage.workers} workers: only {stage.done}/{stage.events} events done")
        complete = all(stage.done == stage.events for stage in figures.stages)
        self.goals += [
            Goal("end to end (make web + 2 workers) >= 0.1 x /healthz", f"{figures.ratio:.3f}",
                 figures.ratio >= 0.1 and complete),
            Goal("a second worker process adds throughput (2 / 1 workers)", f"{figures.scaling:.2f} x",
                 figures.scaling > 1.1 and complete),
        ]  # fmt: skip

    def scale(self, figures: Any) -> None:
        growth = figures.large_ms / figures.small_ms
        self.rows += [
            ("scale", f"per event (intake + relay + case handler), {figures.small:,} cases on PostgreSQL",
             f"{figures.small_ms:.2f} ms", ""),
            ("scale", f"per event, {figures.large:,} cases on PostgreSQL (setup {figures.setup_seconds:.0f} s)",
             f"{figures.large_ms:.2f} ms", f"{growth:.2f} x"),
        ]  # fmt: skip
        self.goals.append(Goal(f"per-event cost flat from {figures.small:,} to {figures.large:,} cases",
                               f"{growth:.2f} x", growth < 1.5))  # fmt: skip

    def memory(self, figures: Any) -> None:
        self.rows += [
            ("memory", f"{figures.events:,} events in-process (SQLite): time per event", f"{figures.ms_per_event:.2f} ms",
             ""),
            ("memory", f"RSS after 10 % / after 100 % of {figures.events:,} events",
             f"{figures.rss_early_mb:.1f} / {figures.rss_late_mb:.1f} MiB",
             f"+{figures.rss_late_mb - figures.rss_early_mb:.1f} MiB"),
            ("memory", "tracemalloc peak over 1,000 events, early / late window",
             f"{figures.peak_early_kb:.0f} / {figures.peak_late_kb:.0f} KiB",
             f"retained {figures.retained_early_kb:.0f} / {figures.retained_late_kb:.0f} KiB"),
        ]  # fmt: skip
        growth = figures.rss_late_mb - figures.rss_early_mb
        self.goals.append(Goal("memory flat across events (RSS growth < 20 MiB, no retained growth)",
                               f"+{growth:.1f} MiB", growth < 20 and figures.retained_late_kb < 512))  # fmt: skip

    def analytics(self, figures: Any) -> None:
        self.rows += [
            ("analytics", f"`GET /ops/analytics` report, 30-day period, {figures.cases:,} cases on PostgreSQL "
             f"(setup {figures.setup_seconds:.0f} s)", f"{figures.month_ms:.0f} ms", ""),
            ("analytics", f"the same report over 365 days, {figures.cases:,} cases", f"{figures.year_ms:.0f} ms", ""),
        ]  # fmt: skip
        self.goals.append(Goal(f"analytics report for 30 days under 2 s at {figures.cases:,} cases",
                               f"{figures.month_ms:.0f} ms", figures.month_ms < 2000))  # fmt: skip

    def goals_held(self) -> bool:
        return all(goal.held for goal in self.goals)

    def print(self, seconds: float) -> None:
        m = self.machine
        print()
        print(f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['ram']} RAM, Python {m['python']}, load {m['load']}")
        print()
        print("| part | what | figure | floor / ratio |")
        print("|---|---|---|---|")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")
        print()
        print("| goal | measured | held |")
        print("|---|---|---|")
        for goal in self.goals:
            print(f"| {goal.name} | {goal.measured} | {'yes' if goal.held else 'NO'} |")
        for note in self.notes:
            print(f"\nnote: {note}")
        print(f"\n(bench took {seconds:.0f} s)")
