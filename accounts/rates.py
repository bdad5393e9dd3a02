"""Violation counts per window and rates per 1,000 requests, kept without recounting history.

A decision changes one account's counts by one (`bump`); a sweep removes
violations that aged out of a window since its previous run; `recompute`
rebuilds everything from the violations and usage and reports the drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, ExpressionWrapper, F, FloatField, OuterRef, Q, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, AccountRates, SweepState, UsageDay, Violation, Window

WINDOW_FIELDS = {Window.DAY: "v24h", Window.WEEK: "v7d", Window.MONTH: "v30d", Window.QUARTER: "v90d"}
REQUEST_FIELDS = {Window.WEEK: "requests_7d", Window.MONTH: "requests_30d"}
RATE_FIELDS = {Window.WEEK: "rate_7d", Window.MONTH: "rate_30d"}


def _rate_expressions() -> dict[str, Case]:
    return {
        rate: Case(
            When(
                **{f"{requests}__gt": 0},
                then=ExpressionWrapper(F(WINDOW_FIELDS[w]) * 1000.0 / F(requests), output_field=FloatField()),
            ),
            default=None,
            output_field=FloatField(),
        )
        for w, (rate, requests) in {w: (RATE_FIELDS[w], REQUEST_FIELDS[w]) for w in RATE_FIELDS}.items()
    }


def bump(*, account_id: int, occurred_at: datetime, delta: int, now: datetime | None = None) -> None:
    """One violation confirmed (+1) or voided (-1): touch only the windows it falls in."""
    now = now or timezone.now()
    AccountRates.objects.get_or_create(account_id=account_id)
    changes = {field: F(field) + delta for window, field in WINDOW_FIELDS.items() if occurred_at >= now - window.delta}
    if changes:
        AccountRates.objects.filter(account_id=account_id).update(**changes)
        AccountRates.objects.filter(account_id=account_id).update(**_rate_expressions())


def refresh_requests(*, account_ids: list[int], now: datetime | None = None) -> None:
    """Requests per window from reported usage (whole UTC days), and the rates that follow."""
    today = (now or timezone.now()).date()
    sums = (
        UsageDay.objects.filter(account_id__in=account_ids, day__gt=today - timedelta(days=30))
        .values("account_id")
        .annotate(
            r7=Sum("requests", filter=Q(day__gt=today - timedelta(days=7))),
            r30=Sum("requests"),
        )
    )
    found = {row["account_id"]: row for row in sums}
    for account_id in account_ids:
        row = found.get(account_id, {"r7": 0, "r30": 0})
        AccountRates.objects.get_or_create(account_id=account_id)
        AccountRates.objects.filter(account_id=account_id).update(
            requests_7d=row["r7"] or 0, requests_30d=row["r30"] or 0
        )
    AccountRates.objects.filter(account_id__in=account_ids).update(**_rate_expressions())


def sweep(*, now: datetime | None = None) -> int:
    """Take out of each window the violations that left it since the last sweep. Returns accounts touched."""
    now = now or timezone.now()
    with transaction.atomic():
        state, created = SweepState.objects.select_for_update().get_or_create(
            name="violation_windows", defaults={"last_run_at": now}
        )
        if created:
            # No earlier run to continue from: violations may have left a window
            # before this first one, so count every window afresh instead.
            return len({d.account_id for d in recompute(now=now)})
        since = state.last_run_at
        touched: set[int] = set()
        for window, field in WINDOW_FIELDS.items():
            left = F("occurred_at") + window.delta  # when the violation left this window
            aged = (
                Violation.objects.filter(occurred_at__gte=since - window.delta, occurred_at__lt=now - window.delta)
                # Only what `bump` counted in this window and did not take out again: confirmed
                # before it left (a late decision never counted), and not voided before it left.
                .filter(confirmed_at__lte=left)
                .filter(Q(voided_at__isnull=True) | Q(voided_at__gt=left))
                .values("account_id")
                .annotate(n=Count("pk"))
            )
            for row in aged:
                AccountRates.objects.filter(account_id=row["account_id"]).update(**{field: F(field) - row["n"]})
                touched.add(row["account_id"])
        if touched:
            AccountRates.objects.filter(account_id__in=touched).update(**_rate_expressions())
        state.last_run_at = now
        state.save(update_fields=["last_run_at"])
    return len(touched)


@dataclass(frozen=True)
class Drift:
    account_id: int
    field: str
    stored: int
    actual: int


def recompute(*, now: datetime | None = None, fix: bool = True) -> list[Drift]:
    """Count every window afresh from the violations; report (and fix) what the running counts got wrong."""
    now = now or timezone.now()
    actual: dict[int, dict[str, int]] = {}
    # Mapping: the stubs' row type knows account_id but not the window counts annotated from WINDOW_FIELDS.
    counts: Iterable[Mapping[str, Any]] = (
        Violation.objects.confirmed()
        .filter(occurred_at__gte=now - Window.QUARTER.delta)
        .values("account_id")
        .annotate(
            **{field: Count("pk", filter=Q(occurred_at__gte=now - w.delta)) for w, field in WINDOW_FIELDS.items()}
        )
    )
    for row in counts:
        actual[row["account_id"]] = {field: row[field] for field in WINDOW_FIELDS.values()}
    drifts: list[Drift] = []
    zero = {field: 0 for field in WINDOW_FIELDS.values()}
    stored_rows = AccountRates.objects.values("account_id", *WINDOW_FIELDS.values())
    seen: set[int] = set()
    for row in stored_rows.iterator(chunk_size=5000):
        account_id = row.pop("account_id")
        seen.add(account_id)
        want = actual.get(account_id, zero)
        drifts += [Drift(account_id, f, row[f], want[f]) for f in WINDOW_FIELDS.values() if row[f] != want[f]]
    for account_id, want in actual.items():
        if account_id not in seen:
            drifts += [Drift(account_id, f, 0, want[f]) for f in WINDOW_FIELDS.values() if want[f]]
    window_drifts = [d for d in drifts if d.field in WINDOW_FIELDS.values()]
    if fix and window_drifts:
        with transaction.atomic():
            for account_id in sorted({d.account_id for d in window_drifts}):
                AccountRates.objects.update_or_create(account_id=account_id, defaults=actual.get(account_id, zero))
            AccountRates.objects.filter(account_id__in={d.account_id for d in window_drifts}).update(
                **_rate_expressions()
            )
            SweepState.objects.update_or_create(name="violation_windows", defaults={"last_run_at": now})
    return drifts + _recount_totals(fix=fix)


def _recount_totals(*, fix: bool) -> list[Drift]:
    """Account.violation_count is the confirmed violations of all time: report (and fix) where it is not."""
    confirmed = (
        Violation.objects.confirmed()
        .filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    wrong = (
        Account.objects.annotate(actual=Coalesce(Subquery(confirmed), 0))
        .exclude(violation_count=F("actual"))
        .values_list("pk", "violation_count", "actual")
    )
    drifts = [Drift(pk, "violation_count", stored, actual) for pk, stored, actual in wrong.iterator(chunk_size=5000)]
    if fix:
        for drift in drifts:
            Account.objects.filter(pk=drift.account_id).update(violation_count=drift.actual)
    return drifts
