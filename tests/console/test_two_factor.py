"""Two-factor sign-in: enrolment, the code step, recovery codes, replay, forced enrolment."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from console import auth, services, twofactor
from console.models import AuditEntry, AuditVerb, RecoveryCode, TotpDevice
from console.roles import Role
from tests.conftest import PASSWORD
from tests.twofactor import TOTP_SECRET, code_now, next_code, wrong_code

pytestmark = pytest.mark.django_db


def _password_step(client, username: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("console:login"), data)


def _enrolled_with_codes(user) -> list[str]:  # type: ignore[no-untyped-def]
    return services.enable_totp(actor=user, secret=TOTP_SECRET, code=code_now())


# --- Enrolment ------------------------------------------------------------------------------------


def test_it_enrols_from_the_settings_page_and_shows_ten_recovery_codes_once(client, reviewer) -> None:
    client.force_login(reviewer)
    settings_page = client.get(reverse("console:settings")).content.decode()
    assert "Set up two-factor sign-in" in settings_page

    page = client.get(reverse("console:two_factor"))
    assert page.status_code == 200
    secret = page.context["secret"].replace(" ", "")
    html = page.content.decode()
    assert page.context["secret"] in html
    assert f"otpauth://totp/Docket:rita?secret={secret}&amp;issuer=Docket" in html
    assert 'src="data:image/svg+xml' in html
    # A reload shows the same secret until it is confirmed.
    assert client.get(reverse("console:two_factor")).context["secret"].replace(" ", "") == secret

    done = client.post(reverse("console:two_factor"), {"code": code_now(secret)})

    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    device = TotpDevice.objects.get(user=reviewer)
    assert secret not in device.secret and twofactor.decrypt_secret(device.secret) == secret
    stored = set(RecoveryCode.objects.filter(user=reviewer).values_list("code_hash", flat=True))
    assert stored == {twofactor.hash_recovery_code(code) for code in codes}
    assert not any(code.replace("-", "") in h for code in codes for h in stored)
    assert auth.ENROL_KEY not in client.session
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_2FA_ENABLED)
    assert (entry.actor_label, entry.target_id, entry.after) == ("rita", str(reviewer.pk), {"recovery_codes": 10})
    # Never shown again: the page now manages the app, and holds neither secret nor codes.
    after = client.get(reverse("console:two_factor")).content.decode()
    assert secret not in after and page.context["secret"] not in after
    assert not any(code in after for code in codes)
    assert "10 of 10 recovery codes left" in after


def test_a_wrong_enrolment_code_is_a_form_error_and_enrols_nothing(client, reviewer) -> None:
    client.force_login(reviewer)
    secret = client.get(reverse("console:two_factor")).context["secret"].replace(" ", "")
    wrong = wrong_code(secret)

    response = client.post(reverse("console:two_factor"), {"code": wrong})

    assert response.status_code == 400
    assert "not the code your app shows now" in response.content.decode()
    assert not TotpDevice.objects.filter(user=reviewer).exists()
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_2FA_ENABLED).exists()


def test_the_enrolment_page_refuses_a_recovery_code_shaped_answer(client, reviewer) -> None:
    client.force_login(reviewer)
    client.get(reverse("console:two_factor"))
    response = client.post(reverse("console:two_factor"), {"code": "abcde-fghjk"})
    assert response.status_code == 400
    assert "Enter the 6-digit code your app shows." in response.content.decode()


# --- Signing in with a code ---------------------------------------------------------------------


def test_signing_in_with_an_authenticator_takes_a_password_and_then_a_code(client, senior) -> None:
    response = _password_step(client, "sam")

    assert response.status_code == 302 and response["Location"] == reverse("console:login_code")
    assert client.get(reverse("console:home")).status_code == 302  # not signed in yet
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN).exists()
    page = client.get(reverse("console:login_code"))
    assert page.status_code == 200 and "Signing in as <strong>sam</strong>" in page.content.decode()

    response = client.post(reverse("console:login_code"), {"code": next_code(senior)})

    assert response.status_code == 302 and response["Location"] == reverse("console:home")
    assert client.get(reverse("console:home")).status_code == 200
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN)
    assert (entry.actor_label, entry.after) == ("sam", {"address": "127.0.0.1", "second_factor": "totp"})
    assert auth.PENDING_KEY not in client.session


def test_the_code_step_keeps_where_the_person_was_going(client, auditor) -> None:
    _password_step(client, "ada", next_url=reverse("console:audit"))
    response = client.post(reverse("console:login_code"), {"code": next_code(auditor)})
    assert response["Location"] == reverse("console:audit")


def test_a_code_with_spaces_is_accepted(client, senior) -> None:
    _password_step(client, "sam")
    code = next_code(senior)
    response = client.post(reverse("console:login_code"), {"code": f" {code[:3]} {code[3:]} "})
    assert response.status_code == 302


def test_a_wrong_code_is_refused_and_audited_as_a_failure_at_the_code_step(client, senior) -> None:
    _password_step(client, "sam")
    wrong = wrong_code()

    response = client.post(reverse("console:login_code"), {"code": wrong})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get(reverse("console:home")).status_code == 302
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_FAILED)
    assert entry.after == {"username": "sam", "address": "127.0.0.1", "step": "code"}


def test_a_code_cannot_be_replayed_within_its_window(client, senior) -> None:
    code = next_code(senior)
    _password_step(client, "sam")
    assert client.post(reverse("console:login_code"), {"code": code}).status_code == 302
    client.post(reverse("console:logout"))

    _password_step(client, "sam")
    replay = client.post(reverse("console:login_code"), {"code": code})

    assert replay.status_code == 200
    assert "That code was used already" in replay.content.decode()
    assert client.get(reverse("console:home")).status_code == 302
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN, actor_label="sam").count() == 1


def test_an_older_code_than_the_last_one_used_is_refused(senior, clock) -> None:
    services.use_second_factor(user=senior, code=code_now(steps_ahead=1))  # the app runs 30 s fast
    with pytest.raises(services.WrongCode, match="used already"):
        services.use_second_factor(user=senior, code=code_now())


def test_the_code_that_confirmed_enrolment_cannot_sign_in(reviewer, clock) -> None:
    code = code_now()
    services.enable_totp(actor=reviewer, secret=TOTP_SECRET, code=code)
    with pytest.raises(services.WrongCode, match="used already"):
        services.use_second_factor(user=reviewer, code=code)


def test_the_code_step_waits_five_minutes_at_most(client, senior, clock) -> None:
    _password_step(client, "sam")
    clock.tick(auth.PENDING_SECONDS + 1)
    response = client.post(reverse("console:login_code"), {"code": next_code(senior)})

    assert response.status_code == 302 and response["Location"] == reverse("console:login")
    assert "waits five minutes at most" in client.get(response["Location"]).content.decode()
    assert client.get(reverse("console:home")).status_code == 302


def test_the_code_step_without_a_password_step_sends_to_the_sign_in(client, senior) -> None:
    response = client.post(reverse("console:login_code"), {"code": next_code(senior)})
    assert response.status_code == 302 and response["Location"] == reverse("console:login")
    assert client.get(reverse("console:home")).status_code == 302


# --- Recovery codes ------------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(client, reviewer) -> None:
    codes = _enrolled_with_codes(reviewer)

    _password_step(client, "rita")
    response = client.post(reverse("console:login_code"), {"code": codes[0].upper()}, follow=True)

    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("console:home")
    assert "You signed in with a recovery code: 9 left." in response.content.decode()
    used = AuditEntry.objects.get(verb=AuditVerb.STAFF_2FA_RECOVERY_USED)
    assert used.after == {"recovery_codes_left": 9}
    assert AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN).after["second_factor"] == "recovery"
    client.post(reverse("console:logout"))

    _password_step(client, "rita")
    again = client.post(reverse("console:login_code"), {"code": codes[0]})

    assert again.status_code == 200
    assert "not right, or was used already" in again.content.decode()
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_2FA_RECOVERY_USED).count() == 1


def test_renewing_recovery_codes_replaces_every_old_one(client, reviewer) -> None:
    old = _enrolled_with_codes(reviewer)
    client.force_login(reviewer)

    response = client.post(reverse("console:two_factor_renew"), {"code": next_code(reviewer)})

    assert response.status_code == 200
    new = response.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert RecoveryCode.objects.unused().filter(user=reviewer).count() == 10
    with pytest.raises(services.WrongCode):
        services.use_second_factor(user=reviewer, code=old[1])
    assert services.use_second_factor(user=reviewer, code=new[1]) == "recovery"
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_2FA_RECOVERY_RENEWED, actor_label="rita").count() == 1


def test_renewing_recovery_codes_needs_a_right_code(client, reviewer) -> None:
    old = _enrolled_with_codes(reviewer)
    client.force_login(reviewer)
    wrong = wrong_code()

    response = client.post(reverse("console:two_factor_renew"), {"code": wrong})

    assert response.status_code == 400
    assert services.use_second_factor(user=reviewer, code=old[0]) == "recovery"  # the old ones still work
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_2FA_RECOVERY_RENEWED).exists()


# --- Turning it off ---------------------------------------------------------------------------------


def test_turning_it_off_needs_the_password_and_a_code(client, reviewer) -> None:
    _enrolled_with_codes(reviewer)
    client.force_login(reviewer)
    url = reverse("console:two_factor_disable")

    wrong_password = client.post(url, {"password": "not-it", "code": next_code(reviewer)})
    assert wrong_password.status_code == 400 and "That is not your password." in wrong_password.content.decode()
    no_code = client.post(url, {"password": PASSWORD, "code": ""})
    assert no_code.status_code == 400
    assert TotpDevice.objects.filter(user=reviewer).exists()
    failure = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_FAILED)
    assert failure.after == {"username": "rita", "address": "127.0.0.1", "step": "password_check"}

    response = client.post(url, {"password": PASSWORD, "code": next_code(reviewer)})

    assert response.status_code == 302 and response["Location"] == reverse("console:settings")
    assert not TotpDevice.objects.filter(user=reviewer).exists()
    assert not RecoveryCode.objects.filter(user=reviewer).exists()
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_2FA_DISABLED, actor_label="rita").count() == 1
    # Signing in is one step again.
    client.post(reverse("console:logout"))
    assert _password_step(client, "rita")["Location"] == reverse("console:home")


# --- Forced enrolment ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.SENIOR_REVIEWER, Role.POLICY_ADMIN, Role.OPS, Role.AUDITOR, Role.STAFF_ADMIN])
def test_a_role_that_needs_it_is_sent_to_enrol_before_any_other_page(client, make_staff, role: Role) -> None:
    person = make_staff(role, two_factor=False)
    client.force_login(person)

    for name in ("console:home", "console:settings", "console:password_change", "review:queues"):
        response = client.get(reverse(name))
        assert (response.status_code, response["Location"]) == (302, reverse("console:two_factor")), name
    htmx = client.get(reverse("console:home"), headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx["HX-Redirect"]) == (204, reverse("console:two_factor"))
    page = client.get(reverse("console:two_factor"))
    assert page.status_code == 200 and "Your role needs it" in page.content.decode()

    secret = page.context["secret"].replace(" ", "")
    assert client.post(reverse("console:two_factor"), {"code": code_now(secret)}).status_code == 200
    assert client.get(reverse("console:home")).status_code == 200


def test_a_person_held_back_for_enrolment_can_still_sign_out(client, make_staff) -> None:
    client.force_login(make_staff(Role.OPS, two_factor=False))
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("console:login")


def test_a_reviewer_is_not_held_back(client, reviewer) -> None:
    client.force_login(reviewer)
    assert client.get(reverse("console:home")).status_code == 200


def test_a_role_that_needs_it_granted_mid_session_holds_the_person_back(client, reviewer, staff_admin) -> None:
    client.force_login(reviewer)
    assert client.get(reverse("console:home")).status_code == 200

    services.grant_role(actor=staff_admin, user=reviewer, role=Role.SENIOR_REVIEWER, reason="promoted")

    assert client.get(reverse("console:home"))["Location"] == reverse("console:two_factor")


def test_with_the_requirement_off_nobody_is_held_back(client, make_staff, settings) -> None:
    settings.DOCKET_REQUIRE_2FA = False
    client.force_login(make_staff(Role.SENIOR_REVIEWER, two_factor=False))
    assert client.get(reverse("console:home")).status_code == 200


def test_the_requirement_is_on_unless_switched_off() -> None:
    from django.conf import settings

    assert settings.DOCKET_REQUIRE_2FA is True
