"""Number formats for the calibration pages: shares as percentages, handling times as durations."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def pct(value: float | None, places: int = 1) -> str:
    """0.8 → "80.0 %"; nothing observed → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{int(places)}f} %"


@register.filter
def interval(bounds: tuple[float, float] | None) -> str:
    """Wilson bounds → "37.6 to 96.4 %"."""
    if bounds is None:
        return "—"
    low, high = bounds
    return f"{low * 100:.1f} to {high * 100:.1f} %"


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds → "45 s", "2 min 5 s", "1 h 3 min"."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


@register.filter
def estimate(value: float | None) -> str:
    """An estimated count: two decimals under 10 (0.53 flags a day), one above (1,234.5)."""
    if value is None:
        return "—"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


@register.filter
def rate(value: Decimal | None) -> str:
    """A stored percentage without trailing zeros: Decimal("2.50") → "2.5 %"."""
    if value is None:
        return "—"
    return f"{Decimal(value).normalize():f} %"
