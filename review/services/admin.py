"""Policy admins' changes to queues and categories."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from console.audit import record
from console.models import AuditVerb
from console.versioning import require_reason
from review.adapters.defaults import HARM_DIMENSIONS
from review.models import CHILD_SAFETY, Category, Queue


def _queue_state(queue: Queue) -> dict[str, Any]:
    return {
        "name": queue.name,
        "description": queue.description,
        "priority": queue.priority,
        "sla_minutes": queue.sla_minutes,
        "lease_minutes": queue.lease_minutes,
        "members": sorted(queue.members.values_list("username", flat=True)),
    }


@transaction.atomic
def update_queue(
    *,
    actor: User,
    queue: Queue,
    name: str,
    description: str,
    priority: int,
    sla_minutes: int,
    lease_minutes: int,
    members: list[User],
    reason: str,
) -> Queue:
    locked = Queue.objects.select_for_update().get(pk=queue.pk)
    before = _queue_state(locked)
    locked.name, locked.description, locked.priority = name, description, priority
    locked.sla_minutes, locked.lease_minutes = sla_minutes, lease_minutes
    locked.save(update_fields=["name", "description", "priority", "sla_minutes", "lease_minutes"])
    locked.members.set(members)
    record(actor=actor, verb=AuditVerb.QUEUE_CHANGED, target=locked, before=before, after=_queue_state(locked),
           reason=reason)
    return locked


def _category_state(category: Category) -> dict[str, Any]:
    return {
        "description": category.description,
        "harm_dimensions": list(category.harm_dimensions),
        "sensitive": category.sensitive,
        "adjustable": category.adjustable,
    }


@transaction.atomic
def update_category(
    *,
    actor: User,
    category: Category,
    description: str,
    sensitive: bool,
    reason: str,
    harm_dimensions: list[str] | None = None,
    adjustable: bool | None = None,
) -> Category:
    """Change what reviewers read about a category, its harm dimensions, blurring, and whether profiles may
    change its threshold. Audited, not versioned: it is the taxonomy, not a policy document."""
    reason = require_reason(reason, what="A category change")
    locked = Category.objects.select_for_update().get(pk=category.pk)
    before = _category_state(locked)
    if harm_dimensions is not None:
        unknown = set(harm_dimensions) - set(HARM_DIMENSIONS)
        if unknown:
            raise ValueError(f"“{sorted(unknown)[0]}” is not a harm dimension.")
        locked.harm_dimensions = [d for d in HARM_DIMENSIONS if d in harm_dimensions]
    if adjustable is not None:
        if adjustable and locked.slug == CHILD_SAFETY:
            raise ValueError("Child safety is never adjustable: every signal is reviewed, first.")
        locked.adjustable = adjustable
    locked.description, locked.sensitive = description, sensitive
    locked.save(update_fields=["description", "sensitive", "harm_dimensions", "adjustable"])
    record(actor=actor, verb=AuditVerb.CATEGORY_CHANGED, target=locked, before=before,
           after=_category_state(locked), reason=reason)
    return locked


@transaction.atomic
def create_queue(
    *,
    actor: User,
    name: str,
    slug: str,
    description: str,
    priority: int,
    sla_minutes: int,
    lease_minutes: int,
    members: list[User],
    reason: str,
) -> Queue:
    """A new review queue; routing rules send cases to it."""
    reason = require_reason(reason, what="A new queue")
    if Queue.objects.filter(slug=slug).exists() or Queue.objects.filter(name__iexact=name).exists():
        raise ValueError("A queue with this name or slug already exists.")
    queue = Queue.objects.create(name=name, slug=slug, description=description, priority=priority,
                                 sla_minutes=sla_minutes, lease_minutes=lease_minutes)
    queue.members.set(members)
    record(actor=actor, verb=AuditVerb.QUEUE_CREATED, target=queue, after={**_queue_state(queue), "slug": slug},
           reason=reason)
    return queue
