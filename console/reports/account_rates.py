"""The account violation-rate report: one row per account with violations in the period."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery

from accounts.models import Account, EnforcementState, Violation
from console.reports.base import Column, Filters, Report, in_range


class AccountRateReport(Report):
    name = "account_rates"
    title = "Account violation rates"
    description = (
        "One row per account with confirmed violations in the period (of the chosen category and severity): how "
        "many, and the account's running counts per window and per 1,000 requests as Docket holds them now."
    )
    time_label = "violations decided"
    filter_names = ("date_from", "date_to", "integration", "category", "severity", "state")
    states = list(EnforcementState.choices)
    order = ("-in_period", "id")

    def _violations(self, filters: Filters) -> QuerySet[Any]:
        qs = in_range(Violation.objects.confirmed().filter(account_id=OuterRef("pk")), "confirmed_at", filters)
        if filters.category:
            qs = qs.filter(category_id=filters.category)
        if filters.severity:
            qs = qs.filter(severity=filters.severity)
        return qs

    def base(self, filters: Filters) -> QuerySet[Any]:
        counted = self._violations(filters).values("account_id").annotate(n=Count("*")).values("n")
        qs = Account.objects.annotate(in_period=Subquery(counted, output_field=IntegerField())).filter(
            in_period__gt=0
        )
        if filters.integration is not None:
            qs = qs.filter(integration_id=filters.integration)
        if filters.state:
            qs = qs.filter(state=filters.state)
        return qs

    def columns(self) -> list[Column]:
        return [
            Column("account", F("user_hash")),
            Column("integration", F("integration__name"), guard=True),
            Column("state", F("state")),
            Column("violations_in_period", F("in_period"), "int"),
            Column("violations_total", F("violation_count"), "int"),
            Column("flags_total", F("flag_count"), "int"),
            Column("v24h", F("rates__v24h"), "int"),
            Column("v7d", F("rates__v7d"), "int"),
            Column("v30d", F("rates__v30d"), "int"),
            Column("v90d", F("rates__v90d"), "int"),
            Column("requests_7d", F("rates__requests_7d"), "int"),
            Column("requests_30d", F("rates__requests_30d"), "int"),
            Column("rate_7d", F("rates__rate_7d"), "float"),
            Column("rate_30d", F("rates__rate_30d"), "float"),
            Column("first_seen", F("first_seen"), "time"),
            Column("last_seen", F("last_seen"), "time"),
        ]
