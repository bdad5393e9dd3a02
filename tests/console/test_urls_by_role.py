"""Every console URL, for every role and for an anonymous visitor.

A new page must be added to PAGES: test_every_console_url_is_listed fails
until it is. `cap` is the capability that opens the page (None: any signed-in
staff user); `kwargs` builds the objects a URL needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from console.roles import ROLE_CAPABILITIES, Cap, Role
from tests.factories import make_case, make_decision, make_integration, make_key

OPEN = "open"  # no login needed


def _general() -> Any:
    from review.models import Queue

    return Queue.objects.get(slug="general")


def _default_profile() -> Any:
    from review.models import PolicyProfile

    return PolicyProfile.objects.get(name="Default")


def _first_routing_rule() -> Any:
    from review.models import RoutingRule

    return RoutingRule.objects.order_by("position").first()


def _decision() -> Any:
    from console.roles import Role
    from console.services import create_staff
    from tests.conftest import PASSWORD  # noqa: F401 - personas share it

    someone = create_staff(actor=None, username=f"decider{make_integration().pk}", password="a-long-pass-4-tests",
                           role=Role.REVIEWER)
    return make_decision(make_case(), someone)


def _key() -> dict[str, int]:
    key = make_key().key
    return {"pk": key.integration_id, "key_pk": key.pk}


def _rule() -> dict[str, int]:
    from accounts.services.rules import save_rule

    rule = save_rule(actor=None, rule=None, reason="test",
                     data={"name": f"rule {make_integration().pk}", "kind": "any", "action_kind": "warn"})
    return {"pk": rule.pk}


def _delivery() -> dict[str, int]:
    from django.utils import timezone

    from accounts.models import WebhookDelivery, WebhookEvent
    from accounts.services.webhooks import create_endpoint

    integration = make_integration()
    endpoint, _ = create_endpoint(actor=None, integration=integration, url="https://example.com/hook", events=[])
    event = WebhookEvent.objects.create(integration=integration, type="action.applied", payload={},
                                        created_at=timezone.now())
    return {"pk": WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now()).pk}



def _action(*, applied: bool = False) -> Any:
    from accounts.models import ActionKind
    from accounts.services import apply_action, approve_action, propose_action

    action = propose_action(actor=None, account=make_case().account, kind=ActionKind.WARN, reason="test")
    if applied:
        from console.services import create_staff

        approver = create_staff(actor=None, username=f"approver{action.pk}", password="a-long-pass-4-tests",
                                role=Role.SENIOR_REVIEWER)
        approve_action(actor=approver, action=action, reason="test")
        apply_action(actor=approver, action=action, reason="test")
    return action


def _appeal() -> dict[str, int]:
    from accounts.services import receive_appeal

    action = _action(applied=True)
    return {"pk": receive_appeal(actor=None, account=action.account, action_id=action.pk, text="please").pk}


def _someone() -> dict[str, int]:
    from django.contrib.auth import get_user_model

    return {"pk": get_user_model().objects.create_user(f"someone{make_integration().pk}").pk}
def _someones_export() -> dict[str, int]:
    from django.utils import timezone

    from console.models import Export
    from console.services import create_staff

    owner = create_staff(actor=None, username=f"exporter{make_integration().pk}", password="a-long-pass-4-tests",
                         role=Role.OPS)
    return {"pk": Export.objects.create(requested_by=owner, report="violations", format="csv",
                                        created_at=timezone.now()).pk}


def _someones_subscription() -> dict[str, int]:
    from django.utils import timezone

    from console.models import ReportSubscription
    from console.services import create_staff

    owner = create_staff(actor=None, username=f"subscriber{make_integration().pk}", password="a-long-pass-4-tests",
                         role=Role.OPS)
    return {"pk": ReportSubscription.objects.create(user=owner, report="violations", frequency="daily",
                                                    created_at=timezone.now()).pk}


@dataclass(frozen=True)
class Page:
    name: str
    cap: Cap | str | None
    kwargs: Callable[[], dict[str, Any]] = field(default=dict)
    method: str = "get"
    ok: int = 200


PAGES: list[Page] = [
    Page("console:login", OPEN),
    Page("console:livez", OPEN),
    Page("console:healthz", OPEN),
    # Closed (404) until DOCKET_METRICS_TOKEN or DOCKET_METRICS_NETWORKS is set (test_health_and_metrics.py)
    Page("console:metrics", OPEN, ok=404),
    Page("console:logout", OPEN, method="post", ok=302),
    Page("console:home", Cap.VIEW_DASHBOARD),
    Page("console:password_change", None),
    Page("console:password_change_done", None),
    Page("console:settings", None),
    Page("console:audit", Cap.VIEW_AUDIT),
    # Staff accounts. Without a password step behind it the code step sends back to the sign-in (or home).
    Page("console:login_code", OPEN, ok=302),
    Page("console:two_factor", None),
    # An empty code (or password) is a form error.
    Page("console:two_factor_renew", None, method="post", ok=400),
    Page("console:two_factor_disable", None, method="post", ok=400),
    Page("console:sign_out_everywhere", None, method="post", ok=302),
    Page("console:staff", Cap.MANAGE_STAFF),
    Page("console:staff_member", Cap.MANAGE_STAFF, kwargs=_someone),
    Page("console:staff_reset_two_factor", Cap.MANAGE_STAFF, kwargs=_someone, method="post", ok=400),
    Page("console:staff_sign_out", Cap.MANAGE_STAFF, kwargs=_someone, method="post", ok=400),
    Page("console:staff_unlock", Cap.MANAGE_STAFF, kwargs=_someone, method="post", ok=400),
    Page("console:policy_queues", Cap.MANAGE_POLICY),
    Page("console:policy_queue", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": _general().pk}),
    Page("console:policy_categories", Cap.MANAGE_POLICY),
    Page("console:policy_category", Cap.MANAGE_POLICY, kwargs=lambda: {"slug": "violence"}),
    # Policy documents (console/policy_views.py). A POST without a reason is a form error (400) or, for a
    # restore or a profile assignment, a message and a redirect.
    Page("console:policy_queue_new", Cap.MANAGE_POLICY),
    Page("console:policy_profiles", Cap.MANAGE_POLICY),
    Page("console:policy_profile_new", Cap.MANAGE_POLICY),
    Page("console:policy_profile", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": _default_profile().pk}),
    Page("console:policy_profile_history", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": _default_profile().pk}),
    Page("console:policy_profile_restore", Cap.MANAGE_POLICY,
         kwargs=lambda: {"pk": _default_profile().pk, "version": 1}, method="post", ok=302),
    Page("console:policy_integration_profile", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": make_integration().pk},
         method="post", ok=302),
    Page("console:policy_mappings", Cap.MANAGE_POLICY),
    Page("console:policy_mapping", Cap.MANAGE_POLICY, kwargs=lambda: {"source": "openai"}),
    Page("console:policy_mapping_history", Cap.MANAGE_POLICY, kwargs=lambda: {"source": "openai"}),
    Page("console:policy_mapping_restore", Cap.MANAGE_POLICY, kwargs=lambda: {"source": "openai", "version": 1},
         method="post", ok=302),
    Page("console:policy_routing", Cap.MANAGE_POLICY),
    Page("console:policy_routing_order", Cap.MANAGE_POLICY, method="post", ok=400),
    Page("console:policy_routing_rule_new", Cap.MANAGE_POLICY),
    Page("console:policy_routing_rule", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": _first_routing_rule().pk}),
    Page("console:policy_routing_history", Cap.MANAGE_POLICY),
    Page("console:policy_routing_restore", Cap.MANAGE_POLICY, kwargs=lambda: {"version": 1}, method="post", ok=302),
    Page("review:queues", Cap.REVIEW_CASES),
    Page("accounts:accounts", Cap.VIEW_ACCOUNTS),
    Page("accounts:account", Cap.VIEW_ACCOUNTS, kwargs=lambda: {"pk": make_case().account_id}),
    # An empty note or proposal is a form error (400) for those allowed.
    Page("accounts:account_note", Cap.VIEW_ACCOUNTS, kwargs=lambda: {"pk": make_case().account_id}, method="post",
         ok=400),
    Page("accounts:account_propose", Cap.APPROVE_ACTIONS, kwargs=lambda: {"pk": make_case().account_id},
         method="post", ok=400),
    Page("accounts:actions", Cap.APPROVE_ACTIONS),
    Page("accounts:action", Cap.APPROVE_ACTIONS, kwargs=lambda: {"pk": _action().pk}),
    # Without a step and a reason nothing happens: a message and back to the action (or the appeal's case).
    Page("accounts:action_step", Cap.APPROVE_ACTIONS, kwargs=lambda: {"pk": _action().pk}, method="post", ok=302),
    Page("accounts:appeal_decide", Cap.APPROVE_ACTIONS, kwargs=_appeal, method="post", ok=302),
    Page("review:start", Cap.REVIEW_CASES, kwargs=lambda: {"queue_pk": _general().pk}, method="post", ok=302),
    Page("review:cases", Cap.REVIEW_CASES),
    # Seniors only; an empty bulk form is refused with a message and a redirect.
    Page("review:bulk_decide", Cap.HANDLE_ESCALATIONS, method="post", ok=302),
    Page("review:case", Cap.REVIEW_CASES, kwargs=lambda: {"pk": make_case().pk}),
    # Nobody holds a fresh case: a decision on it is a conflict, a skip without reason a 400.
    Page("review:decide", Cap.REVIEW_CASES, kwargs=lambda: {"pk": make_case().pk}, method="post", ok=400),
    Page("review:skip", Cap.REVIEW_CASES, kwargs=lambda: {"pk": make_case().pk}, method="post", ok=400),
    Page("review:release", Cap.REVIEW_CASES, kwargs=lambda: {"pk": make_case().pk}, method="post", ok=409),
    Page("review:renew", Cap.REVIEW_CASES, kwargs=lambda: {"pk": make_case().pk}, method="post"),
    Page("review:take_back", Cap.HANDLE_ESCALATIONS, kwargs=lambda: {"pk": make_case().pk}, method="post", ok=302),
    Page("review:correct", Cap.HANDLE_ESCALATIONS, kwargs=lambda: {"pk": _decision().pk}, method="post", ok=400),
    Page("accounts:rules", Cap.MANAGE_POLICY),
    Page("accounts:rule_new", Cap.MANAGE_POLICY),
    Page("accounts:rule_edit", Cap.MANAGE_POLICY, kwargs=_rule),
    Page("accounts:rule_history", Cap.MANAGE_POLICY, kwargs=_rule),
    # Without a reason nothing is restored: a message and back to the history.
    Page("accounts:rule_restore", Cap.MANAGE_POLICY, kwargs=lambda: {**_rule(), "version": 1}, method="post",
         ok=302),
    Page("accounts:webhooks", Cap.MANAGE_INTEGRATIONS),
    Page("accounts:webhook_endpoints", Cap.MANAGE_INTEGRATIONS, kwargs=lambda: {"pk": make_integration().pk}),
    Page("accounts:webhook_deliveries", Cap.MANAGE_INTEGRATIONS),
    Page("accounts:webhook_delivery", Cap.MANAGE_INTEGRATIONS, kwargs=_delivery),
    Page("accounts:webhook_redeliver", Cap.MANAGE_INTEGRATIONS, kwargs=_delivery, method="post", ok=302),
    Page("review:integrations", Cap.MANAGE_INTEGRATIONS),
    Page("review:integration_new", Cap.MANAGE_INTEGRATIONS),
    Page("review:integration", Cap.MANAGE_INTEGRATIONS, kwargs=lambda: {"pk": make_integration().pk}),
    # An empty POST is a form error (400) for those allowed; the role check comes first.
    Page("review:integration_edit", Cap.MANAGE_INTEGRATIONS, kwargs=lambda: {"pk": make_integration().pk},
         method="post", ok=400),
    Page("review:key_new", Cap.MANAGE_INTEGRATIONS, kwargs=lambda: {"pk": make_integration().pk}, method="post",
         ok=400),
    Page("review:key_revoke", Cap.MANAGE_INTEGRATIONS, kwargs=_key, method="post", ok=302),
    # Calibration and retention
    Page("console:policy_calibration", Cap.MANAGE_POLICY),
    # Without a profile, a category and a threshold the what-if is a 400 that names them.
    Page("console:policy_whatif", Cap.MANAGE_POLICY, ok=400),
    Page("console:policy_calibration_rate", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": _default_profile().pk}),
    Page("console:policy_retention", Cap.MANAGE_POLICY),
    Page("console:policy_retention_edit", Cap.MANAGE_POLICY, kwargs=lambda: {"pk": make_integration().pk}),
    # An empty limit means "the default": saved, then back to the integration.
    Page("review:key_rate", Cap.MANAGE_INTEGRATIONS, kwargs=_key, method="post", ok=302),
    # Exports: an empty form is a form error (400); another person's export or subscription is a 404.
    Page("console:exports", Cap.EXPORT_REPORTS),
    Page("console:export_run", Cap.EXPORT_REPORTS, kwargs=lambda: {"name": "violations"}, method="post", ok=400),
    Page("console:export_progress", Cap.EXPORT_REPORTS, kwargs=_someones_export, ok=404),
    Page("console:export_download", Cap.EXPORT_REPORTS, kwargs=_someones_export, ok=404),
    Page("console:subscription_new", Cap.EXPORT_REPORTS, kwargs=lambda: {"name": "violations"}, method="post",
         ok=400),
    Page("console:subscription_delete", Cap.EXPORT_REPORTS, kwargs=_someones_subscription, method="post", ok=404),
]

NOT_CONSOLE = ("api", "djdt")


def _names(resolver: URLResolver | Any, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for item in resolver.url_patterns:
        if isinstance(item, URLResolver):
            ns = f"{prefix}{item.namespace}:" if item.namespace else prefix
            if item.namespace in NOT_CONSOLE:
                continue
            names |= _names(item, ns)
        elif isinstance(item, URLPattern) and item.name:
            names.add(prefix + item.name)
    return names


def test_every_console_url_is_listed() -> None:
    assert _names(get_resolver()) == {page.name for page in PAGES}


def _expected(page: Page, role: Role | None) -> int:
    if page.cap == OPEN:
        return page.ok if role is None else (302 if page.name == "console:login" else page.ok)
    if role is None:
        return 302
    if page.cap is None or page.cap in ROLE_CAPABILITIES[role]:
        return page.ok
    return 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r.value if r else "anonymous")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_answers_each_role_as_expected(client, make_staff, page: Page, role: Role | None) -> None:
    if role is not None:
        client.force_login(make_staff(role))
    url = reverse(page.name, kwargs=page.kwargs())
    response = getattr(client, page.method)(url)
    assert response.status_code == _expected(page, role), (page.name, role)
    if role is None and page.cap != OPEN:
        assert response["Location"].startswith(reverse("console:login") + "?next=")


@pytest.mark.django_db
def test_a_user_with_no_role_sees_no_role_page(client, outsider) -> None:
    client.force_login(outsider)
    for page in PAGES:
        if isinstance(page.cap, Cap):
            response = getattr(client, page.method)(reverse(page.name, kwargs=page.kwargs()))
            assert response.status_code == 403, page.name
