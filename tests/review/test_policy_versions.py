"""Versioned policy documents: profiles, a source's mappings, routing. Each change is a version with an author,
a reason and an audit entry; restoring is a new version; flags and cases record the versions that judged them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection

from console.models import AuditEntry, AuditVerb
from console.versioning import diff_text
from review.models import (
    Case,
    Category,
    Flag,
    Integration,
    LabelMapping,
    MappingVersion,
    PolicyProfile,
    ProfileThreshold,
    ProfileVersion,
    Queue,
    RoutingRule,
    RoutingVersion,
    Signal,
    SourceSettings,
)
from review.services import ingest_flags
from review.services.admin import update_category
from review.services.policy import (
    RuleData,
    StaleVersion,
    assign_profile,
    change_mapping,
    change_profile,
    create_profile,
    reorder_routing,
    restore_mapping,
    restore_profile,
    restore_routing,
    save_routing_rule,
)
from review.triggers import POLICY_TABLES, installed
from review.versions import MappingDocument, ProfileDocument, RoutingDocument, mapping_snapshot
from tests.factories import flag_payload, make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def default(roles: None) -> PolicyProfile:
    return PolicyProfile.objects.get(name="Default")


def thresholds(profile: PolicyProfile) -> dict[str, str]:
    return dict(ProfileThreshold.objects.filter(profile=profile).values_list("category_id", "threshold"))


def ingest(integration: Any, **overrides: Any) -> Flag:
    [outcome] = ingest_flags(integration=integration, payloads=[flag_payload(**overrides)])
    assert outcome.status == "created", outcome.errors
    return Flag.objects.select_related("profile_version", "mapping_version").get(pk=outcome.flag)


def violence(level: str) -> dict[str, Any]:
    return {"signals": [{"category": "violence", "level": level}]}


# --- Profiles -------------------------------------------------------------------------------------


def test_the_migration_records_version_1_of_every_document(default: PolicyProfile) -> None:
    v1 = ProfileVersion.objects.get(profile=default)
    assert (v1.version, v1.author, v1.snapshot["thresholds"]["hate"]) == (1, None, "low")
    assert MappingVersion.objects.filter(version=1).count() == 8
    assert [r["name"] for r in RoutingVersion.objects.get().snapshot["rules"]] == ["Child safety first",
                                                                                   "Urgent harm"]


def test_changing_a_threshold_makes_a_version_with_author_reason_and_an_audit_entry(
    default: PolicyProfile, policy_admin: Any
) -> None:
    version = change_profile(actor=policy_admin, profile=default, name="Default", description=default.description,
                             thresholds={"violence": "high"}, reason="Fiction platforms complained")

    assert (version.version, version.author, version.reason) == (2, policy_admin, "Fiction platforms complained")
    assert version.snapshot["thresholds"]["violence"] == "high" and thresholds(default)["violence"] == "high"
    entry = AuditEntry.objects.get(verb=AuditVerb.PROFILE_CHANGED)
    assert (entry.actor_label, entry.target_id, entry.reason) == (
        "pat", str(default.pk), "Fiction platforms complained")
    assert (entry.before["thresholds"]["violence"], entry.after["thresholds"]["violence"], entry.after["version"]) == (
        "medium", "high", 2)


def test_the_diff_reads_category_old_and_new_with_the_palm_names(default: PolicyProfile, policy_admin: Any) -> None:
    v2 = change_profile(actor=policy_admin, profile=default, name="Default", description=default.description,
                        thresholds={"violence": "high", "medical": "off"}, reason="r")
    v1 = ProfileVersion.objects.get(profile=default, version=1)

    text = diff_text(ProfileDocument().diff(v1.snapshot, v2.snapshot))

    assert text == (
        "Violence: Medium and above (BLOCK_MEDIUM_AND_ABOVE) → High only (BLOCK_ONLY_HIGH)\n"
        "Medical and specialised advice: Medium and above (BLOCK_MEDIUM_AND_ABOVE) → Off — never review (BLOCK_NONE)"
    )


def test_a_profile_change_without_a_reason_is_refused_and_changes_nothing(default: PolicyProfile,
                                                                          policy_admin: Any) -> None:
    entries = AuditEntry.objects.count()
    with pytest.raises(ValueError, match=r"^A profile change needs a reason\.$"):
        change_profile(actor=policy_admin, profile=default, name="Default", description="",
                       thresholds={"violence": "off"}, reason="  ")
    assert thresholds(default)["violence"] == "medium"
    assert ProfileVersion.objects.filter(profile=default).count() == 1 and AuditEntry.objects.count() == entries


def test_a_change_that_changes_nothing_is_refused(default: PolicyProfile, policy_admin: Any) -> None:
    with pytest.raises(ValueError, match="Nothing changed"):
        change_profile(actor=policy_admin, profile=default, name="Default", description=default.description,
                       thresholds={"violence": "medium"}, reason="r")
    assert ProfileVersion.objects.filter(profile=default).count() == 1


def test_a_change_based_on_a_replaced_version_is_refused(default: PolicyProfile, policy_admin: Any) -> None:
    change_profile(actor=policy_admin, profile=default, name="Default", description="", thresholds={}, reason="a",
                   based_on=1)
    with pytest.raises(StaleVersion, match="Someone saved version 2"):
        change_profile(actor=policy_admin, profile=default, name="Default", description="x",
                       thresholds={"violence": "off"}, reason="b", based_on=1)
    assert thresholds(default)["violence"] == "medium"


def test_child_safety_cannot_be_lowered_or_turned_off(default: PolicyProfile, policy_admin: Any) -> None:
    for value in ("off", "high", "medium"):  # its stored threshold is low
        with pytest.raises(ValueError, match="Child safety is not adjustable"):
            change_profile(actor=policy_admin, profile=default, name="Default", description="",
                           thresholds={"child_safety": value}, reason="r")


def test_a_category_made_not_adjustable_is_reviewed_from_low_whatever_the_profile(
    default: PolicyProfile, policy_admin: Any
) -> None:
    integration = make_integration()
    change_profile(actor=policy_admin, profile=default, name="Default", description="",
                   thresholds={"violence": "off"}, reason="r")
    assert ingest(integration, result=violence("low")).needs_review is False
    update_category(actor=policy_admin, category=Category.objects.get(slug="violence"), description="Violence.",
                    sensitive=True, adjustable=False, reason="Regulator asked")

    flag = ingest(integration, result=violence("low"))

    assert flag.needs_review is True and flag.signals.get().threshold == "low"
    with pytest.raises(ValueError, match="Violence is not adjustable"):
        change_profile(actor=policy_admin, profile=default, name="Default", description="",
                       thresholds={"violence": "high"}, reason="r")
    entry = AuditEntry.objects.get(verb=AuditVerb.CATEGORY_CHANGED)
    assert (entry.before["adjustable"], entry.after["adjustable"], entry.reason) == (True, False, "Regulator asked")


def test_child_safety_can_never_be_made_adjustable(policy_admin: Any) -> None:
    with pytest.raises(ValueError, match="never adjustable"):
        update_category(actor=policy_admin, category=Category.objects.get(slug="child_safety"), description="x",
                        sensitive=True, adjustable=True, reason="r")


def test_restoring_saves_the_old_thresholds_as_a_newer_version(default: PolicyProfile, policy_admin: Any) -> None:
    change_profile(actor=policy_admin, profile=default, name="Default v", description="", thresholds={
        "violence": "high", "hate": "medium"}, reason="looser")

    v3 = restore_profile(actor=policy_admin, profile=default, version=1, reason="too loose")

    v1 = ProfileVersion.objects.get(profile=default, version=1)
    assert (v3.version, v3.restored_from, v3.reason) == (3, 1, "Restored version 1: too loose")
    assert v3.snapshot == v1.snapshot and thresholds(default)["violence"] == "medium"
    entry = AuditEntry.objects.filter(verb=AuditVerb.PROFILE_CHANGED).latest("seq")
    assert (entry.after["restored_from"], entry.after["version"]) == (1, 3)
    with pytest.raises(ValueError, match="Nothing changed"):
        restore_profile(actor=policy_admin, profile=default, version=1, reason="again")


def test_a_new_profile_is_version_1_with_fixed_categories_at_low(policy_admin: Any) -> None:
    version = create_profile(actor=policy_admin, name="Game studio", description="Fiction",
                             thresholds={"violence": "high"}, reason="New customer")
    profile = version.profile
    assert (version.version, thresholds(profile)["violence"], thresholds(profile)["child_safety"]) == (1, "high",
                                                                                                       "low")
    assert thresholds(profile)["hate"] == "medium"  # not given: medium
    assert AuditEntry.objects.get(verb=AuditVerb.PROFILE_CREATED).after["version"] == 1
    with pytest.raises(ValueError, match="already called"):
        create_profile(actor=policy_admin, name="game STUDIO", description="", thresholds={}, reason="r")


def test_assigning_a_profile_is_audited_and_judges_new_flags(default: PolicyProfile, policy_admin: Any) -> None:
    integration = make_integration()
    lenient = create_profile(actor=policy_admin, name="Lenient", description="", thresholds={"hate": "off"},
                             reason="r")
    assign_profile(actor=policy_admin, integration=integration, profile=lenient.profile, reason="Contract")

    flag = ingest(Integration.objects.get(pk=integration.pk))  # hate at high

    assert flag.needs_review is False and flag.profile_version == lenient
    entry = AuditEntry.objects.get(verb=AuditVerb.INTEGRATION_CHANGED)
    assert (entry.before["profile"], entry.after["profile"], entry.reason) == ("Default", "Lenient", "Contract")


# --- Flags and cases record their versions -------------------------------------------------------


def test_new_flags_and_cases_are_judged_by_the_new_version(default: PolicyProfile, policy_admin: Any) -> None:
    integration = make_integration()
    before = ingest(integration, result=violence("medium"))
    assert before.needs_review is True and before.profile_version.version == 1
    v2 = change_profile(actor=policy_admin, profile=default, name="Default", description="",
                        thresholds={"violence": "high"}, reason="r")

    quiet = ingest(integration, result=violence("medium"))
    loud = ingest(integration, user="user-2", result=violence("high"))

    assert (quiet.needs_review, quiet.profile_version) == (False, v2)
    assert quiet.mapping_version == MappingVersion.objects.get(source="generic", version=1)
    case = Case.objects.get(pk=loud.case_id)
    assert (case.profile_version, case.routing_version) == (v2, RoutingVersion.objects.get(version=1))
    before.refresh_from_db()
    assert before.profile_version.version == 1  # evidence keeps what judged it


def test_the_version_ids_come_from_the_cached_policy_without_a_query_per_flag(
    default: PolicyProfile, django_assert_max_num_queries: Any
) -> None:
    integration = make_integration()
    ingest(integration)  # warms the policy cache
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        ingest_flags(integration=integration, payloads=[flag_payload(user="u-1")])
    with django_assert_max_num_queries(len(one.captured_queries)):
        ingest_flags(integration=integration, payloads=[flag_payload(user=f"u-{n}") for n in range(2, 52)])
    assert Flag.objects.filter(profile_version__isnull=True).count() == 0


# --- A source's mappings and cut points -----------------------------------------------------------


def labels(source: str) -> dict[str, str]:
    return mapping_snapshot(source)["labels"]


def test_changing_a_mapping_and_cut_points_is_one_version_of_the_source(policy_admin: Any) -> None:
    table = {**labels("openai"), "violence/graphic": "other", "illicit/new": "dangerous"}
    del table["sexual"]
    version = change_mapping(actor=policy_admin, source="openai", labels=table,
                             cut_points={"low": 0.3, "medium": 0.6, "high": 0.9}, severity_levels=None,
                             unsafe_level="high", reason="Fewer low flags")

    assert (version.version, version.source, version.author) == (2, "openai", policy_admin)
    assert LabelMapping.objects.get(source="openai", label="violence/graphic").category_id == "other"
    assert not LabelMapping.objects.filter(source="openai", label="sexual").exists()
    assert SourceSettings.objects.get(source="openai").cut_points == {"low": 0.3, "medium": 0.6, "high": 0.9}
    v1 = MappingVersion.objects.get(source="openai", version=1)
    text = diff_text(MappingDocument().diff(v1.snapshot, version.snapshot))
    assert "Label “violence/graphic”: Violence → Other" in text
    assert "Label “illicit/new”: not mapped → Dangerous activities" in text
    assert "Label “sexual”: Sexual content → not mapped" in text
    assert "Cut point for low: 0.2 → 0.3" in text
    entry = AuditEntry.objects.get(verb=AuditVerb.MAPPING_CHANGED)
    assert (entry.target_id, entry.after["version"], entry.reason) == ("openai", 2, "Fewer low flags")


def test_a_new_mapping_version_judges_new_flags(policy_admin: Any) -> None:
    integration = make_integration()
    payload = {"source": "openai", "result": {"results": [{"category_scores": {"violence": 0.55}}]}}
    assert ingest(integration, **payload).needs_review is True  # medium at 0.5
    version = change_mapping(actor=policy_admin, source="openai", labels=labels("openai"),
                             cut_points={"low": 0.2, "medium": 0.7, "high": 0.9}, severity_levels=None,
                             unsafe_level="high", reason="r")

    flag = ingest(integration, user="u-2", **payload)

    assert (flag.needs_review, flag.mapping_version) == (False, version)
    assert Signal.objects.get(flag=flag, source_label="violence").level == 1


@pytest.mark.parametrize(
    ("cut_points", "message"),
    [
        ({"low": 0.5, "medium": 0.5, "high": 0.9}, "must rise"),
        ({"low": 0.1, "medium": 0.5, "high": 1.5}, "from 0 to 1"),
        ({"low": 0.1, "medium": 0.5}, "one each"),
    ],
)
def test_cut_points_that_would_break_ingestion_are_refused(policy_admin: Any, cut_points: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        change_mapping(actor=policy_admin, source="openai", labels=labels("openai"), cut_points=cut_points,
                       severity_levels=None, unsafe_level="high", reason="r")
    assert MappingVersion.objects.filter(source="openai").count() == 1


def test_labels_that_differ_only_in_case_or_name_no_category_are_refused(policy_admin: Any) -> None:
    with pytest.raises(ValueError, match="differ only in case"):
        change_mapping(actor=policy_admin, source="generic", labels={**labels("generic"), "HATE": "hate"},
                       cut_points=None, severity_levels=None, unsafe_level="high", reason="r")
    with pytest.raises(ValueError, match="no category"):
        change_mapping(actor=policy_admin, source="generic", labels={"x": "nope"}, cut_points=None,
                       severity_levels=None, unsafe_level="high", reason="r")


def test_restoring_a_mapping_brings_back_removed_labels(policy_admin: Any) -> None:
    original = labels("azure")
    change_mapping(actor=policy_admin, source="azure", labels={"Hate": "harassment"}, cut_points=None,
                   severity_levels={str(n): "high" for n in range(8)}, unsafe_level="medium", reason="r")

    version = restore_mapping(actor=policy_admin, source="azure", version=1, reason="mistake")

    assert (version.version, version.restored_from) == (3, 1)
    assert labels("azure") == original and mapping_snapshot("azure") == MappingVersion.objects.get(
        source="azure", version=1).snapshot


# --- Routing ---------------------------------------------------------------------------------------


def general() -> Queue:
    return Queue.objects.get(slug="general")


def rule_data(**overrides: Any) -> RuleData:
    values: dict[str, Any] = {"name": "German hate", "queue": general(), "categories": ["hate"], "min_level": 2,
                              "languages": ["de"]}
    values.update(overrides)
    return RuleData(**values)


def test_a_new_routing_rule_goes_last_and_the_rule_set_is_a_new_version(policy_admin: Any) -> None:
    version = save_routing_rule(actor=policy_admin, rule=None, data=rule_data(), reason="German team")

    assert version.version == 2
    assert [r["name"] for r in version.snapshot["rules"]] == ["Child safety first", "Urgent harm", "German hate"]
    assert list(RoutingRule.objects.order_by("position").values_list("position", flat=True)) == [10, 20, 30]
    entry = AuditEntry.objects.get(verb=AuditVerb.ROUTING_CHANGED)
    assert (entry.reason, len(entry.before["rules"]), len(entry.after["rules"])) == ("German team", 2, 3)
    text = diff_text(RoutingDocument().diff(RoutingVersion.objects.get(version=1).snapshot, version.snapshot))
    assert "Order: 1. Child safety first · 2. Urgent harm → 1. Child safety first · 2. Urgent harm · 3. German hate" \
        in text
    assert "Rule 3: no such rule → German hate: Hate at medium and above, in de → General" in text


def test_a_matching_case_is_routed_by_the_new_version(policy_admin: Any) -> None:
    queue = Queue.objects.create(name="German", slug="german")
    version = save_routing_rule(actor=policy_admin, rule=None, data=rule_data(queue=queue), reason="r")

    flag = ingest(make_integration(), language="de-AT")

    case = Case.objects.get(pk=flag.case_id)
    assert (case.queue, case.routing["rule"], case.routing_version) == (queue, "German hate", version)


def test_reordering_and_deactivating_are_versions_too(policy_admin: Any) -> None:
    first, second = RoutingRule.objects.order_by("position")
    v2 = reorder_routing(actor=policy_admin, order=[second.pk, first.pk], reason="urgent first")
    assert [r["id"] for r in v2.snapshot["rules"]] == [second.pk, first.pk]
    v3 = save_routing_rule(actor=policy_admin, rule=second, data=RuleData(
        name=second.name, queue=second.queue, categories=second.categories, min_level=second.min_level,
        is_active=False), reason="pause")
    assert (v3.version, v3.snapshot["rules"][0]["is_active"]) == (3, False)
    with pytest.raises(StaleVersion):
        reorder_routing(actor=policy_admin, order=[first.pk], reason="r")


def test_restoring_routing_removes_later_rules_and_recreates_deleted_ones_under_their_ids(policy_admin: Any) -> None:
    save_routing_rule(actor=policy_admin, rule=None, data=rule_data(), reason="add")
    v2 = RoutingVersion.objects.get(version=2)
    restore_routing(actor=policy_admin, version=1, reason="back to seed")
    assert list(RoutingRule.objects.values_list("name", flat=True).order_by("position")) == [
        "Child safety first", "Urgent harm"]

    v4 = restore_routing(actor=policy_admin, version=2, reason="again")

    assert v4.snapshot == v2.snapshot and (v4.version, v4.restored_from) == (4, 2)


def test_a_rule_must_route_to_a_review_queue(policy_admin: Any) -> None:
    with pytest.raises(ValueError, match="route to a review queue"):
        save_routing_rule(actor=policy_admin, rule=None, data=rule_data(queue=Queue.objects.get(slug="appeals")),
                          reason="r")
    with pytest.raises(ValueError, match="needs a reason"):
        save_routing_rule(actor=policy_admin, rule=None, data=rule_data(), reason="")
    assert RoutingVersion.objects.count() == 1


# --- The cache and its triggers --------------------------------------------------------------------


def test_every_policy_table_has_its_triggers(roles: None) -> None:
    counts = installed(connection)
    expected = 1 if connection.vendor == "postgresql" else 3
    assert {table: counts.get(table, 0) for table in POLICY_TABLES} == dict.fromkeys(POLICY_TABLES, expected)


def test_the_policy_reads_only_tables_its_triggers_watch(roles: None) -> None:
    from django.test.utils import CaptureQueriesContext

    from review.policy import load_policy

    integration = make_integration()
    with CaptureQueriesContext(connection) as ctx:
        load_policy(integration)
    tables = {name for q in ctx.captured_queries for name in re.findall(r'"(review_[a-z_]+)"', q["sql"])}
    assert "review_profileversion" in tables and "review_routingrule_profiles" in tables
    assert tables - {"review_policystate"} <= set(POLICY_TABLES), tables - set(POLICY_TABLES)
