from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from accounts.services.webhooks import create_endpoint
from console.models import AuditEntry, AuditVerb
from tests.factories import make_integration


def make_endpoint(integration: Any = None, url: str = "https://hooks.example/docket") -> WebhookEndpoint:
    endpoint, _ = create_endpoint(actor=None, integration=integration or make_integration(), url=url, events=[])
    return endpoint


def make_delivery(endpoint: WebhookEndpoint | None = None, *, type: str = WebhookEventType.ACTION_APPLIED,
                  **fields: Any) -> WebhookDelivery:
    endpoint = endpoint or make_endpoint()
    now = timezone.now()
    event = WebhookEvent.objects.create(integration=endpoint.integration, type=type, created_at=now,
                                        payload={"type": type, "account": "ab" * 32})
    fields.setdefault("next_attempt_at", now)
    return WebhookDelivery.objects.create(event=event, endpoint=endpoint, **fields)


@pytest.mark.django_db
def test_a_new_endpoint_shows_its_secret_once_and_stores_it(client, ops) -> None:
    integration = make_integration("Acme")
    client.force_login(ops)
    response = client.post(reverse("accounts:webhook_endpoints", args=[integration.pk]),
                           {"url": "https://acme.example/hooks", "events": ["action.lifted", "action.applied"]})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    endpoint = WebhookEndpoint.objects.get(integration=integration)
    assert (endpoint.url, endpoint.secret, endpoint.events) == (
        "https://acme.example/hooks", secret, ["action.applied", "action.lifted"])
    page = client.get(reverse("accounts:webhook_endpoints", args=[integration.pk])).content.decode()
    assert "https://acme.example/hooks" in page and secret not in page
    entry = AuditEntry.objects.get(verb=AuditVerb.WEBHOOK_ENDPOINT_CREATED)
    assert entry.actor_label == "otto" and secret not in str(entry.after)


@pytest.mark.django_db
def test_no_event_ticked_means_every_event(client, policy_admin) -> None:
    integration = make_integration()
    client.force_login(policy_admin)
    client.post(reverse("accounts:webhook_endpoints", args=[integration.pk]), {"url": "https://acme.example/h"})
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == [] and all(endpoint.wants(t) for t in WebhookEventType)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://acme.example/hooks", "http://10.0.0.5/hooks", "ftp://acme.example/x"])
def test_plain_http_to_a_public_host_is_refused(client, ops, url) -> None:
    integration = make_integration()
    client.force_login(ops)
    response = client.post(reverse("accounts:webhook_endpoints", args=[integration.pk]), {"url": url})
    assert response.status_code == 400 and "url" in response.context["form"].errors
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_plain_http_to_localhost_is_allowed_for_testing(client, ops) -> None:
    integration = make_integration()
    client.force_login(ops)
    response = client.post(reverse("accounts:webhook_endpoints", args=[integration.pk]),
                           {"url": "http://127.0.0.1:9000/hooks"})
    assert response.status_code == 200
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:9000/hooks"


@pytest.mark.django_db
def test_a_second_endpoint_with_the_same_url_is_refused(client, ops) -> None:
    endpoint = make_endpoint(url="https://acme.example/hooks")
    client.force_login(ops)
    response = client.post(reverse("accounts:webhook_endpoints", args=[endpoint.integration_id]),
                           {"url": "https://acme.example/hooks"})
    assert response.status_code == 400 and "already sends events to this URL" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.django_db
def test_the_deliveries_list_filters_by_state_event_and_integration(client, ops) -> None:
    acme, other = make_endpoint(make_integration("Acme")), make_endpoint(make_integration("Other"))
    delivered = make_delivery(acme, state=DeliveryState.DELIVERED, attempts=1, last_status=200,
                              delivered_at=timezone.now())
    failed = make_delivery(acme, type=WebhookEventType.ACTION_LIFTED, state=DeliveryState.FAILED, attempts=9,
                           last_status=500, last_error="HTTP 500")
    pending = make_delivery(other, attempts=2, last_error="Connection refused",
                            next_attempt_at=timezone.now() + timedelta(minutes=4))
    client.force_login(ops)

    def listed(**params: Any) -> list[int]:
        response = client.get(reverse("accounts:webhook_deliveries"), params)
        assert response.status_code == 200
        return [d.pk for d in response.context["page"].items]

    assert listed() == [pending.pk, failed.pk, delivered.pk]
    assert listed(state="failed") == [failed.pk]
    assert listed(event="action.applied") == [pending.pk, delivered.pk]
    assert listed(integration=acme.integration_id) == [failed.pk, delivered.pk]
    assert listed(integration=acme.integration_id, state="pending") == []
    page = client.get(reverse("accounts:webhook_deliveries")).content.decode()
    assert "Connection refused" in page and "HTTP 500" in page and "Failed (gave up)" in page


@pytest.mark.django_db
def test_the_deliveries_list_pages_by_keyset(client, ops) -> None:
    endpoint = make_endpoint()
    made = [make_delivery(endpoint).pk for _ in range(53)]
    client.force_login(ops)
    first = client.get(reverse("accounts:webhook_deliveries")).context["page"]
    second = client.get(reverse("accounts:webhook_deliveries") + "?" + first.next_query).context["page"]
    assert [d.pk for d in first.items + second.items] == sorted(made, reverse=True)
    assert second.next_query is None


@pytest.mark.django_db
def test_the_deliveries_list_costs_the_same_queries_for_3_or_40_deliveries(client, ops,
                                                                           django_assert_num_queries) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        make_delivery()
    client.force_login(ops)
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("accounts:webhook_deliveries"))
    for i in range(37):
        make_delivery(make_endpoint() if i % 3 == 0 else None, state=DeliveryState.DELIVERED)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("accounts:webhook_deliveries"))


@pytest.mark.django_db
def test_redeliver_makes_a_new_pending_delivery_enqueues_it_and_audits_it(
    client, ops, django_capture_on_commit_callbacks
) -> None:
    failed = make_delivery(state=DeliveryState.FAILED, attempts=9, last_status=503)
    client.force_login(ops)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("accounts:webhook_redeliver", args=[failed.pk]), {"back": "?state=failed"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:webhook_deliveries") + (
        "?state=failed")
    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.event_id, again.endpoint_id, again.state, again.attempts) == (
        failed.event_id, failed.endpoint_id, DeliveryState.PENDING, 0)
    assert len(callbacks) == 1
    entry = AuditEntry.objects.get(verb=AuditVerb.WEBHOOK_REDELIVERED)
    assert (entry.actor_label, entry.target_id, entry.after) == (
        "otto", str(again.pk), {"event": failed.event_id, "of_delivery": failed.pk})
    assert WebhookDelivery.objects.get(pk=failed.pk).state == DeliveryState.FAILED


@pytest.mark.django_db
def test_redeliver_from_the_detail_page_goes_to_the_new_delivery(client, policy_admin) -> None:
    delivered = make_delivery(state=DeliveryState.DELIVERED)
    client.force_login(policy_admin)
    response = client.post(reverse("accounts:webhook_redeliver", args=[delivered.pk]))
    again = WebhookDelivery.objects.latest("pk")
    assert again.pk != delivered.pk
    assert response["Location"] == reverse("accounts:webhook_delivery", args=[again.pk])


@pytest.mark.django_db
def test_a_delivery_lists_its_attempts(client, ops) -> None:
    delivery = make_delivery(state=DeliveryState.DELIVERED, attempts=2, last_status=200)
    now = timezone.now()
    WebhookAttempt.objects.create(delivery=delivery, at=now - timedelta(minutes=1), status=None,
                                  error="timed out", duration_ms=10000)
    WebhookAttempt.objects.create(delivery=delivery, at=now, status=200, duration_ms=85)
    client.force_login(ops)
    response = client.get(reverse("accounts:webhook_delivery", args=[delivery.pk]))
    assert [a.error for a in response.context["attempts"]] == ["", "timed out"]
    page = response.content.decode()
    assert "timed out" in page and "10000" in page and "action.applied" in page


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reviewer", "senior", "auditor"])
def test_only_ops_and_policy_admins_reach_webhooks(client, request, persona) -> None:
    delivery = make_delivery()
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("accounts:webhook_deliveries")).status_code == 403
    assert client.post(reverse("accounts:webhook_redeliver", args=[delivery.pk])).status_code == 403
    assert client.post(reverse("accounts:webhook_endpoints", args=[delivery.endpoint.integration_id]),
                       {"url": "https://x.example/h"}).status_code == 403
    assert WebhookDelivery.objects.count() == 1 and WebhookEndpoint.objects.count() == 1
