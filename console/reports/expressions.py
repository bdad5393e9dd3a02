"""Small SQL expressions the reports share, cheap enough to run on every row of a large export."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Case, CharField, Func, Value, When

from review.models import Level


class Words(Func):
    """Its arguments joined by single spaces, a NULL one left out (concat_ws on PostgreSQL).

    Django's Concat wraps every part in COALESCE pairs; over millions of
    signals one concat_ws call is several times cheaper.
    """

    function = "concat_ws"
    output_field = CharField()

    def __init__(self, *expressions: Any) -> None:
        super().__init__(Value(" "), *expressions)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # No concat_ws before SQLite 3.44: each part with its trailing space, then the last space off.
        parts = [compiler.compile(expr) for expr in self.get_source_expressions()[1:]]
        sql = " || ".join(f"COALESCE(({part}) || ' ', '')" for part, _ in parts)
        params = [p for _, part_params in parts for p in part_params]
        return f"RTRIM({sql}, ' ')", params


class ScoreText(Func):
    """A score from 0 to 1 rounded to three decimals, as text (float arithmetic, not numeric, on PostgreSQL)."""

    output_field = CharField()
    arity = 1

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="(round(%(expressions)s * 1000) / 1000)::text", **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="CAST(round(%(expressions)s, 3) AS TEXT)", **extra)


def level_name(field: str) -> Case:
    return Case(*(When(**{field: level.value}, then=Value(level.label)) for level in Level), output_field=CharField())


def ordered(field: str) -> dict[str, Any]:
    """An aggregate's ORDER BY, where the database has one (SQLite before 3.44 does not)."""
    return {"order_by": field} if connection.features.supports_aggregate_order_by_clause else {}
