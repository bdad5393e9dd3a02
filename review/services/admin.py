"""Policy admins' changes to queues and categories."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from console.audit import record
from console.models import AuditVerb
from review.models import Category, Queue


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
    actor: AbstractBaseUser,
    queue: Queue,
    name: str,
    description: str,
    priority: int,
    sla_minutes: int,
    lease_minutes: int,
    members: list[AbstractBaseUser],
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


@transaction.atomic
def update_category(*, actor: AbstractBaseUser, category: Category, description: str, sensitive: bool,
                    reason: str) -> Category:
    """Change what reviewers read about a category and whether its text is blurred."""
    locked = Category.objects.select_for_update().get(pk=category.pk)
    before = {"description": locked.description, "sensitive": locked.sensitive}
    locked.description, locked.sensitive = description, sensitive
    locked.save(update_fields=["description", "sensitive"])
    record(actor=actor, verb=AuditVerb.CATEGORY_CHANGED, target=locked, before=before,
           after={"description": description, "sensitive": sensitive}, reason=reason)
    return locked
