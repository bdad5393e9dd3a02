"""Signing in and out of the console in a real browser (the system Chromium)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractBaseUser
from playwright.sync_api import Page, expect

from console.models import AuditEntry, AuditVerb
from tests.browser import BrowserProblems, login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _directives(header: str) -> dict[str, list[str]]:
    pairs = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in pairs}


def test_a_reviewer_signs_in_sees_a_working_dashboard_and_signs_out(
    page: Page, live_server, reviewer: AbstractBaseUser, browser_problems: BrowserProblems
) -> None:
    login(page, live_server.url, "rita", PASSWORD)

    expect(page).to_have_title("Dashboard · Docket")
    expect(page.get_by_role("main")).to_contain_text("Signed in as rita (Reviewer).")
    expect(page.get_by_role("banner")).to_contain_text("rita · Reviewer")
    # docket.css applied: the browser's own defaults are a transparent page and no dark bar.
    expect(page.locator("body")).to_have_css("background-color", "rgb(246, 247, 249)")
    expect(page.get_by_role("banner")).to_have_css("background-color", "rgb(20, 26, 38)")
    # htmx loaded, and read its configuration from the page's meta tag.
    assert page.evaluate("() => [typeof window.htmx, htmx.config.allowEval, htmx.config.selfRequestsOnly]") == [
        "object",
        False,
        True,
    ]

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_role("heading", name="Sign in to Docket")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    browser_problems.assert_none()
    verbs = AuditEntry.objects.filter(target_type="auth.user", target_id=str(reviewer.pk)).order_by("seq")
    assert list(verbs.values_list("verb", flat=True)) == [
        AuditVerb.STAFF_CREATED,
        AuditVerb.STAFF_ROLE_GRANTED,
        AuditVerb.STAFF_LOGIN,
        AuditVerb.STAFF_LOGOUT,
    ]


def test_a_wrong_password_shows_the_form_error(
    page: Page, live_server, reviewer: AbstractBaseUser, browser_problems: BrowserProblems
) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("not-" + PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_label("Username")).to_have_value("rita")
    expect(page.get_by_label("Password")).to_have_value("")
    browser_problems.assert_none()
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN_FAILED, after__username="rita").count() == 1


def test_pages_carry_a_csp_that_allows_only_the_consoles_own_scripts(
    page: Page, live_server, reviewer: AbstractBaseUser
) -> None:
    signed_out = page.goto("/login/")
    login(page, live_server.url, "rita", PASSWORD)
    signed_in = page.goto("/")

    for response in (signed_out, signed_in):
        assert response is not None and response.ok, response
        directives = _directives(response.headers["content-security-policy"])
        assert directives["script-src"] == ["'self'"], response.url
        assert directives["object-src"] == ["'none'"], response.url


def test_the_browser_refuses_an_inline_script_and_the_watch_reports_it(
    page: Page, live_server, reviewer: AbstractBaseUser, browser_problems: BrowserProblems
) -> None:
    # Also proves that browser_problems would see a violation in the tests above.
    login(page, live_server.url, "rita", PASSWORD)

    directive = page.evaluate("""() => new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (e) => resolve(e.effectiveDirective), {once: true});
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
    })""")

    assert directive == "script-src-elem"
    assert page.evaluate("() => window.injected") is None
    assert any("script-src-elem blocked inline" in p.text for p in browser_problems.csp_violations)
    with pytest.raises(AssertionError, match="Content Security Policy"):
        browser_problems.assert_none()
