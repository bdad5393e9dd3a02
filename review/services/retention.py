"""Text retention: how long each integration's prompts and responses are kept, and the job that removes them.

Only the text goes. The flag row stays with its metadata, native result,
signals, content hash and case, and the decisions stay, so the numbers,
the violation history and the audit trail are unchanged. A flag keeps its
text while it may still be needed to judge something:

- its case is not closed (open or being reviewed, calibration samples too);
- its case is evidence of an action that is proposed, approved or in force
  (its violation is ticked on the action);
- its account has an open appeal, or an action proposed, approved or in
  force that names no evidence (nothing tells which flags it rests on).

When such a hold ends, the next run removes the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from console.audit import SYSTEM, record
from console.models import AuditVerb
from review.models import RETENTION_MAX_DAYS, CaseStatus, Flag, Integration

BATCH = 2000
MAX_PER_RUN = 50_000


@transaction.atomic
def set_retention_days(*, actor: Any, integration: Integration, days: int, reason: str) -> Integration:
    """How many days `integration`'s flag text is kept (1 to 3,650)."""
    if not reason.strip():
        raise ValueError("Say why the retention changes: it is kept in the audit log.")
    if not 1 <= days <= RETENTION_MAX_DAYS:
        raise ValueError(f"Retention is 1 to {RETENTION_MAX_DAYS} days, not {days}.")
    locked = Integration.objects.select_for_update().get(pk=integration.pk)
    before = {"retention_days": locked.retention_days}
    locked.retention_days = days
    locked.save(update_fields=["retention_days"])
    record(actor=actor, verb=AuditVerb.RETENTION_CHANGED, target=locked, before=before,
           after={"retention_days": days}, reason=reason)
    return locked


def _holding_states() -> list[str]:
    from accounts.models import ActionState

    return [ActionState.PROPOSED, ActionState.APPROVED, ActionState.APPLIED]


def removable(integration: Integration, *, now: datetime) -> QuerySet[Flag]:
    """Flags of `integration` past its retention whose text nothing holds any more (see the module's doc)."""
    from accounts.models import Action, Appeal, AppealState, Violation

    holding = _holding_states()
    evidence_of_action = Violation.objects.filter(case_id=OuterRef("case_id"), actions__state__in=holding)
    open_appeal = Appeal.objects.filter(action__account_id=OuterRef("account_id"), state=AppealState.OPEN)
    action_without_evidence = Action.objects.filter(
        account_id=OuterRef("account_id"), state__in=holding, evidence__isnull=True
    )
    return (
        Flag.objects.filter(
            integration=integration,
            received_at__lt=now - timedelta(days=integration.retention_days),
            text_removed_at__isnull=True,
        )
        .filter(Q(case__isnull=True) | Q(case__status=CaseStatus.CLOSED))
        .exclude(Exists(evidence_of_action))
        .exclude(Exists(open_appeal))
        .exclude(Exists(action_without_evidence))
    )


@dataclass(frozen=True)
class RetentionRun:
    removed: dict[str, int]  # integration name → flags whose text was removed
    complete: bool  # False: the run stopped at its cap and the next one goes on

    @property
    def total(self) -> int:
        return sum(self.removed.values())


@transaction.atomic
def apply_retention(*, now: datetime | None = None, batch: int = BATCH, max_flags: int = MAX_PER_RUN) -> RetentionRun:
    """Blank the prompt and response of every flag past its integration's retention that nothing holds.

    One UPDATE per batch of at most `batch` flags, oldest first, whose WHERE
    re-checks every condition, so a hold that appears meanwhile is honoured;
    at most `max_flags` per run (the next run goes on). One audit entry per
    run that removed anything, with the counts per integration, in the same
    transaction. Safe to run twice: removed text is not removed again.
    """
    now = now or timezone.now()
    removed: dict[str, int] = {}
    budget = max_flags
    complete = True
    for integration in Integration.objects.order_by("pk"):
        count = 0
        while budget > 0:
            size = min(batch, budget)
            chosen = removable(integration, now=now).order_by("received_at").values("pk")[:size]
            updated = Flag.objects.filter(pk__in=chosen).update(prompt="", response="", text_removed_at=now)
            count += updated
            budget -= updated
            if updated < size:
                break
        else:
            complete = False
        if count:
            removed[integration.name] = count
        if budget <= 0:
            complete = False
            break
    run = RetentionRun(removed=removed, complete=complete)
    if run.total:
        record(
            actor=SYSTEM,
            verb=AuditVerb.RETENTION_APPLIED,
            target=("retention", now.date().isoformat()),
            after={"flags": run.total, "per_integration": removed, "complete": complete, "at": now.isoformat()},
        )
    return run
