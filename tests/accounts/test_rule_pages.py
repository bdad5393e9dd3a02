from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import EnforcementRule, EnforcementRuleVersion
from accounts.services.rules import save_rule
from console.models import AuditEntry, AuditVerb


def rule_post(**overrides: Any) -> dict[str, Any]:
    """The form as a policy admin fills it in: a count rule that suspends for 24 hours."""
    data: dict[str, Any] = {
        "name": "Repeated hate",
        "is_active": "on",
        "kind": "count",
        "categories": ["hate", "harassment"],
        "severities": ["high", "critical"],
        "window": "7d",
        "count": "3",
        "rate": "",
        "min_requests": "",
        "prior_kind": "",
        "action_kind": "suspend",
        "action_scope": "",
        "action_hours": "24",
        "reason": "Three strikes",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def make_rule(**data: Any) -> EnforcementRule:
    values = {"name": "Any child safety", "kind": "any", "categories": ["child_safety"], "action_kind": "terminate"}
    values.update(data)
    return save_rule(actor=None, rule=None, data=values, reason="seed")


@pytest.mark.django_db
def test_a_policy_admin_creates_a_rule_as_version_1_with_an_audit_entry(client, policy_admin) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:rule_new"), rule_post())
    assert response.status_code == 302 and response["Location"] == reverse("accounts:rules")
    rule = EnforcementRule.objects.get()
    assert (rule.kind, rule.categories, rule.severities, rule.window) == (
        "count", ["hate", "harassment"], ["high", "critical"], "7d")
    assert (rule.count, rule.rate, rule.action_kind, rule.action_hours, rule.version) == (3, None, "suspend", 24, 1)
    version = EnforcementRuleVersion.objects.get(rule=rule)
    assert (version.version, version.author, version.reason) == (1, policy_admin, "Three strikes")
    entry = AuditEntry.objects.get(verb=AuditVerb.RULE_CREATED)
    assert (entry.actor_label, entry.reason, entry.after["version"]) == ("pat", "Three strikes", 1)


@pytest.mark.django_db
def test_the_list_says_each_condition_in_plain_language(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post())
    make_rule(name="Spam rate", kind="rate", categories=["fraud_spam"], rate=5.0, min_requests=1000,
              window="30d", action_kind="restrict", action_scope="rate_limit:10/min")
    page = client.get(reverse("accounts:rules")).content.decode()
    assert "3 or more hate/harassment violations (high, critical) in 7 days → suspend 24 h" in page
    assert ("5 or more fraud and spam violations per 1,000 requests in 30 days (at least 1,000 requests)"
            " → restrict rate_limit:10/min") in page


@pytest.mark.django_db
def test_a_change_needs_a_reason(client, policy_admin) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:rule_new"), rule_post(reason=""))
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert not EnforcementRule.objects.exists() and not AuditEntry.objects.filter(verb=AuditVerb.RULE_CREATED)


@pytest.mark.django_db
def test_editing_makes_a_new_version_and_an_audit_entry_with_before_and_after(client, policy_admin) -> None:
    rule = make_rule(name="Repeated hate", kind="count", categories=["hate"], count=3, window="7d",
                     action_kind="suspend", action_hours=24)
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:rule_edit", args=[rule.pk]),
                           rule_post(count="5", based_on="1", reason="Too many false alarms"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.count, rule.version) == (5, 2)
    assert list(rule.versions.values_list("version", "reason")) == [(2, "Too many false alarms"), (1, "seed")]
    entry = AuditEntry.objects.get(verb=AuditVerb.RULE_CHANGED)
    assert (entry.before["count"], entry.after["count"], entry.after["version"]) == (3, 5, 2)
    assert (entry.actor_label, entry.reason) == ("pat", "Too many false alarms")


@pytest.mark.django_db
def test_saving_without_a_change_is_refused(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post())
    rule = EnforcementRule.objects.get()
    response = client.post(reverse("accounts:rule_edit", args=[rule.pk]), rule_post(based_on="1", reason="again"))
    assert response.status_code == 400 and "Nothing changed" in response.content.decode()
    assert EnforcementRule.objects.get().version == 1


@pytest.mark.django_db
def test_an_edit_based_on_an_old_version_is_refused(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post())
    rule = EnforcementRule.objects.get()
    client.post(reverse("accounts:rule_edit", args=[rule.pk]), rule_post(count="4", based_on="1", reason="a"))
    response = client.post(reverse("accounts:rule_edit", args=[rule.pk]), rule_post(count="6", based_on="1",
                                                                                    reason="b"))
    assert response.status_code == 400 and "Someone saved version 2" in response.content.decode()
    assert EnforcementRule.objects.get().count == 4


@pytest.mark.django_db
def test_the_history_shows_each_change_as_old_to_new(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post())
    rule = EnforcementRule.objects.get()
    client.post(reverse("accounts:rule_edit", args=[rule.pk]),
                rule_post(count="5", window="30d", severities=["critical"], based_on="1", reason="Calmer"))
    response = client.get(reverse("accounts:rule_history", args=[rule.pk]))
    [v2, v1] = response.context["rows"]
    assert [(c.field, c.old, c.new) for c in v2.changes] == [
        ("Severities", "High, Critical", "Critical"),
        ("Window", "7 days", "30 days"),
        ("Count", "3", "5"),
    ]
    assert v1.changes == [] and ("Count", "", "3") in [(s.field, s.old, s.new) for s in v1.settings]
    assert "Rate per 1,000 requests" not in [s.field for s in v1.settings]  # a count rule has no rate
    page = response.content.decode()
    assert "Calmer" in page and "pat" in page and "7 days" in page and "30 days" in page and "→" in page


@pytest.mark.django_db
def test_restoring_a_version_saves_its_snapshot_as_a_new_version(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post())
    rule = EnforcementRule.objects.get()
    client.post(reverse("accounts:rule_edit", args=[rule.pk]), rule_post(count="9", based_on="1", reason="Strict"))
    response = client.post(reverse("accounts:rule_restore", args=[rule.pk, 1]), {"reason": "Too strict"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:rule_history", args=[rule.pk])
    rule.refresh_from_db()
    assert (rule.count, rule.version) == (3, 3)
    assert rule.versions.get(version=3).reason == "Restored version 1: Too strict"
    entry = AuditEntry.objects.filter(verb=AuditVerb.RULE_CHANGED).latest("seq")
    assert (entry.before["count"], entry.after["count"], entry.reason) == (9, 3, "Restored version 1: Too strict")
    rows = client.get(reverse("accounts:rule_history", args=[rule.pk])).context["rows"]
    assert [(r.version.version, r.is_current, r.same_as_current) for r in rows] == [
        (3, True, True), (2, False, False), (1, False, True)]


@pytest.mark.django_db
def test_restoring_needs_a_reason(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post())
    rule = EnforcementRule.objects.get()
    client.post(reverse("accounts:rule_edit", args=[rule.pk]), rule_post(count="9", based_on="1", reason="Strict"))
    response = client.post(reverse("accounts:rule_restore", args=[rule.pk, 1]), {"reason": " "}, follow=True)
    assert "say why" in response.content.decode()
    assert EnforcementRule.objects.get().version == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"kind": "count", "count": "0"}, "count", "needs a count of 1 or more"),
        ({"kind": "repeat", "count": ""}, "count", "needs a count of 1 or more"),
        ({"kind": "rate", "rate": "0", "min_requests": "100"}, "rate", "needs a rate above 0"),
        ({"kind": "rate", "rate": "2.5", "min_requests": ""}, "min_requests", "minimum number of requests"),
        ({"kind": "any", "categories": []}, "categories", "needs at least one category"),
        ({"action_kind": "restrict", "action_scope": " "}, "action_scope", "needs a scope"),
        ({"action_kind": "suspend", "action_hours": ""}, "action_hours", "needs a duration"),
        ({"action_kind": "terminate", "action_hours": "24"}, "action_hours", "has no duration"),
    ],
)
def test_each_kind_and_action_is_validated(client, policy_admin, overrides, field, message) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:rule_new"), rule_post(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in errors[field][0]
    assert not EnforcementRule.objects.exists()


@pytest.mark.django_db
def test_fields_a_kind_does_not_use_are_cleared(client, policy_admin) -> None:
    client.force_login(policy_admin)
    client.post(reverse("accounts:rule_new"), rule_post(
        kind="repeat", count="2", rate="4", min_requests="100", prior_kind="warn",
        action_kind="terminate", action_hours="", action_scope="tools:all"))
    rule = EnforcementRule.objects.get()
    assert (rule.kind, rule.count, rule.rate, rule.min_requests, rule.prior_kind) == ("repeat", 2, None, 0, "warn")
    assert (rule.action_kind, rule.action_scope, rule.action_hours) == ("terminate", "", None)


@pytest.mark.django_db
def test_a_repeat_rule_may_leave_the_earlier_action_open(client, policy_admin) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:rule_new"), rule_post(kind="repeat", count="1", prior_kind=""))
    assert response.status_code == 302
    assert EnforcementRule.objects.get().prior_kind == ""
    assert "1 or more hate/harassment violations (high, critical) after any earlier action in 7 days" in (
        client.get(reverse("accounts:rules")).content.decode())


@pytest.mark.django_db
def test_two_rules_cannot_share_a_name(client, policy_admin) -> None:
    make_rule(name="Repeated hate")
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:rule_new"), rule_post(name="repeated HATE"))
    assert response.status_code == 400 and "already has this name" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reviewer", "senior", "ops", "auditor"])
def test_only_policy_admins_may_open_or_change_rules(client, request, persona) -> None:
    rule = make_rule()
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("accounts:rules")).status_code == 403
    assert client.get(reverse("accounts:rule_history", args=[rule.pk])).status_code == 403
    assert client.post(reverse("accounts:rule_new"), rule_post()).status_code == 403
    assert client.post(reverse("accounts:rule_edit", args=[rule.pk]), rule_post()).status_code == 403
    assert client.post(reverse("accounts:rule_restore", args=[rule.pk, 1]), {"reason": "x"}).status_code == 403
    assert EnforcementRule.objects.get().version == 1 and EnforcementRule.objects.count() == 1


@pytest.mark.django_db
def test_the_rule_list_costs_the_same_queries_for_2_or_20_rules(client, policy_admin,
                                                                  django_assert_num_queries) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(policy_admin)
    for i in range(2):
        make_rule(name=f"a{i}")
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("accounts:rules"))
    for i in range(18):
        make_rule(name=f"b{i}")
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("accounts:rules"))


@pytest.mark.django_db
def test_rule_names_and_reasons_are_escaped(client, policy_admin) -> None:
    make_rule(name="<script>x()</script>")
    client.force_login(policy_admin)
    page = client.get(reverse("accounts:rules")).content.decode()
    assert "<script>x()" not in page and "&lt;script&gt;x()" in page
