"""Every write in the review app, one module per area."""

from __future__ import annotations

from review.services.cases import (
    BulkResult,
    CaseNotHeld,
    InvalidDecision,
    Verdict,
    apply_bulk_decision,
    claim_next_case,
    correct_decision,
    expire_leases,
    record_decision,
    release_case,
    renew_lease,
    skip_case,
    take_back_case,
)
from review.services.ingest import FlagOutcome, ingest_flags
from review.services.integrations import (
    NewKey,
    create_api_key,
    create_integration,
    revoke_api_key,
    set_api_key_rate,
    update_integration,
)

__all__ = [
    "BulkResult",
    "CaseNotHeld",
    "FlagOutcome",
    "InvalidDecision",
    "NewKey",
    "Verdict",
    "apply_bulk_decision",
    "claim_next_case",
    "correct_decision",
    "create_api_key",
    "create_integration",
    "expire_leases",
    "ingest_flags",
    "record_decision",
    "release_case",
    "renew_lease",
    "revoke_api_key",
    "set_api_key_rate",
    "skip_case",
    "take_back_case",
    "update_integration",
]
