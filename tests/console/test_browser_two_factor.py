"""Two-factor sign-in in a real browser: forced enrolment, then signing in with a code."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from django.contrib.auth.models import AbstractBaseUser
from playwright.sync_api import Page, expect

from console.models import AuditEntry, AuditVerb
from console.roles import Role
from tests.browser import BrowserProblems, login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _password_step(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()


def test_a_senior_enrols_at_first_sign_in_and_then_signs_in_with_a_code(
    page: Page, live_server, make_staff: Callable[..., AbstractBaseUser], browser_problems: BrowserProblems
) -> None:
    sam = make_staff(Role.SENIOR_REVIEWER, "sam", two_factor=False)

    _password_step(page, "sam")

    # Held at the enrolment page: the role needs a second factor.
    expect(page).to_have_url(f"{live_server.url}/settings/two-factor/")
    expect(page.get_by_role("status")).to_contain_text("Your role needs two-factor sign-in")
    page.get_by_role("link", name="Queues").click()
    expect(page).to_have_url(f"{live_server.url}/settings/two-factor/")
    qr = page.get_by_role("img", name="QR code holding the setup key below")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth") > 0
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    page.get_by_text("Setup link").click()
    expect(page.locator("#totp-uri")).to_have_text(f"otpauth://totp/Docket:sam?secret={secret}&issuer=Docket")

    page.get_by_label("Enter the 6-digit code the app now shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    page.get_by_role("link", name="go to the dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")

    # From now on: password, then a code from the app (the helper types it).
    _password_step(page, "sam")
    expect(page).to_have_url(f"{live_server.url}/login/code/")
    expect(page.get_by_role("main")).to_contain_text("Signing in as sam")
    page.goto("/login/")
    login(page, live_server.url, "sam", PASSWORD)
    expect(page.get_by_role("banner")).to_contain_text("sam · Senior reviewer")

    browser_problems.assert_none()
    verbs = AuditEntry.objects.filter(target_type="auth.user", target_id=str(sam.pk)).order_by("seq")
    assert [(e.verb, (e.after or {}).get("second_factor")) for e in verbs] == [
        (AuditVerb.STAFF_CREATED, None),
        (AuditVerb.STAFF_ROLE_GRANTED, None),
        (AuditVerb.STAFF_LOGIN, None),
        (AuditVerb.STAFF_2FA_ENABLED, None),
        (AuditVerb.STAFF_LOGOUT, None),
        (AuditVerb.STAFF_LOGIN, "totp"),
    ]


def test_a_wrong_code_shows_the_error_and_a_recovery_code_gets_in(
    page: Page, live_server, reviewer: AbstractBaseUser, browser_problems: BrowserProblems
) -> None:
    from console import services
    from tests.twofactor import TOTP_SECRET, code_now, wrong_code

    codes = services.enable_totp(actor=reviewer, secret=TOTP_SECRET, code=code_now())

    _password_step(page, "rita")
    page.get_by_label("Authentication code").fill(wrong_code())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")

    page.get_by_label("Authentication code").fill(codes[3])
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("You signed in with a recovery code: 9 left.")
    browser_problems.assert_none()
