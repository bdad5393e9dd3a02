"""Authenticating integration keys on the API's hot path."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from django.utils import timezone

from review.models import ApiKey

LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(secret: str) -> ApiKey | None:
    """The active key with this secret, or None. Never logs the secret.

    The lookup is by SHA-256 of the secret, so response time says nothing
    about how much of a guess was right; the final compare is constant-time
    all the same.
    """
    if not secret.startswith(ApiKey.PREFIX) or len(secret) > 100:
        return None
    digest = hash_key(secret)
    key = ApiKey.objects.active().select_related("integration").filter(key_hash=digest).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    _touch(key)
    return key


def _touch(key: ApiKey) -> None:
    # One write a minute per key at most: "last used" to the minute is what
    # people need, and a write per request would cost the hot path.
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
