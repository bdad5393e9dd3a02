"""Set-based writes for ingestion, which Django's bulk_create and bulk_update lack or make slow.

Ingestion needs to know which rows of a batch were really inserted (the
others are duplicates, maybe sent by a concurrent request a moment ago):
INSERT … ON CONFLICT DO NOTHING RETURNING, which PostgreSQL and SQLite
(3.35+) both speak. The rest is one statement per table per batch, never
one per row or per case, and no model instances: a batch of 500 flags
brings some 3,000 signals, and building a model instance for each cost
more than storing it (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The field `name` of `model`; only fields (foreign keys included) are written here, never reverse relations."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a relation, not a field: it has no column.")
    return field


def _column(field: models.Field[Any, Any]) -> str:
    if field.column is None:
        raise TypeError(f"{field} has no column of its own.")
    return field.column


def insert_ignoring_conflicts(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Insert `rows` (field name → value); return `returning` columns of the rows inserted."""
    if not rows:
        return []
    # The connection itself, not django.db.connection: that proxy looks the
    # connection up (through asgiref's Local) on every attribute, and
    # get_db_prep_save reads several per value: 500 rows by 14 columns.
    db = connections[DEFAULT_DB_ALIAS]
    names = list(rows[0])
    fields = [_field(model, name) for name in names]
    quote = db.ops.quote_name
    columns = ", ".join(quote(_column(f)) for f in fields)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    back = ", ".join(quote(_column(_field(model, name))) for name in returning)
    if db.vendor == "postgresql":
        # One array per column, bound server-side in binary (%b), instead of
        # one literal per value quoted into the SQL text by Django's client-side
        # cursor: half the CPU for a batch of 500 flags, a short statement
        # whatever the batch size, and no limit of 65,535 parameters. unnest
        # keeps the rows' order, so the lock order is still the caller's.
        arrays = ", ".join(f"%b::{f.db_type(db)}[]" for f in fields)
        columnwise = [[f.get_db_prep_save(row[f.name], db) for row in rows] for f in fields]
        db.ensure_connection()
        with psycopg.Cursor(db.connection) as cursor:
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT DO NOTHING RETURNING {back}",
                columnwise,
            )
            return [tuple(r) for r in cursor.fetchall()]
    params: list[Any] = []
    for row in rows:
        params.extend(f.get_db_prep_save(row[f.name], db) for f in fields)
    # Names come from model metadata and values travel as parameters.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
        + ", ".join([placeholder] * len(rows))
        + f" ON CONFLICT DO NOTHING RETURNING {back}"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(r) for r in cursor.fetchall()]


def upsert_accounts(rows: Sequence[tuple[int, str, Any, Any, int]]) -> dict[str, int]:
    """(integration id, user hash, first seen, last seen, new flags) → {user hash: account id}.

    Rows must come sorted by hash: concurrent batches then lock account rows
    in the same order and cannot deadlock.
    """
    if not rows:
        return {}
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"
    sql = (
        "INSERT INTO accounts_account (integration_id, user_hash, first_seen, last_seen, flag_count, "
        "violation_count, state) VALUES "
        + ", ".join(["(%s, %s, %s, %s, %s, 0, 'active')"] * len(rows))
        + " ON CONFLICT (integration_id, user_hash) DO UPDATE SET "
        f"first_seen = {least}(accounts_account.first_seen, excluded.first_seen), "
        f"last_seen = {greatest}(accounts_account.last_seen, excluded.last_seen), "
        "flag_count = accounts_account.flag_count + excluded.flag_count "
        "RETURNING user_hash, id"
    )
    field = models.DateTimeField()
    params: list[Any] = []
    for integration_id, user_hash, first, last, count in rows:
        params += [
            integration_id,
            user_hash,
            field.get_db_prep_save(first, connection),
            field.get_db_prep_save(last, connection),
            count,
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def insert_rows(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Append plain rows (values ready for the database, in `names` order): COPY on PostgreSQL."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(_field(model, name))) for name in names)
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})", rows)


def join_cases(rows: Sequence[tuple[int, int, int]], *, now: Any) -> None:
    """(case id, flags joining it, priority) → count them, raise its priority to at least that, touch it.

    One UPDATE for the whole batch. Its lock order does not matter: every
    case belongs to an account whose row the batch already locked, in hash
    order, when it counted the flags (upsert_accounts).
    """
    if not rows:
        return
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    sql = (
        "WITH v (id, n, priority) AS (VALUES "
        + ", ".join(["(%s, %s, %s)"] * len(rows))
        + ") UPDATE review_case SET flag_count = review_case.flag_count + v.n, "
        f"priority = {greatest}(review_case.priority, v.priority), updated_at = %s "
        "FROM v WHERE review_case.id = v.id"
    )
    params: list[Any] = [value for row in sorted(rows) for value in row]
    params.append(models.DateTimeField().get_db_prep_save(now, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def set_flag_cases(pairs: Sequence[tuple[int, int]]) -> None:
    """(flag id, case id) → the flag's case, in one UPDATE."""
    if not pairs:
        return
    sql = (
        "WITH v (id, case_id) AS (VALUES "
        + ", ".join(["(%s, %s)"] * len(pairs))
        + ") UPDATE review_flag SET case_id = v.case_id FROM v WHERE review_flag.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for pair in sorted(pairs) for value in pair])
