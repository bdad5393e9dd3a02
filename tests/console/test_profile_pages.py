"""The Profiles pages: list, create, edit thresholds with a reason, history with diffs, restore, assignment."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.models import AuditEntry, AuditVerb
from review.models import Category, Integration, PolicyProfile, ProfileThreshold, ProfileVersion
from review.services.policy import change_profile, create_profile
from tests.factories import make_integration

pytestmark = pytest.mark.django_db


@pytest.fixture
def default(roles: None) -> PolicyProfile:
    return PolicyProfile.objects.get(name="Default")


def profile_post(profile: PolicyProfile | None = None, **overrides: Any) -> dict[str, Any]:
    """The edit form as it comes filled in, with `overrides` (threshold_<slug>=…, reason=…) applied."""
    stored = dict(ProfileThreshold.objects.filter(profile=profile).values_list("category_id", "threshold")) \
        if profile else {}
    data: dict[str, Any] = {
        "name": profile.name if profile else "Game studio",
        "description": profile.description if profile else "",
        "reason": "A reason",
    }
    for slug in Category.objects.values_list("slug", flat=True):
        data[f"threshold_{slug}"] = stored.get(slug, "medium")
    if profile is not None:
        data["based_on"] = ProfileVersion.objects.filter(profile=profile).order_by("-version").first().version
    data.update(overrides)
    return data


def test_the_edit_form_has_one_threshold_row_per_category_with_the_palm_names(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    response = client.get(reverse("console:policy_profile", args=[default.pk]))
    page = response.content.decode()
    rows = response.context["form"].threshold_rows()
    assert [r["category"].slug for r in rows] == list(Category.objects.values_list("slug", flat=True))
    assert 'data-category="violence"' in page and 'name="threshold_violence"' in page
    for palm in ("BLOCK_NONE", "BLOCK_ONLY_HIGH", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_LOW_AND_ABOVE"):
        assert palm in page
    child = next(r for r in rows if r["category"].slug == "child_safety")
    assert child["fixed"] is True and "disabled" in str(child["field"])


def test_a_threshold_change_with_a_reason_is_saved_as_the_next_version(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_profile", args=[default.pk]),
                           profile_post(default, threshold_violence="high", reason="Gaming launch"))
    assert response.status_code == 302
    assert response["Location"] == reverse("console:policy_profile_history", args=[default.pk]) + "#v2"
    version = ProfileVersion.objects.get(profile=default, version=2)
    assert (version.author, version.reason, version.snapshot["thresholds"]["violence"]) == (
        policy_admin, "Gaming launch", "high")
    assert AuditEntry.objects.get(verb=AuditVerb.PROFILE_CHANGED).reason == "Gaming launch"


def test_a_change_without_a_reason_is_a_form_error(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_profile", args=[default.pk]),
                           profile_post(default, threshold_violence="high", reason=""))
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert ProfileVersion.objects.filter(profile=default).count() == 1


def test_a_fixed_category_ignores_what_the_browser_sends(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    client.post(reverse("console:policy_profile", args=[default.pk]),
                profile_post(default, threshold_child_safety="off", threshold_violence="high"))
    assert ProfileThreshold.objects.get(profile=default, category_id="child_safety").threshold == "low"


def test_saving_an_unchanged_form_or_an_outdated_one_is_refused(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    url = reverse("console:policy_profile", args=[default.pk])
    response = client.post(url, profile_post(default))
    assert response.status_code == 400 and "Nothing changed" in response.content.decode()
    client.post(url, profile_post(default, threshold_violence="high"))
    response = client.post(url, profile_post(default, threshold_medical="off", based_on="1"))
    assert response.status_code == 400 and "Someone saved version 2" in response.content.decode()


def test_the_history_shows_the_diff_author_and_reason_and_restores(client, policy_admin, default) -> None:
    change_profile(actor=policy_admin, profile=default, name="Default", description=default.description,
                   thresholds={"violence": "high"}, reason="Gaming <launch>")
    client.force_login(policy_admin)
    response = client.get(reverse("console:policy_profile_history", args=[default.pk]))
    [v2, v1] = response.context["rows"]
    assert [(c.field, c.old, c.new) for c in v2.changes] == [
        ("Violence", "Medium and above (BLOCK_MEDIUM_AND_ABOVE)", "High only (BLOCK_ONLY_HIGH)")]
    assert v1.changes == [] and ("Violence", "", "Medium and above (BLOCK_MEDIUM_AND_ABOVE)") in [
        (s.field, s.old, s.new) for s in v1.settings]
    page = response.content.decode()
    assert "Gaming &lt;launch&gt;" in page and "pat" in page and "High only" in page

    response = client.post(reverse("console:policy_profile_restore", args=[default.pk, 1]), {"reason": "Too loose"})

    assert response.status_code == 302
    v3 = ProfileVersion.objects.get(profile=default, version=3)
    assert v3.snapshot == ProfileVersion.objects.get(profile=default, version=1).snapshot
    rows = client.get(reverse("console:policy_profile_history", args=[default.pk])).context["rows"]
    assert [(r.version.version, r.is_current, r.same_as_current) for r in rows] == [
        (3, True, True), (2, False, False), (1, False, True)]


def test_restoring_needs_a_reason_and_a_change(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    url = reverse("console:policy_profile_restore", args=[default.pk, 1])
    response = client.post(url, {"reason": " "}, follow=True)
    assert "say why" in response.content.decode()
    response = client.post(url, {"reason": "x"}, follow=True)
    assert "already as it was in version 1" in response.content.decode()
    assert ProfileVersion.objects.filter(profile=default).count() == 1
    assert client.post(reverse("console:policy_profile_restore", args=[default.pk, 9]), {"reason": "x"}
                       ).status_code == 404


def test_a_new_profile_starts_from_the_default_and_is_version_1(client, policy_admin, default) -> None:
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_profile_new"),
                           profile_post(None, name="Medical exam prep", threshold_medical="off",
                                        threshold_hate="low", reason="New customer"))
    assert response.status_code == 302
    profile = PolicyProfile.objects.get(name="Medical exam prep")
    assert ProfileThreshold.objects.get(profile=profile, category_id="medical").threshold == "off"
    assert profile.versions.get().version == 1


def test_a_policy_admin_assigns_a_profile_to_an_integration_with_a_reason(client, policy_admin, default) -> None:
    integration = make_integration("Dragonfire")
    game = create_profile(actor=policy_admin, name="Game", description="", thresholds={}, reason="r").profile
    client.force_login(policy_admin)
    url = reverse("console:policy_integration_profile", args=[integration.pk])
    client.post(url, {"profile": game.pk, "reason": ""})
    assert Integration.objects.get(pk=integration.pk).profile == default
    response = client.post(url, {"profile": game.pk, "reason": "Game studio"}, follow=True)
    assert "Dragonfire is now judged by Game" in response.content.decode()
    assert Integration.objects.get(pk=integration.pk).profile == game
    assert AuditEntry.objects.get(verb=AuditVerb.INTEGRATION_CHANGED).reason == "Game studio"


def test_the_profiles_page_costs_the_same_queries_for_2_or_12_profiles(client, policy_admin, default,
                                                                       django_assert_num_queries) -> None:
    make_integration()
    create_profile(actor=policy_admin, name="P0", description="", thresholds={}, reason="r")
    client.force_login(policy_admin)
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("console:policy_profiles"))
    for n in range(1, 11):
        create_profile(actor=policy_admin, name=f"P{n}", description="", thresholds={}, reason="r")
        make_integration()
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(reverse("console:policy_profiles"))
    assert response.content.decode().count("Change profile") == 11


def test_the_history_page_costs_the_same_queries_for_2_or_30_versions(client, policy_admin, default,
                                                                      django_assert_num_queries) -> None:
    change_profile(actor=policy_admin, profile=default, name="Default", description="", thresholds={}, reason="r")
    client.force_login(policy_admin)
    url = reverse("console:policy_profile_history", args=[default.pk])
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for n in range(28):
        change_profile(actor=policy_admin, profile=default, name="Default", description=f"d{n}", thresholds={},
                       reason="r")
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    rows = response.context["rows"]
    assert len(rows) == 25 and response.context["page"].next_query
    assert (rows[-1].version.version, [str(c) for c in rows[-1].changes]) == (6, ["Description: d2 → d3"])
    older = client.get(url + "?" + response.context["page"].next_query)
    assert [r.version.version for r in older.context["rows"]] == [5, 4, 3, 2, 1]
