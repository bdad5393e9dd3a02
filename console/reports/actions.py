"""The enforcement-action report: one row per action, whatever its state."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    StringAgg,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.models import Action, ActionState, Violation
from console.reports.base import Column, Filters, Report, in_range
from console.reports.expressions import ordered
from review.models import Category


def _approvers() -> Subquery:
    through = Action.approvals.through
    # The ignore: django-stubs' plugin forgets an annotate() made after values() ("Cannot resolve keyword 'text'").
    names = (
        through.objects.filter(action_id=OuterRef("pk"))  # type: ignore[misc]
        .values("action_id")
        .annotate(text=StringAgg(F("user__username"), Value(", "), **ordered("user__username")))
        .values("text")
    )
    return Subquery(names, output_field=CharField())


def _evidence(action_filter: dict[str, Any] | None = None) -> Any:
    return Action.evidence.through.objects.filter(action_id=OuterRef("pk"), **(action_filter or {}))


def _evidence_count() -> Coalesce:
    counted = _evidence().values("action_id").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _evidence_categories() -> Subquery:
    """The categories of the action's evidence, each once.

    Over the taxonomy rather than the evidence: SQLite's group_concat takes no
    DISTINCT together with a separator.
    """
    cited = Violation.objects.filter(actions=OuterRef(OuterRef("pk")), category_id=OuterRef("slug"))
    categories = (
        Category.objects.filter(Exists(cited))
        .order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(text=StringAgg(F("slug"), Value(", "), **ordered("slug")))
        .values("text")
    )
    return Subquery(categories, output_field=CharField())


class ActionReport(Report):
    name = "actions"
    title = "Enforcement actions"
    description = (
        "One row per account action: when it was proposed, the account, kind, scope and state, the rule or person "
        "that proposed it, who approved it, when it was applied and when it ends or ended, and its evidence."
    )
    time_label = "proposed"
    filter_names = ("date_from", "date_to", "integration", "category", "severity", "state")
    states = list(ActionState.choices)
    order = ("proposed_at", "id")

    def columns(self) -> list[Column]:
        return [
            Column("proposed_at", F("proposed_at"), "time"),
            Column("integration", F("account__integration__name"), guard=True),
            Column("account", F("account__user_hash")),
            Column("action", F("id"), "int"),
            Column("kind", F("kind")),
            Column("scope", F("scope"), guard=True),
            Column("state", F("state")),
            Column("rule", F("rule__name"), guard=True),
            Column(
                "proposed_by",
                Case(When(proposed_by__isnull=False, then=F("proposed_by__username")),
                     When(rule__isnull=False, then=Value("rule")), default=Value("system"), output_field=CharField()),
                guard=True,
            ),
            Column("approved_by", _approvers(), guard=True),
            Column("applied_at", F("applied_at"), "time"),
            Column("ends_at", F("ends_at"), "time"),
            Column("ended_at", F("ended_at"), "time"),
            Column("evidence", _evidence_count(), "int"),
            Column("categories", _evidence_categories()),
            Column("reason", F("reason"), guard=True),
        ]

    def base(self, filters: Filters) -> QuerySet[Any]:
        qs = in_range(Action.objects.all(), "proposed_at", filters)
        if filters.integration is not None:
            qs = qs.filter(account__integration_id=filters.integration)
        if filters.category:
            qs = qs.filter(Exists(_evidence({"violation__category_id": filters.category})))
        if filters.severity:
            qs = qs.filter(Exists(_evidence({"violation__severity": filters.severity})))
        if filters.state:
            qs = qs.filter(state=filters.state)
        return qs
