"""Violations follow decisions; each change moves the account's running counts by one."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import rates
from accounts.models import Account, Violation
from console.reports.violations import evidence_of


def record_violation(*, decision: Any, occurred_at: datetime) -> Violation:
    """A violating decision becomes a violation of the case's account (inside the decision's transaction).

    Costs the same whatever the account's history: one row (with a copy of
    the case's evidence, for reports), a few counter updates; the enforcement
    rules run afterwards as a task.
    """
    from accounts.tasks import evaluate_account

    case = decision.case
    violation = Violation.objects.create(
        **evidence_of(case.pk),
        account_id=case.account_id,
        decision=decision,
        case=case,
        category_id=decision.category_id,
        severity=decision.severity,
        occurred_at=occurred_at,
        confirmed_at=decision.decided_at,
    )
    Account.objects.filter(pk=case.account_id).update(violation_count=F("violation_count") + 1)
    # On the violation's own clock, so that the sweep can tell which windows this counted in.
    rates.bump(account_id=case.account_id, occurred_at=occurred_at, delta=+1, now=violation.confirmed_at)
    transaction.on_commit(partial(_enqueue, evaluate_account, case.account_id))
    return violation


def void_violation(*, decision: Any) -> Violation | None:
    """The decision behind a violation was corrected: the violation stops counting (it stays as history)."""
    violation = Violation.objects.confirmed().filter(decision=decision).first()
    if violation is None:
        return None
    violation.voided_at = timezone.now()
    violation.save(update_fields=["voided_at"])
    Account.objects.filter(pk=violation.account_id).update(violation_count=F("violation_count") - 1)
    rates.bump(account_id=violation.account_id, occurred_at=violation.occurred_at, delta=-1, now=violation.voided_at)
    return violation


def _enqueue(task: Any, account_id: int) -> None:
    import logging

    try:
        task.enqueue(account_id=account_id)
    except Exception:
        logging.getLogger(__name__).warning("could not enqueue %s for account %s", task.name, account_id)
