"""Keyset pagination: a page is "the next N after this key", never OFFSET.

OFFSET makes the database read and discard every earlier row, so page 20,000
of the audit log would cost as much as the whole table. Orderings end in a
unique field, so a cursor is a short list of values: integers, finite floats
(rates) or ISO datetimes. Fields must not be null: NULL compares as unknown
and would end the walk.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import QueryDict

CursorValue = int | float | datetime


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    next_query: str | None  # query string for the next page
    first_query: str | None  # query string back to the first page


def _after(order: Sequence[str], values: list[CursorValue]) -> Q:
    """Rows after `values` in `order`: (a, b) > (x, y) spelled out for mixed directions.

    The leading `a >= x` (or `<=`) says nothing new, but lets the database
    start its index scan at the cursor instead of filtering from the top.
    """
    first = order[0]
    condition = Q()
    for i, field in enumerate(order):
        name = field.lstrip("-")
        step = Q(**{f"{name}__{'lt' if field.startswith('-') else 'gt'}": values[i]})
        for prev, value in zip(order[:i], values[:i], strict=False):
            step &= Q(**{prev.lstrip("-"): value})
        condition |= step
    bound = Q(**{f"{first.lstrip('-')}__{'lte' if first.startswith('-') else 'gte'}": values[0]})
    return bound & condition


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # str() of a float round-trips exactly


def _decode(raw: str) -> CursorValue | None:
    if raw.lstrip("-").isdigit():
        number = int(raw)
        return number if abs(number) < 2**63 else None  # beyond any database integer
    try:
        real = float(raw)
    except ValueError:
        pass
    else:
        return real if math.isfinite(real) else None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def keyset_page(
    queryset: QuerySet[Any], *, params: QueryDict, order: Sequence[str] = ("-id",), size: int = 50
) -> KeysetPage:
    raw = params.get("after", "")
    qs = queryset.order_by(*order)
    values = [_decode(p) for p in raw.split(",")] if raw else []
    if len(values) == len(order) and all(v is not None for v in values):
        # A cursor of the wrong type (edited by hand) starts again from the first page.
        with contextlib.suppress(TypeError, ValueError, ValidationError):
            qs = qs.filter(_after(order, values))  # type: ignore[arg-type]
    items = list(qs[: size + 1])
    more = len(items) > size
    items = items[:size]
    following = params.copy()
    following.pop("after", None)
    first = following.urlencode() if raw else None
    if more:
        last = items[-1]
        following["after"] = ",".join(_encode(getattr(last, f.lstrip("-"))) for f in order)
    return KeysetPage(items=items, next_query=following.urlencode() if more else None, first_query=first)
