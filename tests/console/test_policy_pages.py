from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import AuditEntry, AuditVerb
from review.models import Category, Queue
from tests.factories import hold, make_case


@pytest.mark.django_db
def test_a_policy_admin_sets_queue_members_lease_and_sla(client, policy_admin, reviewer) -> None:
    queue = Queue.objects.get(slug="general")
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_queue", args=[queue.pk]), {
        "name": "General", "description": "Everything else", "priority": 5, "sla_minutes": 120,
        "lease_minutes": 3, "members": [reviewer.pk], "reason": "night shift"})
    assert response.status_code == 302
    queue.refresh_from_db()
    assert (queue.lease_minutes, queue.sla_minutes, list(queue.members.all())) == (3, 120, [reviewer])
    entry = AuditEntry.objects.get(verb=AuditVerb.QUEUE_CHANGED)
    assert (entry.before["members"], entry.after["members"], entry.reason) == ([], ["rita"], "night shift")


@pytest.mark.django_db
def test_the_queue_lease_time_is_what_a_claim_gets(reviewer) -> None:
    from datetime import timedelta

    from review.services import claim_next_case

    queue = Queue.objects.get(slug="general")
    Queue.objects.filter(pk=queue.pk).update(lease_minutes=3)
    make_case()
    case = claim_next_case(actor=reviewer, queue=Queue.objects.get(pk=queue.pk))
    assert case.lease_expires_at - case.claimed_at == timedelta(minutes=3)


@pytest.mark.django_db
def test_a_queue_change_needs_a_reason(client, policy_admin) -> None:
    queue = Queue.objects.get(slug="general")
    client.force_login(policy_admin)
    response = client.post(reverse("console:policy_queue", args=[queue.pk]), {
        "name": "General", "priority": 5, "sla_minutes": 120, "lease_minutes": 3})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not AuditEntry.objects.filter(verb=AuditVerb.QUEUE_CHANGED).exists()


@pytest.mark.django_db
def test_marking_a_category_sensitive_blurs_its_cases_for_reviewers(client, policy_admin, reviewer) -> None:
    client.force_login(policy_admin)
    client.post(reverse("console:policy_category", args=["hate"]),
                {"description": "Hate.", "sensitive": "on", "reason": "wellness"})
    assert Category.objects.get(slug="hate").sensitive is True
    after = AuditEntry.objects.get(verb=AuditVerb.CATEGORY_CHANGED).after
    assert (after["description"], after["sensitive"]) == ("Hate.", True)
    case = hold(make_case(), reviewer)
    client.force_login(reviewer)
    assert client.get(reverse("review:case", args=[case.pk])).context["blurred"] is True
    client.post(reverse("console:settings"), {})  # the reviewer turns blurring off for themselves
    assert client.get(reverse("review:case", args=[case.pk])).context["blurred"] is False
