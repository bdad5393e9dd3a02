from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import AuditEntry, AuditVerb
from review.apikeys import hash_key
from review.models import ApiKey, Integration, PolicyProfile
from tests.factories import Api, flag_payload, make_integration


@pytest.mark.django_db
def test_ops_creates_an_integration_and_it_is_audited(client, ops) -> None:
    client.force_login(ops)
    profile = PolicyProfile.objects.get(name="Default")
    response = client.post(reverse("review:integration_new"),
                           {"name": "Acme", "profile": profile.pk, "webhook_url": "https://acme.example/hooks"})
    integration = Integration.objects.get(name="Acme")
    entry = AuditEntry.objects.get(verb=AuditVerb.INTEGRATION_CREATED)
    assert (entry.actor_label, entry.after["webhook_url"]) == ("otto", "https://acme.example/hooks")
    # The URL became the integration's first webhook endpoint; its secret is shown this once.
    endpoint = integration.webhook_endpoints.get()
    assert (endpoint.url, endpoint.events) == ("https://acme.example/hooks", [])
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert endpoint.secret in response.content.decode()
    assert AuditEntry.objects.filter(verb=AuditVerb.WEBHOOK_ENDPOINT_CREATED).count() == 1


@pytest.mark.django_db
def test_an_integration_without_a_webhook_goes_straight_to_its_page(client, ops) -> None:
    client.force_login(ops)
    profile = PolicyProfile.objects.get(name="Default")
    response = client.post(reverse("review:integration_new"), {"name": "Acme", "profile": profile.pk})
    integration = Integration.objects.get(name="Acme")
    assert response.status_code == 302 and response["Location"] == reverse("review:integration", args=[integration.pk])
    assert not integration.webhook_endpoints.exists()


@pytest.mark.django_db
def test_a_plain_http_webhook_is_refused_with_a_form_error(client, ops) -> None:
    client.force_login(ops)
    profile = PolicyProfile.objects.get(name="Default")
    response = client.post(reverse("review:integration_new"),
                           {"name": "Acme", "profile": profile.pk, "webhook_url": "http://acme.example/hooks"})
    assert response.status_code == 200
    assert "Webhooks go over HTTPS" in response.content.decode()
    assert not Integration.objects.exists()


@pytest.mark.django_db
def test_a_new_key_is_shown_once_and_stored_only_as_its_hash(client, policy_admin) -> None:
    client.force_login(policy_admin)
    integration = make_integration("Acme")
    response = client.post(reverse("review:key_new", args=[integration.pk]),
                           {"name": "gateway", "scopes": ["flags:write", "status:read"]})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = response.context["new"].secret
    assert secret.startswith("dk_") and secret in response.content.decode()
    key = ApiKey.objects.get(integration=integration)
    assert key.key_hash == hash_key(secret) and key.scopes == ["flags:write", "status:read"]
    assert not ApiKey.objects.filter(key_hash=secret).exists()
    page = client.get(reverse("review:integration", args=[integration.pk])).content.decode()
    assert secret not in page and key.prefix in page
    entry = AuditEntry.objects.get(verb=AuditVerb.API_KEY_CREATED)
    assert secret not in str(entry.after) and entry.after["scopes"] == ["flags:write", "status:read"]


@pytest.mark.django_db
def test_a_key_needs_at_least_one_scope(client, ops) -> None:
    client.force_login(ops)
    integration = make_integration("Acme")
    response = client.post(reverse("review:key_new", args=[integration.pk]), {"name": "gateway"})
    assert response.status_code == 400 and not ApiKey.objects.exists()


@pytest.mark.django_db
def test_a_revoked_key_is_refused_at_once_and_the_revocation_audited(client, ops) -> None:
    client.force_login(ops)
    integration = make_integration("Acme")
    created = client.post(reverse("review:key_new", args=[integration.pk]), {"name": "gw", "scopes": ["flags:write"]})
    secret = created.context["new"].secret
    api = Api(client, secret)
    assert api.post_flags(flag_payload()).status_code == 200
    key = ApiKey.objects.get()
    assert key.last_used_at is not None
    client.post(reverse("review:key_revoke", args=[integration.pk, key.pk]), {"reason": "leaked in a log"})
    response = api.post_flags(flag_payload())
    assert response.status_code == 401 and "valid API key" in response.json()["error"]
    entry = AuditEntry.objects.get(verb=AuditVerb.API_KEY_REVOKED)
    assert (entry.actor_label, entry.reason) == ("otto", "leaked in a log")


@pytest.mark.django_db
def test_changing_an_integration_needs_a_reason_and_is_audited(client, ops) -> None:
    client.force_login(ops)
    integration = make_integration("Acme")
    url = reverse("review:integration_edit", args=[integration.pk])
    profile = PolicyProfile.objects.get(name="Default")
    assert client.post(url, {"profile": profile.pk, "is_active": ""}).status_code == 400
    client.post(url, {"profile": profile.pk, "reason": "platform retired"})
    integration.refresh_from_db()
    assert integration.is_active is False
    entry = AuditEntry.objects.get(verb=AuditVerb.INTEGRATION_CHANGED)
    assert (entry.before["is_active"], entry.after["is_active"], entry.reason) == (True, False, "platform retired")


@pytest.mark.django_db
def test_integration_names_are_escaped_on_the_list(client, ops) -> None:
    client.force_login(ops)
    make_integration("<script>alert(1)</script>")
    body = client.get(reverse("review:integrations")).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
