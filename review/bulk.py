"""INSERT … ON CONFLICT DO NOTHING RETURNING, which Django's bulk_create lacks.

Ingestion needs to know which rows of a batch were really inserted (the
others are duplicates, maybe sent by a concurrent request a moment ago).
PostgreSQL and SQLite (3.35+) both speak this statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def insert_ignoring_conflicts(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Insert `rows` (field name → value); return `returning` columns of the rows inserted."""
    if not rows:
        return []
    names = list(rows[0])
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)  # type: ignore[union-attr]
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    back = ", ".join(quote(model._meta.get_field(name).column) for name in returning)  # type: ignore[union-attr]
    params: list[Any] = []
    for row in rows:
        params.extend(f.get_db_prep_save(row[f.name], connection) for f in fields)  # type: ignore[union-attr]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
        + ", ".join([placeholder] * len(rows))
        + f" ON CONFLICT DO NOTHING RETURNING {back}"
    )
    with connection.cursor() as cursor:
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
        params += [integration_id, user_hash, field.get_db_prep_save(first, connection),
                   field.get_db_prep_save(last, connection), count]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())
