"""Calibration: is a category's threshold still queuing what reviewers find violating?

For each category (the case's, i.e. the classifier's), the violating share of
standing verdicts over the last 7 days against the 28 days before, from the
hourly counts. A category raises an alert when, with at least 20 verdicts in
the last week and 40 before, its share fell by 15 percentage points or more and
a two-proportion z-test puts the fall beyond chance (z ≥ 1.96). A falling share
means more of what the threshold sends to review is judged not violating: the
classifier or the traffic changed, and the threshold may need raising.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum

from console import aggregates
from console.charts import Drawn, Series, chart, percent
from console.models import HourlyCount, Metric
from review.models import Outcome

# Calibration: a category whose reviewed violating share over the last 7 days fell
# notably below its share over the 28 days before.
RECENT_DAYS, BASELINE_DAYS = 7, 28
MIN_RECENT, MIN_BASELINE = 20, 40  # verdicts in each window, or no judgement
MIN_DROP_POINTS = 15  # fifteen percentage points or more ...
MIN_Z = 1.96  # ... and unlikely to be chance (two-proportion z-test, about 1 in 40)


@dataclass(frozen=True)
class CalibrationRow:
    slug: str
    name: str
    recent_violating: int
    recent_total: int
    baseline_violating: int
    baseline_total: int
    alert: bool

    @property
    def recent_share(self) -> float | None:
        return self.recent_violating / self.recent_total if self.recent_total else None

    @property
    def baseline_share(self) -> float | None:
        return self.baseline_violating / self.baseline_total if self.baseline_total else None

    @property
    def recent_text(self) -> str:
        return percent(self.recent_share * 100) if self.recent_share is not None else "—"

    @property
    def baseline_text(self) -> str:
        return percent(self.baseline_share * 100) if self.baseline_share is not None else "—"

    @property
    def drop_points(self) -> float:
        if self.recent_share is None or self.baseline_share is None:
            return 0.0
        return (self.baseline_share - self.recent_share) * 100


def share_dropped(recent_violating: int, recent_total: int, baseline_violating: int, baseline_total: int) -> bool:
    """The calibration rule: enough verdicts in both windows, a drop of MIN_DROP or more, and z ≥ MIN_Z."""
    if recent_total < MIN_RECENT or baseline_total < MIN_BASELINE:
        return False
    recent, baseline = recent_violating / recent_total, baseline_violating / baseline_total
    if round((baseline - recent) * 100, 9) < MIN_DROP_POINTS:
        return False
    pooled = (recent_violating + baseline_violating) / (recent_total + baseline_total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / recent_total + 1 / baseline_total))
    return spread == 0 or (baseline - recent) / spread >= MIN_Z


@dataclass(frozen=True)
class Calibration:
    rows: list[CalibrationRow]
    chart: Drawn

    @property
    def alerts(self) -> list[CalibrationRow]:
        return [r for r in self.rows if r.alert]


def calibration(*, now: datetime, categories: dict[str, str]) -> Calibration:
    """Each category's violating share of standing verdicts, last 7 days against the 28 before: one query."""
    recent_start = aggregates.floor_hour(now) - timedelta(days=RECENT_DAYS) + aggregates.HOUR
    baseline_start = recent_start - timedelta(days=BASELINE_DAYS)
    recent = Q(hour__gte=recent_start)
    sums = (
        HourlyCount.objects.filter(metric=Metric.VERDICTS, hour__gte=baseline_start)
        .values("key")
        .annotate(
            rv=Sum("value", filter=recent & Q(subkey=Outcome.VIOLATING)),
            rt=Sum("value", filter=recent),
            bv=Sum("value", filter=~recent & Q(subkey=Outcome.VIOLATING)),
            bt=Sum("value", filter=~recent),
        )
        .order_by()
    )
    rows = []
    for s in sums:
        rv, rt, bv, bt = (s[k] or 0 for k in ("rv", "rt", "bv", "bt"))
        rows.append(
            CalibrationRow(s["key"], categories.get(s["key"], s["key"]), rv, rt, bv, bt, share_dropped(rv, rt, bv, bt))
        )
    order = list(categories)
    rows.sort(key=lambda r: (not r.alert, order.index(r.slug) if r.slug in order else len(order)))
    return Calibration(
        rows=rows,
        chart=chart(
            label=f"Violating share of reviewed cases by category: the {BASELINE_DAYS} days before against "
            f"the last {RECENT_DAYS} days",
            x_titles=[r.name for r in rows],
            x_heading="Category",
            series=[
                Series(f"{BASELINE_DAYS} days before", "share-before", [(r.baseline_share or 0) * 100 for r in rows]),
                Series(f"Last {RECENT_DAYS} days", "share-recent", [(r.recent_share or 0) * 100 for r in rows]),
            ],
            fmt=percent,
            y_max=100,
        ).drawn(),
    )
