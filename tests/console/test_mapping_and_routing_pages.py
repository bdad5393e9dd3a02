"""The Mappings pages (a source's labels and cut points) and the Routing pages (rules in order)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.models import AuditEntry, AuditVerb
from review.models import (
    LabelMapping,
    MappingVersion,
    Queue,
    RoutingRule,
    RoutingVersion,
    SourceSettings,
)
from review.services.policy import RuleData, change_mapping, save_routing_rule
from review.versions import mapping_snapshot

pytestmark = pytest.mark.django_db


def mapping_post(source: str, *, extra: list[tuple[str, str]] = (), **overrides: Any) -> dict[str, Any]:
    """The mapping form as it comes filled in, plus `extra` new label rows."""
    snapshot = mapping_snapshot(source)
    rows = [*snapshot["labels"].items(), *extra]
    data: dict[str, Any] = {
        "labels-TOTAL_FORMS": str(len(rows)),
        "labels-INITIAL_FORMS": str(len(snapshot["labels"])),
        "labels-MIN_NUM_FORMS": "0",
        "labels-MAX_NUM_FORMS": "2000",
        "unsafe_level": snapshot["unsafe_level"],
        "based_on": str(MappingVersion.objects.filter(source=source).order_by("-version").first().version),
        "reason": "A reason",
    }
    for n, (label, category) in enumerate(rows):
        data[f"labels-{n}-label"], data[f"labels-{n}-category"] = label, category
    for level, value in (snapshot["cut_points"] or {}).items():
        data[f"cut_{level}"] = str(value)
    for severity, level in (snapshot["severity_levels"] or {}).items():
        data[f"severity_{severity}"] = level
    data.update(overrides)
    return data


def test_a_policy_admin_maps_a_new_label_and_moves_the_cut_points(client, policy_admin) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_mapping", args=["perspective"]),
                           mapping_post("perspective", extra=[("SEXUAL_HARASSMENT", "harassment")], cut_low="0.6",
                                        reason="Fewer low signals"))
    assert response.status_code == 302
    assert LabelMapping.objects.get(source="perspective", label="SEXUAL_HARASSMENT").category_id == "harassment"
    assert SourceSettings.objects.get(source="perspective").cut_points["low"] == 0.6
    version = MappingVersion.objects.get(source="perspective", version=2)
    assert (version.author, version.reason) == (policy_admin, "Fewer low signals")
    history = client.get(reverse("console:policy_mapping_history", args=["perspective"]))
    changes = [str(c) for c in history.context["rows"][0].changes]
    assert changes == ["Label “SEXUAL_HARASSMENT”: not mapped → Harassment", "Cut point for low: 0.5 → 0.6"]
    assert AuditEntry.objects.get(verb=AuditVerb.MAPPING_CHANGED).target_id == "perspective"


def test_emptying_a_rows_category_removes_the_label(client, policy_admin) -> None:
    client.force_login(policy_admin)
    data = mapping_post("comprehend")
    row = next(k for k, v in data.items() if v == "PROFANITY")
    data[row.replace("-label", "-category")] = ""
    assert client.post(reverse("console:policy_mapping", args=["comprehend"]), data).status_code == 302
    assert not LabelMapping.objects.filter(source="comprehend", label="PROFANITY").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cut_low": "0.8"}, "Cut points must rise"),
        ({"cut_high": ""}, "Give all three cut points"),
        ({"cut_low": "2"}, "less than or equal to 1"),
        ({"reason": ""}, "This field is required"),
    ],
)
def test_bad_mapping_settings_are_form_errors(client, policy_admin, overrides: dict[str, str], message: str) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_mapping", args=["openai"]), mapping_post("openai", **overrides))
    assert response.status_code == 400 and message in response.content.decode()
    assert MappingVersion.objects.filter(source="openai").count() == 1


def test_a_label_twice_in_the_table_is_a_form_error(client, policy_admin) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_mapping", args=["openai"]),
                           mapping_post("openai", extra=[("Hate", "violence")]))
    assert response.status_code == 400 and "matched ignoring case" in response.content.decode()


def test_azure_shows_its_severity_table(client, policy_admin) -> None:
    client.force_login(policy_admin)
    page = client.get(reverse("console:policy_mapping", args=["azure"])).content.decode()
    assert 'name="severity_7"' in page
    assert 'name="severity_7"' not in client.get(reverse("console:policy_mapping", args=["openai"])).content.decode()
    assert client.get(reverse("console:policy_mapping", args=["nope"])).status_code == 404


def test_a_mapping_version_is_restored_from_its_history(client, policy_admin) -> None:
    snapshot = mapping_snapshot("llamaguard")
    change_mapping(actor=policy_admin, source="llamaguard", labels={"S1": "other"}, cut_points=None,
                   severity_levels=None, unsafe_level="medium", reason="r")
    client.force_login(policy_admin)
    client.post(reverse("console:policy_mapping_restore", args=["llamaguard", 1]), {"reason": "undo"})
    assert mapping_snapshot("llamaguard") == snapshot
    assert MappingVersion.objects.get(source="llamaguard", version=3).restored_from == 1


def test_the_mappings_list_and_a_history_cost_fixed_queries(client, policy_admin, django_assert_num_queries) -> None:
    client.force_login(policy_admin)
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("console:policy_mappings"))
        client.get(reverse("console:policy_mapping_history", args=["generic"]))
    for n in range(6):
        change_mapping(actor=policy_admin, source="generic", labels={**mapping_snapshot("generic")["labels"],
                                                                     f"extra{n}": "other"},
                       cut_points=None, severity_levels=None, unsafe_level="high", reason="r")
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("console:policy_mappings"))
        client.get(reverse("console:policy_mapping_history", args=["generic"]))


# --- Routing ---------------------------------------------------------------------------------------


def rule_post(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "German hate", "queue": Queue.objects.get(slug="general").pk, "categories": ["hate"],
        "min_level": "2", "languages": "de, de-AT", "is_active": "on", "reason": "German team",
        "based_on": str(RoutingVersion.objects.order_by("-version").first().version),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_policy_admin_adds_a_rule_that_goes_last(client, policy_admin) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_routing_rule_new"), rule_post())
    assert response.status_code == 302
    rule = RoutingRule.objects.get(name="German hate")
    assert (rule.languages, rule.min_level, rule.position) == (["de"], 2, 30)
    assert RoutingVersion.objects.get(version=2).reason == "German team"
    page = client.get(reverse("console:policy_routing")).content.decode()
    assert "German hate: Hate at medium and above, in de → General" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"languages": "deutsch"}, "is not a language code"),
        ({"reason": ""}, "This field is required"),
        ({"name": "Urgent harm"}, "already called"),
    ],
)
def test_bad_rules_are_form_errors(client, policy_admin, overrides: dict[str, str], message: str) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_routing_rule_new"), rule_post(**overrides))
    assert response.status_code == 400 and message in response.content.decode()
    assert RoutingVersion.objects.count() == 1


def test_only_review_queues_are_offered(client, policy_admin) -> None:
    client.force_login(policy_admin)
    appeals = Queue.objects.get(slug="appeals")
    response = client.post(reverse("console:policy_routing_rule_new"), rule_post(queue=appeals.pk))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_deactivating_a_rule_keeps_its_place(client, policy_admin) -> None:
    rule = RoutingRule.objects.get(name="Child safety first")
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_routing_rule", args=[rule.pk]), rule_post(
        name=rule.name, queue=rule.queue_id, categories=rule.categories, min_level="0", languages="",
        is_active=None, reason="Paused for the audit"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.is_active, rule.position) == (False, 10)
    assert RoutingVersion.objects.get(version=2).snapshot["rules"][0]["is_active"] is False


def test_the_order_form_reorders_the_rules_with_a_reason(client, policy_admin) -> None:
    first, second = RoutingRule.objects.order_by("position")
    client.force_login(policy_admin)
    url = reverse("console:policy_routing_order")
    response = client.post(url, {f"position_{first.pk}": "2", f"position_{second.pk}": "1", "based_on": "1"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    response = client.post(url, {f"position_{first.pk}": "2", f"position_{second.pk}": "1", "based_on": "1",
                                 "reason": "Urgent first"})
    assert response.status_code == 302
    assert list(RoutingRule.objects.order_by("position").values_list("pk", flat=True)) == [second.pk, first.pk]
    history = client.get(reverse("console:policy_routing_history"))
    assert str(history.context["rows"][0].changes[0]) == (
        "Order: 1. Child safety first · 2. Urgent harm → 1. Urgent harm · 2. Child safety first")


def test_the_routing_history_restores_a_version(client, policy_admin) -> None:
    save_routing_rule(actor=policy_admin, rule=None, data=RuleData(name="All hate", queue=Queue.objects.get(
        slug="general"), categories=["hate"]), reason="r")
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_routing_restore", args=[1]), {"reason": "Back"}, follow=True)
    assert "Version 1 restored as version 3" in response.content.decode()
    assert not RoutingRule.objects.filter(name="All hate").exists()


def test_the_routing_page_and_history_cost_fixed_queries(client, policy_admin, django_assert_num_queries) -> None:
    client.force_login(policy_admin)
    general = Queue.objects.get(slug="general")
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("console:policy_routing"))
        client.get(reverse("console:policy_routing_history"))
        client.get(reverse("console:policy_queues"))
    for n in range(8):
        save_routing_rule(actor=policy_admin, rule=None, data=RuleData(name=f"r{n}", queue=general,
                                                                       languages=["en"]), reason="r")
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(reverse("console:policy_routing"))
        client.get(reverse("console:policy_routing_history"))
        client.get(reverse("console:policy_queues"))
    assert len(response.context["rows"]) == 10


def test_a_policy_admin_creates_a_queue(client, policy_admin, reviewer) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_queue_new"), {
        "name": "German", "slug": "", "description": "German-speaking reviewers", "priority": "10",
        "sla_minutes": "120", "lease_minutes": "5", "members": [reviewer.pk], "reason": "New team"})
    assert response.status_code == 302
    queue = Queue.objects.get(slug="german")
    assert (queue.kind, list(queue.members.all())) == ("review", [reviewer])
    assert AuditEntry.objects.get(verb=AuditVerb.QUEUE_CREATED).reason == "New team"
    response = client.post(reverse("console:policy_queue_new"), {
        "name": "german", "priority": "0", "sla_minutes": "1", "lease_minutes": "1", "reason": "x"})
    assert response.status_code == 400 and "already has" in response.content.decode()


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ((1, 2, 1), ["c", "a", "b"]),  # the third moved to 1: before the rule that had 1
        ((3, 2, 3), ["b", "c", "a"]),  # the first moved to 3: after the rule that had 3
        ((1, 2, 3), ["a", "b", "c"]),
        ((5, 5, 5), ["a", "b", "c"]),  # nothing sensible asked: the order holds
    ],
)
def test_the_order_form_reads_numbers_as_people_mean_them(positions: tuple[int, ...], expected: list[str]) -> None:
    from console.policy_forms import RoutingOrderForm

    ids = {"a": 1, "b": 2, "c": 3}
    form = RoutingOrderForm({f"position_{pk}": n for pk, n in zip(ids.values(), positions, strict=True)} | {
        "reason": "r"}, rule_ids=list(ids.values()))
    assert form.is_valid(), form.errors
    names = {pk: name for name, pk in ids.items()}
    assert [names[pk] for pk in form.order()] == expected
