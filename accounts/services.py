"""Every write in the accounts app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account, UsageDay, Violation
from review.bulk import upsert_accounts
from review.intake import hash_user_id
from review.models import Integration


@dataclass(frozen=True)
class UsageRow:
    user: str
    day: date
    requests: int


@transaction.atomic
def record_usage(*, integration: Integration, rows: list[UsageRow]) -> int:
    """Set each (user, day)'s request count: sending the same report twice changes nothing."""
    latest: dict[tuple[str, date], int] = {}
    for row in rows:  # the last value for a (user, day) in one report wins
        latest[(hash_user_id(row.user), row.day)] = row.requests
    seen: dict[str, tuple[datetime, datetime]] = {}
    for user_hash, day in latest:
        moment = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        first, last = seen.get(user_hash, (moment, moment))
        seen[user_hash] = (min(first, moment), max(last, moment))
    accounts = upsert_accounts([(integration.pk, h, first, last, 0) for h, (first, last) in sorted(seen.items())])
    UsageDay.objects.bulk_create(
        [UsageDay(account_id=accounts[h], day=day, requests=n) for (h, day), n in sorted(latest.items())],
        update_conflicts=True,
        unique_fields=["account", "day"],
        update_fields=["requests", "updated_at"],
    )
    return len(latest)


def record_violation(*, decision: Any, occurred_at: datetime) -> Violation:
    """A violating decision becomes a violation of the case's account (inside the decision's transaction)."""
    case = decision.case
    violation = Violation.objects.create(
        account_id=case.account_id,
        decision=decision,
        case=case,
        category_id=decision.category_id,
        severity=decision.severity,
        occurred_at=occurred_at,
        confirmed_at=decision.decided_at,
    )
    Account.objects.filter(pk=case.account_id).update(violation_count=F("violation_count") + 1)
    return violation


def void_violation(*, decision: Any) -> Violation | None:
    """The decision behind a violation was corrected: the violation stops counting (it stays as history)."""
    violation = Violation.objects.confirmed().filter(decision=decision).first()
    if violation is None:
        return None
    violation.voided_at = timezone.now()
    violation.save(update_fields=["voided_at"])
    Account.objects.filter(pk=violation.account_id).update(violation_count=F("violation_count") - 1)
    return violation
