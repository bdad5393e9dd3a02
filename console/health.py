"""What /healthz checks: the database and Redis answer, and how long ago a worker and the counts last ran.

The answer is public (load balancers and orchestrators call it without
credentials), so it says only "ok" or "unreachable" and ages in seconds:
never a host name, an address or an error message.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

# A heartbeat older than this says the scheduler or the workers have stopped
# (the job runs every minute).
WORKER_STALE_AFTER = timedelta(minutes=3)
_clients: dict[str, redis.Redis] = {}


def _redis_client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return client


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("health: the database did not answer", exc_info=True)
        return False


def check_redis() -> bool | None:
    """True or False, or None when no Redis is configured."""
    if not settings.REDIS_URL:
        return None
    try:
        return bool(_redis_client(settings.REDIS_URL).ping())
    except Exception:
        logger.warning("health: Redis did not answer", exc_info=True)
        return False


def _age(name: str, now: Any) -> float | None:
    from console.models import Heartbeat

    beat = Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()
    return round((now - beat).total_seconds(), 1) if beat else None


def report() -> tuple[bool, dict[str, Any]]:
    """(healthy, the JSON body). Healthy: the database answers, and Redis too when it is configured."""
    from console.aggregates import LAST_RUN

    now = timezone.now()
    database = check_database()
    cache = check_redis()
    worker_age = counts_age = None
    if database:
        worker_age, counts_age = _age("worker", now), _age(LAST_RUN, now)
    if worker_age is None:
        worker = "never seen"
    elif worker_age > WORKER_STALE_AFTER.total_seconds():
        worker = "stale"
    else:
        worker = "ok"
    healthy = database and cache is not False
    return healthy, {
        "status": "ok" if healthy else "unavailable",
        "database": "ok" if database else "unreachable",
        "redis": "not configured" if cache is None else "ok" if cache else "unreachable",
        "worker": {"status": worker, "heartbeat_age_seconds": worker_age},
        "hourly_counts_age_seconds": counts_age,
        "task_backend": settings.DOCKET_TASK_BACKEND,
    }
