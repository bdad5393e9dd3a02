"""Integrations and their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from console.audit import record
from console.models import AuditVerb
from review.apikeys import forget, hash_key
from review.models import ApiKey, Integration, PolicyProfile, Scope


@transaction.atomic
def create_integration(*, actor: Any, name: str, profile: PolicyProfile, webhook_url: str = "") -> Integration:
    """Create an integration; a webhook URL given here becomes its first endpoint (every event).

    The endpoint's signing secret is left on `integration.webhook_secret`
    for the caller to show once; it is not kept anywhere else in the clear
    but on the endpoint itself.
    """
    from accounts.services.webhooks import create_endpoint

    integration = Integration.objects.create(name=name, profile=profile, webhook_url=webhook_url)
    record(
        actor=actor,
        verb=AuditVerb.INTEGRATION_CREATED,
        target=integration,
        after={"name": name, "profile": profile.name, "webhook_url": webhook_url},
    )
    integration.webhook_secret = None  # type: ignore[attr-defined]
    if webhook_url:
        _, integration.webhook_secret = create_endpoint(  # type: ignore[attr-defined]
            actor=actor, integration=integration, url=webhook_url, events=[]
        )
    return integration


@transaction.atomic
def update_integration(
    *, actor: Any, integration: Integration, profile: PolicyProfile, is_active: bool, reason: str
) -> Integration:
    locked = Integration.objects.select_for_update().get(pk=integration.pk)
    before = {"profile": locked.profile.name, "is_active": locked.is_active}
    locked.profile, locked.is_active = profile, is_active
    locked.save(update_fields=["profile", "is_active"])
    forget(list(locked.api_keys.values_list("key_hash", flat=True)))
    after = {"profile": profile.name, "is_active": is_active}
    record(actor=actor, verb=AuditVerb.INTEGRATION_CHANGED, target=locked, before=before, after=after, reason=reason)
    return locked


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once, never stored


@transaction.atomic
def create_api_key(
    *, actor: Any, integration: Integration, name: str, scopes: list[Scope], rate_per_minute: int | None = None
) -> NewKey:
    """A new key; `rate_per_minute` None means the default limit (DOCKET_API_RATE_PER_MINUTE)."""
    secret = ApiKey.generate()
    key = ApiKey.objects.create(
        integration=integration,
        name=name,
        prefix=secret[:10],
        key_hash=hash_key(secret),
        scopes=sorted(s.value for s in scopes),
        rate_per_minute=rate_per_minute,
        created_by=actor if isinstance(actor, User) else None,
    )
    record(
        actor=actor,
        verb=AuditVerb.API_KEY_CREATED,
        target=key,
        after={
            "integration": integration.name,
            "name": name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "rate_per_minute": rate_per_minute,
        },
    )
    return NewKey(key=key, secret=secret)


@transaction.atomic
def set_api_key_rate(*, actor: Any, key: ApiKey, rate_per_minute: int | None, reason: str = "") -> ApiKey:
    """Change how many requests a minute the key may make (None: the default). Takes effect within seconds."""
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        raise ValueError("This key is revoked; its limit no longer matters.")
    before = {"rate_per_minute": locked.rate_per_minute}
    locked.rate_per_minute = rate_per_minute
    locked.save(update_fields=["rate_per_minute"])
    forget([locked.key_hash])  # the caches hold the old limit with the key
    record(
        actor=actor,
        verb=AuditVerb.API_KEY_RATE_CHANGED,
        target=locked,
        before=before,
        after={"rate_per_minute": rate_per_minute},
        reason=reason,
    )
    return locked


@transaction.atomic
def revoke_api_key(*, actor: Any, key: ApiKey, reason: str = "") -> ApiKey:
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        raise ValueError("This key is already revoked.")
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor if isinstance(actor, User) else None
    locked.save(update_fields=["revoked_at", "revoked_by"])
    forget([locked.key_hash])
    record(actor=actor, verb=AuditVerb.API_KEY_REVOKED, target=locked, after={"prefix": locked.prefix}, reason=reason)
    return locked
