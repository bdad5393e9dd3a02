"""Appeals: forwarded by the platform over the API, decided by a senior who had no hand in the action."""

from __future__ import annotations

import socket
from typing import Any
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.models import (
    Account,
    Action,
    ActionKind,
    ActionState,
    Appeal,
    AppealState,
    EnforcementState,
    WebhookDelivery,
    WebhookEvent,
)
from accounts.services import (
    IllegalTransition,
    apply_action,
    approve_action,
    create_endpoint,
    decide_appeal,
    lift_action,
    propose_action,
)
from console.models import AuditEntry, AuditVerb
from console.roles import Role
from review.intake import hash_user_id
from review.models import Case, CaseStatus, Scope
from tests.factories import Api, make_integration, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_cache(settings) -> None:  # type: ignore[no-untyped-def]
    # The status cache is keyed by integration id; a cache of this test's own
    # keeps answers from other tests (or an earlier run on a shared Redis) out.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid4().hex}}


@pytest.fixture
def third_senior(make_staff):  # type: ignore[no-untyped-def]
    return make_staff(Role.SENIOR_REVIEWER, "sol")


@pytest.fixture
def account(integration) -> Account:  # type: ignore[no-untyped-def]
    now = timezone.now()
    return Account.objects.create(integration=integration, user_hash=hash_user_id("u1"), first_seen=now, last_seen=now)


@pytest.fixture
def suspension(senior, second_senior, account) -> Action:  # type: ignore[no-untyped-def]
    """A suspension Sam proposed, Sasha approved and applied."""
    action = propose_action(actor=senior, account=account, kind=ActionKind.SUSPEND, hours=72, reason="threats")
    approve_action(actor=second_senior, action=action, reason="agreed")
    return apply_action(actor=second_senior, action=action, reason="go")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def appeal(api: Api, action: Any, user: str = "u1", text: str = "I was quoting a film") -> Any:
    return api.post("appeals", {"user": user, "action": action if isinstance(action, int) else action.pk, "text": text})


# --- Receiving ---------------------------------------------------------------------------------


def test_an_appeal_of_an_action_in_force_opens_a_case_in_the_appeals_queue(client, integration, suspension) -> None:
    new_key = make_key(integration, scopes=[Scope.APPEALS_WRITE], name="appeals")

    response = appeal(Api(client, new_key.secret), suspension)

    assert response.status_code == 201
    received = Appeal.objects.get()
    assert response.json() == {"appeal": received.pk, "state": "open"}
    assert (received.action, received.text, received.state) == (suspension, "I was quoting a film", AppealState.OPEN)
    case = Case.objects.select_related("queue").get(pk=received.case_id)
    assert (case.queue.slug, case.status, case.account_id, case.integration_id) == (
        "appeals",
        CaseStatus.OPEN,
        suspension.account_id,
        integration.pk,
    )
    entry = AuditEntry.objects.get(verb=AuditVerb.APPEAL_RECEIVED)
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == ("api_key", str(new_key.key.pk), str(new_key.key))
    assert (entry.target_type, entry.target_id) == ("accounts.appeal", str(received.pk))
    assert entry.after == {"action": suspension.pk, "case": case.pk}
    assert Action.objects.get(pk=suspension.pk).state == ActionState.APPLIED


def test_an_appeal_needs_the_appeals_scope(client, integration, suspension) -> None:
    response = appeal(Api(client, make_key(integration, scopes=[Scope.STATUS_READ]).secret), suspension)

    assert response.status_code == 403
    assert response.json() == {"error": "This API key lacks the scope 'appeals:write'."}
    assert not Appeal.objects.exists()


@pytest.mark.parametrize(("end", "shown"), [("lifted", "Lifted"), ("proposed", "Proposed")])
def test_appealing_an_action_not_in_force_is_a_conflict(api, senior, account, end, shown) -> None:
    action = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="rude")
    if end == "lifted":
        approve_action(actor=senior, action=action, reason="ok")
        apply_action(actor=senior, action=action, reason="go")
        lift_action(actor=senior, action=action, reason="done")

    response = appeal(api, action)

    assert response.status_code == 409
    assert response.json() == {"error": f"Only an action in force can be appealed; this one is {shown}."}
    assert not Appeal.objects.exists()
    assert not Case.objects.filter(queue__slug="appeals").exists()


def test_a_second_open_appeal_of_the_same_action_is_a_conflict(api, suspension) -> None:
    assert appeal(api, suspension).status_code == 201

    response = appeal(api, suspension, text="please, again")

    assert response.status_code == 409
    assert response.json() == {"error": "This action already has an open appeal."}
    assert Appeal.objects.count() == 1
    assert Case.objects.filter(queue__slug="appeals").count() == 1
    assert AuditEntry.objects.filter(verb=AuditVerb.APPEAL_RECEIVED).count() == 1


def test_an_appeal_for_an_unknown_user_is_not_found(api, suspension) -> None:
    response = appeal(api, suspension, user="nobody-we-know")

    assert response.status_code == 404
    assert response.json() == {"error": "No action applies to this user."}
    assert not Appeal.objects.exists()


def test_an_appeal_of_another_users_action_is_refused(api, integration, suspension) -> None:
    now = timezone.now()
    Account.objects.create(integration=integration, user_hash=hash_user_id("u2"), first_seen=now, last_seen=now)

    response = appeal(api, suspension, user="u2")

    assert response.status_code == 409
    assert response.json() == {"error": "No action with this id applies to this user."}
    assert not Appeal.objects.exists()


def test_an_appeal_through_another_integrations_key_is_not_found(client, suspension) -> None:
    other = Api(client, make_key(make_integration("Other Corp")).secret)

    response = appeal(other, suspension)

    assert response.status_code == 404
    assert not Appeal.objects.exists()


# --- Deciding ----------------------------------------------------------------------------------


@pytest.fixture
def open_appeal(api, suspension) -> Appeal:  # type: ignore[no-untyped-def]
    assert appeal(api, suspension).status_code == 201
    return Appeal.objects.get()


@pytest.mark.parametrize("involved", ["senior", "second_senior"], ids=["proposer", "approver"])
def test_a_senior_who_proposed_or_approved_the_action_may_not_decide_its_appeal(request, open_appeal, involved) -> None:
    actor = request.getfixturevalue(involved)

    with pytest.raises(IllegalTransition) as refused:
        decide_appeal(actor=actor, appeal=open_appeal, reverse=True, reason="my mistake")

    assert str(refused.value) == "An appeal is decided by a senior who neither proposed nor approved the action."
    assert Appeal.objects.get().state == AppealState.OPEN
    assert Action.objects.get().state == ActionState.APPLIED


def test_a_reviewer_may_not_decide_an_appeal(reviewer, open_appeal) -> None:
    with pytest.raises(IllegalTransition, match=r"^Only a senior reviewer may do this\.$"):
        decide_appeal(actor=reviewer, appeal=open_appeal, reverse=True, reason="fine by me")

    assert Appeal.objects.get().state == AppealState.OPEN


def test_another_senior_upholds_the_action(third_senior, suspension, open_appeal) -> None:
    events = WebhookEvent.objects.count()

    decided = decide_appeal(actor=third_senior, appeal=open_appeal, reverse=False, reason="threats are clear")

    assert (decided.state, decided.decided_by, decided.reason) == (
        AppealState.UPHELD,
        third_senior,
        "threats are clear",
    )
    assert Action.objects.get(pk=suspension.pk).state == ActionState.APPLIED
    assert Account.objects.get(pk=suspension.account_id).state == EnforcementState.SUSPENDED
    assert Case.objects.get(pk=open_appeal.case_id).status == CaseStatus.CLOSED
    entry = AuditEntry.objects.get(verb=AuditVerb.APPEAL_UPHELD)
    assert (entry.actor_label, entry.reason, entry.target_id) == ("sol", "threats are clear", str(open_appeal.pk))
    assert entry.after == {"action": suspension.pk, "state": "upheld"}
    assert WebhookEvent.objects.count() == events
    assert not AuditEntry.objects.filter(verb=AuditVerb.APPEAL_REVERSED).exists()


def test_another_senior_reverses_the_action_and_the_platform_sees_the_account_active_again(
    api, ops, integration, third_senior, suspension, open_appeal, django_capture_on_commit_callbacks
) -> None:
    # Nothing listens there: the delivery tried on commit fails at once and stays in the outbox.
    create_endpoint(actor=ops, integration=integration, url=f"http://127.0.0.1:{closed_port()}/hooks", events=[])
    assert api.get("accounts/u1/status").json()["state"] == "suspended"  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        decided = decide_appeal(actor=third_senior, appeal=open_appeal, reverse=True, reason="it was a film quote")

    assert decided.state == AppealState.REVERSED
    action = Action.objects.get(pk=suspension.pk)
    assert (action.state, action.ended_at is not None) == (ActionState.REVERSED, True)
    assert Account.objects.get(pk=suspension.account_id).state == EnforcementState.ACTIVE
    event = WebhookEvent.objects.get(type="action.reversed")
    assert (event.payload["state"], event.payload["action"]["id"], event.payload["action"]["state"]) == (
        "active",
        suspension.pk,
        "reversed",
    )
    delivery = WebhookDelivery.objects.get(event=event)
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    entry = AuditEntry.objects.get(verb=AuditVerb.APPEAL_REVERSED)
    assert (entry.actor_label, entry.reason, entry.after) == (
        "sol",
        "it was a film quote",
        {"action": suspension.pk, "state": "reversed"},
    )
    assert not AuditEntry.objects.filter(verb=AuditVerb.ACTION_LIFTED).exists()
    assert Case.objects.get(pk=open_appeal.case_id).status == CaseStatus.CLOSED
    status = api.get("accounts/u1/status").json()
    assert (status["state"], status["actions"]) == ("active", [])


def test_reversing_one_action_leaves_the_account_under_the_others(
    senior, second_senior, third_senior, account, suspension, open_appeal
) -> None:
    warning = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="rude")
    approve_action(actor=senior, action=warning, reason="ok")
    apply_action(actor=senior, action=warning, reason="go")

    decide_appeal(actor=third_senior, appeal=open_appeal, reverse=True, reason="film quote")

    assert Account.objects.get(pk=account.pk).state == EnforcementState.WARNED


def test_a_decided_appeal_cannot_be_decided_again(third_senior, make_staff, open_appeal) -> None:
    decide_appeal(actor=third_senior, appeal=open_appeal, reverse=False, reason="stands")

    with pytest.raises(IllegalTransition, match=r"^This appeal is already decided\.$"):
        decide_appeal(actor=make_staff(Role.SENIOR_REVIEWER), appeal=open_appeal, reverse=True, reason="no")

    assert Appeal.objects.get().state == AppealState.UPHELD
    assert Action.objects.get().state == ActionState.APPLIED


@pytest.mark.django_db
def test_an_appeal_case_takes_no_verdict(senior, make_staff) -> None:
    from review.models import Category, Outcome, Queue, Severity
    from review.services import InvalidDecision, Verdict, apply_bulk_decision, record_decision
    from tests.factories import hold, make_case

    case = make_case()
    appeals = Queue.objects.get(slug="appeals")
    case.__class__.objects.filter(pk=case.pk).update(queue=appeals)
    held = hold(case, senior)
    with pytest.raises(InvalidDecision, match="An appeal is decided by upholding or reversing"):
        record_decision(actor=senior, case=held, verdict=Verdict(
            Outcome.VIOLATING, Category.objects.get(slug="hate"), Severity.LOW))
    result = apply_bulk_decision(actor=senior, case_ids=[case.pk], verdict=Verdict(Outcome.NOT_VIOLATING))
    assert result.skipped == {case.pk: "an appeal (uphold or reverse it instead)"}
