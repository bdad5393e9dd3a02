"""Enforcement rules: when each kind fires, that it fires once per evidence, and how rules are versioned."""

from __future__ import annotations

import itertools
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from accounts import tasks
from accounts.models import (
    Account,
    Action,
    ActionKind,
    ActionState,
    EnforcementRule,
    EnforcementRuleVersion,
    RuleKind,
    Violation,
    Window,
)
from accounts.services import (
    UsageRow,
    apply_action,
    approve_action,
    evaluate_account,
    propose_action,
    record_usage,
    reject_action,
    save_rule,
)
from accounts.services import violations as violation_services
from accounts.services.rules import fires
from console.models import AuditEntry, AuditVerb
from review.models import Category, Outcome, Severity
from tests.factories import make_case, make_decision

pytestmark = pytest.mark.django_db

_prompts = itertools.count(1)


def violate(integration, reviewer, *, user="u1", category="hate", severity=Severity.HIGH, days_ago=0.0):  # type: ignore[no-untyped-def]
    """A flag for `user` that a reviewer confirms as violating: the real path to a Violation."""
    occurred_at = timezone.now() - timedelta(days=days_ago)
    case = make_case(
        integration,
        user=user,
        prompt=f"violating prompt {next(_prompts)}",
        occurred_at=occurred_at.isoformat(),
        result={"signals": [{"category": category, "level": "high"}]},
    )
    decision = make_decision(
        case, reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(pk=category), severity=severity
    )
    return Violation.objects.get(decision=decision)


def make_rule(actor, **data):  # type: ignore[no-untyped-def]
    data.setdefault("name", f"rule {next(_prompts)}")
    data.setdefault("action_kind", ActionKind.WARN)
    return save_rule(actor=actor, rule=None, data=data, reason="new policy")


def fired(rule: EnforcementRule, account: Account) -> list[int] | None:
    evidence = fires(rule, account, now=timezone.now())
    return None if evidence is None else [v.pk for v in evidence]


# --- Each kind fires at its condition and not below it -------------------------------


def test_a_count_rule_fires_at_n_matching_violations_in_its_window_and_not_below(
    integration, reviewer, policy_admin
) -> None:
    rule = make_rule(
        policy_admin, kind=RuleKind.COUNT, count=3, categories=["hate"], severities=["high"], window=Window.WEEK
    )
    first = violate(integration, reviewer)
    second = violate(integration, reviewer)
    # None of these match: wrong severity, wrong category, outside the window, another user.
    violate(integration, reviewer, severity=Severity.LOW)
    violate(integration, reviewer, category="harassment")
    violate(integration, reviewer, days_ago=8)
    violate(integration, reviewer, user="someone-else")
    account = first.account

    assert fired(rule, account) is None
    assert evaluate_account(account_id=account.pk) == []

    third = violate(integration, reviewer)

    assert fired(rule, account) == [first.pk, second.pk, third.pk]


def test_a_count_rule_ignores_a_violation_that_was_corrected_away(integration, reviewer, senior, policy_admin) -> None:
    from review.services import Verdict, correct_decision

    rule = make_rule(policy_admin, kind=RuleKind.COUNT, count=2)
    first = violate(integration, reviewer)
    second = violate(integration, reviewer)
    correct_decision(
        actor=senior, decision=second.decision, verdict=Verdict(Outcome.NOT_VIOLATING), reason="satire, not hate"
    )

    assert fired(rule, first.account) is None


def test_a_rate_rule_fires_at_its_rate_per_thousand_requests_once_there_are_enough_requests(
    integration, reviewer, policy_admin
) -> None:
    rule = make_rule(policy_admin, kind=RuleKind.RATE, rate=2.0, min_requests=1000, window=Window.WEEK)
    first = violate(integration, reviewer)
    second = violate(integration, reviewer)
    account = first.account
    today = timezone.now().date()

    def usage(requests: int) -> None:
        record_usage(actor=None, integration=integration, rows=[UsageRow(user="u1", day=today, requests=requests)])

    assert fired(rule, account) is None  # no usage reported: no rate at all

    usage(500)  # 4 per 1,000, but too few requests to judge
    assert fired(rule, account) is None

    usage(1500)  # enough requests, 1.33 per 1,000
    assert fired(rule, account) is None

    usage(1000)  # exactly 2 per 1,000
    assert fired(rule, account) == [first.pk, second.pk]


def test_a_rate_rule_counts_only_requests_inside_its_window(integration, reviewer, policy_admin) -> None:
    rule = make_rule(policy_admin, kind=RuleKind.RATE, rate=2.0, min_requests=1000, window=Window.WEEK)
    violation = violate(integration, reviewer)
    today = timezone.now().date()
    record_usage(
        actor=None,
        integration=integration,
        rows=[
            UsageRow(user="u1", day=today - timedelta(days=20), requests=10_000),
            UsageRow(user="u1", day=today, requests=400),
        ],
    )

    assert fired(rule, violation.account) is None  # 400 requests in the week: below min_requests


def test_an_any_rule_fires_on_a_single_child_safety_violation_and_not_on_other_categories(
    integration, reviewer, policy_admin
) -> None:
    rule = make_rule(policy_admin, kind=RuleKind.ANY, categories=["child_safety"], action_kind=ActionKind.TERMINATE)
    hate = violate(integration, reviewer, category="hate", severity=Severity.CRITICAL)

    assert fired(rule, hate.account) is None

    child_safety = violate(integration, reviewer, category="child_safety", severity=Severity.LOW)

    assert fired(rule, hate.account) == [child_safety.pk]


def _applied_warning(account: Account, senior, evidence: list[Violation]) -> Action:  # type: ignore[no-untyped-def]
    action = propose_action(
        actor=senior, account=account, kind=ActionKind.WARN, reason="first strike", evidence=evidence
    )
    approve_action(actor=senior, action=action, reason="ok")
    return apply_action(actor=senior, action=action, reason="ok")


def test_a_repeat_rule_fires_on_a_violation_after_an_earlier_applied_action_within_its_window(
    integration, reviewer, senior, policy_admin
) -> None:
    rule = make_rule(
        policy_admin,
        kind=RuleKind.REPEAT,
        prior_kind=ActionKind.WARN,
        window=Window.MONTH,
        action_kind=ActionKind.SUSPEND,
        action_hours=24,
    )
    before = violate(integration, reviewer)
    account = before.account

    assert fired(rule, account) is None  # no earlier action

    _applied_warning(account, senior, [before])

    assert fired(rule, account) is None  # the only violation came before the warning

    after = violate(integration, reviewer)

    assert fired(rule, account) == [after.pk]


def test_a_repeat_rule_ignores_actions_never_applied_of_another_kind_or_outside_its_window(
    integration, reviewer, senior, policy_admin
) -> None:
    rule = make_rule(
        policy_admin, kind=RuleKind.REPEAT, prior_kind=ActionKind.WARN, window=Window.MONTH, action_hours=24
    )
    account = violate(integration, reviewer).account
    proposed = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="maybe")
    rejected = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="maybe")
    reject_action(actor=senior, action=rejected, reason="not enough")
    restriction = propose_action(
        actor=senior, account=account, kind=ActionKind.RESTRICT, scope="tools:browser", reason="tools"
    )
    approve_action(actor=senior, action=restriction, reason="ok")
    apply_action(actor=senior, action=restriction, reason="ok")
    old = _applied_warning(account, senior, [])
    Action.objects.filter(pk=old.pk).update(applied_at=timezone.now() - timedelta(days=31))
    violate(integration, reviewer)

    assert Action.objects.get(pk=proposed.pk).state == ActionState.PROPOSED
    assert fired(rule, account) is None


# --- Once per evidence ------------------------------------------------------------------


def test_a_rule_that_fired_does_not_fire_again_on_the_same_evidence(integration, reviewer, policy_admin) -> None:
    rule = make_rule(policy_admin, kind=RuleKind.COUNT, count=2, action_kind=ActionKind.WARN)
    first = violate(integration, reviewer)
    second = violate(integration, reviewer)
    account = first.account

    [action] = evaluate_account(account_id=account.pk)

    assert sorted(action.evidence.values_list("pk", flat=True)) == [first.pk, second.pk]
    assert evaluate_account(account_id=account.pk) == []
    assert fired(rule, account) is None

    third = violate(integration, reviewer)

    assert evaluate_account(account_id=account.pk) == []  # one new violation is not two

    fourth = violate(integration, reviewer)
    [again] = evaluate_account(account_id=account.pk)

    assert sorted(again.evidence.values_list("pk", flat=True)) == [third.pk, fourth.pk]
    assert Action.objects.filter(account=account).count() == 2


def test_evidence_behind_another_rules_action_still_counts_for_this_rule(integration, reviewer, policy_admin) -> None:
    warn = make_rule(policy_admin, name="warn at 1", kind=RuleKind.COUNT, count=1)
    restrict = make_rule(
        policy_admin,
        name="restrict at 1",
        kind=RuleKind.COUNT,
        count=1,
        action_kind=ActionKind.RESTRICT,
        action_scope="rate_limit:10/min",
    )
    violation = violate(integration, reviewer)

    proposed = evaluate_account(account_id=violation.account_id)

    assert [(a.rule, a.kind, a.scope) for a in proposed] == [
        (warn, ActionKind.WARN, ""),
        (restrict, ActionKind.RESTRICT, "rate_limit:10/min"),
    ]


def test_an_inactive_rule_proposes_nothing(integration, reviewer, policy_admin) -> None:
    make_rule(policy_admin, kind=RuleKind.ANY, is_active=False)
    violation = violate(integration, reviewer)

    assert evaluate_account(account_id=violation.account_id) == []


# --- From decision to proposal ----------------------------------------------------------


def test_a_violating_decision_enqueues_the_rules_on_commit_and_the_task_proposes_the_action(
    integration, reviewer, policy_admin, django_capture_on_commit_callbacks
) -> None:
    rule = make_rule(
        policy_admin,
        name="one strike",
        kind=RuleKind.COUNT,
        count=1,
        action_kind=ActionKind.SUSPEND,
        action_hours=48,
    )
    case = make_case(integration, user="u1", prompt="hateful")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        decision = make_decision(
            case, reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(pk="hate"), severity="high"
        )

    violation = Violation.objects.get(decision=decision)
    assert len(callbacks) == 1
    [callback] = callbacks
    assert isinstance(callback, partial)
    assert (callback.func, callback.args) == (violation_services._enqueue, (tasks.evaluate_account, case.account_id))
    assert not Action.objects.exists()  # nothing happens before the commit

    callback()  # the commit: the immediate backend runs the task now

    action = Action.objects.get()
    assert (action.account_id, action.kind, action.hours, action.state) == (
        case.account_id,
        ActionKind.SUSPEND,
        48,
        ActionState.PROPOSED,
    )
    assert (action.rule, action.rule_version, action.proposed_by) == (rule, 1, None)
    assert list(action.evidence.all()) == [violation]
    entry = AuditEntry.objects.get(verb=AuditVerb.ACTION_PROPOSED)
    assert (entry.actor_type, entry.actor_label, entry.target_type, entry.target_id) == (
        "system",
        "system",
        "accounts.action",
        str(action.pk),
    )
    assert entry.after["evidence"] == [violation.pk]
    assert (entry.after["kind"], entry.after["state"], entry.after["hours"]) == ("suspend", "proposed", 48)
    assert entry.reason == action.reason == "Rule “one strike” (v1) fired on 1 violation(s)."


def test_a_decision_that_is_not_violating_enqueues_nothing(
    integration, reviewer, policy_admin, django_capture_on_commit_callbacks
) -> None:
    make_rule(policy_admin, kind=RuleKind.ANY)
    case = make_case(integration, user="u1", prompt="fine")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_decision(case, reviewer, outcome=Outcome.NOT_VIOLATING)

    assert callbacks == []
    assert not Action.objects.exists()


# --- Versions -----------------------------------------------------------------------------


def test_saving_a_rule_makes_a_version_with_author_and_reason_and_audits_before_and_after(policy_admin) -> None:
    data = {"name": "three hate", "kind": RuleKind.COUNT, "count": 3, "categories": ["hate"], "action_kind": "warn"}
    rule = save_rule(actor=policy_admin, rule=None, data=data, reason="launch policy")

    assert rule.version == 1
    created = AuditEntry.objects.get(verb=AuditVerb.RULE_CREATED)
    assert (created.actor_label, created.target_id, created.reason, created.before) == (
        "pat",
        str(rule.pk),
        "launch policy",
        None,
    )
    assert (created.after["count"], created.after["categories"], created.after["version"]) == (3, ["hate"], 1)

    changed = save_rule(actor=policy_admin, rule=rule, data={"count": 5}, reason="too many warnings")

    assert (changed.pk, changed.version, changed.count) == (rule.pk, 2, 5)
    versions = list(EnforcementRuleVersion.objects.filter(rule=rule).values_list("version", "author", "reason"))
    assert versions == [(2, policy_admin.pk, "too many warnings"), (1, policy_admin.pk, "launch policy")]
    v1, v2 = (EnforcementRuleVersion.objects.get(rule=rule, version=n).snapshot for n in (1, 2))
    assert (v1["count"], v2["count"]) == (3, 5)
    entry = AuditEntry.objects.get(verb=AuditVerb.RULE_CHANGED)
    assert (entry.actor_label, entry.reason) == ("pat", "too many warnings")
    assert (entry.before["count"], entry.after["count"], entry.after["version"]) == (3, 5, 2)
    assert entry.before["categories"] == entry.after["categories"] == ["hate"]


def test_a_rule_change_without_a_reason_is_refused_and_changes_nothing(policy_admin) -> None:
    rule = make_rule(policy_admin, kind=RuleKind.COUNT, count=3)
    entries = AuditEntry.objects.count()

    with pytest.raises(ValueError, match=r"^A rule change needs a reason\.$"):
        save_rule(actor=policy_admin, rule=rule, data={"count": 1}, reason="   ")
    with pytest.raises(ValueError, match=r"^A rule change needs a reason\.$"):
        save_rule(actor=policy_admin, rule=None, data={"name": "no reason", "kind": "any"}, reason="")

    rule.refresh_from_db()
    assert (rule.version, rule.count) == (1, 3)
    assert EnforcementRuleVersion.objects.filter(rule=rule).count() == 1
    assert not EnforcementRule.objects.filter(name="no reason").exists()
    assert AuditEntry.objects.count() == entries


def test_a_proposal_records_the_rule_version_that_fired(integration, reviewer, policy_admin) -> None:
    rule = make_rule(policy_admin, kind=RuleKind.COUNT, count=2)
    rule = save_rule(actor=policy_admin, rule=rule, data={"count": 1}, reason="stricter")
    violation = violate(integration, reviewer)

    [action] = evaluate_account(account_id=violation.account_id)

    assert (action.rule_version, action.reason) == (2, f"Rule “{rule.name}” (v2) fired on 1 violation(s).")
