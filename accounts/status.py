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
from django.utils import timezone

from accounts.models import Account, Action, ActionKind, ActionState, EnforcementState, StatusDirty

TTL_SECONDS = 24 * 3600  # refreshed on every change; the TTL only bounds memory
SEVERITY = [ActionKind.WARN, ActionKind.RESTRICT, ActionKind.SUSPEND, ActionKind.TERMINATE]


def cache_key(integration_id: int, user_hash: str) -> str:
    return f"docket:status:{integration_id}:{user_hash}"


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
        cached = cache.get(key)
    except Exception:
        cached, key = None, ""
    if cached is not None:
        return cached
    account = Account.objects.filter(integration_id=integration_id, user_hash=user_hash).first()
    actions = list(account.actions.in_force().order_by("applied_at")) if account else []
    body = render_status(account, actions)
    if key:
        with contextlib.suppress(Exception):  # served from the database this time
            cache.set(key, body, TTL_SECONDS)
    return body


def publish_on_commit(account: Account) -> None:
    """After the transaction that changed the account's actions commits, write its new status."""

    transaction.on_commit(lambda: publish(account))


def publish(account: Account) -> bool:
    """Write the account's status to the cache; if the cache is down, remember to do it later."""
    actions = list(Action.objects.filter(account=account, state=ActionState.APPLIED).order_by("applied_at"))
    try:
        cache.set(cache_key(account.integration_id, account.user_hash), render_status(account, actions), TTL_SECONDS)
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
