"""Staff sessions end after inactivity, at their maximum age, and when signed out everywhere."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console import auth
from console.models import AuditEntry, AuditVerb
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

HOME = reverse("console:home")


def test_a_session_idle_past_the_limit_ends_with_a_message_and_an_audit_entry(client, reviewer, clock) -> None:
    client.force_login(reviewer)
    clock.tick(29 * 60)
    assert client.get(HOME).status_code == 200  # activity: the idle time starts again
    clock.tick(29 * 60)
    assert client.get(HOME).status_code == 200
    clock.tick(30 * 60 + 1)

    response = client.get(reverse("review:queues"))

    assert response.status_code == 302
    assert response["Location"] == reverse("console:login") + "?next=" + reverse("review:queues")
    page = client.get(response["Location"]).content.decode()
    assert "You were signed out after 30 minutes without activity." in page
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_SESSION_EXPIRED)
    assert (entry.actor_label, entry.after) == ("rita", {"why": "idle", "seconds": 1800})
    assert client.get(HOME).status_code == 302  # and it stays ended


def test_the_idle_limit_comes_from_the_setting(client, reviewer, settings, clock) -> None:
    settings.DOCKET_SESSION_IDLE_MINUTES = 5
    client.force_login(reviewer)
    clock.tick(4 * 60)
    assert client.get(HOME).status_code == 200
    clock.tick(5 * 60 + 1)
    assert client.get(HOME).status_code == 302


def test_a_busy_session_still_ends_at_its_maximum_age(client, reviewer, settings, clock) -> None:
    settings.SESSION_COOKIE_AGE = 3600
    client.force_login(reviewer)
    for _ in range(3):
        clock.tick(20 * 60)
        assert client.get(HOME).status_code == 200
    clock.tick(61)

    response = client.get(HOME, follow=True)

    assert "Your session reached its limit of 1 hours." in response.content.decode()
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_SESSION_EXPIRED)
    assert entry.after == {"why": "max_age", "seconds": 3600}


def test_activity_is_written_to_the_session_at_most_once_a_minute(client, reviewer, clock) -> None:
    client.force_login(reviewer)
    stamped = client.session[auth.SEEN_AT_KEY]
    clock.tick(59)
    client.get(HOME)
    assert client.session[auth.SEEN_AT_KEY] == stamped
    clock.tick(2)
    client.get(HOME)
    assert client.session[auth.SEEN_AT_KEY] == stamped + 61


def test_the_api_never_touches_a_staff_session(client, reviewer, api, clock) -> None:
    client.force_login(reviewer)
    clock.tick(31 * 60)
    # The machine API passes by (its own keys), and does not end or stamp the idle session.
    assert api.get("accounts/nobody/status").status_code == 200
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_SESSION_EXPIRED).exists()
    assert client.get(HOME).status_code == 302
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_SESSION_EXPIRED).count() == 1


def test_signing_out_everywhere_ends_every_other_session_too(reviewer) -> None:
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        device.post(reverse("console:login"), {"username": "rita", "password": PASSWORD})
        assert device.get(HOME).status_code == 200

    response = laptop.post(reverse("console:sign_out_everywhere"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("console:login")
    assert "You were signed out everywhere, here included." in response.content.decode()
    elsewhere = phone.get(HOME, follow=True)
    assert elsewhere.redirect_chain[-1][0] == reverse("console:login") + "?next=/"
    assert "You were signed out everywhere." in elsewhere.content.decode()
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_SESSIONS_REVOKED)
    assert (entry.actor_label, entry.target_id, entry.before, entry.after) == (
        "rita",
        str(reviewer.pk),
        {"generation": 0},
        {"generation": 1},
    )
    # Signing in again works, on either device.
    phone.post(reverse("console:login"), {"username": "rita", "password": PASSWORD})
    assert phone.get(HOME).status_code == 200


def test_signing_out_everywhere_leaves_other_people_signed_in(client, reviewer, make_staff) -> None:
    from console.roles import Role

    other = Client()
    other.force_login(make_staff(Role.REVIEWER, "rob"))
    client.force_login(reviewer)
    client.post(reverse("console:sign_out_everywhere"))
    assert other.get(HOME).status_code == 200


def test_the_settings_page_offers_signing_out_everywhere(client, reviewer) -> None:
    client.force_login(reviewer)
    page = client.get(reverse("console:settings")).content.decode()
    assert f'action="{reverse("console:sign_out_everywhere")}"' in page
    assert "A session ends after 30 minutes without activity." in page

