"""One chart helper for every dashboard chart: `chart()` lays it out, `Chart.svg` and `Chart.table` draw it,
`templates/console/_chart.html` puts them in a figure with a legend.

Server-rendered SVG, so it needs no script and no inline style (the CSP
allows neither): colours come from CSS classes, every slot carries a
`<title>` the browser shows on hover, and the same numbers go in a table under
the chart for reading, copying and screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from html import escape  # the standard library's: Django's wraps it for lazy strings, 3x slower here
from typing import Literal

from django.utils.safestring import SafeString, mark_safe

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
    """The geometry of one chart; `svg` and `table` draw it."""

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

    @cached_property
    def svg(self) -> SafeString:
        return mark_safe(_svg(self))  # noqa: S308 - every text in it went through escape()

    @cached_property
    def table(self) -> SafeString:
        return mark_safe(_table(self))  # noqa: S308 - every text in it went through escape()

    def drawn(self) -> Drawn:
        """Just what the page shows: small to keep in the cache."""
        return Drawn(self.label, self.svg, self.table, self.legend, self.empty)


@dataclass(frozen=True)
class Drawn:
    label: str
    svg: SafeString
    table: SafeString
    legend: list[tuple[str, str]]
    empty: bool


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
    """Lay out one chart and draw it.

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

    # Every number is formatted once, for the hover and the table alike (and most repeat: zeros).
    with_total = kind == "stacked" and len(series) > 1
    formatted: dict[float, str] = {}

    def text(value: float) -> str:
        found = formatted.get(value)
        if found is None:
            found = formatted[value] = fmt(value)
        return found

    texts = [[text(v) for v in s.values] for s in series]
    total_texts = [text(t) for t in totals] if with_total else []
    rows = [Row(x_titles[i], [t[i] for t in texts] + ([total_texts[i]] if with_total else [])) for i in range(n)]
    names = [s.name for s in series]

    def numbers(i: int) -> str:
        parts = [f"{name} {t[i]}" for name, t in zip(names, texts, strict=True)]
        if with_total:
            parts.append(f"total {total_texts[i]}")
        return ", ".join(parts)

    columns = [Rect(left + i * slot, top, slot, plot_h, "hit", f"{x_titles[i]}: {numbers(i)}") for i in range(n)]
    bars: list[Rect] = []
    lines: list[Line] = []
    if kind == "lines":
        for s in series:
            points = " ".join(f"{left + (i + 0.5) * slot:.1f},{baseline - s.values[i] * scale:.1f}" for i in range(n))
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
                bars.append(Rect(x, y, bar_w, h, s.css, ""))
    x_ticks = [Tick(_r(left + (i + 0.5) * slot), text, slanted) for i, text in enumerate(labels) if text]
    y_ticks = [Tick(_r(baseline - top_value * f * scale), text) for f, text in y_labels]
    headings = [x_heading, *names] + (["Total"] if with_total else [])
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


# --- Drawing: SVG and table markup built here, every text escaped (a dashboard has thousands of elements,
# which the template language draws ten times slower) ------------------------------------------------------


def _svg(c: Chart) -> str:
    e = escape
    out = [
        f'<svg class="chart" viewBox="0 0 {c.width} {c.height}" role="img" aria-label="{e(c.label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title>{e(c.label)}</title>'
    ]
    for t in c.y_ticks:
        out.append(
            f'<line class="grid" x1="{c.plot_left}" x2="{c.plot_right}" y1="{t.position}" y2="{t.position}"/>'
            f'<text class="axis" x="{c.plot_left - 5}" y="{t.position}" text-anchor="end" '
            f'dominant-baseline="middle">{e(t.label)}</text>'
        )
    # Hovering anywhere over a slot names its numbers: the bars and lines above let the pointer through (CSS).
    out += [
        f'<rect class="hit" x="{r.x:.1f}" y="{r.y:.1f}" width="{r.width:.1f}" height="{r.height:.1f}">'
        f"<title>{e(r.title)}</title></rect>"
        for r in c.columns
    ]
    out += [
        f'<rect class="bar {r.css}" x="{r.x:.1f}" y="{r.y:.1f}" width="{r.width:.1f}" height="{r.height:.1f}"/>'
        for r in c.bars
    ]
    out += [f'<polyline class="series {line.css}" points="{line.points}"/>' for line in c.lines]
    out.append(
        f'<line class="baseline" x1="{c.plot_left}" x2="{c.plot_right}" y1="{c.plot_bottom}" y2="{c.plot_bottom}"/>'
    )
    for t in c.x_ticks:
        if t.rotate:
            out.append(
                f'<text class="axis" x="{t.position}" y="{c.label_y}" text-anchor="end" '
                f'transform="rotate(-35 {t.position} {c.label_y})">{e(t.label)}</text>'
            )
        else:
            out.append(f'<text class="axis" x="{t.position}" y="{c.label_y}" text-anchor="middle">{e(t.label)}</text>')
    out.append("</svg>")
    return "".join(out)


def _table(c: Chart) -> str:
    """The numbers as a table; only the headings and the slot names need escaping (the cells are formatted numbers)."""
    e = escape
    head = "".join(f"<th{' class="num"' if i else ''}>{e(h)}</th>" for i, h in enumerate(c.headings))
    body = "".join(
        f'<tr><td class="nowrap">{e(row.title)}</td>'
        + "".join(f'<td class="num">{cell}</td>' for cell in row.cells)  # numbers this module formatted
        + "</tr>"
        for row in c.rows
    )
    return f'<table class="dense small"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
