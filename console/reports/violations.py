"""The violation report: one row per violating decision."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    OuterRef,
    QuerySet,
    StringAgg,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, Round

from accounts.models import Action, Violation
from console.reports.base import Column, Filters, Report, in_range
from review.models import Flag, Level, Signal

VIOLATION_STATES = [("confirmed", "Confirmed"), ("voided", "Voided (decision corrected)")]


def level_name(field: str) -> Case:
    return Case(*(When(**{field: level.value}, then=Value(level.label)) for level in Level), output_field=CharField())


def ordered(field: str) -> dict[str, Any]:
    """An aggregate's ORDER BY, where the database has one (SQLite before 3.44 does not)."""
    return {"order_by": field} if connection.features.supports_aggregate_order_by_clause else {}


def _source() -> Subquery:
    return Subquery(Flag.objects.filter(case_id=OuterRef("case_id")).order_by("id").values("source")[:1])


def _signals() -> Subquery:
    """`category level score (source label)` for each signal of the first flag, strongest first.

    The flag that opened the case: a case gathers the same content from the
    same account, so its first flag speaks for all of them.
    """
    text = Concat(
        F("category_id"),
        Value(" "),
        level_name("level"),
        Case(
            When(score__isnull=True, then=Value("")),
            default=Concat(Value(" "), Cast(Round("score", 3), CharField())),
            output_field=CharField(),
        ),
        Value(" ("),
        F("source_label"),
        Value(")"),
        output_field=CharField(),
    )
    signals = (
        Signal.objects.filter(flag_id=Subquery(Flag.objects.filter(case_id=OuterRef(OuterRef("case_id")))
                                                .order_by("id").values("id")[:1]))
        .values("flag_id")
        .annotate(text=StringAgg(text, Value("; "), **ordered("-level")))
        .values("text")
    )
    return Subquery(signals, output_field=CharField())


def _actions() -> Subquery:
    """The actions that cite this violation as evidence: `#id kind state`."""
    through = Action.evidence.through
    text = Concat(
        Value("#"), Cast("action_id", CharField()), Value(" "), F("action__kind"), Value(" "), F("action__state"),
        output_field=CharField(),
    )
    actions = (
        through.objects.filter(violation_id=OuterRef("pk"))
        .values("violation_id")
        .annotate(text=StringAgg(text, Value(", "), **ordered("action_id")))
        .values("text")
    )
    return Subquery(actions, output_field=CharField())


class ViolationReport(Report):
    name = "violations"
    title = "Violations"
    description = (
        "One row per violating decision: when it was decided, the account, category and severity, the source and "
        "signals of the flag that opened the case, the reviewer, the case and any action that cites it."
    )
    time_label = "decided"
    filter_names = ("date_from", "date_to", "integration", "category", "severity", "source", "queue", "state")
    states = VIOLATION_STATES

    def columns(self) -> list[Column]:
        return [
            Column("decided_at", F("confirmed_at"), "time"),
            Column("occurred_at", F("occurred_at"), "time"),
            Column("integration", F("account__integration__name"), guard=True),
            Column("account", F("account__user_hash")),
            Column("category", F("category_id")),
            Column("severity", F("severity")),
            Column("source", _source()),
            Column("signals", _signals(), guard=True),
            Column("reviewer", F("decision__reviewer__username"), guard=True),
            Column("case", F("case_id"), "int"),
            Column("queue", F("case__queue__slug")),
            Column("decision", F("decision_id"), "int"),
            Column("state", Case(When(voided_at__isnull=True, then=Value("confirmed")), default=Value("voided"))),
            Column("actions", _actions()),
        ]

    def base(self, filters: Filters) -> QuerySet[Any]:
        qs = in_range(Violation.objects.all(), "confirmed_at", filters)
        if filters.integration is not None:
            qs = qs.filter(account__integration_id=filters.integration)
        if filters.category:
            qs = qs.filter(category_id=filters.category)
        if filters.severity:
            qs = qs.filter(severity=filters.severity)
        if filters.source:
            qs = qs.filter(Exists(Flag.objects.filter(case_id=OuterRef("case_id"), source=filters.source)))
        if filters.queue:
            qs = qs.filter(case__queue__slug=filters.queue)
        if filters.state:
            qs = qs.filter(voided_at__isnull=filters.state == "confirmed")
        return qs

    def rows(self, filters: Filters) -> QuerySet[Any]:
        return self.base(filters).order_by("confirmed_at", "id").values(**self.select())
