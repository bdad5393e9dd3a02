"""Keyset pagination: a page is "the next N after this key", never OFFSET.

OFFSET makes the database read and discard every earlier row, so page 20,000
of the audit log would cost as much as the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    next_query: str | None  # query string for the next (older) page
    first_query: str | None  # query string back to the newest page


def keyset_page(queryset: QuerySet[Any], *, params: QueryDict, key: str, size: int = 50) -> KeysetPage:
    """Newest first by the integer field `key`; `?after=<key>` continues from there."""
    raw = params.get("after", "")
    qs = queryset.order_by(f"-{key}")
    if raw.isdigit():
        qs = qs.filter(**{f"{key}__lt": int(raw)})
    items = list(qs[: size + 1])
    more = len(items) > size
    items = items[:size]
    following = params.copy()
    following.pop("after", None)
    first = following.urlencode() if raw else None
    if more:
        following["after"] = str(getattr(items[-1], key))
    return KeysetPage(items=items, next_query=following.urlencode() if more else None, first_query=first)
