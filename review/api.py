"""/api/v1/flags: send flags, read one back."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from console.api import error, errors, require_scope
from review.models import Decision, Flag, Level, Outcome, Scope, Signal
from review.openapi import FLAG_REQUEST_BODY, FlagOut, IngestOut
from review.services import ingest_flags

router: Router = Router(tags=["flags"])
MAX_BATCH = 1000


def _read_body(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.DOCKET_MAX_BODY_BYTES:
        return None, error(request, 413, f"The body is {length} bytes; the limit is {settings.DOCKET_MAX_BODY_BYTES}.")
    if not request.content_type or request.content_type != "application/json":
        return None, error(request, 415, "Send the body as JSON with 'Content-Type: application/json'.")
    try:
        return json.loads(request.body), None
    except UnicodeDecodeError:
        return None, error(request, 400, "The body is not valid UTF-8.")
    except (ValueError, RecursionError) as exc:
        return None, error(request, 400, f"The body is not valid JSON: {str(exc)[:120]}")


@router.post(
    "/flags",
    response={**errors(415), 200: IngestOut, 201: IngestOut, 422: IngestOut},
    exclude_none=True,
    summary="Send one flag, or a batch of up to 1,000",
    openapi_extra={"requestBody": FLAG_REQUEST_BODY},
)
def post_flags(request: HttpRequest) -> Any:
    key = require_scope(request, Scope.FLAGS_WRITE)
    body, problem = _read_body(request)
    if problem:
        return problem
    single = isinstance(body, dict) and "flags" not in body
    if single:
        payloads = [body]
    elif isinstance(body, dict) and isinstance(body["flags"], list):
        payloads = body["flags"]
        if len(body) > 1:
            return error(request, 400, 'A batch is {"flags": [...]} and nothing else.')
    else:
        return error(request, 400, 'Send one flag object, or {"flags": [flag, ...]}.')
    if not payloads:
        return error(request, 400, "flags is empty: send between 1 and 1,000 flags.")
    if len(payloads) > MAX_BATCH:
        return error(request, 413, f"flags has {len(payloads)} items; send at most {MAX_BATCH} per request.")
    outcomes = ingest_flags(integration=key.integration, payloads=payloads)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("created", "duplicate", "rejected")}
    status = 200
    if counts["rejected"] == len(outcomes):
        status = 422
    elif single and counts["created"]:
        status = 201
    return Status(status, {"results": [o.as_dict() for o in outcomes], **counts})


@router.get(
    "/flags/{path:flag_id}",
    response={200: FlagOut, **errors(404)},
    summary="A flag as Docket holds it, by your own request id",
)
def get_flag(request: HttpRequest, flag_id: str) -> Any:
    key = require_scope(request, Scope.FLAGS_READ)
    flag = get_object_or_404(
        Flag.objects.select_related("account", "case__queue", "profile_version__profile", "mapping_version")
        .prefetch_related(
            Prefetch("signals", queryset=Signal.objects.order_by("-level", "pk"))
        ),
        integration_id=key.integration_id,
        external_id=flag_id,
    )
    case = flag.case
    return {
        "id": flag.external_id,
        "flag": flag.pk,
        "account": flag.account.user_hash,
        "source": flag.source,
        "prompt": flag.prompt,
        "response": flag.response,
        "text_removed_at": flag.text_removed_at,
        "occurred_at": flag.occurred_at,
        "received_at": flag.received_at,
        "language": flag.language,
        "metadata": flag.metadata,
        "max_level": Level(flag.max_level).label,
        "signals": [
            {
                "source_label": s.source_label,
                "score": s.score,
                "level": Level(s.level).label,
                "category": s.category_id,
                "threshold": s.threshold,
                "met_threshold": s.met_threshold,
            }
            for s in flag.signals.all()
        ],
        "queued": case is not None,
        "case": {"id": case.pk, "status": case.status, "queue": case.queue.slug} if case else None,
        "decision": _decision(flag),
        "judged_by": _judged_by(flag),
    }


def _judged_by(flag: Flag) -> dict[str, Any] | None:
    """The policy versions that judged the flag (None for flags stored before versions were kept)."""
    if flag.profile_version is None:
        return None
    return {
        "profile": flag.profile_version.profile.name,
        "profile_version": flag.profile_version.version,
        "mapping_version": flag.mapping_version.version if flag.mapping_version else None,
    }


def _decision(flag: Flag) -> dict[str, Any] | None:
    """The case's standing decision (the newest that was not corrected), once there is one."""
    if flag.case_id is None:
        return None
    decision = (
        Decision.objects.current()
        .filter(case_id=flag.case_id)
        .exclude(outcome=Outcome.ESCALATED)
        .order_by("-decided_at")
        .first()
    )
    if decision is None:
        return None
    return {
        "outcome": decision.outcome,
        "category": decision.category_id,
        "severity": decision.severity or None,
        "decided_at": decision.decided_at.isoformat(),
        "corrected": decision.supersedes_id is not None,
    }
