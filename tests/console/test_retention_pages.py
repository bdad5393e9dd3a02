"""The retention page: each integration's days, edited with a reason, and the runs that removed text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEntry, AuditVerb
from review.models import Integration
from review.services import ingest_flags
from review.services.retention import apply_retention
from tests.factories import flag_payload, make_integration

pytestmark = pytest.mark.django_db

URL = reverse("console:policy_retention")


@pytest.fixture
def acme(roles) -> Integration:  # type: ignore[no-untyped-def]
    return make_integration("Acme")


def test_it_lists_each_integrations_days_with_the_default_of_90(client, policy_admin, acme) -> None:
    client.force_login(policy_admin)

    html = client.get(URL).content.decode()

    assert "Acme" in html and "90 days" in html
    assert reverse("console:policy_retention_edit", args=[acme.pk]) in html
    assert "No text has been removed yet." in html


def test_a_policy_admin_changes_the_days_with_a_reason(client, policy_admin, acme) -> None:
    client.force_login(policy_admin)
    url = reverse("console:policy_retention_edit", args=[acme.pk])

    no_reason = client.post(url, {"days": "30"})
    zero = client.post(url, {"days": "0", "reason": "r"})
    too_long = client.post(url, {"days": "3651", "reason": "r"})
    saved = client.post(url, {"days": "30", "reason": "contract with the platform"}, follow=True)

    assert (no_reason.status_code, zero.status_code, too_long.status_code) == (400, 400, 400)
    assert "This field is required." in no_reason.content.decode()
    assert "greater than or equal to 1" in zero.content.decode()
    assert "less than or equal to 3650" in too_long.content.decode()
    assert "Acme keeps flag text for 30 days." in saved.content.decode()
    assert Integration.objects.get(pk=acme.pk).retention_days == 30
    entry = AuditEntry.objects.filter(verb=AuditVerb.RETENTION_CHANGED).get()
    assert (entry.target_id, entry.before, entry.after, entry.reason) == (
        str(acme.pk), {"retention_days": 90}, {"retention_days": 30}, "contract with the platform"
    )


def test_it_shows_the_runs_that_removed_text(client, policy_admin, acme) -> None:
    old = timezone.now() - timedelta(days=100)
    ingest_flags(integration=acme, now=old, payloads=[
        flag_payload(result={"signals": [{"category": "violence", "level": "low"}]}) for _ in range(3)
    ])
    apply_retention()
    client.force_login(policy_admin)

    html = client.get(URL).content.decode()

    assert "Acme: 3" in html and "No text has been removed yet." not in html
