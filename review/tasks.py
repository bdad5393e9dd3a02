from __future__ import annotations

from django.tasks import task

from review.services import expire_leases


@task
def expire_case_leases() -> int:
    """Return cases whose reviewer's lease ran out to their queues. Safe to run twice."""
    return expire_leases()
