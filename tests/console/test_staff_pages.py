"""The Staff pages: staff admins give and remove roles (never their own), reset a lost second factor."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from console import services
from console.models import AuditEntry, AuditVerb, TotpDevice
from console.roles import Role, roles_of
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _roles_url(user) -> str:  # type: ignore[no-untyped-def]
    return reverse("console:staff_member", kwargs={"pk": user.pk})


def test_a_staff_admin_changes_roles_with_before_and_after_in_the_audit(client, staff_admin, reviewer) -> None:
    client.force_login(staff_admin)

    response = client.post(_roles_url(reviewer), {"roles": ["senior_reviewer"], "reason": "promoted after review"})

    assert response.status_code == 302 and response["Location"] == _roles_url(reviewer)
    assert roles_of(reviewer) == [Role.SENIOR_REVIEWER]
    granted = AuditEntry.objects.get(verb=AuditVerb.STAFF_ROLE_GRANTED, actor_label="stella")
    assert (granted.before, granted.after, granted.reason) == (
        {"roles": ["reviewer"]},
        {"role": "senior_reviewer", "roles": ["reviewer", "senior_reviewer"]},
        "promoted after review",
    )
    revoked = AuditEntry.objects.get(verb=AuditVerb.STAFF_ROLE_REVOKED)
    assert (revoked.actor_label, revoked.before, revoked.after) == (
        "stella",
        {"roles": ["reviewer", "senior_reviewer"]},
        {"role": "reviewer", "roles": ["senior_reviewer"]},
    )
    assert "rita&#x27;s roles are now: Senior reviewer." in client.get(response["Location"]).content.decode()


def test_removing_every_role_leaves_a_person_with_no_role_page(client, staff_admin, reviewer) -> None:
    client.force_login(staff_admin)
    client.post(_roles_url(reviewer), {"reason": "left the team"})
    assert roles_of(reviewer) == []
    rita = Client()
    rita.force_login(reviewer)
    assert rita.get(reverse("review:queues")).status_code == 403


def test_nobody_may_change_their_own_roles_and_the_attempt_is_audited(client, staff_admin) -> None:
    client.force_login(staff_admin)
    page = client.get(_roles_url(staff_admin)).content.decode()
    assert "You cannot change your own roles" in page

    response = client.post(_roles_url(staff_admin), {"roles": ["staff_admin", "auditor"], "reason": "me too"})

    assert response.status_code == 403
    assert "Nobody may change their own roles" in response.content.decode()
    assert roles_of(staff_admin) == [Role.STAFF_ADMIN]
    refused = AuditEntry.objects.get(verb=AuditVerb.STAFF_ROLE_CHANGE_REFUSED)
    assert (refused.actor_label, refused.target_id, refused.before, refused.after, refused.reason) == (
        "stella",
        str(staff_admin.pk),
        {"roles": ["staff_admin"]},
        {"roles": ["auditor", "staff_admin"]},
        "me too",
    )


def test_the_service_refuses_a_self_grant_whoever_calls_it(senior) -> None:
    with pytest.raises(services.SelfChangeRefused):
        services.grant_role(actor=senior, user=senior, role=Role.POLICY_ADMIN)
    assert roles_of(senior) == [Role.SENIOR_REVIEWER]
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_ROLE_CHANGE_REFUSED, actor_label="sam").count() == 1


def test_only_a_staff_admin_may_change_roles(client, policy_admin, reviewer) -> None:
    client.force_login(policy_admin)
    response = client.post(_roles_url(reviewer), {"roles": ["policy_admin"], "reason": "help"})
    assert response.status_code == 403
    assert roles_of(reviewer) == [Role.REVIEWER]
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_ROLE_GRANTED, actor_label="pat").exists()


def test_a_role_change_needs_a_reason(client, staff_admin, reviewer) -> None:
    client.force_login(staff_admin)
    response = client.post(_roles_url(reviewer), {"roles": ["auditor"]})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert roles_of(reviewer) == [Role.REVIEWER]


def test_an_unknown_role_is_a_form_error(client, staff_admin, reviewer) -> None:
    client.force_login(staff_admin)
    response = client.post(_roles_url(reviewer), {"roles": ["superuser"], "reason": "x"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_staff_list_shows_roles_and_second_factors_in_a_fixed_number_of_queries(
    client, staff_admin, make_staff, django_assert_num_queries
) -> None:
    make_staff(Role.REVIEWER, "rob")
    make_staff(Role.OPS, "otis", two_factor=False)
    client.force_login(staff_admin)
    page = client.get(reverse("console:staff"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "rob" in html and "otis" in html and "needed" in html
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(reverse("console:staff"))
    for n in range(30):
        make_staff(Role.AUDITOR if n % 2 else Role.REVIEWER)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("console:staff"))


def test_a_staff_admin_resets_a_lost_second_factor_and_ends_the_persons_sessions(client, staff_admin, senior) -> None:
    sams_session = Client()
    sams_session.force_login(senior)
    client.force_login(staff_admin)

    url = reverse("console:staff_reset_two_factor", kwargs={"pk": senior.pk})
    assert client.post(url, {}).status_code == 400  # a reason is needed
    response = client.post(url, {"reason": "phone lost, ticket 4411"})

    assert response.status_code == 302
    assert not TotpDevice.objects.filter(user=senior).exists()
    assert sams_session.get(reverse("console:home")).status_code == 302
    reset = AuditEntry.objects.get(verb=AuditVerb.STAFF_2FA_RESET)
    assert (reset.actor_label, reset.target_id, reset.reason) == ("stella", str(senior.pk), "phone lost, ticket 4411")
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_SESSIONS_REVOKED, target_id=str(senior.pk)).count() == 1
    # sam signs in with the password alone, and must enrol again before anything else.
    again = Client()
    assert again.post(reverse("console:login"), {"username": "sam", "password": PASSWORD})["Location"] == "/"
    assert again.get(reverse("console:home"))["Location"] == reverse("console:two_factor")


def test_a_staff_admin_cannot_reset_their_own_second_factor_there(client, staff_admin) -> None:
    client.force_login(staff_admin)
    response = client.post(
        reverse("console:staff_reset_two_factor", kwargs={"pk": staff_admin.pk}), {"reason": "just because"}
    )
    assert response.status_code == 403
    assert TotpDevice.objects.filter(user=staff_admin).exists()


def test_a_staff_admin_signs_someone_out_everywhere(client, staff_admin, reviewer) -> None:
    ritas_session = Client()
    ritas_session.force_login(reviewer)
    client.force_login(staff_admin)

    response = client.post(
        reverse("console:staff_sign_out", kwargs={"pk": reviewer.pk}), {"reason": "laptop stolen"}
    )

    assert response.status_code == 302
    assert ritas_session.get(reverse("console:home")).status_code == 302
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_SESSIONS_REVOKED)
    assert (entry.actor_label, entry.target_id, entry.reason) == ("stella", str(reviewer.pk), "laptop stolen")
    assert client.get(reverse("console:home")).status_code == 200  # the admin's own session goes on


def test_the_member_page_shows_recent_activity_on_the_account(client, staff_admin, reviewer) -> None:
    Client().post(reverse("console:login"), {"username": "rita", "password": PASSWORD})
    client.force_login(staff_admin)
    html = client.get(_roles_url(reviewer)).content.decode()
    assert "Signed in" in html and "Role granted" in html


def test_a_missing_member_is_a_404(client, staff_admin) -> None:
    client.force_login(staff_admin)
    assert client.get(reverse("console:staff_member", kwargs={"pk": 999_999})).status_code == 404


def test_the_staff_page_is_in_the_staff_admins_navigation_only(client, staff_admin, policy_admin) -> None:
    client.force_login(staff_admin)
    assert f'href="{reverse("console:staff")}"' in client.get(reverse("console:home")).content.decode()
    client.force_login(policy_admin)
    assert f'href="{reverse("console:staff")}"' not in client.get(reverse("console:home")).content.decode()


def test_create_staff_can_make_the_first_staff_admin(roles, monkeypatch) -> None:
    import io

    from django.core.management import call_command

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    call_command("create_staff", "root-admin", role="staff_admin", stdout=io.StringIO())

    admin = get_user_model().objects.get(username="root-admin")
    assert roles_of(admin) == [Role.STAFF_ADMIN]
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_ROLE_GRANTED, target_id=str(admin.pk))
    assert entry.actor_type == "system" and entry.after == {"role": "staff_admin", "roles": ["staff_admin"]}


def test_a_staff_admin_lifts_a_lockout_before_its_time(client, staff_admin, reviewer) -> None:
    attacker = Client()
    for _ in range(5):
        attacker.post(reverse("console:login"), {"username": "rita", "password": "guess"}, REMOTE_ADDR="203.0.113.5")
    client.force_login(staff_admin)
    page = client.get(_roles_url(reviewer)).content.decode()
    assert "Sign-in locked" in page and "Too many failed sign-ins: locked until" in page

    response = client.post(reverse("console:staff_unlock", kwargs={"pk": reviewer.pk}), {"reason": "rita called"})

    assert response.status_code == 302
    assert Client().post(reverse("console:login"), {"username": "rita", "password": PASSWORD}).status_code == 302
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_UNLOCKED)
    assert (entry.actor_label, entry.target_id, entry.after, entry.reason) == (
        "stella",
        str(reviewer.pk),
        {"username": "rita", "address": "", "was_locked": ["account"]},
        "rita called",
    )
    assert "Sign-in locked" not in client.get(_roles_url(reviewer)).content.decode()
