from __future__ import annotations

from django.tasks import task

from review.services import expire_leases
from review.services.calibration import roll_up_calibration_days
from review.services.retention import apply_retention


@task
def expire_case_leases() -> int:
    """Return cases whose reviewer's lease ran out to their queues. Safe to run twice."""
    return expire_leases()


@task
def apply_text_retention() -> int:
    """Remove the text of flags past their integration's retention. Safe to run twice."""
    return apply_retention().total


@task
def roll_up_calibration() -> int:
    """Count the flags of finished days for the calibration numbers. Safe to run twice."""
    return len(roll_up_calibration_days())
