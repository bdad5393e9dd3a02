"""The account status the platform's gateway reads on its hot path.

Each change of an account's actions writes the answer to the cache on
commit, so a warm read is one cache GET and no database query; a miss reads
the database once and fills the cache.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import Account, Action, ActionKind, ActionState, EnforcementState, StatusDirty
from console import ratelimit
from console.cache import raw_key, redis_client
from review.apikeys import authenticate
from review.intake import MAX_USER_CHARS, hash_user_id
from review.models import Scope

TTL_SECONDS = 24 * 3600  # refreshed on every change; the TTL only bounds memory
SEVERITY = [ActionKind.WARN, ActionKind.RESTRICT, ActionKind.SUSPEND, ActionKind.TERMINATE]


def cache_key(integration_id: int, user_hash: str) -> str:
    # Stored and read as JSON bytes, as they are: past the cache framework's versioning and pickling.
    return raw_key(f"docket:status:{integration_id}:{user_hash}")


def _get(key: str) -> bytes | None:
    client = redis_client()
    return client.get(key) if client is not None else cache.get(key)


def _set(key: str, body: bytes) -> None:
    client = redis_client()
    if client is not None:
        client.set(key, body, ex=TTL_SECONDS)
    else:
        cache.set(key, body, TTL_SECONDS)


def state_for(actions: list[Action]) -> str:
    in_force = [ActionKind(a.kind) for a in actions]
    if not in_force:
        return EnforcementState.ACTIVE
    return max(in_force, key=SEVERITY.index).state


def render_status(account: Account | None, actions: list[Action]) -> bytes:
    body: dict[str, Any] = {
        "state": state_for(actions) if account else EnforcementState.ACTIVE,
        "actions": [
            {
                "id": a.pk,
                "kind": a.kind,
                "scope": a.scope or None,
                "applied_at": a.applied_at.isoformat() if a.applied_at else None,
                "ends_at": a.ends_at.isoformat() if a.ends_at else None,
            }
            for a in actions
        ],
        "as_of": timezone.now().isoformat(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def load_status(integration_id: int, user_hash: str) -> bytes:
    """The status JSON: from the cache, or from the database (then cached)."""
    key = cache_key(integration_id, user_hash)
    try:
        cached = _get(key)
    except Exception:
        cached, key = None, ""
    if cached is not None:
        return cached
    return status_from_database(integration_id, user_hash, fill_cache=bool(key))


def status_from_database(integration_id: int, user_hash: str, *, fill_cache: bool) -> bytes:
    """The status JSON read from the database after a cache miss; cached for the next read if `fill_cache`."""
    account = Account.objects.filter(integration_id=integration_id, user_hash=user_hash).first()
    actions = list(account.actions.in_force().order_by("applied_at")) if account else []
    body = render_status(account, actions)
    if fill_cache:
        with contextlib.suppress(Exception):  # served from the database this time
            _set(cache_key(integration_id, user_hash), body)
    return body


def publish_on_commit(account: Account) -> None:
    """After the transaction that changed the account's actions commits, write its new status."""

    transaction.on_commit(lambda: publish(account))


def publish(account: Account) -> bool:
    """Write the account's status to the cache; if the cache is down, remember to do it later."""
    actions = list(Action.objects.filter(account=account, state=ActionState.APPLIED).order_by("applied_at"))
    try:
        _set(cache_key(account.integration_id, account.user_hash), render_status(account, actions))
    except Exception:
        # The cache may still hold the old answer when it comes back: the
        # sweep (publish_dirty_statuses) overwrites it.
        StatusDirty.objects.get_or_create(account=account, defaults={"since": timezone.now()})
        return False
    return True


def publish_dirty() -> int:
    published = 0
    for dirty in StatusDirty.objects.select_related("account")[:1000]:
        if publish(dirty.account):
            StatusDirty.objects.filter(pk=dirty.pk, since=dirty.since).delete()
            published += 1
    return published


def _json_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(json.dumps({"error": message}), status=status, content_type="application/json")


def _too_many(exceeded: ratelimit.Exceeded) -> HttpResponse:
    response = _json_error(429, exceeded.message)
    response["Retry-After"] = str(exceeded.retry_after)
    return response


def status_view(request: HttpRequest, user: str) -> HttpResponse:
    """The gateway's hot path as a plain Django view: key check, one cache read, pre-rendered JSON.

    Routed ahead of the API router because django-ninja's per-request work
    (operation setup, auth classes, schema handling) cost as much as the rest
    of the request; the answers and errors are the same as the API's.
    """
    if request.method != "GET":
        return _json_error(405, "Use GET.")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        if over := ratelimit.note_auth_failure(request):
            return _too_many(over)
        response = _json_error(401, "A valid API key is required: send 'Authorization: Bearer <key>'.")
        response["WWW-Authenticate"] = "Bearer"
        return response
    refusal = None
    if Scope.STATUS_READ.value not in key.scopes:
        refusal = _json_error(403, f"This API key lacks the scope {Scope.STATUS_READ.value!r}.")
    elif not user or len(user) > MAX_USER_CHARS:
        refusal = _json_error(400, f"user must be 1 to {MAX_USER_CHARS} characters.")
    if refusal is not None:
        over = ratelimit.check_key(key.key_hash, key.rate_per_minute)
        return _too_many(over) if over else refusal
    # The rate counter and the cached answer in one round trip to the cache.
    user_hash = hash_user_id(user)
    counted = ratelimit.check_key_and_read(key.key_hash, key.rate_per_minute, cache_key(key.integration_id, user_hash))
    if counted.exceeded:
        return _too_many(counted.exceeded)
    body = counted.value
    if body is None:
        body = status_from_database(key.integration_id, user_hash, fill_cache=counted.cache_up)
    return HttpResponse(body, content_type="application/json")
