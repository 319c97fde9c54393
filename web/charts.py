"""Geometry of the console's charts; the SVG itself is drawn by templates/console_charts.html.

Charts are drawn on the server (no script, nothing fetched: the pages' CSP allows none) and
readable without colour: every bar carries its figure and label as text, and the parts of a
stacked bar differ by pattern (solid, hatched, dotted) as well as by shade, with a legend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

BAR_HEIGHT = 18
BAR_GAP = 8
LABEL_WIDTH = 170
BAR_AREA = 300
PATTERNS = ("solid", "hatched", "dotted")


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    text: str  # the figure as read aloud and printed beside the bar
    y: int
    width: int


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    height: int
    label_width: int = LABEL_WIDTH
    bar_area: int = BAR_AREA

    @property
    def width(self) -> int:
        return self.label_width + self.bar_area + 190


def bar_chart(title: str, rows: list[tuple[str, int, str]], limit: int = 12) -> BarChart:
    """One horizontal bar per (label, value, text), longest first as given; widths scale to the largest."""
    shown = rows[:limit]
    top = max((value for _, value, _ in shown), default=0)
    bars = tuple(
        Bar(label, value, text, i * (BAR_HEIGHT + BAR_GAP), round(BAR_AREA * value / top) if top else 0)
        for i, (label, value, text) in enumerate(shown)
    )
    return BarChart(title, bars, max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP))


@dataclass(frozen=True)
class Segment:
    label: str
    value: int
    x: int
    width: int
    pattern: str


@dataclass(frozen=True)
class StackedBar:
    title: str
    segments: tuple[Segment, ...]
    total: int
    width: int = 560


def stacked_bar(title: str, parts: list[tuple[str, int]], width: int = 560) -> StackedBar:
    total = sum(value for _, value in parts)
    segments, x = [], 0
    for i, (label, value) in enumerate(parts):
        w = round(width * value / total) if total else 0
        segments.append(Segment(label, value, x, w, PATTERNS[i % len(PATTERNS)]))
        x += w
    return StackedBar(title, tuple(segments), total, width)


@dataclass(frozen=True)
class Sparkline:
    points: str  # SVG polyline points
    last: int | None
    peak: int
    samples: int
    width: int = 120
    height: int = 24

    @property
    def description(self) -> str:
        if not self.samples:
            return "no depth samples yet"
        return f"{self.samples} samples over the last hour, now {self.last}, at most {self.peak}"


def sparkline(samples: list[tuple[datetime, int]], width: int = 120, height: int = 24) -> Sparkline:
    """Depth over time, drawn left (oldest) to right (now); a flat line at the bottom when always empty."""
    if not samples:
        return Sparkline("", None, 0, 0, width, height)
    peak = max(depth for _, depth in samples)
    first, last = samples[0][0], samples[-1][0]
    span = (last - first).total_seconds() or 1.0
    points = []
    for at, depth in samples:
        x = Decimal((at - first).total_seconds() / span * (width - 2) + 1).quantize(Decimal("0.1"))
        y = Decimal(height - 2 - (depth / peak * (height - 4) if peak else 0)).quantize(Decimal("0.1"))
        points.append(f"{x},{y}")
    if len(points) == 1:
        points.append(f"{width - 1},{points[0].split(',')[1]}")
    return Sparkline(" ".join(points), samples[-1][1], peak, len(samples), width, height)
