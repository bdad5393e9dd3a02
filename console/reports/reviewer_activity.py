"""The reviewer activity report: one row per reviewer and UTC day with decisions."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import Avg, Count, F, FloatField, Q, QuerySet
from django.db.models.functions import Round, TruncDate

from console.reports.base import Column, Filters, Report, in_range
from review.models import Decision, Outcome


class ReviewerActivityReport(Report):
    name = "reviewer_activity"
    title = "Reviewer activity"
    description = (
        "One row per reviewer and day: decisions made, how many were violating, not violating or escalations, how "
        "many were bulk decisions, how many were later corrected, and the average handling time."
    )
    time_label = "decided"
    filter_names = ("date_from", "date_to", "integration", "category", "queue")

    def _decisions(self, filters: Filters) -> QuerySet[Any]:
        qs = in_range(Decision.objects.all(), "decided_at", filters)
        if filters.integration is not None:
            qs = qs.filter(case__integration_id=filters.integration)
        if filters.category:
            qs = qs.filter(case__category_id=filters.category)
        if filters.queue:
            qs = qs.filter(case__queue__slug=filters.queue)
        return qs

    def base(self, filters: Filters) -> QuerySet[Any]:
        return (
            self._decisions(filters)
            .values(day=TruncDate("decided_at", tzinfo=UTC), username=F("reviewer__username"))
            .annotate(n=Count("id"))
        )

    def columns(self) -> list[Column]:
        return [
            Column("day", TruncDate("decided_at", tzinfo=UTC), "date"),
            Column("reviewer", F("reviewer__username"), guard=True),
            Column("decisions", Count("id"), "int"),
            Column("violating", Count("id", filter=Q(outcome=Outcome.VIOLATING)), "int"),
            Column("not_violating", Count("id", filter=Q(outcome=Outcome.NOT_VIOLATING)), "int"),
            Column("escalated", Count("id", filter=Q(outcome=Outcome.ESCALATED)), "int"),
            Column("bulk", Count("id", filter=Q(bulk=True)), "int"),
            Column("corrected_later", Count("superseded_by"), "int"),
            Column("corrections", Count("id", filter=Q(supersedes__isnull=False)), "int"),
            Column("avg_handling_seconds", Round(Avg("handling_seconds", output_field=FloatField()), 1), "float"),
        ]

    def rows(self, filters: Filters, *, joined: bool = False) -> QuerySet[Any]:
        # Grouped by day and reviewer: the first two columns are the groups, the rest aggregates.
        select = {f"c{i}": column.expr for i, column in enumerate(self.columns())}
        keys = {k: select.pop(k) for k in ("c0", "c1")}
        return self._decisions(filters).values(**keys).annotate(**select).order_by("c0", "c1")
