"""Usage reports from the platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import UsageDay
from console.audit import record
from console.models import AuditVerb
from review.bulk import upsert_accounts
from review.intake import hash_user_id
from review.models import Integration


@dataclass(frozen=True)
class UsageRow:
    user: str
    day: date
    requests: int


@transaction.atomic
def record_usage(*, actor: Any, integration: Integration, rows: list[UsageRow]) -> int:
    """Set each (user, day)'s request count: sending the same report twice changes nothing.

    One audit entry per report (not per row): usage moves violation rates, so
    who reported what, and when, must be on the record.
    """
    latest: dict[tuple[str, date], int] = {}
    for row in rows:  # the last value for a (user, day) in one report wins
        latest[(hash_user_id(row.user), row.day)] = row.requests
    seen: dict[str, tuple[datetime, datetime]] = {}
    for user_hash, day in latest:
        moment = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        first, last = seen.get(user_hash, (moment, moment))
        seen[user_hash] = (min(first, moment), max(last, moment))
    accounts = upsert_accounts([(integration.pk, h, first, last, 0) for h, (first, last) in sorted(seen.items())])
    from accounts.rates import refresh_requests

    UsageDay.objects.bulk_create(
        [UsageDay(account_id=accounts[h], day=day, requests=n) for (h, day), n in sorted(latest.items())],
        update_conflicts=True,
        unique_fields=["account", "day"],
        update_fields=["requests", "updated_at"],
    )
    refresh_requests(account_ids=sorted(set(accounts.values())))
    days = sorted({day for _, day in latest})
    record(
        actor=actor,
        verb=AuditVerb.USAGE_RECORDED,
        target=integration,
        after={
            "rows": len(latest),
            "accounts": len(accounts),
            "first_day": days[0] if days else None,
            "last_day": days[-1] if days else None,
        },
    )
    return len(latest)
