"""How well the thresholds are calibrated: the sample drawn at ingestion, the numbers, the what-if.

Flags below every threshold are never reviewed, so their precision is
unknown. Each profile sends a small random share of them (its
`calibration_rate`, in percent) to the calibration queue; a reviewer's
decision there is an ordinary decision (a violating one makes a violation:
a person confirmed it), and the case is marked `calibration` so the numbers
from the sample can be told apart.

The numbers, per source x category x level over a period:

- a flag's level in a category is the highest level of its signals in that
  category (what a threshold compares), so a flag counts once per category;
- *reviewed*: flags whose case has a standing decision (the newest one not
  corrected, escalations aside);
- *violating*: of those, the ones whose standing decision is violating **in
  this category** (OpenAI scores every category on every call: a violation
  of another category says nothing about this one's precision);
- the share's interval is Wilson's score interval at 95 % (z = 1.96);
- handling time is the reviewer's time on the decision that closed the
  case (a correction has none), its median per row.

Everything is SQL aggregates. Flags that arrived on a finished UTC day are
counted once, by a periodic roll-up (CalibrationDay), so a page over 30
days reads 30 days of sums plus today's flags, not every flag and signal;
the reviewed flags are found from the decisions and the sample's cases. The
median is PostgreSQL's percentile_cont; on SQLite, which has none, the same
statement ranks the handling times with window functions.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from review.models import (
    CHILD_SAFETY,
    CalibrationRollup,
    Level,
    Outcome,
    PolicyProfile,
    ProfileThreshold,
    Threshold,
)
from review.policy import CHILD_SAFETY_THRESHOLD, JudgedSignal

Z_95 = 1.96

# --- the sample, drawn at ingestion ---------------------------------------------------------------


@cache
def _sample_key() -> bytes:
    return hashlib.sha256(f"docket-calibration-sample:{settings.SECRET_KEY}".encode()).digest()


def sampled(*, integration_id: int, external_id: str, rate: float) -> bool:
    """Whether this flag is drawn for the calibration sample: `rate` percent of flags, at random.

    Keyed BLAKE2b of the integration and the flag's own id, so the draw is
    uniform, costs a microsecond and no query, cannot be steered by a
    platform that does not know the server's secret, and gives the same
    answer for the same flag (tests can rely on it).
    """
    if rate <= 0:
        return False
    if rate >= 100:
        return True
    digest = hashlib.blake2b(f"{integration_id}:{external_id}".encode(), key=_sample_key(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate / 100 * 2**64


def sample_signal(signals: list[JudgedSignal], weights: dict[str, int]) -> JudgedSignal:
    """The signal that names a calibration case: the strongest, as lead_signal picks among met ones."""
    return max(signals, key=lambda s: (weights.get(s.category, 100), int(s.level), s.score or 0.0))


# --- shares and their intervals ---------------------------------------------------------------


def wilson(hits: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson's score interval for a proportion; None when nothing was observed."""
    if n <= 0:
        return None
    p = hits / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Share:
    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.hits, self.n)

    @property
    def low(self) -> float | None:
        interval = self.interval
        return interval[0] if interval else None

    @property
    def high(self) -> float | None:
        interval = self.interval
        return interval[1] if interval else None


# --- the numbers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationRow:
    source: str
    category: str
    level: int
    arrived: int
    reviewed: int
    violating: int
    sampled: int  # flags that went to the calibration queue
    sample_reviewed: int
    sample_violating: int
    median_seconds: float | None

    @property
    def level_label(self) -> str:
        return Level(self.level).label

    @property
    def share(self) -> Share:
        return Share(self.violating, self.reviewed)

    @property
    def sample_share(self) -> Share:
        return Share(self.sample_violating, self.sample_reviewed)


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> Period:
        until = now or timezone.now()
        return cls(until - timedelta(days=days), until)

    @property
    def days(self) -> float:
        return max((self.until - self.since).total_seconds() / 86400, 1 / 24)


# A flag's level in each category: the highest of its signals there. The
# same expression feeds the daily roll-up, the rest of the period and the
# reviewed flags, so the three always agree.
_PER_FLAG = """
    SELECT f.id AS flag_id, f.integration_id AS integration_id, f.source AS source, s.category_id AS category,
           MAX(s.level) AS level, f.case_id AS case_id
    FROM review_flag f
    JOIN review_signal s ON s.flag_id = f.id
    WHERE {where}
    GROUP BY f.id, f.integration_id, f.source, s.category_id, f.case_id
"""

_ARRIVED_RAW = "SELECT source, category, level, COUNT(*) FROM ({per_flag}) fc GROUP BY source, category, level"

_ARRIVED_ROLLED = """
    SELECT source, category_id, level, SUM(flags) FROM review_calibrationday r
    WHERE r.day IN ({days}){where}
    GROUP BY source, category_id, level
"""

# Flags with a case that matters here: a standing decision (decided after
# the flag arrived, so at or after the period's start) or a calibration
# sample (touched when its last flag joined). Driven from the decisions and
# the sample's cases, it reads the flags reviewers saw, not every flag.
_REVIEWED = """
WITH cases AS (
    SELECT d.case_id FROM review_decision d
    WHERE d.decided_at >= %(since)s AND d.outcome <> %(escalated)s
        AND NOT EXISTS (SELECT 1 FROM review_decision x WHERE x.supersedes_id = d.id)
    UNION
    SELECT c.id FROM review_case c WHERE c.calibration AND c.updated_at >= %(since)s
), fc AS ({per_flag}), judged AS (
    SELECT fc.source, fc.category, fc.level, c.calibration AS sample, d.outcome AS outcome,
           d.category_id AS decided, d0.handling_seconds AS seconds
    FROM fc
    JOIN review_case c ON c.id = fc.case_id
    LEFT JOIN review_decision d ON d.case_id = fc.case_id AND d.outcome <> %(escalated)s
        AND NOT EXISTS (SELECT 1 FROM review_decision x WHERE x.supersedes_id = d.id)
    LEFT JOIN review_decision d0 ON d0.case_id = fc.case_id AND d0.outcome <> %(escalated)s
        AND d0.supersedes_id IS NULL
){ranked}
SELECT g.source, g.category, g.level, g.reviewed, g.violating, g.sampled, g.sample_reviewed, g.sample_violating,
       {median}
FROM (
    SELECT source, category, level,
           COUNT(outcome) AS reviewed,
           SUM(CASE WHEN outcome = %(violating)s AND decided = category THEN 1 ELSE 0 END) AS violating,
           SUM(CASE WHEN sample THEN 1 ELSE 0 END) AS sampled,
           SUM(CASE WHEN sample AND outcome IS NOT NULL THEN 1 ELSE 0 END) AS sample_reviewed,
           SUM(CASE WHEN sample AND outcome = %(violating)s AND decided = category THEN 1 ELSE 0 END)
               AS sample_violating{pg_median}
    FROM judged
    GROUP BY source, category, level
) g{join}
"""

# SQLite has no percentile function: rank each row's handling times and
# average the middle one or two.
_SQLITE_RANKED = """, ranked AS (
    SELECT source, category, level, seconds,
           ROW_NUMBER() OVER (PARTITION BY source, category, level ORDER BY seconds) AS rn,
           COUNT(*) OVER (PARTITION BY source, category, level) AS cnt
    FROM judged WHERE seconds IS NOT NULL
), medians AS (
    SELECT source, category, level, AVG(seconds) AS median_seconds
    FROM ranked WHERE rn IN ((cnt + 1) / 2, (cnt + 2) / 2)
    GROUP BY source, category, level
)"""
_SQLITE_JOIN = " LEFT JOIN medians m ON m.source = g.source AND m.category = g.category AND m.level = g.level"


@dataclass(frozen=True)
class _Filters:
    integration_id: int | None
    profile_id: int | None
    category: str | None

    def sql(self, *, flag: str, category: str, params: dict[str, Any]) -> str:
        where = []
        if self.integration_id is not None:
            where.append(f"{flag}.integration_id = %(integration)s")
            params["integration"] = self.integration_id
        if self.profile_id is not None:
            where.append(f"{flag}.integration_id IN (SELECT id FROM review_integration WHERE profile_id = %(profile)s)")
            params["profile"] = self.profile_id
        if self.category is not None:
            where.append(f"{category} = %(category)s")
            params["category"] = self.category
        return "".join(f" AND {w}" for w in where)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _split(period: Period) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """The whole UTC days of `period` already rolled up, and the stretches to read from the flags."""
    first = period.since.astimezone(UTC).date()
    if _day_start(first) < period.since:
        first += timedelta(days=1)
    last = period.until.astimezone(UTC).date() - timedelta(days=1)  # the last day that ends by `until`
    rolled = set(
        CalibrationRollup.objects.filter(day__gte=first, day__lte=last).values_list("day", flat=True)
    ) if first <= last else set()
    days = sorted(rolled)
    stretches: list[tuple[datetime, datetime]] = []
    cursor = period.since
    for day in days:
        if _day_start(day) > cursor:
            stretches.append((cursor, _day_start(day)))
        cursor = _day_start(day + timedelta(days=1))
    if cursor < period.until:
        stretches.append((cursor, period.until))
    return days, stretches


def db_params(params: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as the ORM stores them. SQLite keeps them as text without an offset and compares
    a raw parameter's text, "+00:00" and all: a flag received exactly at midnight fell on the day before."""
    adapt = connection.ops.adapt_datetimefield_value
    return {name: adapt(value) if isinstance(value, datetime) else value for name, value in params.items()}


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, db_params(params))
        return cursor.fetchall()


def calibration_rows(
    period: Period,
    *,
    integration_id: int | None = None,
    profile_id: int | None = None,
    category: str | None = None,
) -> list[CalibrationRow]:
    """Per source x category x level: flags arrived in `period`, reviewed, violating, the sample.

    At most four queries, whatever the period or the number of rows: the
    rolled-up days in the period, their sums, the flags of the rest of the
    period (today, and any day not rolled up yet), and the reviewed flags.
    """
    filters = _Filters(integration_id, profile_id, category)
    days, stretches = _split(period)
    arrived: dict[tuple[str, str, int], int] = defaultdict(int)
    if days:
        params: dict[str, Any] = {f"d{n}": day for n, day in enumerate(days)}
        sql = _ARRIVED_ROLLED.format(
            days=", ".join(f"%(d{n})s" for n in range(len(days))),
            where=filters.sql(flag="r", category="r.category_id", params=params),
        )
        for source, cat, level, count in _fetch(sql, params):
            arrived[(source, cat, int(level))] += int(count)
    if stretches:
        params = {}
        ranges = []
        for n, (start, end) in enumerate(stretches):
            ranges.append(f"(f.received_at >= %(s{n})s AND f.received_at < %(e{n})s)")
            params[f"s{n}"], params[f"e{n}"] = start, end
        where = "(" + " OR ".join(ranges) + ")" + filters.sql(flag="f", category="s.category_id", params=params)
        for source, cat, level, count in _fetch(_ARRIVED_RAW.format(per_flag=_PER_FLAG.format(where=where)), params):
            arrived[(source, cat, int(level))] += int(count)

    params = {
        "since": period.since,
        "until": period.until,
        "escalated": Outcome.ESCALATED.value,
        "violating": Outcome.VIOLATING.value,
    }
    where = "f.case_id IN (SELECT case_id FROM cases) AND f.received_at >= %(since)s AND f.received_at < %(until)s"
    where += filters.sql(flag="f", category="s.category_id", params=params)
    postgres = connection.vendor == "postgresql"
    sql = _REVIEWED.format(
        per_flag=_PER_FLAG.format(where=where),
        ranked="" if postgres else _SQLITE_RANKED,
        median="g.median_seconds" if postgres else "m.median_seconds",
        pg_median=",\n           percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_seconds"
        if postgres
        else "",
        join="" if postgres else _SQLITE_JOIN,
    )
    reviewed = {
        (source, cat, int(level)): rest
        for source, cat, level, *rest in _fetch(sql, params)
    }
    rows = []
    for key in sorted(set(arrived) | set(reviewed), key=lambda k: (k[1], k[0], k[2])):
        counts = reviewed.get(key, [0, 0, 0, 0, 0, None])
        n_reviewed, violating, sampled_, sample_reviewed, sample_violating, median = counts
        rows.append(
            CalibrationRow(
                source=key[0],
                category=key[1],
                level=key[2],
                arrived=arrived.get(key, 0),
                reviewed=int(n_reviewed or 0),
                violating=int(violating or 0),
                sampled=int(sampled_ or 0),
                sample_reviewed=int(sample_reviewed or 0),
                sample_violating=int(sample_violating or 0),
                median_seconds=float(median) if median is not None else None,
            )
        )
    return rows


def roll_up_sql() -> str:
    """The INSERT that writes one day's CalibrationDay rows (used by the roll-up service)."""
    per_flag = _PER_FLAG.format(where="f.received_at >= %(start)s AND f.received_at < %(end)s")
    return (
        "INSERT INTO review_calibrationday (day, integration_id, source, category_id, level, flags) "
        f"SELECT %(day)s, integration_id, source, category, level, COUNT(*) FROM ({per_flag}) fc "
        "GROUP BY integration_id, source, category, level"
    )


# --- the what-if ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class LevelEstimate:
    level: Level
    arrived: int
    reviewed: int
    violating: int
    reviewed_if_proposed: bool  # at or above the proposed threshold

    @property
    def share(self) -> Share:
        return Share(self.violating, self.reviewed)

    @property
    def violations(self) -> Estimate | None:
        """Violations among the flags that arrived at this level: arrived x the share reviewers found."""
        share = self.share
        if share.value is None:
            return None
        low, high = share.interval  # type: ignore[misc]
        return Estimate(self.arrived * share.value, self.arrived * low, self.arrived * high)


@dataclass(frozen=True)
class WhatIf:
    profile: PolicyProfile
    category: str
    threshold: Threshold
    current: Threshold
    adjustable: bool
    period: Period
    levels: list[LevelEstimate]

    def _per_day(self, threshold: Threshold) -> float:
        floor = threshold.min_level
        if floor is None:
            return 0.0
        return sum(row.arrived for row in self.levels if row.level >= floor) / self.period.days

    @property
    def review_per_day(self) -> float:
        """Flags of this category the proposed threshold would have sent to review, per day."""
        return self._per_day(self.threshold)

    @property
    def current_review_per_day(self) -> float:
        return self._per_day(self.current)

    def _sum(self, caught: bool) -> Estimate:
        estimates = [
            row.violations for row in self.levels if row.reviewed_if_proposed is caught and row.violations is not None
        ]
        return Estimate(
            sum(e.value for e in estimates), sum(e.low for e in estimates), sum(e.high for e in estimates)
        )

    @property
    def caught(self) -> Estimate:
        """Violations at the levels the proposed threshold reviews; bounds are the per-level Wilson bounds summed."""
        return self._sum(True)

    @property
    def missed(self) -> Estimate:
        return self._sum(False)

    def _unknown(self, caught: bool) -> int:
        return sum(row.arrived for row in self.levels if row.reviewed_if_proposed is caught and row.reviewed == 0)

    @property
    def unknown_caught(self) -> int:
        """Flags at reviewed levels with no decision yet to estimate from."""
        return self._unknown(True)

    @property
    def unknown_missed(self) -> int:
        return self._unknown(False)


def current_threshold(profile: PolicyProfile, category: str) -> Threshold:
    """What ingestion applies today (review/policy.py): the profile's, medium if unset; child safety fixed."""
    if category == CHILD_SAFETY:
        return CHILD_SAFETY_THRESHOLD
    value = (
        ProfileThreshold.objects.filter(profile=profile, category_id=category)
        .values_list("threshold", flat=True)
        .first()
    )
    return Threshold(value) if value else Threshold.MEDIUM


def what_if(
    profile: PolicyProfile, category: str, threshold: Threshold | str, days: int = 30, *, now: datetime | None = None
) -> WhatIf:
    """What a proposed threshold would have done over the last `days`, for the integrations on `profile`.

    Review volume per day: flags of `category` at or above the proposed level,
    divided by the days. Violations caught or missed: per level, the flags
    that arrived times the share reviewers found violating at that level
    (threshold reviews and the calibration sample together), summed over the
    levels the proposal would review or would not. A level with no decision
    has no estimate; its flags are counted as unknown instead.
    """
    proposed = Threshold(threshold)
    period = Period.last_days(days, now=now)
    totals: dict[int, list[int]] = {int(level): [0, 0, 0] for level in Level}
    for row in calibration_rows(period, profile_id=profile.pk, category=category):
        totals[row.level][0] += row.arrived
        totals[row.level][1] += row.reviewed
        totals[row.level][2] += row.violating
    floor = proposed.min_level
    levels = [
        LevelEstimate(
            level=Level(level),
            arrived=arrived,
            reviewed=reviewed,
            violating=violating,
            reviewed_if_proposed=floor is not None and level >= floor,
        )
        for level, (arrived, reviewed, violating) in sorted(totals.items())
    ]
    return WhatIf(
        profile=profile,
        category=category,
        threshold=proposed,
        current=current_threshold(profile, category),
        adjustable=category != CHILD_SAFETY,
        period=period,
        levels=levels,
    )
