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
    response = client.post(reverse("console:login"), {"username": "rita", "password": "Tr0ub4dor-guess"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_FAILED)
    assert entry.after == {"username": "rita", "address": "127.0.0.1", "step": "password"}
    assert "Tr0ub4dor" not in f"{entry.before} {entry.after} {entry.reason} {entry.target_label}"


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


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password, refusal",
    [
        ("short-pw-1", "too short. It must contain at least 12 characters"),
        ("123456789012345", "entirely numeric"),
        ("manchesterunited", "too common"),
        ("fitzgerald12", "too similar to the email address"),
    ],
)
def test_a_new_password_must_pass_djangos_validators(client, reviewer, password: str, refusal: str) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(pk=reviewer.pk).update(email="margaret.fitzgerald@example.org")
    client.force_login(reviewer)
    response = client.post(
        reverse("console:password_change"),
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200
    assert refusal in response.content.decode()
    reviewer.refresh_from_db()
    assert reviewer.check_password(PASSWORD)
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_PASSWORD_CHANGED).exists()
