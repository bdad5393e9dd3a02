"""What a report is: named columns over one queryset, and the filters it accepts.

A report is defined once (one module per report in this package) and every
way out uses that definition: the exports page, the background task, the
scheduled mail, `GET /api/v1/reports/<name>` and `manage.py export_report`.
How rows become bytes is `console.reports.writers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Literal

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.expressions import BaseExpression

Kind = Literal["text", "int", "float", "time", "date"]

FILTER_NAMES = ("date_from", "date_to", "integration", "category", "severity", "source", "queue", "state")


@dataclass(frozen=True)
class Lookup:
    """Values kept elsewhere that rows find by one of their fields: the actions that cite a violation.

    `rows()` is a values() queryset of `key` and the looked-up fields, one row
    per key. A report of a few rows looks them up row by row (a correlated
    subquery per column). A large export on PostgreSQL joins the grouped rows
    once instead: the planner cannot push a million keys into the grouping,
    and a million lookups one at a time cost several times more.
    """

    key: str  # the report row's field that finds the looked-up row
    rows: Callable[[], QuerySet[Any]]


@dataclass(frozen=True)
class Looked:
    """A column's value from a lookup: `Looked("actions", "text")`."""

    lookup: str
    field: str


@dataclass(frozen=True)
class Column:
    """One column: its header (and JSON key), the expression that reads it, how it is written.

    `guard` marks text that people outside the staff can shape (classifier
    labels, usernames, reasons): in CSV a leading = + - @ gets a quote in
    front, so a spreadsheet shows it instead of running it as a formula.
    """

    name: str
    expr: BaseExpression | F | Looked  # BaseExpression: a Subquery is one, but not an Expression
    kind: Kind = "text"
    guard: bool = False


@dataclass(frozen=True)
class Filters:
    """A report's filters, normalised. Dates are UTC days, both ends included."""

    date_from: date | None = None
    date_to: date | None = None
    integration: int | None = None
    category: str | None = None
    severity: str | None = None
    source: str | None = None
    queue: str | None = None
    state: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The set filters as JSON values (what Export and ReportSubscription store, and the audit entry shows)."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, date) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filters:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known and v is not None}
        for name in ("date_from", "date_to"):
            if isinstance(values.get(name), str):
                values[name] = date.fromisoformat(values[name])
        return cls(**values)

    def with_dates(self, date_from: date, date_to: date) -> Filters:
        return Filters(**{**asdict(self), "date_from": date_from, "date_to": date_to})

    @property
    def starts(self) -> datetime | None:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC) if self.date_from else None

    @property
    def ends_before(self) -> datetime | None:
        """The first moment after the range: `to` counts whole."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC) if self.date_to else None

    def describe(self, integration_names: dict[int, str] | None = None) -> str:
        """A short sentence of the set filters, for the exports page and mails.

        A list passes the names of the integrations it shows, looked up once.
        """
        parts = []
        if self.date_from or self.date_to:
            parts.append(f"{self.date_from or 'the start'} to {self.date_to or 'now'}")
        else:
            parts.append("all time")
        for name in FILTER_NAMES[2:]:
            value = getattr(self, name)
            if value is not None:
                if name == "integration":
                    if integration_names is None:
                        from review.models import Integration

                        integration_names = dict(Integration.objects.filter(pk=value).values_list("pk", "name"))
                    value = integration_names.get(value, value)
                parts.append(f"{name} {value}")
        return ", ".join(parts)


class Report:
    """A report definition; subclasses set the class attributes, `columns`, `base` and maybe `lookups`.

    `base(filters)` is a queryset with one row per report row and nothing
    else, for counting. `rows(filters)` is a values() queryset, in `order`,
    whose keys are `c0`, `c1`, … in the order of `columns()`, so that SQL
    written around it can name them. With `joined=True` it leaves out the
    looked-up columns and the ordering and gives instead each lookup's key
    (`k_<lookup>`) and the order fields (`o0`, `o1`, …), for a statement that
    joins the lookups once (`writers.copy_sql`).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    time_label: ClassVar[str]  # what the date range applies to
    filter_names: ClassVar[tuple[str, ...]]
    states: ClassVar[list[tuple[str, str]]] = []  # choices of the `state` filter, when it has one
    order: ClassVar[tuple[str, ...]] = ("id",)  # model fields, "-" for descending; ends in a unique one

    def columns(self) -> list[Column]:
        """Built when asked: some expressions depend on the database's features."""
        raise NotImplementedError

    def base(self, filters: Filters) -> QuerySet[Any]:
        raise NotImplementedError

    def lookups(self) -> dict[str, Lookup]:
        return {}

    def rows(self, filters: Filters, *, joined: bool = False) -> QuerySet[Any]:
        lookups = self.lookups()
        select: dict[str, Any] = {}
        for i, column in enumerate(self.columns()):
            if isinstance(column.expr, Looked):
                if not joined:
                    lookup = lookups[column.expr.lookup]
                    found = lookup.rows().filter(key=OuterRef(lookup.key)).values(column.expr.field)[:1]
                    select[f"c{i}"] = Subquery(found)
            else:
                select[f"c{i}"] = column.expr
        if not joined:
            return self.base(filters).order_by(*self.order).values(**select)
        select |= {f"k_{name}": F(lookup.key) for name, lookup in lookups.items()}
        select |= {f"o{n}": F(field.lstrip("-")) for n, field in enumerate(self.order)}
        return self.base(filters).order_by().values(**select)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns()]

    def file_name(self, filters: Filters, fmt: str) -> str:
        span = ""
        if filters.date_from or filters.date_to:
            span = f"-{filters.date_from or 'start'}-to-{filters.date_to or 'now'}"
        return f"docket-{self.name.replace('_', '-')}{span}.{fmt}"


def in_range(queryset: QuerySet[Any], field: str, filters: Filters) -> QuerySet[Any]:
    """Rows whose `field` falls within the filters' days (a range, so an index on the field serves it)."""
    if filters.starts is not None:
        queryset = queryset.filter(**{f"{field}__gte": filters.starts})
    if filters.ends_before is not None:
        queryset = queryset.filter(**{f"{field}__lt": filters.ends_before})
    return queryset
