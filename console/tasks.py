from __future__ import annotations

from django.db.models import F
from django.tasks import task
from django.utils import timezone

from console.models import Heartbeat


@task
def heartbeat(name: str = "worker") -> None:
    """Prove a worker is alive; running it twice only moves the time forward."""
    updated = Heartbeat.objects.filter(name=name).update(beat_at=timezone.now(), runs=F("runs") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(name=name, defaults={"beat_at": timezone.now(), "runs": 1})
