"""Account actions and their workflow: every transition has an actor, a reason and an audit entry.

proposed → approved | rejected;  approved → applied;  applied → lifted | expired | reversed (appeal).
Warn and restrict need one senior's approval; suspend and terminate two
people: a senior other than the proposer, or, when a rule proposed it, two
different seniors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts import status
from accounts.models import Account, Action, ActionKind, ActionState, EnforcementRule, Violation, WebhookEventType
from accounts.services.webhooks import emit
from console.audit import SYSTEM, record
from console.models import AuditVerb
from console.roles import Cap, perm


class IllegalTransition(ValueError):
    """The action is not in a state that allows this step, or the actor may not take it."""


def _snapshot(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind,
        "scope": action.scope,
        "hours": action.hours,
        "state": action.state,
        "ends_at": action.ends_at.isoformat() if action.ends_at else None,
        "evidence": sorted(action.evidence.values_list("pk", flat=True)) if action.pk else [],
    }


def _lock(action: Action) -> Action:
    return Action.objects.select_for_update(of=("self",)).select_related("account").get(pk=action.pk)


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise IllegalTransition("Every step on an action needs a reason.")


def _require_senior(actor: Any) -> None:
    if not (hasattr(actor, "has_perm") and actor.has_perm(perm(Cap.APPROVE_ACTIONS))):
        raise IllegalTransition("Only a senior reviewer may do this.")


@transaction.atomic
def propose_action(
    *,
    actor: Any,
    account: Account,
    kind: ActionKind,
    reason: str,
    scope: str = "",
    hours: int | None = None,
    evidence: list[Violation] | None = None,
    rule: EnforcementRule | None = None,
) -> Action:
    _require_reason(reason)
    if kind == ActionKind.RESTRICT and not scope.strip():
        raise IllegalTransition("A restriction needs a scope the platform understands, e.g. tools:computer_use.")
    if kind == ActionKind.TERMINATE and hours:
        raise IllegalTransition("A termination has no end time.")
    if kind == ActionKind.SUSPEND and not hours:
        raise IllegalTransition("A suspension needs a duration.")
    action = Action.objects.create(
        account=account,
        kind=kind,
        scope=scope.strip(),
        hours=hours,
        reason=reason,
        rule=rule,
        rule_version=rule.version if rule else None,
        proposed_by=actor if isinstance(actor, User) else None,
        proposed_at=timezone.now(),
    )
    if evidence:
        action.evidence.set(evidence)
    record(actor=actor, verb=AuditVerb.ACTION_PROPOSED, target=action, after=_snapshot(action), reason=reason)
    return action


def _take(actor: Any, action: Action, reason: str, *, expect: ActionState, step: str) -> Action:
    """The checks every staff step shares: a reason, a senior, the action locked and in `expect`."""
    _require_reason(reason)
    _require_senior(actor)
    locked = _lock(action)
    if locked.state != expect:
        article = "an" if expect.label[0] in "AEIOU" else "a"
        raise IllegalTransition(
            f"Only {article} {expect.label.lower()} action can be {step}; this one is {locked.get_state_display()}."
        )
    return locked


def _move(actor: Any, locked: Action, verb: AuditVerb, reason: str, **changes: Any) -> Action:
    before = _snapshot(locked)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(changes))
    record(actor=actor, verb=verb, target=locked, before=before, after=_snapshot(locked), reason=reason)
    return locked


@transaction.atomic
def approve_action(*, actor: User, action: Action, reason: str) -> Action:
    locked = _take(actor, action, reason, expect=ActionState.PROPOSED, step="approved")
    kind = ActionKind(locked.kind)
    if kind.needs_four_eyes:
        if locked.proposed_by_id == actor.pk:
            noun = {ActionKind.SUSPEND: "suspension", ActionKind.TERMINATE: "termination"}[kind]
            raise IllegalTransition(f"A {noun} needs a second senior: you proposed it.")
        if locked.approvals.filter(pk=actor.pk).exists():
            raise IllegalTransition("You already approved it; a second, different senior must approve too.")
        if locked.proposed_by_id is None and not locked.approvals.exists():
            locked.approvals.add(actor)
            record(
                actor=actor, verb=AuditVerb.ACTION_APPROVAL_ADDED, target=locked, reason=reason, after={"approvals": 1}
            )
            return locked
    locked.approvals.add(actor)
    return _move(
        actor, locked, AuditVerb.ACTION_APPROVED, reason, state=ActionState.APPROVED, decided_at=timezone.now()
    )


@transaction.atomic
def reject_action(*, actor: User, action: Action, reason: str) -> Action:
    locked = _take(actor, action, reason, expect=ActionState.PROPOSED, step="rejected")
    return _move(
        actor, locked, AuditVerb.ACTION_REJECTED, reason, state=ActionState.REJECTED, decided_at=timezone.now()
    )


@transaction.atomic
def apply_action(*, actor: User, action: Action, reason: str) -> Action:
    locked = _take(actor, action, reason, expect=ActionState.APPROVED, step="applied")
    now = timezone.now()
    _move(
        actor,
        locked,
        AuditVerb.ACTION_APPLIED,
        reason,
        state=ActionState.APPLIED,
        applied_at=now,
        ends_at=now + timedelta(hours=locked.hours) if locked.hours else None,
    )
    _after_change(locked, WebhookEventType.ACTION_APPLIED)
    return locked


@transaction.atomic
def lift_action(*, actor: User, action: Action, reason: str) -> Action:
    _require_reason(reason)
    _require_senior(actor)
    return _end(action, ActionState.LIFTED, actor=actor, reason=reason)


def expire_actions(*, now: datetime | None = None) -> int:
    """Time-boxed actions whose end has come: expired, audited, the platform told. Safe to run twice."""
    now = now or timezone.now()
    due = list(Action.objects.in_force().filter(ends_at__lte=now).values_list("pk", flat=True)[:1000])
    done = 0
    for action_id in due:
        with transaction.atomic():
            action = (
                Action.objects.select_for_update()
                .filter(pk=action_id, state=ActionState.APPLIED, ends_at__lte=now)
                .first()
            )
            if action is not None:
                _end(action, ActionState.EXPIRED, actor=SYSTEM, reason="its time ran out")
                done += 1
    return done


def _end(action: Action, state: ActionState, *, actor: Any, reason: str) -> Action:
    locked = _lock(action)
    if locked.state != ActionState.APPLIED:
        raise IllegalTransition(f"Only an applied action can be ended; this one is {locked.get_state_display()}.")
    before = _snapshot(locked)
    locked.state, locked.ended_at = state, timezone.now()
    locked.save(update_fields=["state", "ended_at"])
    verb = {
        ActionState.LIFTED: AuditVerb.ACTION_LIFTED,
        ActionState.EXPIRED: AuditVerb.ACTION_EXPIRED,
        ActionState.REVERSED: AuditVerb.APPEAL_REVERSED,
    }[state]
    if state != ActionState.REVERSED:  # the appeal writes its own entry
        record(actor=actor, verb=verb, target=locked, before=before, after=_snapshot(locked), reason=reason)
    event = {
        ActionState.LIFTED: WebhookEventType.ACTION_LIFTED,
        ActionState.EXPIRED: WebhookEventType.ACTION_EXPIRED,
        ActionState.REVERSED: WebhookEventType.ACTION_REVERSED,
    }[state]
    _after_change(locked, event)
    return locked


def _after_change(action: Action, event: WebhookEventType) -> None:
    """Inside the transaction: the account's state, the outbox event, the status cache on commit."""
    account = Account.objects.select_for_update().get(pk=action.account_id)
    in_force = list(Action.objects.filter(account=account, state=ActionState.APPLIED))
    new_state = status.state_for(in_force)
    if account.state != new_state:
        account.state = new_state
        account.save(update_fields=["state"])
    emit(account=account, event_type=event, action=action)
    status.publish_on_commit(account)
