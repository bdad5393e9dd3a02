"""Reads for the dashboard, the console's home page: what each role sees, in a fixed number of queries.

Everything over time comes from the hourly counts (console.aggregates), so
the page costs the same with a week of data or a year of it. The queues are
read live: one aggregate over the unresolved cases, which the
`case_status_queue` index finds without touching the closed ones.

| panel | shown to |
| --- | --- |
| your queues, your decisions | who reviews (reviewers, seniors) |
| every queue, flags and decisions per hour, violations by category, accounts entering each state | VIEW_OPERATIONS |
| reviewers' throughput and handling time | VIEW_TEAM_METRICS |
| calibration alerts (console.calibration) | VIEW_CALIBRATION |
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import EnforcementState
from console import aggregates
from console.access import has_cap
from console.calibration import Calibration, calibration
from console.charts import Drawn, Series, chart, duration
from console.models import HourlyCount, Metric
from console.roles import Cap
from review.models import Case, CaseStatus, Category, Outcome, Queue

logger = logging.getLogger(__name__)

HOURS_SHOWN = 7 * 24  # flags in and decisions out, per hour
DAYS_SHOWN = 30  # violations and account states, per day
TEAM_DAYS = 7  # reviewers' throughput and handling time
OWN_DAYS = 14  # a reviewer's own decisions, per day
STALE_AFTER = timedelta(minutes=10)  # counts older than this: the page asks for a refresh
PANEL_SECONDS = 15 * 60  # how long a drawn panel is kept (a new count or a new hour makes a new one anyway)

TOP_CATEGORIES = 5  # the violations chart stacks the biggest few; the rest are "other categories"
PALETTE = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]
ENTERED_STATES = [
    EnforcementState.WARNED,
    EnforcementState.RESTRICTED,
    EnforcementState.SUSPENDED,
    EnforcementState.TERMINATED,
    EnforcementState.ACTIVE,
]


# --- Freshness ----------------------------------------------------------------------------


def counts_as_of() -> datetime | None:
    return aggregates.last_run()


def nudge_if_stale(as_of: datetime | None, *, now: datetime) -> bool:
    """Ask for a refresh when the periodic job has not run lately (no scheduler, as with `make run`).

    At most once a minute across processes (a cache key); on the `immediate`
    backend the refresh runs before the page is drawn, elsewhere a worker runs
    it. A failure here never breaks the page.
    """
    if as_of is not None and now - as_of < STALE_AFTER:
        return False
    from console.tasks import aggregate_hourly_counts

    try:
        if not cache.add("docket:hourly_counts:nudge", 1, 60):
            return False
        # Not on commit: the page writes nothing a worker would need to see first.
        aggregate_hourly_counts.enqueue()
    except Exception:
        logger.warning("could not ask for fresh hourly counts", exc_info=True)
        return False
    return True


# --- Queues (live) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    queue: Queue
    waiting: int
    in_review: int
    oldest: datetime | None
    past_sla: int

    @property
    def oldest_age(self) -> str:
        return duration((timezone.now() - self.oldest).total_seconds()) if self.oldest else "—"


def queue_rows(queues: list[Queue], *, now: datetime) -> list[QueueRow]:
    """Depth, oldest unresolved case and cases past SLA of each queue: one grouped query over unresolved cases."""
    if not queues:
        return []
    late = Q()
    for q in queues:
        late |= Q(queue_id=q.pk, created_at__lt=now - timedelta(minutes=q.sla_minutes))
    rows = (
        Case.objects.filter(status__in=[CaseStatus.OPEN, CaseStatus.CLAIMED], queue__in=queues)
        .values("queue_id", "status")
        .annotate(n=Count("pk"), oldest=Min("created_at"), late=Count("pk", filter=late))
        .order_by()
    )
    found: dict[int, dict[str, Any]] = defaultdict(lambda: {"open": 0, "claimed": 0, "oldest": None, "late": 0})
    for row in rows:
        got = found[row["queue_id"]]
        got[row["status"]] = row["n"]
        got["late"] += row["late"]
        if got["oldest"] is None or row["oldest"] < got["oldest"]:
            got["oldest"] = row["oldest"]
    return [
        QueueRow(q, found[q.pk]["open"], found[q.pk]["claimed"], found[q.pk]["oldest"], found[q.pk]["late"])
        for q in queues
    ]


def queue_chart(rows: list[QueueRow], *, label: str) -> Drawn:
    return chart(
        label=label,
        x_titles=[r.queue.name for r in rows],
        x_heading="Queue",
        series=[
            Series("Waiting", "waiting", [r.waiting for r in rows]),
            Series("In review", "in-review", [r.in_review for r in rows]),
            Series("Past SLA", "past-sla", [r.past_sla for r in rows]),
        ],
        kind="bars",
    ).drawn()


# --- Reading the hourly counts ------------------------------------------------------------


def _hours(end: datetime, count: int) -> list[datetime]:
    last = aggregates.floor_hour(end)
    return [last - timedelta(hours=count - 1 - i) for i in range(count)]


def _days(end: datetime, count: int) -> list[date]:
    today = end.astimezone(UTC).date()
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def per_hour(metric: str, hours: list[datetime]) -> dict[tuple[datetime, str], int]:
    rows = (
        HourlyCount.objects.filter(metric=metric, hour__gte=hours[0], hour__lte=hours[-1])
        .values("hour", "key")
        .annotate(n=Sum("value"))
        .order_by()
    )
    return {(r["hour"].astimezone(UTC), r["key"]): r["n"] for r in rows}


def per_day(metrics: Sequence[str], days: list[date], *, key: str | None = None) -> dict[tuple[str, date, str], int]:
    """Sums per (metric, UTC day, key), added up by the database."""
    rows = HourlyCount.objects.filter(
        metric__in=metrics, hour__gte=_day_start(days[0]), hour__lt=_day_start(days[-1] + timedelta(days=1))
    )
    if key is not None:
        rows = rows.filter(key=key)
    grouped = (
        rows.annotate(d=TruncDate("hour", tzinfo=UTC)).values("metric", "d", "key").annotate(n=Sum("value")).order_by()
    )
    return {(r["metric"], r["d"], r["key"]): r["n"] for r in grouped}


def _hour_labels(hours: list[datetime]) -> tuple[list[str], list[str]]:
    titles = [f"{h:%a %d %b %H}:00" for h in hours]
    labels = [f"{h:%a %d}" if h.hour == 0 else "" for h in hours]
    return titles, labels


def _day_labels(days: list[date], every: int = 7) -> tuple[list[str], list[str]]:
    titles = [f"{d:%a %d %b}" for d in days]
    labels = [f"{d:%d %b}" if (len(days) - 1 - i) % every == 0 else "" for i, d in enumerate(days)]
    return titles, labels


# --- Volumes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volumes:
    flags: Drawn
    decisions: Drawn
    flags_24h: int
    decisions_24h: int


def volumes(*, now: datetime) -> Volumes:
    hours = _hours(now, HOURS_SHOWN)
    titles, labels = _hour_labels(hours)
    flags = per_hour(Metric.FLAGS, hours)
    decisions = per_hour(Metric.DECISIONS, hours)
    flag_series = [
        Series("Queued for review", "queued", [flags.get((h, "queued"), 0) for h in hours]),
        Series("Below threshold", "below", [flags.get((h, "below"), 0) for h in hours]),
    ]
    decision_series = [
        Series(label, css, [decisions.get((h, outcome), 0) for h in hours])
        for outcome, label, css in [
            (Outcome.VIOLATING, "Violating", "violating"),
            (Outcome.NOT_VIOLATING, "Not violating", "not-violating"),
            (Outcome.ESCALATED, "Escalated", "escalated"),
        ]
    ]
    last_day = slice(-24, None)
    return Volumes(
        flags=chart(
            label=f"Flags received per hour, last {HOURS_SHOWN // 24} days (UTC)",
            x_titles=titles,
            x_labels=labels,
            x_heading="Hour (UTC)",
            series=flag_series,
            kind="stacked",
        ).drawn(),
        decisions=chart(
            label=f"Decisions made per hour, last {HOURS_SHOWN // 24} days (UTC)",
            x_titles=titles,
            x_labels=labels,
            x_heading="Hour (UTC)",
            series=decision_series,
            kind="stacked",
        ).drawn(),
        flags_24h=int(sum(sum(s.values[last_day]) for s in flag_series)),  # Series holds floats; these are counts
        decisions_24h=int(sum(sum(s.values[last_day]) for s in decision_series)),
    )


# --- Violations and enforcement --------------------------------------------------------------


def violations_chart(*, now: datetime, categories: dict[str, str]) -> Drawn:
    """Confirmed violations per day, the biggest categories stacked and the rest together."""
    days = _days(now, DAYS_SHOWN)
    counts = per_day([Metric.VIOLATIONS], days)
    totals: dict[str, int] = defaultdict(int)
    for (_, _, slug), n in counts.items():
        totals[slug] += n
    ranked = sorted(totals, key=lambda slug: (-totals[slug], slug))
    top, rest = ranked[:TOP_CATEGORIES], set(ranked[TOP_CATEGORIES:])
    series = [
        Series(categories.get(slug, slug), PALETTE[i], [counts.get((Metric.VIOLATIONS, d, slug), 0) for d in days])
        for i, slug in enumerate(top)
    ]
    if rest:
        series.append(
            Series(
                "Other categories",
                "c8",
                [sum(counts.get((Metric.VIOLATIONS, d, slug), 0) for slug in rest) for d in days],
            )
        )
    titles, labels = _day_labels(days)
    return chart(
        label=f"Confirmed violations per day by category, last {DAYS_SHOWN} days (UTC)",
        x_titles=titles,
        x_labels=labels,
        x_heading="Day (UTC)",
        series=series or [Series("Violations", "c1", [0] * len(days))],
        kind="stacked",
    ).drawn()


def account_states_chart(*, now: datetime) -> Drawn:
    days = _days(now, DAYS_SHOWN)
    counts = per_day([Metric.ACCOUNT_STATES], days)
    titles, labels = _day_labels(days)
    series = [
        Series(
            "Back to active" if state == EnforcementState.ACTIVE else state.label,
            f"state-{state.value}",
            [counts.get((Metric.ACCOUNT_STATES, d, state.value), 0) for d in days],
        )
        for state in ENTERED_STATES
    ]
    return chart(
        label=f"Accounts entering each enforcement state per day, last {DAYS_SHOWN} days (UTC)",
        x_titles=titles,
        x_labels=labels,
        x_heading="Day (UTC)",
        series=series,
        kind="stacked",
    ).drawn()


# --- Reviewers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewerRow:
    name: str
    decisions: int
    timed: int
    seconds: int

    @property
    def average(self) -> float | None:
        return self.seconds / self.timed if self.timed else None

    @property
    def average_text(self) -> str:
        return duration(self.average) if self.average is not None else "—"


@dataclass(frozen=True)
class Team:
    rows: list[ReviewerRow]
    throughput: Drawn
    handling: Drawn


REVIEWER_METRICS = [Metric.REVIEWER_DECISIONS, Metric.REVIEWER_TIMED, Metric.REVIEWER_SECONDS]


def team(*, now: datetime) -> Team:
    """Each reviewer's decisions and average handling time over the last TEAM_DAYS days: two queries."""
    since = aggregates.floor_hour(now) - timedelta(days=TEAM_DAYS) + aggregates.HOUR
    sums = (
        HourlyCount.objects.filter(metric__in=REVIEWER_METRICS, hour__gte=since)
        .values("metric", "key")
        .annotate(n=Sum("value"))
        .order_by()
    )
    per: dict[str, dict[str, int]] = defaultdict(dict)
    for row in sums:
        per[row["key"]][row["metric"]] = row["n"]
    names = dict(
        get_user_model().objects.filter(pk__in=[int(k) for k in per]).values_list("pk", "username") if per else []
    )
    rows = sorted(
        (
            ReviewerRow(
                names.get(int(key), f"user {key}"),
                got.get(Metric.REVIEWER_DECISIONS, 0),
                got.get(Metric.REVIEWER_TIMED, 0),
                got.get(Metric.REVIEWER_SECONDS, 0),
            )
            for key, got in per.items()
        ),
        key=lambda r: (-r.decisions, r.name),
    )
    titles = [r.name for r in rows]
    return Team(
        rows=rows,
        throughput=chart(
            label=f"Decisions per reviewer, last {TEAM_DAYS} days",
            x_titles=titles,
            x_heading="Reviewer",
            series=[Series("Decisions", "c1", [r.decisions for r in rows])],
            width=320,
            height=200,
        ).drawn(),
        handling=chart(
            label=f"Average handling time per reviewer, last {TEAM_DAYS} days",
            x_titles=titles,
            x_heading="Reviewer",
            series=[Series("Average handling time", "c2", [round(r.average or 0) for r in rows])],
            fmt=duration,
            width=320,
            height=200,
        ).drawn(),
    )


@dataclass(frozen=True)
class Own:
    chart: Drawn
    decisions: int
    average: str
    days: int


def own_throughput(user: Any, *, now: datetime) -> Own:
    """The signed-in reviewer's decisions per day and their average handling time: one query."""
    days = _days(now, OWN_DAYS)
    counts = per_day(REVIEWER_METRICS, days, key=str(user.pk))
    key = str(user.pk)

    def day_values(metric: str) -> list[int]:
        return [counts.get((metric, d, key), 0) for d in days]

    decisions, timed, seconds = (day_values(m) for m in REVIEWER_METRICS)
    titles, labels = _day_labels(days)
    return Own(
        chart=chart(
            label=f"Your decisions per day, last {OWN_DAYS} days (UTC)",
            x_titles=titles,
            x_labels=labels,
            x_heading="Day (UTC)",
            series=[Series("Your decisions", "c1", decisions)],
        ).drawn(),
        decisions=sum(decisions),
        average=duration(sum(seconds) / sum(timed)) if sum(timed) else "—",
        days=OWN_DAYS,
    )


# --- The page ---------------------------------------------------------------------------------


@dataclass
class Dashboard:
    now: datetime
    as_of: datetime | None
    queue_title: str = ""
    queues: list[QueueRow] = field(default_factory=list)
    queues_chart: Drawn | None = None
    volumes: Volumes | None = None
    violations: Drawn | None = None
    account_states: Drawn | None = None
    team: Team | None = None
    own: Own | None = None
    calibration: Calibration | None = None

    @property
    def open_cases(self) -> int:
        return sum(r.waiting + r.in_review for r in self.queues)

    @property
    def past_sla(self) -> int:
        return sum(r.past_sla for r in self.queues)


def dashboard_for(user: Any, *, now: datetime | None = None) -> Dashboard:
    """What `user`'s roles may see, in a number of queries that does not depend on the data."""
    from review.selectors import workable_queues

    now = now or timezone.now()
    as_of = counts_as_of()
    if nudge_if_stale(as_of, now=now):
        as_of = counts_as_of()  # the immediate backend has just refreshed them
    board = Dashboard(now=now, as_of=as_of)
    operations = has_cap(user, Cap.VIEW_OPERATIONS)
    calibrating = has_cap(user, Cap.VIEW_CALIBRATION)
    if operations:
        queues = list(Queue.objects.order_by("-priority", "name"))
        board.queue_title = "Queues"
    elif has_cap(user, Cap.REVIEW_CASES):
        queues = list(workable_queues(user).order_by("-priority", "name"))
        board.queue_title = "Your queues"
    else:
        queues = []
    if queues:
        board.queues = queue_rows(queues, now=now)
        board.queues_chart = queue_chart(
            board.queues, label=f"{board.queue_title}: cases waiting, in review and past SLA"
        )
    names: dict[str, str] = {}

    def categories() -> dict[str, str]:
        if not names:
            names.update(Category.objects.values_list("slug", "name"))
        return names

    shared = partial(_shared_panel, as_of=as_of, now=now)
    if operations:
        board.volumes = shared("volumes", lambda: volumes(now=now))
        board.violations = shared("violations", lambda: violations_chart(now=now, categories=categories()))
        board.account_states = shared("account_states", lambda: account_states_chart(now=now))
    if has_cap(user, Cap.VIEW_TEAM_METRICS):
        board.team = shared("team", lambda: team(now=now))
    if has_cap(user, Cap.REVIEW_CASES):
        board.own = own_throughput(user, now=now)
    if calibrating:
        board.calibration = shared("calibration", lambda: calibration(now=now, categories=categories()))
    return board


def _shared_panel[T](name: str, build: Callable[[], T], *, as_of: datetime | None, now: datetime) -> T:
    """A panel drawn from the hourly counts, the same for everyone who may see it: drawn once per count.

    It can only change when the counts do (a new `as_of`) or when the hour
    turns (the windows move), so both are in the cache key. A cache that does
    not answer costs a rebuild, never the page.
    """
    if as_of is None or not PANEL_SECONDS:
        return build()
    key = f"docket:dashboard:{name}:{as_of.timestamp():.6f}:{aggregates.floor_hour(now).timestamp():.0f}"
    try:
        found = cache.get(key)
    except Exception:
        logger.warning("dashboard panel cache unreadable", exc_info=True)
        return build()
    if found is not None:
        return found
    panel = build()
    try:
        cache.set(key, panel, PANEL_SECONDS)
    except Exception:
        logger.warning("dashboard panel cache unwritable", exc_info=True)
    return panel
