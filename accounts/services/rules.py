"""Enforcement rules: versioned conditions that propose actions, each on new evidence only once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import (
    Account,
    Action,
    ActionKind,
    ActionState,
    EnforcementRule,
    EnforcementRuleVersion,
    RuleKind,
    UsageDay,
    Violation,
    Window,
)
from accounts.services.actions import propose_action
from console.audit import SYSTEM, record
from console.models import AuditVerb
from console.versioning import add_version, require_reason

RULE_FIELDS = [
    "name",
    "kind",
    "categories",
    "severities",
    "window",
    "count",
    "rate",
    "min_requests",
    "prior_kind",
    "action_kind",
    "action_scope",
    "action_hours",
    "is_active",
]


def snapshot(rule: EnforcementRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


@transaction.atomic
def save_rule(
    *, actor: Any, rule: EnforcementRule | None, data: dict[str, Any], reason: str, restored_from: int | None = None
) -> EnforcementRule:
    """Create a rule or change one; either way a new version with author, time and reason."""
    reason = require_reason(reason, what="A rule change")
    if rule is None:
        rule = EnforcementRule(**data)
        rule.version = 1
        rule.save()
        verb, before = AuditVerb.RULE_CREATED, None
    else:
        rule = EnforcementRule.objects.select_for_update().get(pk=rule.pk)
        before = snapshot(rule)
        for name, value in data.items():
            setattr(rule, name, value)
        rule.version += 1
        rule.save()
        verb = AuditVerb.RULE_CHANGED
    add_version(
        EnforcementRuleVersion,
        owner={"rule": rule},
        snapshot=snapshot(rule),
        actor=actor,
        reason=reason,
        restored_from=restored_from,
    )
    record(
        actor=actor,
        verb=verb,
        target=rule,
        before=before,
        after={**snapshot(rule), "version": rule.version},
        reason=reason,
    )
    return rule


def _matching(rule: EnforcementRule, account: Account, since: datetime) -> Any:
    qs = Violation.objects.confirmed().filter(account=account, occurred_at__gte=since)
    if rule.categories:
        qs = qs.filter(category_id__in=rule.categories)
    if rule.severities:
        qs = qs.filter(severity__in=rule.severities)
    return qs


def _unused(rule: EnforcementRule, matching: Any) -> list[Violation]:
    """Evidence already behind an action this rule proposed does not count again."""
    return list(matching.exclude(actions__rule=rule).order_by("occurred_at"))


def _requests(account: Account, window: Window, now: datetime) -> int:
    since = (now - window.delta).date()
    total = UsageDay.objects.filter(account=account, day__gt=since).aggregate(n=Sum("requests"))["n"]
    return int(total or 0)


def fires(rule: EnforcementRule, account: Account, *, now: datetime) -> list[Violation] | None:
    """The new evidence if the rule fires for this account now, else None."""
    window = Window(rule.window)
    candidates = _unused(rule, _matching(rule, account, now - window.delta))
    if not candidates:
        return None
    if rule.kind == RuleKind.ANY:
        return candidates
    if rule.kind == RuleKind.COUNT:
        return candidates if len(candidates) >= max(rule.count, 1) else None
    if rule.kind == RuleKind.RATE:
        requests = _requests(account, window, now)
        if requests == 0 or requests < rule.min_requests or rule.rate is None:
            return None
        in_window = _matching(rule, account, now - window.delta).count()
        return candidates if in_window * 1000.0 / requests >= rule.rate else None
    if rule.kind == RuleKind.REPEAT:
        earlier = Action.objects.filter(
            account=account,
            applied_at__gte=now - window.delta,
            state__in=[ActionState.APPLIED, ActionState.LIFTED, ActionState.EXPIRED],
        )
        if rule.prior_kind:
            earlier = earlier.filter(kind=rule.prior_kind)
        first = earlier.order_by("applied_at").values_list("applied_at", flat=True).first()
        if first is None:
            return None
        after = [v for v in candidates if v.confirmed_at > first]
        return after if len(after) >= max(rule.count, 1) else None
    return None


def evaluate_account(*, account_id: int, now: datetime | None = None) -> list[Action]:
    """Run every active rule for one account; propose what fires. Safe to run twice at once."""
    now = now or timezone.now()
    proposed: list[Action] = []
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(pk=account_id).first()
        if account is None:
            return []
        for rule in EnforcementRule.objects.filter(is_active=True).order_by("pk"):
            evidence = fires(rule, account, now=now)
            if evidence is None:
                continue
            kind = ActionKind(rule.action_kind)
            proposed.append(
                propose_action(
                    actor=SYSTEM,
                    account=account,
                    kind=kind,
                    scope=rule.action_scope,
                    hours=rule.action_hours if kind != ActionKind.TERMINATE else None,
                    evidence=evidence,
                    rule=rule,
                    reason=f"Rule “{rule.name}” (v{rule.version}) fired on {len(evidence)} violation(s).",
                )
            )
    return proposed


def evaluate_recent(*, now: datetime | None = None, days: int = 90) -> int:
    """The periodic sweep: every account with a confirmed violation in the last `days`."""
    now = now or timezone.now()
    ids = (
        Violation.objects.confirmed()
        .filter(Q(occurred_at__gte=now - timedelta(days=days)))
        .values_list("account_id", flat=True)
        .distinct()
    )
    return sum(len(evaluate_account(account_id=pk, now=now)) for pk in list(ids))
