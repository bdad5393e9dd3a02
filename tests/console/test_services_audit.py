"""Every state-changing service writes an audit entry.

The test walks every project app's `services` module or package with
`inspect` and lists each public function defined there. Each must be either
in SCENARIOS (set up, call, and see the audit entry it writes) or in one of
the two commented lists below (functions that change nothing, and the few
writes that are recorded elsewhere by design). A new service in neither
makes test_every_service_is_accounted_for fail, naming it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.utils import timezone

from console.models import AuditEntry, AuditVerb
from console.roles import Role
from tests.factories import hold, make_case, make_decision, make_key

# Functions that read or compute and write nothing.
READ_ONLY = {
    "accounts.services.rules.fires": "decides whether a rule fires on an account; proposes nothing",
    "accounts.services.rules.snapshot": "a rule's fields as a dict, for audit before/after",
    "accounts.services.webhooks.backoff": "the delay before a delivery's next attempt",
    "accounts.services.webhooks.sign": "the HMAC signature of a webhook body",
    "review.services.policy.fixed_categories": "the slugs of the categories no profile may adjust",
    "review.services.retention.removable": "a queryset of the flags apply_retention may blank; changes nothing",
}

# Writes that are on the record elsewhere, each for the reason given. Adding to this list needs
# the same kind of reason: "it would be slow" is not one.
RECORDED_ELSEWHERE = {
    # Flags are the platform's evidence, immutable and kept as sent (with the key's integration and the
    # time received); the audit log is for changes people and keys make to what Docket decides. An entry
    # per flag would also put every ingestion behind the audit chain's one lock (docs/architecture.md).
    "review.services.ingest.ingest_flags": "flags are immutable evidence, stored with their sender",
    # A reviewer's page renews the lease every minute: it moves an expiry time, nothing anyone decides.
    "review.services.cases.renew_lease": "moves the lease's expiry only",
    # Run only inside record_decision / correct_decision, whose own entries describe the decision.
    "accounts.services.violations.record_violation": "a step of record_decision, audited there",
    "accounts.services.violations.void_violation": "a step of correct_decision, audited there",
    # Run only inside the action services (apply, lift, expire, reverse), which audit the step.
    "accounts.services.webhooks.emit": "a step of the action services, audited there",
    # Each attempt is its own WebhookAttempt row (time, status, error, duration): the delivery's log.
    "accounts.services.webhooks.deliver": "each attempt is a WebhookAttempt row",
    "accounts.services.webhooks.deliver_due": "each attempt is a WebhookAttempt row",
    # Daily sums derived from the flags (themselves evidence, see ingest_flags), rebuilt by a periodic job that
    # decides nothing; each day counted is a CalibrationRollup row with the time it was rolled up.
    "review.services.calibration.roll_up_calibration_days": "derived counts; each day is a CalibrationRollup row",
}


def service_modules() -> list[ModuleType]:
    """`services` of every app of this project, and every module inside it if it is a package."""
    found: list[ModuleType] = []
    for app in apps.get_app_configs():
        if not Path(app.path).resolve().is_relative_to(Path(settings.BASE_DIR).resolve()):
            continue
        try:
            module = importlib.import_module(f"{app.name}.services")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app.name}.services":
                raise
            continue
        found.append(module)
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            found.append(importlib.import_module(f"{module.__name__}.{info.name}"))
    return found


def public_services() -> dict[str, Callable[..., Any]]:
    return {
        f"{module.__name__}.{name}": function
        for module in service_modules()
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    }


# --- Scenarios: set up what the service needs, then call it ---------------------------------


@dataclass(frozen=True)
class Scenario:
    setup: Callable[[SimpleNamespace], Any]
    call: Callable[[SimpleNamespace, Any], Any]
    verbs: frozenset[AuditVerb]


def scenario(*verbs: AuditVerb, setup: Callable[[SimpleNamespace], Any] = lambda p: None) -> Callable[..., Scenario]:
    def wrap(call: Callable[[SimpleNamespace, Any], Any]) -> Scenario:
        return Scenario(setup, call, frozenset(verbs))

    return wrap


def _general() -> Any:
    from review.models import Queue

    return Queue.objects.get(slug="general")


def _held_case(p: SimpleNamespace) -> Any:
    return hold(make_case(p.integration, user="u-held"), p.reviewer)


def _held_by_someone_else(p: SimpleNamespace) -> Any:
    return hold(make_case(p.integration, user="u-other"), p.reviewer)


def _action(p: SimpleNamespace, *, state: str = "proposed", hours: int | None = None) -> Any:
    from accounts.models import ActionKind
    from accounts.services import apply_action, approve_action, propose_action

    kind = ActionKind.RESTRICT if hours else ActionKind.WARN
    action = propose_action(
        actor=None, account=make_case(p.integration, user="u-acted").account, kind=kind, reason="abuse",
        scope="tools:search" if hours else "", hours=hours,
    )
    if state in {"approved", "applied"}:
        action = approve_action(actor=p.senior, action=action, reason="ok")
    if state == "applied":
        action = apply_action(actor=p.senior, action=action, reason="go")
    return action


def _appeal(p: SimpleNamespace) -> Any:
    from accounts.services import receive_appeal

    action = _action(p, state="applied")
    return receive_appeal(actor=None, account=action.account, action_id=action.pk, text="I was quoting a novel.")


def _firing_rule(p: SimpleNamespace) -> Any:
    from accounts.services import save_rule
    from review.models import Category, Outcome

    save_rule(actor=p.policy_admin, rule=None, data={"name": "any hate", "kind": "any", "action_kind": "warn",
                                                      "categories": ["hate"]}, reason="policy")
    case = make_case(p.integration, user="u-rule", result={"signals": [{"category": "hate", "level": "high"}]})
    make_decision(case, p.reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(pk="hate"),
                  severity="high")
    return case.account


def _delivery(p: SimpleNamespace) -> Any:
    from accounts.models import WebhookDelivery, WebhookEvent
    from accounts.services import create_endpoint

    # A closed port on this machine: a delivery attempt fails at once and nothing leaves the host.
    endpoint, _ = create_endpoint(actor=None, integration=p.integration, url="http://127.0.0.1:1/hook", events=[])
    event = WebhookEvent.objects.create(integration=p.integration, type="action.applied", payload={},
                                        created_at=timezone.now())
    return WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())


def _verdict(**kwargs: Any) -> Any:
    from review.models import Outcome
    from review.services import Verdict

    kwargs.setdefault("outcome", Outcome.NOT_VIOLATING)
    return Verdict(**kwargs)


def _imp(path: str) -> Callable[..., Any]:
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _default_profile() -> Any:
    return _imp("review.models.PolicyProfile").objects.get(name="Default")


def _new_profile(p: SimpleNamespace) -> Any:
    return _imp("review.services.policy.create_profile")(
        actor=p.policy_admin, name="Fiction", description="", thresholds={"violence": "high"}, reason="new platform"
    ).profile


def _changed_profile(p: SimpleNamespace) -> Any:
    profile = _default_profile()
    _imp("review.services.policy.change_profile")(
        actor=p.policy_admin, profile=profile, name=profile.name, description=profile.description,
        thresholds={"violence": "high"}, reason="fiction",
    )
    return profile


def _changed_mapping(p: SimpleNamespace) -> Any:
    return _imp("review.services.policy.change_mapping")(
        actor=p.policy_admin, source="azure", labels={"Hate": "harassment"}, cut_points=None,
        severity_levels={str(n): "high" for n in range(8)}, unsafe_level="medium", reason="fewer flags",
    )


def _rule_data(**overrides: Any) -> Any:
    values: dict[str, Any] = {"name": "German hate", "queue": _general(), "categories": ["hate"], "languages": ["de"]}
    return _imp("review.services.policy.RuleData")(**{**values, **overrides})


def _new_routing_rule(p: SimpleNamespace) -> Any:
    return _imp("review.services.policy.save_routing_rule")(
        actor=p.policy_admin, rule=None, data=_rule_data(), reason="German team"
    )


def _enrolled(p: SimpleNamespace) -> list[str]:
    """The reviewer (whose role needs no second factor) turns it on; their ten recovery codes."""
    from tests.twofactor import TOTP_SECRET, code_now

    return _imp("console.services.enable_totp")(actor=p.reviewer, secret=TOTP_SECRET, code=code_now())


def _old_unheld_flags(p: SimpleNamespace) -> None:
    from review.services import ingest_flags
    from tests.factories import flag_payload

    # Below the threshold: no case holds the text, and it is older than the 90 days kept.
    ingest_flags(integration=p.integration, now=timezone.now() - timedelta(days=100), payloads=[
        flag_payload(result={"signals": [{"category": "violence", "level": "low"}]})
    ])


V = AuditVerb
SCENARIOS: dict[str, Scenario] = {
    # review.services.admin
    "review.services.admin.update_queue": scenario(V.QUEUE_CHANGED)(
        lambda p, _: _imp("review.services.admin.update_queue")(
            actor=p.policy_admin, queue=_general(), name="General", description="d", priority=5, sla_minutes=60,
            lease_minutes=10, members=[], reason="tune",
        )
    ),
    "review.services.admin.update_category": scenario(V.CATEGORY_CHANGED)(
        lambda p, _: _imp("review.services.admin.update_category")(
            actor=p.policy_admin, category=_imp("review.models.Category").objects.get(pk="hate"), description="d",
            sensitive=True, reason="blur it",
        )
    ),
    "review.services.admin.create_queue": scenario(V.QUEUE_CREATED)(
        lambda p, _: _imp("review.services.admin.create_queue")(
            actor=p.policy_admin, name="German", slug="german", description="d", priority=5, sla_minutes=60,
            lease_minutes=10, members=[p.reviewer], reason="German team",
        )
    ),
    # review.services.calibration
    "review.services.calibration.set_calibration_rate": scenario(V.PROFILE_CALIBRATION_CHANGED)(
        lambda p, _: _imp("review.services.calibration.set_calibration_rate")(
            actor=p.policy_admin, profile=_default_profile(), rate=Decimal("2.5"), reason="more samples"
        )
    ),
    # review.services.policy
    "review.services.policy.create_profile": scenario(V.PROFILE_CREATED)(lambda p, _: _new_profile(p)),
    "review.services.policy.change_profile": scenario(V.PROFILE_CHANGED)(lambda p, _: _changed_profile(p)),
    "review.services.policy.restore_profile": scenario(V.PROFILE_CHANGED, setup=_changed_profile)(
        lambda p, profile: _imp("review.services.policy.restore_profile")(
            actor=p.policy_admin, profile=profile, version=1, reason="mistake"
        )
    ),
    "review.services.policy.assign_profile": scenario(V.INTEGRATION_CHANGED, setup=_new_profile)(
        lambda p, profile: _imp("review.services.policy.assign_profile")(
            actor=p.policy_admin, integration=p.integration, profile=profile, reason="fiction platform"
        )
    ),
    "review.services.policy.change_mapping": scenario(V.MAPPING_CHANGED)(lambda p, _: _changed_mapping(p)),
    "review.services.policy.restore_mapping": scenario(V.MAPPING_CHANGED, setup=_changed_mapping)(
        lambda p, _: _imp("review.services.policy.restore_mapping")(
            actor=p.policy_admin, source="azure", version=1, reason="mistake"
        )
    ),
    "review.services.policy.save_routing_rule": scenario(V.ROUTING_CHANGED)(lambda p, _: _new_routing_rule(p)),
    "review.services.policy.reorder_routing": scenario(V.ROUTING_CHANGED)(
        lambda p, _: _imp("review.services.policy.reorder_routing")(
            actor=p.policy_admin, reason="urgent first",
            order=list(_imp("review.models.RoutingRule").objects.order_by("-position").values_list("pk", flat=True)),
        )
    ),
    "review.services.policy.restore_routing": scenario(V.ROUTING_CHANGED, setup=_new_routing_rule)(
        lambda p, _: _imp("review.services.policy.restore_routing")(actor=p.policy_admin, version=1, reason="undo")
    ),
    # review.services.retention
    "review.services.retention.set_retention_days": scenario(V.RETENTION_CHANGED)(
        lambda p, _: _imp("review.services.retention.set_retention_days")(
            actor=p.policy_admin, integration=p.integration, days=30, reason="contract"
        )
    ),
    "review.services.retention.apply_retention": scenario(V.RETENTION_APPLIED, setup=_old_unheld_flags)(
        lambda p, _: _imp("review.services.retention.apply_retention")()
    ),
    # review.services.cases
    "review.services.cases.claim_next_case": scenario(V.CASE_CLAIMED, setup=lambda p: make_case(p.integration))(
        lambda p, _: _imp("review.services.cases.claim_next_case")(actor=p.reviewer, queue=_general())
    ),
    "review.services.cases.release_case": scenario(V.CASE_RELEASED, setup=_held_case)(
        lambda p, case: _imp("review.services.cases.release_case")(actor=p.reviewer, case=case, reason="lunch")
    ),
    "review.services.cases.skip_case": scenario(V.CASE_SKIPPED, setup=_held_case)(
        lambda p, case: _imp("review.services.cases.skip_case")(actor=p.reviewer, case=case, reason="not my language")
    ),
    "review.services.cases.take_back_case": scenario(V.CASE_TAKEN_BACK, setup=_held_by_someone_else)(
        lambda p, case: _imp("review.services.cases.take_back_case")(actor=p.senior, case=case, reason="urgent")
    ),
    "review.services.cases.expire_leases": scenario(
        V.CASE_LEASE_EXPIRED, setup=lambda p: hold(make_case(p.integration), p.reviewer, minutes=-1)
    )(lambda p, _: _imp("review.services.cases.expire_leases")()),
    "review.services.cases.record_decision": scenario(V.CASE_DECIDED, setup=_held_case)(
        lambda p, case: _imp("review.services.cases.record_decision")(actor=p.reviewer, case=case, verdict=_verdict())
    ),
    "review.services.cases.correct_decision": scenario(
        V.DECISION_CORRECTED, setup=lambda p: make_decision(make_case(p.integration), p.reviewer)
    )(
        lambda p, decision: _imp("review.services.cases.correct_decision")(
            actor=p.senior, decision=decision, verdict=_verdict(note="wrong"), reason="second look"
        )
    ),
    "review.services.cases.apply_bulk_decision": scenario(V.CASE_DECIDED, setup=lambda p: make_case(p.integration))(
        lambda p, case: _imp("review.services.cases.apply_bulk_decision")(
            actor=p.senior, case_ids=[case.pk], verdict=_verdict(note="spam wave")
        )
    ),
    # review.services.integrations
    "review.services.integrations.create_integration": scenario(V.INTEGRATION_CREATED)(
        lambda p, _: _imp("review.services.integrations.create_integration")(
            actor=p.ops, name="Beta", profile=p.integration.profile
        )
    ),
    "review.services.integrations.update_integration": scenario(V.INTEGRATION_CHANGED)(
        lambda p, _: _imp("review.services.integrations.update_integration")(
            actor=p.ops, integration=p.integration, profile=p.integration.profile, is_active=False, reason="ended"
        )
    ),
    "review.services.integrations.create_api_key": scenario(V.API_KEY_CREATED)(
        lambda p, _: make_key(p.integration)
    ),
    "review.services.integrations.revoke_api_key": scenario(V.API_KEY_REVOKED, setup=lambda p: make_key(p.integration))(
        lambda p, new: _imp("review.services.integrations.revoke_api_key")(actor=p.ops, key=new.key, reason="leaked")
    ),
    "review.services.integrations.set_api_key_rate": scenario(
        V.API_KEY_RATE_CHANGED, setup=lambda p: make_key(p.integration)
    )(
        lambda p, new: _imp("review.services.integrations.set_api_key_rate")(
            actor=p.ops, key=new.key, rate_per_minute=100, reason="flooding"
        )
    ),
    # accounts.services.actions
    "accounts.services.actions.propose_action": scenario(
        V.ACTION_PROPOSED, setup=lambda p: make_case(p.integration).account
    )(
        lambda p, account: _imp("accounts.services.actions.propose_action")(
            actor=p.senior, account=account, kind="warn", reason="abuse"
        )
    ),
    "accounts.services.actions.approve_action": scenario(V.ACTION_APPROVED, setup=_action)(
        lambda p, action: _imp("accounts.services.actions.approve_action")(actor=p.senior, action=action, reason="ok")
    ),
    "accounts.services.actions.reject_action": scenario(V.ACTION_REJECTED, setup=_action)(
        lambda p, action: _imp("accounts.services.actions.reject_action")(actor=p.senior, action=action, reason="no")
    ),
    "accounts.services.actions.apply_action": scenario(V.ACTION_APPLIED, setup=lambda p: _action(p, state="approved"))(
        lambda p, action: _imp("accounts.services.actions.apply_action")(actor=p.senior, action=action, reason="go")
    ),
    "accounts.services.actions.lift_action": scenario(V.ACTION_LIFTED, setup=lambda p: _action(p, state="applied"))(
        lambda p, action: _imp("accounts.services.actions.lift_action")(actor=p.senior, action=action, reason="done")
    ),
    "accounts.services.actions.expire_actions": scenario(
        V.ACTION_EXPIRED, setup=lambda p: _action(p, state="applied", hours=1)
    )(lambda p, _: _imp("accounts.services.actions.expire_actions")(now=timezone.now() + timedelta(hours=2))),
    # accounts.services.appeals
    "accounts.services.appeals.receive_appeal": scenario(
        V.APPEAL_RECEIVED, setup=lambda p: _action(p, state="applied")
    )(
        lambda p, action: _imp("accounts.services.appeals.receive_appeal")(
            actor=None, account=action.account, action_id=action.pk, text="please"
        )
    ),
    "accounts.services.appeals.decide_appeal": scenario(V.APPEAL_UPHELD, setup=_appeal)(
        lambda p, appeal: _imp("accounts.services.appeals.decide_appeal")(
            actor=p.second_senior, appeal=appeal, reverse=False, reason="stands"
        )
    ),
    "accounts.services.appeals.add_note": scenario(
        V.ACCOUNT_NOTE_ADDED, setup=lambda p: make_case(p.integration).account
    )(lambda p, account: _imp("accounts.services.appeals.add_note")(actor=p.senior, account=account, text="watch")),
    # accounts.services.rules
    "accounts.services.rules.save_rule": scenario(V.RULE_CREATED)(
        lambda p, _: _imp("accounts.services.rules.save_rule")(
            actor=p.policy_admin, rule=None, data={"name": "warn on any", "kind": "any", "action_kind": "warn"},
            reason="policy",
        )
    ),
    "accounts.services.rules.evaluate_account": scenario(V.ACTION_PROPOSED, setup=_firing_rule)(
        lambda p, account: _imp("accounts.services.rules.evaluate_account")(account_id=account.pk)
    ),
    "accounts.services.rules.evaluate_recent": scenario(V.ACTION_PROPOSED, setup=_firing_rule)(
        lambda p, _: _imp("accounts.services.rules.evaluate_recent")()
    ),
    # accounts.services.usage
    "accounts.services.usage.record_usage": scenario(V.USAGE_RECORDED)(
        lambda p, _: _imp("accounts.services.usage.record_usage")(
            actor=make_key(p.integration).key, integration=p.integration,
            rows=[_imp("accounts.services.usage.UsageRow")(user="u1", day=timezone.now().date(), requests=10)],
        )
    ),
    # accounts.services.webhooks
    "accounts.services.webhooks.create_endpoint": scenario(V.WEBHOOK_ENDPOINT_CREATED)(
        lambda p, _: _imp("accounts.services.webhooks.create_endpoint")(
            actor=p.ops, integration=p.integration, url="https://example.com/hook", events=[]
        )
    ),
    "accounts.services.webhooks.redeliver": scenario(V.WEBHOOK_REDELIVERED, setup=_delivery)(
        lambda p, delivery: _imp("accounts.services.webhooks.redeliver")(actor=p.ops, delivery=delivery)
    ),
    # console.services
    "console.services.create_staff": scenario(V.STAFF_CREATED, V.STAFF_ROLE_GRANTED)(
        lambda p, _: _imp("console.services.create_staff")(
            actor=p.ops, username="newbie", password="a-long-test-password-4-staff", role=Role.REVIEWER
        )
    ),
    "console.services.grant_role": scenario(V.STAFF_ROLE_GRANTED)(
        lambda p, _: _imp("console.services.grant_role")(actor=p.ops, user=p.reviewer, role=Role.SENIOR_REVIEWER)
    ),
    "console.services.record_password_change": scenario(V.STAFF_PASSWORD_CHANGED)(
        lambda p, _: _imp("console.services.record_password_change")(actor=p.reviewer)
    ),
    "console.services.record_sign_in": scenario(V.STAFF_LOGIN)(
        lambda p, _: _imp("console.services.record_sign_in")(user=p.reviewer, address="192.0.2.1")
    ),
    "console.services.record_sign_out": scenario(V.STAFF_LOGOUT)(
        lambda p, _: _imp("console.services.record_sign_out")(user=p.reviewer)
    ),
    "console.services.record_failed_sign_in": scenario(V.STAFF_LOGIN_FAILED)(
        lambda p, _: _imp("console.services.record_failed_sign_in")(username="rita", address="192.0.2.1")
    ),
    "console.services.update_staff_settings": scenario(V.STAFF_SETTINGS_CHANGED)(
        lambda p, _: _imp("console.services.update_staff_settings")(actor=p.reviewer, blur_sensitive=False)
    ),
    "console.services.revoke_role": scenario(V.STAFF_ROLE_REVOKED)(
        lambda p, _: _imp("console.services.revoke_role")(
            actor=p.ops, user=p.senior, role=Role.SENIOR_REVIEWER, reason="left the team"
        )
    ),
    "console.services.set_roles": scenario(V.STAFF_ROLE_GRANTED, V.STAFF_ROLE_REVOKED)(
        lambda p, _: _imp("console.services.set_roles")(
            actor=p.ops, user=p.reviewer, roles={Role.AUDITOR}, reason="moved to audit"
        )
    ),
    "console.services.lift_sign_in_lockout": scenario(V.STAFF_LOGIN_UNLOCKED)(
        lambda p, _: _imp("console.services.lift_sign_in_lockout")(actor=p.ops, user=p.reviewer, reason="it was me")
    ),
    "console.services.record_session_expiry": scenario(V.STAFF_SESSION_EXPIRED)(
        lambda p, _: _imp("console.services.record_session_expiry")(user=p.reviewer, why="idle", seconds=1800)
    ),
    "console.services.sign_out_everywhere": scenario(V.STAFF_SESSIONS_REVOKED)(
        lambda p, _: _imp("console.services.sign_out_everywhere")(actor=p.reviewer, user=p.reviewer)
    ),
    "console.services.enable_totp": scenario(V.STAFF_2FA_ENABLED)(lambda p, _: _enrolled(p)),
    # A code from the app only moves the device's counter: the sign-in it completes is audited
    # (record_sign_in's second_factor), as are the disable and renew it confirms. A recovery code is its own entry.
    "console.services.use_second_factor": scenario(V.STAFF_2FA_RECOVERY_USED, setup=_enrolled)(
        lambda p, codes: _imp("console.services.use_second_factor")(user=p.reviewer, code=codes[0])
    ),
    "console.services.renew_recovery_codes": scenario(V.STAFF_2FA_RECOVERY_RENEWED)(
        lambda p, _: _imp("console.services.renew_recovery_codes")(actor=p.senior)
    ),
    "console.services.disable_totp": scenario(V.STAFF_2FA_DISABLED)(
        lambda p, _: _imp("console.services.disable_totp")(actor=p.senior)
    ),
    "console.services.reset_totp": scenario(V.STAFF_2FA_RESET, V.STAFF_SESSIONS_REVOKED)(
        lambda p, _: _imp("console.services.reset_totp")(actor=p.ops, user=p.senior, reason="lost phone")
    ),
}


def test_every_service_is_accounted_for() -> None:
    found = set(public_services())
    listed = set(SCENARIOS) | set(READ_ONLY) | set(RECORDED_ELSEWHERE)

    unaccounted = sorted(found - listed)
    assert not unaccounted, (
        "These services have no audit scenario in tests/console/test_services_audit.py "
        f"(write one, or say in READ_ONLY or RECORDED_ELSEWHERE why not): {unaccounted}"
    )
    assert not sorted(listed - found), f"listed here but no longer a service: {sorted(listed - found)}"
    assert not set(SCENARIOS) & (set(READ_ONLY) | set(RECORDED_ELSEWHERE))


def test_the_walk_finds_the_services_of_every_app() -> None:
    modules = {module.__name__ for module in service_modules()}

    assert {"review.services.cases", "accounts.services.actions", "console.services"} <= modules
    assert len(public_services()) >= 40


@pytest.fixture
def people(
    integration: Any, reviewer: Any, senior: Any, second_senior: Any, policy_admin: Any, ops: Any
) -> SimpleNamespace:
    return SimpleNamespace(
        integration=integration, reviewer=reviewer, senior=senior, second_senior=second_senior,
        policy_admin=policy_admin, ops=ops,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_service_writes_its_audit_entry(name: str, people: SimpleNamespace) -> None:
    run = SCENARIOS[name]
    state = run.setup(people)
    last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0

    run.call(people, state)

    written = set(AuditEntry.objects.filter(seq__gt=last).values_list("verb", flat=True))
    assert written, f"{name} changed state without writing an audit entry"
    assert run.verbs <= written, f"{name} wrote {sorted(written)}, expected {sorted(run.verbs)}"


@pytest.mark.django_db
def test_the_services_recorded_elsewhere_do_write_their_own_records(people: SimpleNamespace) -> None:
    """What RECORDED_ELSEWHERE claims, checked: flags keep their sender; attempts have rows."""
    from accounts.models import WebhookAttempt
    from accounts.services import deliver
    from review.models import Flag

    case = make_case(people.integration)
    assert Flag.objects.filter(case=case, integration=people.integration).exists()
    delivery = _delivery(people)
    deliver(delivery.pk)  # nothing listens on the port: a failed attempt, recorded all the same
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1


@pytest.mark.django_db
def test_each_calibration_day_rolled_up_is_a_row_with_its_time(people: SimpleNamespace) -> None:
    from review.models import CalibrationRollup
    from review.services.calibration import roll_up_calibration_days

    make_case(people.integration)
    now = timezone.now()
    entries = AuditEntry.objects.count()

    [day] = roll_up_calibration_days(now=now, max_days=1)

    assert day == now.date() - timedelta(days=1)
    assert CalibrationRollup.objects.get(day=day).rolled_at is not None
    assert AuditEntry.objects.count() == entries
