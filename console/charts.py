"""One chart helper for every dashboard chart: geometry here, `templates/console/_chart.html` only draws it.

Server-rendered SVG, so it needs no script and no inline style (the CSP
allows neither): colours come from CSS classes, every bar and every column
carries a `<title>` the browser shows on hover, and the same numbers go in a
table under the chart for reading, copying and screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["bars", "stacked", "lines"]


def whole(value: float) -> str:
    return f"{round(value):,}"


def percent(value: float) -> str:
    return f"{value:.0f} %"


def duration(seconds: float) -> str:
    """12 s, 3 min 5 s, 2 h 10 min: handling times and ages."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 48 * 3600:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"
    days, rest = divmod(seconds, 86400)
    return f"{days} d {rest // 3600} h" if rest // 3600 else f"{days} d"


@dataclass(frozen=True)
class Series:
    name: str  # legend, hover and table heading
    css: str  # colour class (see the dashboard section of docket.css)
    values: Sequence[float]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Line:
    css: str
    points: str  # an SVG polyline's points


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    rotate: bool = False  # slanted, when the labels are wider than their slots


@dataclass(frozen=True)
class Row:
    title: str
    cells: list[str]


@dataclass(frozen=True)
class Chart:
    label: str  # what a screen reader hears; the table has the numbers
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    label_y: float  # where the x labels hang
    bars: list[Rect]
    lines: list[Line]
    columns: list[Rect]  # one per x slot, the whole height: hovering anywhere names that slot's numbers
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]  # (css, name)
    headings: list[str]  # the table's: the x heading, then one per series (and a total when stacked)
    rows: list[Row]
    empty: bool = field(default=False)


CHAR_WIDTH = 6.2  # an axis label's average character width, in viewBox units (11px sans-serif)
SLANTED_CHARS = 18  # a slanted label longer than this is cut short


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above `value` (the top of the y axis)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def chart(
    *,
    label: str,
    x_titles: Sequence[str],
    series: Sequence[Series],
    kind: Kind = "bars",
    x_labels: Sequence[str] | None = None,
    x_heading: str = "",
    fmt: Callable[[float], str] = whole,
    y_max: float | None = None,
    width: int = 640,
    height: int = 220,
) -> Chart:
    """Lay out one chart.

    `x_titles` name each slot in full (hover and table); `x_labels` are the
    short axis labels, "" where none is drawn (defaults to the titles).
    `kind`: side-by-side bars, stacked bars, or one line per series.
    """
    n = len(x_titles)
    for s in series:
        if len(s.values) != n:
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {n} slots")
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    highest = max(totals if kind == "stacked" else [v for s in series for v in s.values], default=0)
    top_value = y_max if y_max is not None else nice_ceiling(highest)
    # Half way only where it is a round number: "2" under a top of 5 would be a lie.
    fractions = (0, 0.5, 1) if fmt is not whole or top_value % 2 == 0 else (0, 1)
    y_labels = [(f, fmt(top_value * f)) for f in fractions]
    labels = list(x_labels) if x_labels is not None else list(x_titles)
    left = max(30.0, max(len(text) for _, text in y_labels) * CHAR_WIDTH + 10)
    right, top, bottom = 8.0, 8.0, 24.0
    widest = max((len(text) for text in labels), default=0) * CHAR_WIDTH
    drawn = sum(1 for text in labels if text)
    slanted = drawn > 0 and widest > (width - left - right) / drawn * 0.9
    if slanted:  # the table and the hover keep the whole name
        labels = [text if len(text) <= SLANTED_CHARS else text[: SLANTED_CHARS - 1] + "…" for text in labels]
        bottom = min(max(len(text) for text in labels) * CHAR_WIDTH * 0.6 + 14, height * 0.45)
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = plot_h / top_value if top_value else 0.0
    slot = plot_w / max(n, 1)
    gap = min(max(slot * 0.2, 0.5), 12.0) if n < 60 else slot * 0.12
    baseline = top + plot_h

    def numbers(i: int) -> str:
        parts = [f"{s.name} {fmt(s.values[i])}" for s in series]
        if kind == "stacked" and len(series) > 1:
            parts.append(f"total {fmt(totals[i])}")
        return ", ".join(parts)

    bars: list[Rect] = []
    lines: list[Line] = []
    columns = [
        Rect(_r(left + i * slot), top, _r(slot), plot_h, "hit", f"{x_titles[i]}: {numbers(i)}") for i in range(n)
    ]
    if kind == "lines":
        for s in series:
            points = " ".join(f"{_r(left + (i + 0.5) * slot)},{_r(baseline - s.values[i] * scale)}" for i in range(n))
            lines.append(Line(s.css, points))
    else:
        bar_w = (slot - gap) / (1 if kind == "stacked" else max(len(series), 1))
        for i in range(n):
            stacked = 0.0
            for j, s in enumerate(series):
                value = s.values[i]
                if not value:
                    continue
                h = value * scale
                x = left + i * slot + gap / 2 + (0 if kind == "stacked" else j * bar_w)
                y = baseline - stacked - h
                if kind == "stacked":
                    stacked += h
                bars.append(Rect(_r(x), _r(y), _r(bar_w), _r(h), s.css, f"{x_titles[i]}: {s.name} {fmt(value)}"))
    x_ticks = [Tick(_r(left + (i + 0.5) * slot), text, slanted) for i, text in enumerate(labels) if text]
    y_ticks = [Tick(_r(baseline - top_value * f * scale), text) for f, text in y_labels]
    headings = [x_heading, *(s.name for s in series)]
    with_total = kind == "stacked" and len(series) > 1
    if with_total:
        headings.append("Total")
    rows = [
        Row(x_titles[i], [fmt(s.values[i]) for s in series] + ([fmt(totals[i])] if with_total else []))
        for i in range(n)
    ]
    return Chart(
        label=label,
        width=width,
        height=height,
        plot_left=left,
        plot_right=width - right,
        plot_top=top,
        plot_bottom=baseline,
        label_y=_r(baseline + 14),
        bars=bars,
        lines=lines,
        columns=columns,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        legend=[(s.css, s.name) for s in series],
        headings=headings,
        rows=rows,
        empty=not any(v for s in series for v in s.values),
    )


def _r(value: float) -> float:
    return round(value, 2)
