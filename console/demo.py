"""Demo data for `manage.py seed_demo`. Each area adds a step to DEMO_STEPS."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from console.audit import SystemActor
from console.roles import Role
from console.services import create_staff

DEMO_PASSWORD = "docket-demo-2026"  # noqa: S105 - published on purpose: demo data only
DEMO_ACTOR = SystemActor("seed_demo")
HISTORY_DAYS = 31  # the demo's staff and integrations were set up this long ago; its flags span the 30 days since

DEMO_STAFF: list[tuple[str, Role]] = [
    ("reviewer", Role.REVIEWER),
    ("reviewer2", Role.REVIEWER),
    ("senior", Role.SENIOR_REVIEWER),
    ("senior2", Role.SENIOR_REVIEWER),
    ("policy", Role.POLICY_ADMIN),
    ("ops", Role.OPS),
    ("auditor", Role.AUDITOR),
    ("admin", Role.STAFF_ADMIN),
]


def seed_staff(log: Callable[[str], None]) -> None:
    User = get_user_model()
    for username, role in DEMO_STAFF:
        if not User.objects.filter(username=username).exists():
            create_staff(actor=DEMO_ACTOR, username=username, password=DEMO_PASSWORD, role=role)
    log(f"staff: {len(DEMO_STAFF)} demo users")


@contextmanager
def demo_clock(start: datetime) -> Iterator[Callable[[datetime], None]]:
    """Run the real services as if at past moments, so the demo has a history the dashboard can show.

    Yields `move_to(moment)`; every `timezone.now()` inside answers that
    moment. The history is written through the same services as live work,
    so its audit entries, violations and account states are what that work
    would have left, dated when it would have happened.
    """
    from freezegun import freeze_time

    with freeze_time(start) as frozen:
        yield frozen.move_to


@contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Hush a logger below warnings: one "task ran" line per decision would drown the summary."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _set_up_earlier(step: Callable[[Callable[[str], None]], None]) -> Callable[[Callable[[str], None]], None]:
    def run(log: Callable[[str], None]) -> None:
        with demo_clock(timezone.now() - timedelta(days=HISTORY_DAYS)):
            step(log)

    return run


def seed_hourly_counts(log: Callable[[str], None]) -> None:
    """Count the demo's history into the dashboard's hourly counts (what the periodic job keeps up to date)."""
    from console.aggregates import backfill, mark_up_to_date

    now = timezone.now()
    written = backfill(start=now - timedelta(days=HISTORY_DAYS + 5), end=now)
    mark_up_to_date(now)
    log(f"dashboard: {written} hourly counts written")


def _steps() -> list[Callable[[Callable[[str], None]], None]]:
    from accounts.demo import seed_enforcement
    from review.demo import seed_flags, seed_integrations, seed_review_history

    return [
        _set_up_earlier(seed_staff),
        _set_up_earlier(seed_integrations),
        seed_flags,
        seed_review_history,
        seed_enforcement,
        seed_hourly_counts,
    ]
