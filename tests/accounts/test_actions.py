"""The action workflow: each transition, each refusal with its message, four eyes, state and expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account, Action, ActionKind, ActionState, EnforcementState, WebhookEvent
from accounts.services import (
    IllegalTransition,
    apply_action,
    approve_action,
    expire_actions,
    lift_action,
    propose_action,
    reject_action,
)
from console.models import AuditEntry, AuditVerb
from review.intake import hash_user_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(integration) -> Account:  # type: ignore[no-untyped-def]
    now = timezone.now()
    return Account.objects.create(integration=integration, user_hash=hash_user_id("u1"), first_seen=now, last_seen=now)


def propose(actor: Any, account: Account, kind: ActionKind, **extra: Any) -> Action:
    extra.setdefault("scope", "tools:computer_use" if kind == ActionKind.RESTRICT else "")
    extra.setdefault("hours", 24 if kind == ActionKind.SUSPEND else None)
    return propose_action(actor=actor, account=account, kind=kind, reason="repeated abuse", **extra)


def approved(proposer: Any, approver: Any, account: Account, kind: ActionKind, **extra: Any) -> Action:
    return approve_action(actor=approver, action=propose(proposer, account, kind, **extra), reason="agreed")


def applied(proposer: Any, approver: Any, account: Account, kind: ActionKind, **extra: Any) -> Action:
    return apply_action(actor=approver, action=approved(proposer, approver, account, kind, **extra), reason="go")


def entry(verb: AuditVerb, action: Action) -> AuditEntry:
    return AuditEntry.objects.get(verb=verb, target_type="accounts.action", target_id=str(action.pk))


def state_of(account: Account) -> str:
    return Account.objects.get(pk=account.pk).state


# --- Proposing ----------------------------------------------------------------------------


def test_proposing_an_action_stores_it_and_audits_it(senior, account) -> None:
    action = propose(senior, account, ActionKind.RESTRICT, scope="  rate_limit:10/min ")

    assert (action.state, action.scope, action.proposed_by, action.reason) == (
        ActionState.PROPOSED,
        "rate_limit:10/min",
        senior,
        "repeated abuse",
    )
    proposed = entry(AuditVerb.ACTION_PROPOSED, action)
    assert (proposed.actor_label, proposed.reason, proposed.before) == ("sam", "repeated abuse", None)
    assert (proposed.after["kind"], proposed.after["state"], proposed.after["scope"]) == (
        "restrict",
        "proposed",
        "rate_limit:10/min",
    )
    assert state_of(account) == EnforcementState.ACTIVE


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        (ActionKind.WARN, {"reason": "  "}, "Every step on an action needs a reason."),
        (
            ActionKind.RESTRICT,
            {"scope": " "},
            "A restriction needs a scope the platform understands, e.g. tools:computer_use.",
        ),
        (ActionKind.SUSPEND, {"hours": None}, "A suspension needs a duration."),
        (ActionKind.TERMINATE, {"hours": 24}, "A termination has no end time."),
    ],
)
def test_an_incomplete_proposal_is_refused(senior, account, kind, extra, message) -> None:
    arguments: dict[str, Any] = {"reason": "repeated abuse", "scope": "", "hours": None, **extra}

    with pytest.raises(IllegalTransition) as refused:
        propose_action(actor=senior, account=account, kind=kind, **arguments)

    assert str(refused.value) == message
    assert not Action.objects.exists()
    assert not AuditEntry.objects.filter(verb=AuditVerb.ACTION_PROPOSED).exists()


# --- Approving and rejecting ---------------------------------------------------------------


def test_a_senior_approves_a_warning_and_it_is_audited_with_before_and_after(reviewer, senior, account) -> None:
    action = propose(reviewer, account, ActionKind.WARN)

    approve_action(actor=senior, action=action, reason="clear pattern")

    action.refresh_from_db()
    assert (action.state, list(action.approvals.all()), action.decided_at is not None) == (
        ActionState.APPROVED,
        [senior],
        True,
    )
    approval = entry(AuditVerb.ACTION_APPROVED, action)
    assert (approval.actor_label, approval.reason) == ("sam", "clear pattern")
    assert (approval.before["state"], approval.after["state"]) == ("proposed", "approved")
    assert state_of(account) == EnforcementState.ACTIVE  # approved is not applied


def test_a_rule_proposed_restriction_needs_only_one_senior(senior, account) -> None:
    action = propose(None, account, ActionKind.RESTRICT)

    approve_action(actor=senior, action=action, reason="ok")

    assert Action.objects.get(pk=action.pk).state == ActionState.APPROVED
    assert not AuditEntry.objects.filter(verb=AuditVerb.ACTION_APPROVAL_ADDED).exists()


def test_a_senior_rejects_a_proposal(senior, account) -> None:
    action = propose(None, account, ActionKind.SUSPEND)

    reject_action(actor=senior, action=action, reason="one-off joke")

    action.refresh_from_db()
    assert (action.state, action.decided_at is not None) == (ActionState.REJECTED, True)
    rejection = entry(AuditVerb.ACTION_REJECTED, action)
    assert (rejection.actor_label, rejection.reason) == ("sam", "one-off joke")
    assert (rejection.before["state"], rejection.after["state"]) == ("proposed", "rejected")


@pytest.mark.parametrize("step", [approve_action, reject_action])
@pytest.mark.parametrize(
    ("reached", "shown"),
    [("approved", "Approved"), ("rejected", "Rejected"), ("applied", "Applied"), ("lifted", "Lifted")],
)
def test_only_a_proposed_action_can_be_approved_or_rejected(senior, account, step, reached, shown) -> None:
    action = propose(senior, account, ActionKind.WARN)
    if reached == "rejected":
        reject_action(actor=senior, action=action, reason="no")
    else:
        approve_action(actor=senior, action=action, reason="yes")
    if reached in ("applied", "lifted"):
        apply_action(actor=senior, action=action, reason="go")
    if reached == "lifted":
        lift_action(actor=senior, action=action, reason="enough")
    entries = AuditEntry.objects.count()
    verb = "approved" if step is approve_action else "rejected"

    with pytest.raises(IllegalTransition) as refused:
        step(actor=senior, action=action, reason="again")

    assert str(refused.value) == f"Only a proposed action can be {verb}; this one is {shown}."
    assert Action.objects.get(pk=action.pk).state == reached
    assert AuditEntry.objects.count() == entries


# --- Applying and lifting ------------------------------------------------------------------


def test_applying_a_suspension_sets_its_end_and_the_account_state(senior, second_senior, account) -> None:
    action = approved(senior, second_senior, account, ActionKind.SUSPEND, hours=36)

    apply_action(actor=senior, action=action, reason="go")

    action.refresh_from_db()
    assert action.state == ActionState.APPLIED
    assert action.ends_at == action.applied_at + timedelta(hours=36)
    assert state_of(account) == EnforcementState.SUSPENDED
    applying = entry(AuditVerb.ACTION_APPLIED, action)
    assert (applying.actor_label, applying.reason) == ("sam", "go")
    assert (applying.before["state"], applying.after["state"]) == ("approved", "applied")
    assert (applying.before["ends_at"], applying.after["ends_at"]) == (None, action.ends_at.isoformat())
    event = WebhookEvent.objects.get()
    assert (event.type, event.payload["state"], event.payload["action"]["id"]) == (
        "action.applied",
        "suspended",
        action.pk,
    )


def test_applying_a_termination_or_warning_sets_no_end(senior, second_senior, account) -> None:
    warning = applied(senior, senior, account, ActionKind.WARN)
    termination = applied(senior, second_senior, account, ActionKind.TERMINATE)

    assert (warning.ends_at, termination.ends_at) == (None, None)
    assert state_of(account) == EnforcementState.TERMINATED


def test_the_account_state_is_the_most_severe_action_in_force_and_lifting_recomputes_it(
    senior, second_senior, account
) -> None:
    warning = applied(senior, senior, account, ActionKind.WARN)
    assert state_of(account) == EnforcementState.WARNED

    suspension = applied(senior, second_senior, account, ActionKind.SUSPEND)
    assert state_of(account) == EnforcementState.SUSPENDED

    restriction = applied(senior, senior, account, ActionKind.RESTRICT)
    assert state_of(account) == EnforcementState.SUSPENDED  # a milder action does not lower it

    lift_action(actor=second_senior, action=suspension, reason="served enough")
    assert state_of(account) == EnforcementState.RESTRICTED

    lift_action(actor=second_senior, action=restriction, reason="tools back")
    assert state_of(account) == EnforcementState.WARNED

    lifted = lift_action(actor=second_senior, action=warning, reason="clean slate")
    assert state_of(account) == EnforcementState.ACTIVE
    assert (lifted.state, lifted.ended_at is not None) == (ActionState.LIFTED, True)
    lifting = entry(AuditVerb.ACTION_LIFTED, warning)
    assert (lifting.actor_label, lifting.reason) == ("sasha", "clean slate")
    assert (lifting.before["state"], lifting.after["state"]) == ("applied", "lifted")
    assert list(WebhookEvent.objects.order_by("pk").values_list("type", "payload__state")) == [
        ("action.applied", "warned"),
        ("action.applied", "suspended"),
        ("action.applied", "suspended"),
        ("action.lifted", "restricted"),
        ("action.lifted", "warned"),
        ("action.lifted", "active"),
    ]


@pytest.mark.parametrize(("reached", "shown"), [("proposed", "Proposed"), ("rejected", "Rejected")])
def test_only_an_approved_action_can_be_applied(senior, account, reached, shown) -> None:
    action = propose(None, account, ActionKind.WARN)
    if reached == "rejected":
        reject_action(actor=senior, action=action, reason="no")

    with pytest.raises(IllegalTransition) as refused:
        apply_action(actor=senior, action=action, reason="go")

    assert str(refused.value) == f"Only an approved action can be applied; this one is {shown}."
    assert Action.objects.get(pk=action.pk).state == reached
    assert state_of(account) == EnforcementState.ACTIVE
    assert not WebhookEvent.objects.exists()


def test_an_applied_action_cannot_be_applied_again(senior, account) -> None:
    action = applied(senior, senior, account, ActionKind.WARN)

    with pytest.raises(IllegalTransition, match=r"^Only an approved action can be applied; this one is Applied\.$"):
        apply_action(actor=senior, action=action, reason="again")

    assert AuditEntry.objects.filter(verb=AuditVerb.ACTION_APPLIED).count() == 1


@pytest.mark.parametrize(
    ("reached", "shown"), [("proposed", "Proposed"), ("approved", "Approved"), ("lifted", "Lifted")]
)
def test_only_an_applied_action_can_be_lifted(senior, account, reached, shown) -> None:
    action = propose(senior, account, ActionKind.WARN)
    if reached != "proposed":
        approve_action(actor=senior, action=action, reason="yes")
    if reached == "lifted":
        apply_action(actor=senior, action=action, reason="go")
        lift_action(actor=senior, action=action, reason="done")

    with pytest.raises(IllegalTransition) as refused:
        lift_action(actor=senior, action=action, reason="lift")

    assert str(refused.value) == f"Only an applied action can be ended; this one is {shown}."
    assert Action.objects.get(pk=action.pk).state == reached
    assert AuditEntry.objects.filter(verb=AuditVerb.ACTION_LIFTED).count() == (1 if reached == "lifted" else 0)


# --- Who may act, and why ---------------------------------------------------------------------


@pytest.mark.parametrize("step", ["approve", "reject", "apply", "lift"])
def test_every_step_needs_a_reason(senior, account, step) -> None:
    action = propose(senior, account, ActionKind.WARN)
    if step in ("apply", "lift"):
        approve_action(actor=senior, action=action, reason="yes")
    if step == "lift":
        apply_action(actor=senior, action=action, reason="go")
    before = Action.objects.get(pk=action.pk).state
    call = {"approve": approve_action, "reject": reject_action, "apply": apply_action, "lift": lift_action}[step]

    with pytest.raises(IllegalTransition, match=r"^Every step on an action needs a reason\.$"):
        call(actor=senior, action=action, reason=" \n ")

    assert Action.objects.get(pk=action.pk).state == before


@pytest.mark.parametrize("persona", ["reviewer", "policy_admin", "ops"])
@pytest.mark.parametrize("step", ["approve", "reject", "apply", "lift"])
def test_only_a_senior_may_approve_reject_apply_or_lift(request, senior, account, persona, step) -> None:
    actor = request.getfixturevalue(persona)
    action = propose(senior, account, ActionKind.WARN)
    if step in ("apply", "lift"):
        approve_action(actor=senior, action=action, reason="yes")
    if step == "lift":
        apply_action(actor=senior, action=action, reason="go")
    before = Action.objects.get(pk=action.pk).state
    entries = AuditEntry.objects.count()
    call = {"approve": approve_action, "reject": reject_action, "apply": apply_action, "lift": lift_action}[step]

    with pytest.raises(IllegalTransition, match=r"^Only a senior reviewer may do this\.$"):
        call(actor=actor, action=action, reason="because")

    assert Action.objects.get(pk=action.pk).state == before
    assert AuditEntry.objects.count() == entries


# --- Four eyes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ActionKind.SUSPEND, ActionKind.TERMINATE])
def test_the_proposer_cannot_approve_their_own_suspension_or_termination(senior, second_senior, account, kind) -> None:
    action = propose(senior, account, kind)

    with pytest.raises(IllegalTransition) as refused:
        approve_action(actor=senior, action=action, reason="trust me")

    noun = {"suspend": "suspension", "terminate": "termination"}[kind.value]
    assert str(refused.value) == f"A {noun} needs a second senior: you proposed it."
    assert Action.objects.get(pk=action.pk).approvals.count() == 0

    approve_action(actor=second_senior, action=action, reason="agreed")

    action.refresh_from_db()
    assert (action.state, list(action.approvals.all())) == (ActionState.APPROVED, [second_senior])


def test_a_rule_proposed_suspension_needs_two_different_seniors(senior, second_senior, account) -> None:
    action = propose(None, account, ActionKind.SUSPEND)

    first = approve_action(actor=senior, action=action, reason="looks right")

    assert first.state == ActionState.PROPOSED
    assert list(Action.objects.get(pk=action.pk).approvals.all()) == [senior]
    added = entry(AuditVerb.ACTION_APPROVAL_ADDED, action)
    assert (added.actor_label, added.reason, added.after) == ("sam", "looks right", {"approvals": 1})
    assert not AuditEntry.objects.filter(verb=AuditVerb.ACTION_APPROVED).exists()

    with pytest.raises(IllegalTransition) as twice:
        approve_action(actor=senior, action=action, reason="really sure")

    assert str(twice.value) == "You already approved it; a second, different senior must approve too."
    assert Action.objects.get(pk=action.pk).state == ActionState.PROPOSED
    assert AuditEntry.objects.filter(verb=AuditVerb.ACTION_APPROVAL_ADDED).count() == 1

    second = approve_action(actor=second_senior, action=action, reason="agreed")

    assert second.state == ActionState.APPROVED
    assert set(Action.objects.get(pk=action.pk).approvals.all()) == {senior, second_senior}
    approval = entry(AuditVerb.ACTION_APPROVED, action)
    assert (approval.actor_label, approval.before["state"], approval.after["state"]) == (
        "sasha",
        "proposed",
        "approved",
    )


def test_a_rule_proposed_suspension_cannot_be_applied_after_one_approval(senior, second_senior, account) -> None:
    action = propose(None, account, ActionKind.SUSPEND)
    approve_action(actor=senior, action=action, reason="looks right")

    with pytest.raises(IllegalTransition, match=r"^Only an approved action can be applied; this one is Proposed\.$"):
        apply_action(actor=second_senior, action=action, reason="go")

    assert state_of(account) == EnforcementState.ACTIVE


# --- Expiry ------------------------------------------------------------------------------------


def test_a_suspension_expires_at_its_end_audited_by_the_system_and_the_platform_told(
    senior, second_senior, account
) -> None:
    applied(senior, senior, account, ActionKind.WARN)
    suspension = applied(senior, second_senior, account, ActionKind.SUSPEND, hours=24)
    assert state_of(account) == EnforcementState.SUSPENDED
    events = WebhookEvent.objects.count()

    assert expire_actions(now=suspension.ends_at - timedelta(seconds=1)) == 0
    assert Action.objects.get(pk=suspension.pk).state == ActionState.APPLIED

    assert expire_actions(now=suspension.ends_at) == 1

    suspension.refresh_from_db()
    assert (suspension.state, suspension.ended_at is not None) == (ActionState.EXPIRED, True)
    assert state_of(account) == EnforcementState.WARNED
    expiry = entry(AuditVerb.ACTION_EXPIRED, suspension)
    assert (expiry.actor_type, expiry.actor_id, expiry.actor_label, expiry.reason) == (
        "system",
        "",
        "system",
        "its time ran out",
    )
    assert (expiry.before["state"], expiry.after["state"]) == ("applied", "expired")
    event = WebhookEvent.objects.order_by("-pk").first()
    assert WebhookEvent.objects.count() == events + 1
    assert (event.type, event.payload["state"], event.payload["action"]["id"], event.payload["action"]["state"]) == (
        "action.expired",
        "warned",
        suspension.pk,
        "expired",
    )

    entries = AuditEntry.objects.count()
    assert expire_actions(now=suspension.ends_at + timedelta(hours=1)) == 0
    assert AuditEntry.objects.count() == entries
    assert WebhookEvent.objects.count() == events + 1
    assert state_of(account) == EnforcementState.WARNED


def test_expiry_leaves_lifted_and_open_ended_actions_alone(senior, second_senior, account) -> None:
    lifted = applied(senior, second_senior, account, ActionKind.SUSPEND, hours=1)
    lift_action(actor=senior, action=lifted, reason="mistake")
    applied(senior, second_senior, account, ActionKind.TERMINATE)

    assert expire_actions(now=timezone.now() + timedelta(days=365)) == 0
    assert Action.objects.get(pk=lifted.pk).state == ActionState.LIFTED
    assert state_of(account) == EnforcementState.TERMINATED
