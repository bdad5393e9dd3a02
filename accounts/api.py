"""/api/v1/usage and, later, account status and appeals."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from pydantic import Field, field_validator

from accounts.services import UsageRow, record_usage
from console.api import require_scope
from review.intake import MAX_USER_CHARS
from review.models import Scope

router = Router(tags=["accounts"])


class UsageIn(Schema):
    user: str = Field(min_length=1, max_length=MAX_USER_CHARS, description="Your user id (Docket keeps its hash).")
    day: date = Field(description="UTC day, YYYY-MM-DD.")
    requests: int = Field(ge=0, le=10**12, description="API requests this user made that day.")

    @field_validator("user")
    @classmethod
    def _storable(cls, value: str) -> str:
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("must be valid Unicode without NUL characters")
        return value

    @field_validator("day")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > timezone.now().date() + timedelta(days=1):
            raise ValueError("is in the future")
        return value


class UsageBatchIn(Schema):
    usage: list[UsageIn] = Field(min_length=1, max_length=1000)


class UsageOut(Schema):
    recorded: int


@router.post("/usage", response=UsageOut, summary="Report request counts per user and day (idempotent)")
def post_usage(request: HttpRequest, body: UsageBatchIn) -> Any:
    key = require_scope(request, Scope.USAGE_WRITE)
    count = record_usage(
        integration=key.integration,
        rows=[UsageRow(user=row.user, day=row.day, requests=row.requests) for row in body.usage],
    )
    return {"recorded": count}
