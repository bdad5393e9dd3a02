"""A policy admin in a real browser (the system Chromium) uses every policy page: categories, mappings, queues
and routing, profiles and their integrations, enforcement rules. A threshold change with a reason becomes a
version with a readable diff, the next flag is judged by it, and restoring the old version makes a newer one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from playwright.sync_api import Dialog, Page, expect

from accounts.models import EnforcementRule
from review.models import (
    Category,
    Flag,
    Integration,
    LabelMapping,
    PolicyProfile,
    ProfileVersion,
    Queue,
    RoutingRule,
    RoutingVersion,
    SourceSettings,
)
from tests.browser import BrowserProblems, NewPage, login
from tests.conftest import PASSWORD
from tests.factories import Api, flag_payload, make_integration, make_key

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db: None, roles: None) -> Integration:
    return make_integration("Acme Chat")


def open_nav(page: Page, label: str, heading: str | None = None) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()
    expect(page.get_by_role("heading", name=heading or label, level=1)).to_be_visible()


def confirm_dialogs(page: Page) -> list[str]:
    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return questions


def violence(level: str) -> dict[str, Any]:
    return {"signals": [{"category": "violence", "level": level}]}


def test_a_policy_admin_uses_every_policy_page(
    new_page: NewPage, live_server: Any, policy_admin: AbstractBaseUser, senior: AbstractBaseUser,
    acme: Integration, browser_problems: BrowserProblems,
) -> None:
    page = new_page("pat")
    questions = confirm_dialogs(page)
    login(page, live_server.url, "pat", PASSWORD)

    # Categories: every field explained; the change is audited.
    open_nav(page, "Categories")
    page.get_by_role("row").filter(has_text="Elections and civic integrity").get_by_role("link", name="Edit").click()
    expect(page.get_by_text("Profiles may set its threshold")).to_be_visible()
    page.get_by_label("Individual autonomy").check()
    page.get_by_label("Adjustable").uncheck()
    page.get_by_label("Reason").fill("Election season")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Category Elections and civic integrity saved.")).to_be_visible()
    elections = Category.objects.get(slug="elections")
    assert (elections.adjustable, "autonomy" in elections.harm_dimensions) == (False, True)

    # Mappings: a new label and a cut point, one version of the source.
    open_nav(page, "Mappings")
    page.get_by_role("row").filter(has_text="perspective").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name=re.compile("perspective"), level=1)).to_be_visible()
    page.get_by_label("Low from").fill("0.6")
    first_empty = LabelMapping.objects.filter(source="perspective").count() + 1  # the blank rows come last
    page.get_by_label(f"Label {first_empty}", exact=True).fill("SEXUAL_HARASSMENT")
    page.get_by_label(f"Category of label {first_empty}", exact=True).select_option("harassment")
    page.get_by_label("Reason").fill("Fewer low signals")
    page.get_by_role("button", name="Save version 2").click()
    expect(page.get_by_role("heading", name=re.compile("perspective mappings"), level=1)).to_be_visible()
    diff = page.locator("#v2 table.diff")
    expect(diff).to_contain_text("Label “SEXUAL_HARASSMENT”")
    expect(diff).to_contain_text("0.5")
    expect(diff).to_contain_text("0.6")
    assert SourceSettings.objects.get(source="perspective").cut_points["low"] == 0.6

    # Queues and routing: a new queue, a rule that routes to it, then the order.
    open_nav(page, "Queue settings")
    page.get_by_role("link", name="New queue").click()
    page.get_by_label("Name").fill("German")
    page.get_by_label("Priority").fill("5")
    page.get_by_label("SLA (minutes)").fill("240")
    page.get_by_label("Lease (minutes)").fill("10")
    page.get_by_label("Reason").fill("German-speaking team")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Queue German created.")).to_be_visible()
    open_nav(page, "Routing")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("German hate")
    page.get_by_label("Queue").select_option(label="German")
    page.get_by_label("Hate", exact=True).check()
    page.get_by_label("Languages").fill("de")
    page.get_by_label("Reason").fill("German team reviews German hate")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("saved: routing version 2")).to_be_visible()
    page.get_by_label("Position of German hate").fill("1")
    page.get_by_label("Why this order").fill("German first")
    page.get_by_role("button", name="Save order").click()
    expect(page.get_by_text("New order saved as routing version 3.")).to_be_visible()
    assert RoutingRule.objects.order_by("position").first().name == "German hate"
    page.get_by_role("link", name="History").click()
    expect(page.locator("#v3 table.diff")).to_contain_text("1. German hate")

    # Enforcement rules: a versioned rule of their own.
    open_nav(page, "Rules", "Enforcement rules")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("Warn on election abuse")
    page.get_by_label("Any violation of these categories").check()
    page.get_by_label("Elections and civic integrity").check()
    page.get_by_label("Warn").check()
    page.get_by_label("Reason").fill("Election season")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("created (version 1)")).to_be_visible()
    assert EnforcementRule.objects.get().version == 1

    # Profiles: a new profile, assigned to an integration on the same page.
    open_nav(page, "Profiles")
    page.get_by_role("link", name="New profile").click()
    page.get_by_label("Name").fill("Game studio")
    page.locator("select[name=threshold_violence]").select_option("off")
    page.get_by_label("Reason").fill("Studio contract")
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_text("Profile Game studio created (version 1).")).to_be_visible()
    dragon = make_integration("Dragonfire")
    page.reload()
    row = page.get_by_role("row").filter(has_text="Dragonfire")
    row.get_by_label("Profile for Dragonfire").select_option(label="Game studio")
    row.get_by_label("Why").fill("Game studio")
    row.get_by_role("button", name="Change profile").click()
    expect(page.get_by_text("Dragonfire is now judged by Game studio.")).to_be_visible()
    assert Integration.objects.get(pk=dragon.pk).profile.name == "Game studio"

    # The threshold change: Violence from medium to high only, with a reason.
    default = PolicyProfile.objects.get(name="Default")
    page.get_by_role("row").filter(has=page.get_by_text("Default", exact=True)).get_by_role(
        "link", name="Edit").click()
    violence_row = page.locator("tr.threshold-row[data-category=violence]")
    expect(violence_row).to_contain_text("Medium and above (BLOCK_MEDIUM_AND_ABOVE)")
    expect(page.locator("tr.threshold-row[data-category=child_safety] select")).to_be_disabled()
    violence_row.locator("select").select_option("high")
    # The what-if panel answers before saving, for the proposed threshold.
    whatif = page.locator("#whatif")
    expect(whatif.get_by_role("heading", name=re.compile("What if Violence were reviewed"))).to_contain_text(
        "High only")
    expect(whatif.locator(".whatif-volume")).to_be_visible()
    page.get_by_label("Reason").fill("Fiction platforms: only high violence")
    page.get_by_role("button", name="Save version 2").click()

    expect(page.get_by_role("heading", name=re.compile("Default"), level=1)).to_contain_text("history")
    v2 = page.locator("#v2")
    expect(v2.get_by_role("heading", name=re.compile("Version 2"))).to_contain_text("current")
    expect(v2).to_contain_text("Fiction platforms: only high violence")
    expect(v2).to_contain_text("pat")
    change = v2.locator("table.diff tr").filter(has_text="Violence")
    expect(change.locator("td.old")).to_have_text("Medium and above (BLOCK_MEDIUM_AND_ABOVE)")
    expect(change.locator("td.new")).to_have_text("High only (BLOCK_ONLY_HIGH)")

    # New flags are judged by version 2: medium violence is no longer queued, high is.
    api = Api(_client(), make_key(acme).secret)
    medium, high = flag_payload(result=violence("medium")), flag_payload(user="user-9", result=violence("high"))
    results = api.post_flags(medium, high).json()["results"]
    assert [r["queued"] for r in results] == [False, True]
    judged = api.get(f"flags/{medium['id']}").json()["judged_by"]
    assert (judged["profile"], judged["profile_version"]) == ("Default", 2)
    sam = new_page("sam")
    login(sam, live_server.url, "sam", PASSWORD)
    sam.goto(f"/cases/{results[1]['case']}/")
    expect(sam.locator(".why .judged-by")).to_contain_text("Judged by profile Default v2")

    # Restore version 1: a newer version equal to the old one.
    page.locator("#v1").get_by_label("Why restore it").fill("Too many complaints")
    page.locator("#v1").get_by_role("button", name="Restore version 1").click()
    expect(page.get_by_text("Version 1 restored as version 3.")).to_be_visible()
    expect(page.locator("#v3")).to_contain_text("restores version 1")
    expect(page.locator("#v1")).to_contain_text("The profile is as it was in this version now.")
    assert questions == ["Restore version 1? It is saved as a new version."]
    versions = {v.version: v for v in ProfileVersion.objects.filter(profile=default)}
    assert versions[3].snapshot == versions[1].snapshot and versions[3].restored_from == 1
    again = flag_payload(user="user-10", result=violence("medium"))
    [result] = api.post_flags(again).json()["results"]
    assert result["queued"] is True
    assert Flag.objects.get(pk=result["flag"]).profile_version == versions[3]
    assert RoutingVersion.objects.count() == 3 and Queue.objects.filter(slug="german").exists()

    browser_problems.assert_none()


def _client() -> Any:
    from django.test import Client

    return Client()
