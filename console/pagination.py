"""Keyset pagination: a page is "the next N after this key", never OFFSET.

OFFSET makes the database read and discard every earlier row, so page 20,000
of the audit log would cost as much as the whole table. Orderings are over
integer fields only, ending in a unique one, so a cursor is a short list of
numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    next_query: str | None  # query string for the next page
    first_query: str | None  # query string back to the first page


def _after(order: Sequence[str], values: list[int]) -> Q:
    """Rows after `values` in `order`: (a, b) > (x, y) spelled out for mixed directions."""
    condition = Q()
    for i, field in enumerate(order):
        name = field.lstrip("-")
        step = Q(**{f"{name}__{'lt' if field.startswith('-') else 'gt'}": values[i]})
        for prev, value in zip(order[:i], values[:i], strict=False):
            step &= Q(**{prev.lstrip("-"): value})
        condition |= step
    return condition


def keyset_page(
    queryset: QuerySet[Any], *, params: QueryDict, order: Sequence[str] = ("-id",), size: int = 50
) -> KeysetPage:
    raw = params.get("after", "")
    qs = queryset.order_by(*order)
    parts = raw.split(",")
    if raw and len(parts) == len(order) and all(p.lstrip("-").isdigit() for p in parts):
        qs = qs.filter(_after(order, [int(p) for p in parts]))
    items = list(qs[: size + 1])
    more = len(items) > size
    items = items[:size]
    following = params.copy()
    following.pop("after", None)
    first = following.urlencode() if raw else None
    if more:
        last = items[-1]
        following["after"] = ",".join(str(getattr(last, f.lstrip("-"))) for f in order)
    return KeysetPage(items=items, next_query=following.urlencode() if more else None, first_query=first)
