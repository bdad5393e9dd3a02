"""Webhooks to the platform: an outbox written with the change, delivered by a task, signed, retried.

Nothing is lost when Redis or the workers are down: the event and its
deliveries are rows written in the same transaction as the action; the task
enqueued on commit is only a shortcut, and `deliver_due` (a periodic job)
sends whatever is still pending. A delivery is claimed with a short lock
before it is sent, so two workers never send the same one at once.
Receivers get at-least-once delivery and dedupe on `Docket-Event-Id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import (
    Account,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from console.audit import record
from console.models import AuditVerb

log = logging.getLogger(__name__)
GIVE_UP_AFTER = timedelta(hours=24)
MAX_BACKOFF = timedelta(hours=2)
LOCK = timedelta(seconds=60)
TIMEOUT_SECONDS = 10
USER_AGENT = "Docket-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex: the `v1` of the Docket-Signature header."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after each failure, at most two hours apart."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@transaction.atomic
def create_endpoint(*, actor: Any, integration: Any, url: str, events: list[str]) -> tuple[WebhookEndpoint, str]:
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        integration=integration, url=url, secret=secret, events=sorted(events), created_at=timezone.now()
    )
    record(
        actor=actor,
        verb=AuditVerb.WEBHOOK_ENDPOINT_CREATED,
        target=endpoint,
        after={"integration": integration.name, "url": url, "events": endpoint.events},
    )
    return endpoint, secret


def emit(*, account: Account, event_type: WebhookEventType, action: Any) -> WebhookEvent | None:
    """Write the event and one delivery per endpoint that wants it, in the caller's transaction."""
    endpoints = [
        e for e in WebhookEndpoint.objects.filter(integration_id=account.integration_id) if e.wants(event_type)
    ]
    now = timezone.now()
    flags = (
        list(action.evidence.values_list("case__flags__external_id", flat=True).distinct()[:100]) if action.pk else []
    )
    event = WebhookEvent.objects.create(
        integration_id=account.integration_id,
        type=event_type,
        created_at=now,
        payload={
            "type": event_type.value,
            "created_at": now.isoformat(),
            "account": account.user_hash,
            "state": account.state,
            "action": {
                "id": action.pk,
                "kind": action.kind,
                "scope": action.scope or None,
                "state": action.state,
                "applied_at": action.applied_at.isoformat() if action.applied_at else None,
                "ends_at": action.ends_at.isoformat() if action.ends_at else None,
            },
            # Your own request ids of the flags behind it: Docket never had the raw user id.
            "flags": sorted(f for f in flags if f),
        },
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event, endpoint=e, next_attempt_at=now) for e in endpoints]
    )
    for delivery in deliveries:
        transaction.on_commit(partial(_enqueue, delivery.pk))
    return event


def _enqueue(delivery_id: int) -> None:
    from accounts.tasks import deliver_webhook

    try:
        deliver_webhook.enqueue(delivery_id=delivery_id)
    except Exception:
        log.warning("webhook delivery %s not enqueued; the sweep will send it", delivery_id)


def _claim(delivery_id: int, now: datetime) -> bool:
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LOCK)
    )


def deliver(delivery_id: int, *, now: datetime | None = None) -> str:
    """Send one pending delivery if it is due and nobody else is sending it. Safe to run twice."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != DeliveryState.PENDING:
        return "nothing to do"
    if delivery.next_attempt_at > now or not _claim(delivery_id, now):
        return "not due or being sent"
    event, endpoint = delivery.event, delivery.endpoint
    body = json.dumps({"id": event.pk, **event.payload}, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - URLs are http(s) only, validated when saved
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Docket-Event": event.type,
            "Docket-Event-Id": str(event.pk),
            "Docket-Delivery": str(delivery.pk),
            "Docket-Signature": f"t={timestamp},v1={sign(endpoint.secret, timestamp, body)}",
        },
    )
    started = time.monotonic()
    status, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))[:500] or exc.__class__.__name__
    duration = int((time.monotonic() - started) * 1000)
    ok = status is not None and 200 <= status < 300
    # On the caller's clock, like the claim: the backoff and the give-up count from this attempt.
    return _record_attempt(delivery, now=now, status=status, error=error, duration=duration, ok=ok)


@transaction.atomic
def _record_attempt(
    delivery: WebhookDelivery, *, now: datetime, status: int | None, error: str, duration: int, ok: bool
) -> str:
    WebhookAttempt.objects.create(delivery=delivery, at=now, status=status, error=error, duration_ms=duration)
    attempts = delivery.attempts + 1
    changes: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error, "locked_until": None}
    if ok:
        changes.update(state=DeliveryState.DELIVERED, delivered_at=now)
        outcome = "delivered"
    elif now - delivery.event.created_at >= GIVE_UP_AFTER:
        changes.update(state=DeliveryState.FAILED)
        outcome = "gave up"
    else:
        changes.update(next_attempt_at=now + backoff(attempts))
        outcome = "will retry"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    return outcome


def deliver_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Send every pending delivery whose time has come (the outbox sweep)."""
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    # Each send takes the later of the sweep's clock and the real one: late in a long sweep, a
    # claim made with the sweep's start time would lock for less than LOCK, or not at all.
    return sum(deliver(pk, now=max(now, timezone.now())) == "delivered" for pk in list(due))


@transaction.atomic
def redeliver(*, actor: Any, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again to the same endpoint: a new delivery, due now."""
    again = WebhookDelivery.objects.create(
        event=delivery.event, endpoint=delivery.endpoint, next_attempt_at=timezone.now()
    )
    record(
        actor=actor,
        verb=AuditVerb.WEBHOOK_REDELIVERED,
        target=again,
        after={"event": delivery.event_id, "of_delivery": delivery.pk},
    )
    transaction.on_commit(partial(_enqueue, again.pk))
    return again
