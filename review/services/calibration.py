"""The calibration sample's rate per policy profile, and the daily roll-up of flags that arrived."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from console.audit import record
from console.models import AuditVerb
from review.calibration import db_params, roll_up_sql
from review.models import CalibrationRollup, PolicyProfile

# The calibration page's longest period is 366 days; older days are never asked for.
ROLLUP_HORIZON_DAYS = 370


@transaction.atomic
def set_calibration_rate(*, actor: Any, profile: PolicyProfile, rate: Decimal, reason: str) -> PolicyProfile:
    """The percentage of below-threshold flags `profile` sends to the calibration queue (0 stops it).

    Ingestion sees the new rate with its next batch: the policy tables'
    triggers change the policy version in this same transaction.
    """
    if not reason.strip():
        raise ValueError("Say why the calibration rate changes: it is kept in the audit log.")
    if not Decimal(0) <= rate <= Decimal(100):
        raise ValueError(f"The calibration rate is a percentage from 0 to 100, not {rate}.")
    locked = PolicyProfile.objects.select_for_update().get(pk=profile.pk)
    before = {"calibration_rate": str(locked.calibration_rate)}
    locked.calibration_rate = rate
    locked.save(update_fields=["calibration_rate"])
    record(actor=actor, verb=AuditVerb.PROFILE_CALIBRATION_CHANGED, target=locked, before=before,
           after={"calibration_rate": str(rate)}, reason=reason)
    return locked


def roll_up_calibration_days(*, now: datetime | None = None, max_days: int = 31) -> list[date]:
    """Count the flags of each finished UTC day not counted yet (the newest first, at most `max_days`).

    Each day is one INSERT … SELECT and its CalibrationRollup row, in one
    transaction: the calibration numbers read a day's sums only once they
    are all there. Derived data, so no audit entry. Safe to run twice: a day
    already counted is skipped, and two runs at once cannot both count one
    day (the second one's CalibrationRollup row conflicts and rolls back).
    """
    today = (now or timezone.now()).astimezone(UTC).date()
    horizon = today - timedelta(days=ROLLUP_HORIZON_DAYS)
    done = set(CalibrationRollup.objects.filter(day__gte=horizon).values_list("day", flat=True))
    todo = [day for day in (today - timedelta(days=n) for n in range(1, ROLLUP_HORIZON_DAYS + 1)) if day not in done]
    rolled = []
    for day in todo[:max_days]:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        try:
            with transaction.atomic():
                CalibrationRollup.objects.create(day=day, rolled_at=timezone.now())
                with connection.cursor() as cursor:
                    params = {"day": day, "start": start, "end": start + timedelta(days=1)}
                    cursor.execute(roll_up_sql(), db_params(params))
        except IntegrityError:
            continue  # another run counted it meanwhile
        rolled.append(day)
    return rolled
