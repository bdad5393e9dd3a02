"""The violation report: one row per violating decision."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Case, CharField, Exists, F, Min, OuterRef, QuerySet, StringAgg, Value, When
from django.db.models.functions import Cast, Concat

from accounts.models import Action, Violation
from console.reports.base import Column, Filters, Looked, Lookup, Report, in_range
from console.reports.expressions import ScoreText, Words, level_name, ordered
from review.models import Flag, Signal

VIOLATION_STATES = [("confirmed", "Confirmed"), ("voided", "Voided (decision corrected)")]


def case_evidence(signal_model: Any = Signal, flag_model: Any = Flag) -> QuerySet[Any]:
    """Per case, the source and the signals of the flag that opened it: `category level score (label)`, strongest first.

    A case gathers the same content from the same account, so its first flag
    speaks for all of them. A violation keeps a copy (`record_violation`);
    the models are parameters for the migration that filled in the older ones.
    """
    earlier = flag_model.objects.filter(case_id=OuterRef("flag__case_id"), id__lt=OuterRef("flag_id"))
    text = Words(F("category_id"), level_name("level"), ScoreText("score"), Concat(Value("("), F("source_label"),
                                                                                  Value(")")))
    return (
        signal_model.objects.filter(flag__case_id__isnull=False)
        .filter(~Exists(earlier))
        .values(key=F("flag__case_id"))
        .annotate(source=Min("flag__source"), signals=StringAgg(text, Value("; "), **ordered("-level")))
    )


# Stands for the case id in the compiled statement below (no real id, nor any constant of the query, is this).
_ANY_CASE = -(2**62)


@cache
def _evidence_statement(vendor: str) -> tuple[str, tuple[Any, ...]]:
    query = case_evidence().filter(flag__case_id=_ANY_CASE).values("source", "signals").query
    return query.sql_with_params()


def evidence_of(case_id: int) -> dict[str, str]:
    """`case_evidence` of one case: what a violation of it keeps.

    Its SQL is compiled once per process and database vendor: building the
    query through the ORM costs about 3 ms of Python, running it 0.1 ms of
    PostgreSQL, and every violating decision asks for it.
    """
    sql, params = _evidence_statement(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [case_id if param == _ANY_CASE else param for param in params])
        row = cursor.fetchone()
    return {"source": row[0] or "", "signals": row[1] or ""} if row else {"source": "", "signals": ""}


def violation_actions() -> QuerySet[Any]:
    """Per violation, the actions that cite it as evidence: `#id kind state`."""
    text = Words(Concat(Value("#"), Cast("action_id", CharField())), F("action__kind"), F("action__state"))
    return (
        Action.evidence.through.objects.values(key=F("violation_id"))
        .annotate(text=StringAgg(text, Value(", "), **ordered("action_id")))
    )


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
    order = ("confirmed_at", "id")

    def lookups(self) -> dict[str, Lookup]:
        return {"actions": Lookup("id", violation_actions)}

    def columns(self) -> list[Column]:
        return [
            Column("decided_at", F("confirmed_at"), "time"),
            Column("occurred_at", F("occurred_at"), "time"),
            Column("integration", F("account__integration__name"), guard=True),
            Column("account", F("account__user_hash")),
            Column("category", F("category_id")),
            Column("severity", F("severity")),
            Column("source", F("source")),
            Column("signals", F("signals"), guard=True),
            Column("reviewer", F("decision__reviewer__username"), guard=True),
            Column("case", F("case_id"), "int"),
            Column("decision", F("decision_id"), "int"),
            Column("state", Case(When(voided_at__isnull=True, then=Value("confirmed")), default=Value("voided"))),
            Column("actions", Looked("actions", "text")),
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
