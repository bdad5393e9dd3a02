"""The calibration sample's rate per policy profile."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from console.audit import record
from console.models import AuditVerb
from review.models import PolicyProfile


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
