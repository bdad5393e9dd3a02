from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import AuditEntry, AuditVerb
from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_signing_in_is_audited_with_the_address(client, reviewer) -> None:
    response = client.post(reverse("console:login"), {"username": "rita", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("console:home")
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN)
    assert (entry.actor_label, entry.after) == ("rita", {"address": "127.0.0.1", "second_factor": None})


@pytest.mark.django_db
def test_a_failed_sign_in_is_audited_and_shows_an_error(client, reviewer) -> None:
    response = client.post(reverse("console:login"), {"username": "rita", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_FAILED)
    assert entry.after == {"username": "rita", "address": "127.0.0.1", "step": "password"}


@pytest.mark.django_db
def test_signing_out_is_audited_and_ends_the_session(client, reviewer) -> None:
    client.force_login(reviewer)
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGOUT, actor_label="rita").count() == 1
    assert client.get(reverse("console:home")).status_code == 302


@pytest.mark.django_db
def test_changing_the_password_is_audited(client, reviewer) -> None:
    client.force_login(reviewer)
    response = client.post(
        reverse("console:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-passphrase-9",
            "new_password2": "another-long-passphrase-9",
        },
    )
    assert response.status_code == 302
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_PASSWORD_CHANGED, actor_label="rita").exists()


@pytest.mark.django_db
def test_the_personal_blur_setting_is_saved_and_audited(client, reviewer) -> None:
    client.force_login(reviewer)
    response = client.post(reverse("console:settings"), {})
    assert response.status_code == 302
    reviewer.staff_profile.refresh_from_db()
    assert reviewer.staff_profile.blur_sensitive is False
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_SETTINGS_CHANGED)
    assert (entry.before, entry.after) == ({"blur_sensitive": True}, {"blur_sensitive": False})
