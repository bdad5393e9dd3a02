"""Plain factory functions for tests: make_x(**overrides) -> x."""

from __future__ import annotations

import itertools
import json
from typing import Any

from django.test import Client

from review.models import Integration, PolicyProfile, Scope
from review.services import NewKey, create_api_key, create_integration

_ids = itertools.count(1)


def make_integration(name: str | None = None, profile: PolicyProfile | None = None, **overrides: Any) -> Integration:
    profile = profile or PolicyProfile.objects.get(name="Default")
    return create_integration(actor=None, name=name or f"integration-{next(_ids)}", profile=profile, **overrides)


def make_key(integration: Integration | None = None, scopes: list[Scope] | None = None, name: str = "test") -> NewKey:
    return create_api_key(
        actor=None, integration=integration or make_integration(), name=name, scopes=scopes or list(Scope)
    )


def flag_payload(**overrides: Any) -> dict[str, Any]:
    """A valid flag object; generic source, one hate signal at high."""
    payload: dict[str, Any] = {
        "id": f"req-{next(_ids)}",
        "user": "user-1",
        "prompt": "a prompt",
        "response": "a response",
        "source": "generic",
        "result": {"signals": [{"category": "hate", "level": "high"}]},
    }
    payload.update(overrides)
    return payload


class Api:
    """A test client that speaks to /api/v1 with one integration key."""

    def __init__(self, client: Client, secret: str) -> None:
        self.client, self.secret = client, secret

    def _auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def post(self, path: str, body: Any) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(f"/api/v1/{path}", data, content_type="application/json", **self._auth())

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/{path}", params, **self._auth())

    def post_flags(self, *flags: dict[str, Any]) -> Any:
        return self.post("flags", {"flags": list(flags)})


def make_case(integration: Integration | None = None, **overrides: Any) -> Any:
    """A case made the real way: a flag that meets a threshold, through ingest_flags."""
    from review.models import Case
    from review.services import ingest_flags

    payload = flag_payload(**overrides)
    [outcome] = ingest_flags(integration=integration or make_integration(), payloads=[payload])
    assert outcome.status == "created" and outcome.case, outcome.errors
    return Case.objects.select_related("queue").get(pk=outcome.case)


def hold(case: Any, reviewer: Any, minutes: int = 10) -> Any:
    """Give `reviewer` the lease on this very case (claim_next_case picks by priority)."""
    from datetime import timedelta

    from django.utils import timezone

    from review.models import Case, CaseStatus

    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(
        status=CaseStatus.CLAIMED,
        claimed_by=reviewer,
        claimed_at=now,
        lease_expires_at=now + timedelta(minutes=minutes),
    )
    return Case.objects.select_related("queue").get(pk=case.pk)


def make_decision(case: Any = None, reviewer: Any = None, **verdict: Any) -> Any:
    """Hold `case` for `reviewer` and decide it (not violating unless told)."""
    from review.models import Outcome
    from review.services import Verdict, record_decision

    verdict.setdefault("outcome", Outcome.NOT_VIOLATING)
    return record_decision(actor=reviewer, case=hold(case or make_case(), reviewer), verdict=Verdict(**verdict))


def make_violation(integration: Integration | None = None, reviewer: Any = None, *, category: str = "hate",
                   severity: str = "high", **flag: Any) -> Any:
    """A violating decision the real way (flag, case, decision) and the violation it made."""
    from review.models import Category, Outcome

    flag.setdefault("result", {"signals": [{"category": category, "level": "high"}]})
    decision = make_decision(make_case(integration, **flag), reviewer, outcome=Outcome.VIOLATING,
                             category=Category.objects.get(slug=category), severity=severity)
    return decision.violation
