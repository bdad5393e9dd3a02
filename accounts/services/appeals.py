"""Users' appeals of applied actions, decided by a senior who had no hand in the action."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Account, AccountNote, Action, ActionState, Appeal, AppealState
from accounts.services.actions import IllegalTransition, _end, _lock, _require_reason, _require_senior
from console.audit import record
from console.models import AuditVerb
from review.models import Case, CaseStatus, Level, Queue

MAX_APPEAL_CHARS = 10_000


@transaction.atomic
def receive_appeal(*, actor: Any, account: Account, action_id: int, text: str) -> Appeal:
    """An appeal forwarded by the platform: it opens a case in the appeals queue."""
    action = Action.objects.select_for_update().filter(pk=action_id, account=account).first()
    if action is None:
        raise IllegalTransition("No action with this id applies to this user.")
    if action.state != ActionState.APPLIED:
        raise IllegalTransition(f"Only an action in force can be appealed; this one is {action.get_state_display()}.")
    if not text.strip():
        raise IllegalTransition("The appeal needs the user's text.")
    queue = Queue.objects.filter(kind=Queue.Kind.APPEAL).order_by("pk").first()
    if queue is None:
        raise IllegalTransition("There is no appeals queue: a policy admin must create one.")
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(action=action, text=text[:MAX_APPEAL_CHARS], received_at=timezone.now())
    except IntegrityError:
        raise IllegalTransition("This action already has an open appeal.") from None
    top = (
        action.evidence.values("category_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("category_id", flat=True)
        .first()
    )
    now = timezone.now()
    appeal.case = Case.objects.create(
        queue=queue,
        integration_id=account.integration_id,
        account=account,
        content_hash=hashlib.sha256(f"appeal:{appeal.pk}".encode()).hexdigest(),
        priority=queue.priority,
        category_id=top or "other",
        level=Level.HIGH,
        routing={
            "appeal": appeal.pk,
            "action": action.pk,
            "queue": queue.slug,
            "rule": None,
            "threshold": "appeal",
            "label": "appeal",
            "category": top or "other",
            "level": "high",
            "score": None,
        },
        created_at=now,
        updated_at=now,
    )
    appeal.save(update_fields=["case"])
    record(
        actor=actor, verb=AuditVerb.APPEAL_RECEIVED, target=appeal, after={"action": action.pk, "case": appeal.case.pk}
    )
    return appeal


@transaction.atomic
def decide_appeal(*, actor: User, appeal: Appeal, reverse: bool, reason: str) -> Appeal:
    """Uphold the action or reverse it (which lifts it and tells the platform)."""
    _require_reason(reason)
    _require_senior(actor)
    locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
    if locked.state != AppealState.OPEN:
        raise IllegalTransition("This appeal is already decided.")
    action = _lock(locked.action)
    involved = {action.proposed_by_id, *action.approvals.values_list("pk", flat=True)}
    if actor.pk in involved:
        raise IllegalTransition("An appeal is decided by a senior who neither proposed nor approved the action.")
    locked.state = AppealState.REVERSED if reverse else AppealState.UPHELD
    locked.decided_by, locked.decided_at, locked.reason = actor, timezone.now(), reason
    locked.save(update_fields=["state", "decided_by", "decided_at", "reason"])
    if reverse:
        _end(action, ActionState.REVERSED, actor=actor, reason=reason)
    if locked.case_id:
        Case.objects.filter(pk=locked.case_id).update(
            status=CaseStatus.CLOSED, closed_at=timezone.now(), claimed_by=None, lease_expires_at=None
        )
    verb = AuditVerb.APPEAL_REVERSED if reverse else AuditVerb.APPEAL_UPHELD
    record(actor=actor, verb=verb, target=locked, after={"action": action.pk, "state": locked.state}, reason=reason)
    return locked


@transaction.atomic
def add_note(*, actor: User, account: Account, text: str) -> AccountNote:
    if not text.strip():
        raise ValueError("A note needs text.")
    note = AccountNote.objects.create(account=account, author=actor, text=text[:5000], created_at=timezone.now())
    record(actor=actor, verb=AuditVerb.ACCOUNT_NOTE_ADDED, target=account, after={"note": note.pk, "text": note.text})
    return note
