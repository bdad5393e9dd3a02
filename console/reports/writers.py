"""A report's rows as CSV or JSON Lines bytes, a chunk at a time, never all at once.

On PostgreSQL the report's queryset is compiled to SQL and run inside
`COPY (SELECT …) TO STDOUT`: the server formats every row and psycopg hands
them over one at a time, so Python only buffers bytes. JSON Lines is built
in SQL too (`json_build_object`) and copied out in CSV mode with a quote
character and a delimiter JSON never contains unescaped, so nothing is
quoted or escaped twice. Elsewhere (SQLite) rows come from
`QuerySet.iterator()` in chunks and Python formats them the same way:

- times as UTC `YYYY-MM-DDTHH:MM:SSZ`, days as `YYYY-MM-DD`;
- an empty or missing value is an empty CSV cell and a JSON null;
- CSV has a header row and `\\n` line ends; a value that could start a
  spreadsheet formula in a guarded column gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection

from console.reports.base import Column, Filters, Looked, Report

CHUNK_BYTES = 256 * 1024
# From this many rows a PostgreSQL export joins its lookups once rather than looking them up row by row.
JOIN_LOOKUPS_FROM_ROWS = 20_000
FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def count_rows(report: Report, filters: Filters, *, limit: int | None = None) -> int:
    """How many rows the report has; with `limit`, stop counting there (the cost stays bounded)."""
    queryset = report.base(filters).order_by()
    if limit is not None:
        queryset = queryset[:limit]
    return queryset.count()


def header(report: Report, fmt: str) -> bytes:
    if fmt != "csv":
        return b""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(report.column_names)
    return out.getvalue().encode()


def chunks(
    report: Report,
    filters: Filters,
    fmt: str,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    chunk_rows: int | None = None,
    rows_expected: int | None = None,
) -> Iterator[tuple[bytes, int]]:
    """The whole file (CSV header included) in chunks, each with how many rows it holds.

    A chunk ends once it holds `chunk_bytes` bytes, or `chunk_rows` rows when
    that is given (a background export reports its progress between chunks).
    `rows_expected`, when the caller has counted, saves counting again.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    first = header(report, fmt)
    if first:
        yield first, 0
    if connection.vendor == "postgresql":
        joined = bool(report.lookups()) and (
            rows_expected if rows_expected is not None
            else count_rows(report, filters, limit=JOIN_LOOKUPS_FROM_ROWS + 1)
        ) > JOIN_LOOKUPS_FROM_ROWS
        yield from _copy_chunks(report, filters, fmt, chunk_bytes, chunk_rows or 2**62, joined=joined)
    else:
        yield from _python_chunks(report, filters, fmt, chunk_bytes, chunk_rows or 2**62)


def stream(report: Report, filters: Filters, fmt: str) -> Iterator[bytes]:
    for data, _rows in chunks(report, filters, fmt):
        yield data


# --- PostgreSQL: COPY ------------------------------------------------------------------

_TIME = "to_char({ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
_DAY = "to_char({ref}, 'YYYY-MM-DD')"
_GUARD = (
    "CASE WHEN left({ref}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {ref} "
    "ELSE NULLIF({ref}, '') END"
)


def _sql_value(column: Column, ref: str, *, fmt: str) -> str:
    if column.kind == "time":
        return _TIME.format(ref=ref)
    if column.kind == "date":
        return _DAY.format(ref=ref)
    if column.kind == "text":
        text = f"{ref}::text"
        return _GUARD.format(ref=text) if column.guard and fmt == "csv" else f"NULLIF({text}, '')"
    return ref


def copy_sql(report: Report, filters: Filters, fmt: str, *, joined: bool = False) -> tuple[str, list[Any]]:
    """The COPY statement for the report, with its parameters (bound on the client by psycopg).

    The report's rows are a subquery behind OFFSET 0, so that each of its
    columns is computed once however often the formatting names it. Joined,
    each lookup's grouped rows are joined to it by key and the ordering is done
    last.
    """
    quote = connection.ops.quote_name
    inner, inner_params = report.rows(filters, joined=joined).query.sql_with_params()
    params = list(inner_params)
    source, order = f"({inner} OFFSET 0) AS r", ""
    if joined:
        for name, lookup in report.lookups().items():
            sql, lookup_params = lookup.rows().query.sql_with_params()
            alias = quote(f"l_{name}")
            source += f" LEFT JOIN ({sql}) AS {alias} ON {alias}.{quote('key')} = r.{quote(f'k_{name}')}"
            params += lookup_params
        order = " ORDER BY " + ", ".join(
            f"r.{quote(f'o{n}')}{' DESC' if field.startswith('-') else ''}" for n, field in enumerate(report.order)
        )

    def ref(i: int, column: Column) -> str:
        if joined and isinstance(column.expr, Looked):
            return f"{quote('l_' + column.expr.lookup)}.{quote(column.expr.field)}"
        return f"r.{quote(f'c{i}')}"

    values = [(column.name, _sql_value(column, ref(i, column), fmt=fmt)) for i, column in enumerate(report.columns())]
    if fmt == "csv":
        select = ", ".join(f"{value} AS {quote(name)}" for name, value in values)
        options = "FORMAT csv"
    else:
        pairs = ", ".join(f"'{name}', {value}" for name, value in values)
        select = f"json_build_object({pairs})::text"
        # JSON escapes every control character, so \x01 and \x02 never occur in it:
        # CSV mode with them as quote and delimiter copies each object out untouched.
        options = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"
    # Column names and expressions are the report's own; values travel as parameters.
    return f"COPY (SELECT {select} FROM {source}{order}) TO STDOUT WITH ({options})", params  # noqa: S608


def _copy_chunks(
    report: Report, filters: Filters, fmt: str, chunk_bytes: int, chunk_rows: int, *, joined: bool
) -> Iterator[tuple[bytes, int]]:
    sql, params = copy_sql(report, filters, fmt, joined=joined)
    buffer, rows = bytearray(), 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        # Each block psycopg reads from a COPY TO is exactly one row.
        for block in copy:
            buffer += block
            rows += 1
            if len(buffer) >= chunk_bytes or rows >= chunk_rows:
                yield bytes(buffer), rows
                buffer.clear()
                rows = 0
    if buffer:
        yield bytes(buffer), rows


# --- Elsewhere: the ORM's chunked iterator ----------------------------------------------

def python_value(column: Column, value: Any) -> Any:
    """A value as the file holds it (None for empty), the same as the SQL above renders it."""
    if value is None:
        return None
    if column.kind == "time":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)
    if column.kind == "date":
        return value.isoformat() if isinstance(value, date) else str(value)
    if column.kind == "int":
        return int(value)
    if column.kind == "float":
        return float(value)
    return str(value) or None


def _csv_cell(column: Column, value: Any) -> Any:
    if value is None:
        return ""
    if column.guard and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _python_chunks(
    report: Report, filters: Filters, fmt: str, chunk_bytes: int, chunk_rows: int
) -> Iterator[tuple[bytes, int]]:
    columns = report.columns()
    keys = [f"c{i}" for i in range(len(columns))]
    names = report.column_names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = 0
    for row in report.rows(filters).iterator(chunk_size=2000):
        values = [python_value(column, row[key]) for column, key in zip(columns, keys, strict=True)]
        if fmt == "csv":
            writer.writerow([_csv_cell(column, value) for column, value in zip(columns, values, strict=True)])
        else:
            out.write(json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False))
            out.write("\n")
        rows += 1
        if out.tell() >= chunk_bytes or rows >= chunk_rows:
            yield out.getvalue().encode(), rows
            out.seek(0)
            out.truncate()
            rows = 0
    if rows:
        yield out.getvalue().encode(), rows
