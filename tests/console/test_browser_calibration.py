"""The calibration page and its what-if panel in a real browser, and the retention page's edit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from review.models import Integration
from review.services import ingest_flags
from tests.browser import BrowserProblems, login
from tests.conftest import PASSWORD
from tests.factories import flag_payload, make_decision, make_integration

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db: None, roles: None) -> Integration:
    return make_integration("Acme Chat")


def test_a_policy_admin_reads_the_numbers_and_asks_what_if(
    page: Page, live_server: Any, policy_admin: Any, reviewer: Any, acme: Integration,
    browser_problems: BrowserProblems,
) -> None:
    from review.models import Case, Category, Outcome, Severity

    outcomes = ingest_flags(integration=acme, payloads=[
        flag_payload(user=f"u{n}", prompt=f"p{n}", result={"signals": [{"category": "violence", "level": level}]})
        for n, level in enumerate(["high", "high", "medium", "low", "low", "low"])
    ])
    for outcome, violating in zip(outcomes[:3], (True, False, True), strict=True):
        verdict: dict[str, Any] = {"outcome": Outcome.NOT_VIOLATING}
        if violating:
            verdict = {"outcome": Outcome.VIOLATING, "category": Category.objects.get(pk="violence"),
                       "severity": Severity.HIGH}
        make_decision(Case.objects.select_related("queue").get(pk=outcome.case), reviewer, **verdict)
    login(page, live_server.url, "pat", PASSWORD)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calibration", exact=True).click()
    expect(page.get_by_role("heading", name="Calibration", level=1)).to_be_visible()
    high = page.get_by_role("row").filter(has_text=re.compile(r"Violence\s+generic\s+high"))
    expect(high).to_contain_text("50.0 %")
    page.evaluate("() => { window.__marker = 'same document' }")

    form = page.locator("form.whatif-form")
    form.get_by_label("Category").select_option("violence")
    form.get_by_label("Proposed threshold").select_option("low")

    panel = page.locator("#whatif-result section.whatif")
    expect(panel).to_contain_text("What if Violence were reviewed at “Low and above")
    # six flags in 30 days at low and above: 0.20 a day; today's medium: three, 0.10
    expect(panel.locator(".whatif-volume")).to_have_text("0.20")
    expect(panel).to_contain_text("threshold: 0.10)")
    expect(panel).to_contain_text("3 flag(s) it would review")  # nobody decided the low ones
    assert page.evaluate("() => window.__marker") == "same document"
    browser_problems.assert_none()


def test_a_policy_admin_shortens_an_integrations_retention(
    page: Page, live_server: Any, policy_admin: Any, acme: Integration, browser_problems: BrowserProblems
) -> None:
    login(page, live_server.url, "pat", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Retention", exact=True).click()
    row = page.get_by_role("row").filter(has_text="Acme Chat")
    expect(row).to_contain_text("90 days")

    row.get_by_role("link", name="Edit").click()
    page.get_by_label("Keep prompt and response text for (days)").fill("14")
    page.get_by_label("Reason").fill("what the platform's privacy notice says")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_contain_text("Acme Chat keeps flag text for 14 days.")
    expect(page.get_by_role("row").filter(has_text="Acme Chat")).to_contain_text("14 days")
    acme.refresh_from_db()
    assert acme.retention_days == 14
    browser_problems.assert_none()
