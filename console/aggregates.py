"""Hourly counts: the pre-aggregated numbers the dashboard and /metrics read instead of the raw tables.

Each group below counts, from the raw tables, what happened in a range of
whole UTC hours, as `{metric: {(hour, key, subkey): value}}`. `refresh()`
makes the stored rows of those hours equal to a fresh count: it writes only
the rows whose number changed and deletes those that fell to zero, so
running it twice, or two runs at once, changes nothing more.

Every count is keyed by a time that is written once (a flag's arrival, a
decision's time, an attempt's time, an action's application and end), so
re-counting the last few hours catches everything new. The one thing that
changes an older hour is a correction: it supersedes a decision and voids its
violation, so `refresh_recent()` also re-counts the hours of the decisions
corrected since its last run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import Action, ActionKind, WebhookAttempt
from accounts.status import SEVERITY
from console.models import Heartbeat, HourlyCount, Metric
from review.models import Decision, Flag, Outcome

HOUR = timedelta(hours=1)
# Re-count this much before the previous run: a transaction that stamped its rows
# before that run but committed after it lands there.
OVERLAP = timedelta(hours=2)
# How far back the periodic job goes when it has not run for a while (or ever);
# `manage.py backfill_hourly_counts` covers any longer gap.
MAX_CATCH_UP = timedelta(days=7)
# The Heartbeat row that records when the counts were last brought up to date.
LAST_RUN = "hourly_counts"

Counts = dict[tuple[datetime, str, str], int]
Fresh = dict[str, Counts]


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _per_hour(queryset: QuerySet[Any], moment: str, **keys: object) -> QuerySet[Any, dict[str, Any]]:
    """GROUP BY the UTC hour of `moment` and the given key expressions (names → field paths or expressions)."""
    named = {name: F(expr) if isinstance(expr, str) else expr for name, expr in keys.items()}
    return queryset.annotate(h=TruncHour(moment, tzinfo=UTC), **named).values("h", *named).order_by()


def _hour(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --- The groups ------------------------------------------------------------------------------


def count_flags(start: datetime, end: datetime) -> Fresh:
    rows = _per_hour(Flag.objects.filter(received_at__gte=start, received_at__lt=end), "received_at", q="needs_review")
    counts: Counts = {}
    for row in rows.annotate(n=Count("pk")):
        counts[(_hour(row["h"]), "queued" if row["q"] else "below", "")] = row["n"]
    return {Metric.FLAGS: counts}


def count_decisions(start: datetime, end: datetime) -> Fresh:
    """Decisions out by outcome (corrections and escalations included), and each reviewer's share and time.

    A reviewer's handling time is counted only for decisions that carry one
    and were not made in bulk (a bulk decision's lease lasts no time at all).
    """
    decided = Decision.objects.filter(decided_at__gte=start, decided_at__lt=end)
    by_outcome: Counts = {}
    for row in _per_hour(decided, "decided_at", o="outcome").annotate(n=Count("pk")):
        by_outcome[(_hour(row["h"]), row["o"], "")] = row["n"]
    timed = Q(handling_seconds__isnull=False, bulk=False)
    per_reviewer = _per_hour(decided, "decided_at", r="reviewer_id").annotate(
        n=Count("pk"), t=Count("pk", filter=timed), s=Sum("handling_seconds", filter=timed)
    )
    reviewers: Counts = {}
    timed_counts: Counts = {}
    seconds: Counts = {}
    for row in per_reviewer:
        key = (_hour(row["h"]), str(row["r"]), "")
        reviewers[key], timed_counts[key], seconds[key] = row["n"], row["t"], row["s"] or 0
    return {
        Metric.DECISIONS: by_outcome,
        Metric.REVIEWER_DECISIONS: reviewers,
        Metric.REVIEWER_TIMED: timed_counts,
        Metric.REVIEWER_SECONDS: seconds,
    }


def count_verdicts(start: datetime, end: datetime) -> Fresh:
    """Standing verdicts by the case's category (calibration), and violations not voided by category.

    A verdict is a violating or not-violating decision that no correction has
    superseded, counted in the hour it was made: each case counts once, with
    its final word. A violation is confirmed when its decision is made, so the
    decision's time index serves both.
    """
    decided = Decision.objects.filter(decided_at__gte=start, decided_at__lt=end)
    verdicts: Counts = {}
    standing = decided.filter(outcome__in=[Outcome.VIOLATING, Outcome.NOT_VIOLATING], superseded_by__isnull=True)
    for row in _per_hour(standing, "decided_at", c="case__category_id", o="outcome").annotate(n=Count("pk")):
        verdicts[(_hour(row["h"]), row["c"], row["o"])] = row["n"]
    violations: Counts = {}
    confirmed = decided.filter(violation__isnull=False, violation__voided_at__isnull=True)
    for row in _per_hour(confirmed, "decided_at", c="violation__category_id").annotate(n=Count("pk")):
        violations[(_hour(row["h"]), row["c"], "")] = row["n"]
    return {Metric.VERDICTS: verdicts, Metric.VIOLATIONS: violations}


def count_account_states(start: datetime, end: datetime) -> Fresh:
    """Accounts entering each enforcement state, replayed from their actions.

    An account's state is its most severe action in force (accounts.status),
    so replaying when each action was applied and ended gives every change of
    state, including the return to `active`. Only accounts with an action
    applied or ended in the range are replayed; each with all its actions.
    """
    moved = Q(applied_at__gte=start, applied_at__lt=end) | Q(ended_at__gte=start, ended_at__lt=end)
    touched = Action.objects.filter(moved).values("account_id")
    history = (
        Action.objects.filter(account_id__in=touched, applied_at__isnull=False)
        .values_list("account_id", "kind", "applied_at", "ended_at")
        .order_by("account_id", "applied_at", "pk")
    )
    events: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    for account_id, kind, applied_at, ended_at in history:
        assert applied_at is not None  # the query excludes actions never applied
        events[account_id].append((applied_at, 1, kind))
        if ended_at is not None:
            events[account_id].append((ended_at, 0, kind))  # 0 sorts an end before an apply at the same instant
    counts: Counts = defaultdict(int)
    for steps in events.values():
        in_force: list[str] = []
        state = "active"
        for at, applies, kind in sorted(steps):
            if applies:
                in_force.append(kind)
            elif kind in in_force:
                in_force.remove(kind)
            new = max((ActionKind(k) for k in in_force), key=SEVERITY.index).state if in_force else "active"
            if new != state and start <= at < end:
                counts[(floor_hour(at), new, "")] += 1
            state = new
    return {Metric.ACCOUNT_STATES: dict(counts)}


def count_webhook_attempts(start: datetime, end: datetime) -> Fresh:
    outcome = Case(When(status__gte=200, status__lt=300, then=Value("delivered")), default=Value("failed"))
    rows = _per_hour(WebhookAttempt.objects.filter(at__gte=start, at__lt=end), "at", o=outcome)
    return {Metric.WEBHOOK_ATTEMPTS: {(_hour(r["h"]), r["o"], ""): r["n"] for r in rows.annotate(n=Count("pk"))}}


@dataclass(frozen=True)
class Group:
    name: str
    metrics: tuple[str, ...]
    count: Callable[[datetime, datetime], Fresh]


GROUPS: tuple[Group, ...] = (
    Group("flags", (Metric.FLAGS,), count_flags),
    Group(
        "decisions",
        (Metric.DECISIONS, Metric.REVIEWER_DECISIONS, Metric.REVIEWER_TIMED, Metric.REVIEWER_SECONDS),
        count_decisions,
    ),
    Group("verdicts", (Metric.VERDICTS, Metric.VIOLATIONS), count_verdicts),
    Group("account_states", (Metric.ACCOUNT_STATES,), count_account_states),
    Group("webhooks", (Metric.WEBHOOK_ATTEMPTS,), count_webhook_attempts),
)
VERDICTS = GROUPS[2]


# --- Writing ---------------------------------------------------------------------------------

FIELDS = ["metric", "hour", "key", "subkey"]


def _replace(group: Group, start: datetime, end: datetime) -> int:
    """Make the stored counts of `group` in [start, end) equal to a fresh count; returns rows written or deleted."""
    fresh = group.count(start, end)
    wanted = {(m, h, k, s): v for m, counts in fresh.items() for (h, k, s), v in counts.items() if v}
    with transaction.atomic():
        stored = HourlyCount.objects.filter(metric__in=group.metrics, hour__gte=start, hour__lt=end)
        existing = {(m, _hour(h), k, s): (pk, v) for pk, m, h, k, s, v in stored.values_list("pk", *FIELDS, "value")}
        stale = [pk for key, (pk, _) in existing.items() if key not in wanted]
        changed = [
            HourlyCount(metric=m, hour=h, key=k, subkey=s, value=v)
            for (m, h, k, s), v in wanted.items()
            if (m, h, k, s) not in existing or existing[(m, h, k, s)][1] != v
        ]
        if stale:
            HourlyCount.objects.filter(pk__in=stale).delete()
        if changed:
            HourlyCount.objects.bulk_create(
                changed, update_conflicts=True, unique_fields=FIELDS, update_fields=["value"], batch_size=1000
            )
    return len(stale) + len(changed)


def refresh(*, start: datetime, end: datetime, groups: Iterable[Group] = GROUPS) -> int:
    """Re-count every hour that `start`..`end` touches; returns the rows written or deleted."""
    first, last = floor_hour(start), ceil_hour(end)
    if last <= first:
        last = first + HOUR
    return sum(_replace(group, first, last) for group in groups)


def backfill(*, start: datetime, end: datetime, step: timedelta = timedelta(days=1)) -> int:
    """`refresh` a long range a day at a time, so that no one transaction or query grows with the range."""
    written, moment = 0, floor_hour(start)
    while moment < end:
        written += refresh(start=moment, end=min(moment + step, end))
        moment += step
    return written


def last_run() -> datetime | None:
    return Heartbeat.objects.filter(name=LAST_RUN).values_list("beat_at", flat=True).first()


def mark_up_to_date(moment: datetime) -> None:
    updated = Heartbeat.objects.filter(name=LAST_RUN).update(beat_at=moment, runs=F("runs") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(name=LAST_RUN, defaults={"beat_at": moment, "runs": 1})


def refresh_recent(*, now: datetime | None = None) -> int:
    """What the periodic job runs: the hours since the previous run (with an overlap), and corrected hours.

    Safe to run twice or at once: each step replaces counts with a fresh count.
    """
    now = now or timezone.now()
    previous = last_run()
    since = max(min(previous, now) - OVERLAP, now - MAX_CATCH_UP) if previous else now - MAX_CATCH_UP
    written = refresh(start=since, end=now)
    corrected = (
        Decision.objects.filter(decided_at__gte=since, supersedes__isnull=False, supersedes__decided_at__lt=since)
        .values_list("supersedes__decided_at", flat=True)
        .distinct()
    )
    for hour in sorted({floor_hour(moment) for moment in corrected}):
        written += refresh(start=hour, end=hour + HOUR, groups=[VERDICTS])
    mark_up_to_date(now)
    return written
