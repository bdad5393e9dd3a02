"""Demo data for `manage.py seed_demo`. Each area adds a step to DEMO_STEPS."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model

from console.audit import SystemActor
from console.roles import Role
from console.services import create_staff

DEMO_PASSWORD = "docket-demo-2026"  # noqa: S105 - published on purpose: demo data only
DEMO_ACTOR = SystemActor("seed_demo")

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


def _steps() -> list[Callable[[Callable[[str], None]], None]]:
    from accounts.demo import seed_enforcement
    from review.demo import seed_flags, seed_integrations

    return [seed_staff, seed_integrations, seed_flags, seed_enforcement]
