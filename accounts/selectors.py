"""Reads for the account, action and appeal pages.

Every read here is bounded: list pages are keyset pages of one query, and
the account page's history is a few queries of at most TIMELINE_LIMIT rows
each, merged in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Count, QuerySet, Subquery, Value, When
from django.db.models.functions import TruncDate
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    Account,
    AccountNote,
    AccountRates,
    Action,
    ActionState,
    Appeal,
    UsageDay,
    Violation,
    Window,
)
from console.access import has_cap
from console.models import AuditEntry
from console.roles import Cap
from review.models import Case, Category, Decision, Flag, Queue, Severity

TIMELINE_LIMIT = 100
CHART_DAYS = 30
EVIDENCE_CHOICES = 100
ACTION_TARGET = "accounts.action"


# --- Lists ----------------------------------------------------------------------


def accounts_list() -> QuerySet[Account]:
    """The accounts list's base queryset: one row per account with its integration and rates joined."""
    return Account.objects.select_related("integration", "rates")


def actions_list() -> QuerySet[Action]:
    """Actions with what the list shows; `waiting` puts proposed ones first."""
    waiting = models.Case(
        When(state=ActionState.PROPOSED, then=Value(1)), default=Value(0), output_field=models.IntegerField()
    )
    return Action.objects.select_related("account", "account__integration", "rule", "proposed_by").annotate(
        waiting=waiting,
        approval_count=Count("approvals", distinct=True),
        evidence_count=Count("evidence", distinct=True),
    )


ACTIONS_ORDER = ("-waiting", "-id")


# --- One account ----------------------------------------------------------------


def account_for(pk: int) -> Account:
    """Any account, for staff who may see accounts; 404 when there is none."""
    account = Account.objects.select_related("integration", "rates").filter(pk=pk).first()
    if account is None:
        raise Http404("No such account.")
    return account


@dataclass(frozen=True)
class WindowRow:
    window: Window
    violations: int
    requests: int | None  # reported requests in the window, where Docket keeps them
    rate: float | None  # violations per 1,000 requests


def windows(account: Account) -> list[WindowRow]:
    """Violations per window from the running counts; requests and rates where usage is reported."""
    try:
        rates: AccountRates | None = account.rates
    except AccountRates.DoesNotExist:
        rates = None
    if rates is None:
        return [WindowRow(w, 0, None, None) for w in Window]
    return [
        WindowRow(Window.DAY, rates.v24h, None, None),
        WindowRow(Window.WEEK, rates.v7d, rates.requests_7d or None, rates.rate_7d),
        WindowRow(Window.MONTH, rates.v30d, rates.requests_30d or None, rates.rate_30d),
        WindowRow(Window.QUARTER, rates.v90d, None, None),
    ]


@dataclass(frozen=True)
class CategoryRow:
    category: Category
    counts: list[int]  # one per severity, in Severity order
    total: int


@dataclass(frozen=True)
class CategoryTable:
    severities: list[str]
    rows: list[CategoryRow]
    totals: list[int]


def violations_by_category(account: Account) -> CategoryTable:
    """Confirmed violations of all time, category by severity (a dozen cells, whatever the history)."""
    cells = (
        Violation.objects.confirmed()
        .filter(account=account)
        .values("category_id", "severity")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found: dict[str, dict[str, int]] = {}
    for cell in cells:
        found.setdefault(cell["category_id"], {})[cell["severity"]] = cell["n"]
    severities = list(Severity)
    categories = Category.objects.filter(slug__in=found) if found else Category.objects.none()
    rows = []
    for category in categories:
        counts = [found[category.slug].get(s.value, 0) for s in severities]
        rows.append(CategoryRow(category, counts, sum(counts)))
    totals = [sum(row.counts[i] for row in rows) for i in range(len(severities))]
    return CategoryTable([s.label for s in severities], rows, totals)


@dataclass(frozen=True)
class Day:
    day: date
    flags: int
    violations: int
    requests: int | None


def daily_activity(account: Account, *, days: int = CHART_DAYS, now: datetime | None = None) -> list[Day]:
    """Flags, violations and reported requests per UTC day, oldest first, the last `days` days."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)

    def per_day(queryset: QuerySet[Any], moment: str) -> dict[date, int]:
        rows = (
            queryset.filter(**{f"{moment}__gte": since})
            .annotate(d=TruncDate(moment, tzinfo=UTC))
            .values("d")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return {row["d"]: row["n"] for row in rows}

    flags = per_day(Flag.objects.filter(account=account), "occurred_at")
    violations = per_day(Violation.objects.confirmed().filter(account=account), "occurred_at")
    usage = dict(UsageDay.objects.filter(account=account, day__gte=first).values_list("day", "requests"))
    return [
        Day(d, flags.get(d, 0), violations.get(d, 0), usage.get(d))
        for d in (first + timedelta(days=i) for i in range(days))
    ]


# --- Charts (server-rendered SVG: geometry here, the template only draws it) -----------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Column:
    """A day's whole slot: hovering anywhere over it names the day's numbers."""

    x: float
    width: float
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    bars: list[Bar]
    columns: list[Column]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[tuple[str, str]]  # (css name, label) for the legend
    label: str  # what a screen reader hears; the table below has the numbers
    empty: bool = field(default=False)


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten at or above `value` (the top of the y axis)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def bar_chart(
    days: list[Day], series: list[tuple[str, str, str]], *, label: str, width: int = 900, height: int = 180
) -> Chart:
    """Grouped bars, one group per day. `series` is (attribute of Day, css name, label)."""
    left, right, top, bottom = 40, 8, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [[getattr(d, attr) or 0 for attr, _, _ in series] for d in days]
    top_value = nice_ceiling(max((v for row in values for v in row), default=0))
    slot = plot_w / max(len(days), 1)
    gap = max(slot * 0.2, 1.0)
    bar_w = (slot - gap) / len(series)
    bars: list[Bar] = []
    columns: list[Column] = []
    for i, (day, row) in enumerate(zip(days, values, strict=True)):
        numbers = ", ".join(f"{value:,} {name.lower()}" for (_, _, name), value in zip(series, row, strict=True))
        columns.append(Column(round(left + i * slot, 2), round(slot, 2), f"{day.day:%a %d %b}: {numbers}"))
        for j, ((_, css, name), value) in enumerate(zip(series, row, strict=True)):
            h = plot_h * value / top_value
            bars.append(
                Bar(
                    x=round(left + i * slot + gap / 2 + j * bar_w, 2),
                    y=round(top + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    series=css,
                    title=f"{day.day:%a %d %b}: {value:,} {name.lower()}",
                )
            )
    x_ticks = [
        Tick(round(left + i * slot + slot / 2, 2), f"{d.day:%d %b}")
        for i, d in enumerate(days)
        if (len(days) - 1 - i) % 7 == 0
    ]
    y_ticks = [
        Tick(round(top + plot_h - plot_h * f, 2), f"{int(top_value * f):,}")
        for f in (0, 0.5, 1)
        if f != 0.5 or top_value % 2 == 0
    ]
    empty = all(v == 0 for row in values for v in row)
    return Chart(
        width,
        height,
        left,
        width - right,
        top + plot_h,
        bars,
        columns,
        x_ticks,
        y_ticks,
        [(css, name) for _, css, name in series],
        label,
        empty,
    )


# --- Timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # flag, decision, action, appeal, note: also its css class
    title: str
    actor: str = ""
    text: str = ""  # untrusted or staff-written: the template only ever autoescapes it
    url: str = ""
    link: str = ""
    hidden_text: bool = False  # sensitive: open the case to read it
    opens: str = ""  # "case" or "action": the page the link opens, which not every role may


def timeline(account: Account, actions: list[Action], *, user: Any, limit: int = TIMELINE_LIMIT) -> list[Event]:
    """The account's history, newest first: flags, decisions, action steps, appeals and notes.

    Six bounded queries whatever the history: each kind's newest `limit`
    rows, merged here and cut to `limit`. Links go only to pages `user` may open.
    """
    events: list[Event] = []
    case_links, action_links = has_cap(user, Cap.REVIEW_CASES), has_cap(user, Cap.APPROVE_ACTIONS)
    flags = (
        Flag.objects.filter(account=account)
        .select_related("case__category")
        .only(
            "external_id",
            "source",
            "prompt",
            "response",
            "occurred_at",
            "max_level",
            "case__category__sensitive",
            "case__category__name",
            "case__id",
            "text_removed_at",
        )
        .order_by("-occurred_at")[:limit]
    )
    for flag in flags:
        sensitive = bool(flag.case and flag.case.category.sensitive)
        where = "" if flag.case else " · below threshold, not queued"
        events.append(
            Event(
                at=flag.occurred_at,
                kind="flag",
                title=f"Flag {flag.external_id} · {flag.source} · {flag.get_max_level_display()}{where}",
                text="" if sensitive else (flag.prompt or flag.response)[:280],
                url=reverse("review:case", args=[flag.case.pk]) if flag.case else "",
                link=f"Case {flag.case.pk}" if flag.case else "",
                opens="case",
                hidden_text=sensitive,
            )
        )
    decisions = (
        Decision.objects.filter(case__account=account)
        .select_related("reviewer", "category")
        .order_by("-decided_at")[:limit]
    )
    for d in decisions:
        what = d.get_outcome_display() + (f" · {d.category.name} · {d.get_severity_display()}" if d.category else "")
        events.append(
            Event(
                at=d.decided_at,
                kind="decision",
                title=f"Decision: {what}" + (" (bulk)" if d.bulk else ""),
                actor=d.reviewer.get_username(),
                text=d.note,
                url=reverse("review:case", args=[d.case_id]),
                link=f"Case {d.case_id}",
                opens="case",
            )
        )
    by_id = {str(a.pk): a for a in actions}
    entries = (
        AuditEntry.objects.filter(target_type=ACTION_TARGET, target_id__in=list(by_id)).order_by("-seq")[:limit]
        if by_id
        else []
    )
    for entry in entries:
        action = by_id[entry.target_id]
        events.append(
            Event(
                at=entry.created_at,
                kind="action",
                title=f"{entry.verb_label}: {action.get_kind_display().lower()}"
                + (f" ({action.scope})" if action.scope else ""),
                actor=entry.actor_label,
                text=entry.reason,
                url=reverse("accounts:action", args=[action.pk]),
                link=f"Action {action.pk}",
                opens="action",
            )
        )
    appeals = (
        Appeal.objects.filter(action__account=account)
        .select_related("decided_by", "action")
        .order_by("-received_at")[:limit]
    )
    for appeal in appeals:
        events.append(
            Event(
                at=appeal.received_at,
                kind="appeal",
                title=f"Appeal received against action {appeal.action_id}",
                actor="the user, through the platform",
                text=appeal.text[:1000],
                url=reverse("review:case", args=[appeal.case_id]) if appeal.case_id else "",
                link=f"Case {appeal.case_id}" if appeal.case_id else "",
                opens="case",
            )
        )
        if appeal.decided_at:
            events.append(
                Event(
                    at=appeal.decided_at,
                    kind="appeal",
                    title=f"Appeal {appeal.get_state_display().lower()}",
                    actor=appeal.decided_by.get_username() if appeal.decided_by else "",
                    text=appeal.reason,
                    url=reverse("accounts:action", args=[appeal.action_id]),
                    link=f"Action {appeal.action_id}",
                    opens="action",
                )
            )
    for note in AccountNote.objects.filter(account=account).select_related("author").order_by("-created_at")[:limit]:
        events.append(
            Event(at=note.created_at, kind="note", title="Staff note", actor=note.author.get_username(), text=note.text)
        )
    events.sort(key=lambda e: e.at, reverse=True)
    return [_linkable(e, case_links, action_links) for e in events[:limit]]


def _linkable(event: Event, case_links: bool, action_links: bool) -> Event:
    allowed = action_links if event.opens == "action" else case_links
    return event if allowed or not event.url else replace(event, url="", link="")


def account_actions(account: Account, *, limit: int = 200) -> list[Action]:
    return list(Action.objects.filter(account=account).select_related("rule").order_by("-proposed_at")[:limit])


def evidence_choices(account: Account) -> QuerySet[Violation]:
    """What a senior may tick as evidence: the account's newest confirmed violations."""
    newest = (
        Violation.objects.confirmed().filter(account=account).order_by("-occurred_at").values("pk")[:EVIDENCE_CHOICES]
    )
    return (
        Violation.objects.confirmed()
        .filter(pk__in=Subquery(newest))
        .select_related("category")
        .order_by("-occurred_at")
    )


# --- One action ----------------------------------------------------------------------


def action_for(pk: int) -> Action:
    action = (
        Action.objects.select_related("account", "account__integration", "rule", "proposed_by").filter(pk=pk).first()
    )
    if action is None:
        raise Http404("No such action.")
    return action


def appeal_for(pk: int) -> Appeal:
    appeal = Appeal.objects.select_related("action").filter(pk=pk).first()
    if appeal is None:
        raise Http404("No such appeal.")
    return appeal


def action_evidence(action: Action) -> list[Violation]:
    return list(action.evidence.select_related("category", "case", "decision__reviewer").order_by("occurred_at"))


def action_history(action: Action, *, limit: int = TIMELINE_LIMIT) -> list[AuditEntry]:
    """The action's audit entries, oldest first (its appeals have their own, shown with them)."""
    newest = AuditEntry.objects.filter(target_type=ACTION_TARGET, target_id=str(action.pk)).order_by("-seq")[:limit]
    return list(reversed(list(newest)))


def action_appeals(action: Action) -> list[Appeal]:
    return list(action.appeals.select_related("decided_by", "case").order_by("-received_at"))


# What a senior may do next, by state; the services still decide whether they may.
STEPS_BY_STATE: dict[str, list[str]] = {
    ActionState.PROPOSED: ["approve", "reject"],
    ActionState.APPROVED: ["apply"],
    ActionState.APPLIED: ["lift"],
}


def next_steps(action: Action) -> list[str]:
    return STEPS_BY_STATE.get(action.state, [])


# --- Appeals on the case page ---------------------------------------------------------


def appeal_of(case: Case) -> Appeal | None:
    """The appeal a case in the appeals queue was opened for, with what its panel shows."""
    if case.queue.kind != Queue.Kind.APPEAL:
        return None
    appeal = (
        Appeal.objects.select_related("action", "action__account", "action__rule", "action__proposed_by", "decided_by")
        .filter(case=case)
        .first()
    )
    if appeal is not None:
        appeal.evidence = action_evidence(appeal.action)  # type: ignore[attr-defined]
    return appeal
