"""Authenticating integration keys on the API's hot path.

A key is looked up by the SHA-256 of its secret: first in this process's
memory (for a few seconds), then in the shared cache, then in the database.
Revoking a key or deactivating its integration removes it from the shared
cache and from this process at once; other processes let go of it within
LOCAL_SECONDS.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from review.models import ApiKey

LAST_USED_GRANULARITY = timedelta(minutes=1)
LOCAL_SECONDS = 5.0
SHARED_SECONDS = 300
_MISSING = "missing"
_local: dict[str, tuple[float, dict[str, Any] | str]] = {}


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _cache_key(digest: str) -> str:
    return f"docket:apikey:{digest}"


def _fields(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.pk,
        "integration_id": key.integration_id,
        "name": key.name,
        "prefix": key.prefix,
        "key_hash": key.key_hash,
        "scopes": key.scopes,
        "rate_per_minute": key.rate_per_minute,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
    }


def _from_fields(data: dict[str, Any]) -> ApiKey:
    last = data["last_used_at"]
    return ApiKey(
        id=data["id"], integration_id=data["integration_id"], name=data["name"], prefix=data["prefix"],
        key_hash=data["key_hash"], scopes=data["scopes"], rate_per_minute=data.get("rate_per_minute"),
        last_used_at=datetime.fromisoformat(last) if last else None,
    )


def _lookup(digest: str) -> dict[str, Any] | str:
    now = time.monotonic()
    hit = _local.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        found = cache.get(_cache_key(digest))
    except Exception:
        found = None
    if found is None:
        key = ApiKey.objects.active().filter(key_hash=digest).first()
        found = _fields(key) if key else _MISSING
        with contextlib.suppress(Exception):  # served from the database this time
            cache.set(_cache_key(digest), dict(found) if isinstance(found, dict) else found, SHARED_SECONDS)
    if len(_local) > 10_000:
        _local.clear()
    _local[digest] = (now + LOCAL_SECONDS, found)
    return found


def authenticate(secret: str) -> ApiKey | None:
    """The active key with this secret, or None. Never logs the secret.

    The lookup is by SHA-256 of the secret, so response time says nothing
    about how much of a guess was right; the final compare is constant-time
    all the same.
    """
    if not secret.startswith(ApiKey.PREFIX) or len(secret) > 100:
        return None
    digest = hash_key(secret)
    found = _lookup(digest)
    if found == _MISSING or not isinstance(found, dict) or not hmac.compare_digest(found["key_hash"], digest):
        return None
    key = found.get("_key")
    if key is None:  # built once per local cache entry, not once per request
        key = found["_key"] = _from_fields(found)
    _touch(key, digest)
    return key


def forget(digests: list[str]) -> None:
    """Drop keys from the caches now, and again once the revoking transaction commits
    (a request in between could have cached the old row again)."""

    def drop() -> None:
        for digest in digests:
            _local.pop(digest, None)
            with contextlib.suppress(Exception):  # the shared entry expires within SHARED_SECONDS
                cache.delete(_cache_key(digest))

    drop()
    transaction.on_commit(drop)


def _touch(key: ApiKey, digest: str) -> None:
    # One write a minute per key at most: "last used" to the minute is what
    # people need, and a write per request would cost the hot path.
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        entry = _local.get(digest)
        if entry is not None and isinstance(entry[1], dict):
            entry[1]["last_used_at"] = now.isoformat()
            # The shared copy too, or every process would write again once its local copy expires.
            shared = {k: v for k, v in entry[1].items() if k != "_key"}
            with contextlib.suppress(Exception):
                cache.set(_cache_key(digest), shared, SHARED_SECONDS)
