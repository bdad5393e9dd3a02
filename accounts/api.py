"""/api/v1/usage, /api/v1/accounts/{user}/status and /api/v1/appeals."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field, field_validator

from accounts.services import IllegalTransition, UsageRow, receive_appeal, record_usage
from accounts.status import status_view
from console.api import error, errors, require_scope
from review.intake import MAX_USER_CHARS, hash_user_id
from review.models import Scope

router: Router = Router(tags=["accounts"])


class UsageIn(Schema):
    user: str = Field(min_length=1, max_length=MAX_USER_CHARS, description="Your user id (Docket keeps its hash).")
    day: date = Field(description="UTC day, YYYY-MM-DD.")
    # Strict: JSON's true is not a count of 1.
    requests: int = Field(ge=0, le=10**12, strict=True, description="API requests this user made that day.")

    @field_validator("user")
    @classmethod
    def _storable(cls, value: str) -> str:
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("must be valid Unicode without NUL characters")
        return value

    @field_validator("day", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        # Pydantic would read a number as seconds since 1970: a day is sent as text, YYYY-MM-DD.
        if not isinstance(value, str | date):
            raise ValueError("must be a date written YYYY-MM-DD")
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


@router.post(
    "/usage",
    response={200: UsageOut, **errors(422)},
    summary="Report request counts per user and day (idempotent)",
)
def post_usage(request: HttpRequest, body: UsageBatchIn) -> Any:
    key = require_scope(request, Scope.USAGE_WRITE)
    count = record_usage(
        actor=key,
        integration=key.integration,
        rows=[UsageRow(user=row.user, day=row.day, requests=row.requests) for row in body.usage],
    )
    return {"recorded": count}


class ActionOut(Schema):
    id: int
    kind: str
    scope: str | None
    applied_at: str | None
    ends_at: str | None


class StatusOut(Schema):
    state: str = Field(description="active, warned, restricted, suspended or terminated")
    actions: list[ActionOut] = Field(description="Actions in force, with their scope and end time.")
    as_of: str


@router.get(
    "/accounts/{user}/status",
    response={200: StatusOut, **errors()},
    summary="An account's enforcement state, for the gateway's hot path",
    description="Answered from a cache kept current on every change; an unknown user is `active`.",
)
def account_status(request: HttpRequest, user: str) -> HttpResponse:
    # Documents the endpoint; requests are served by `status_view` below (see console/urls.py).
    return status_view(request, user)


class AppealIn(Schema):
    user: str = Field(min_length=1, max_length=MAX_USER_CHARS, description="Your user id.")
    action: int = Field(strict=True, description="The id of the action, as in the status answer or the webhook.")
    text: str = Field(min_length=1, max_length=10_000, description="The user's words.")

    @field_validator("user", "text")
    @classmethod
    def _storable(cls, value: str) -> str:
        return UsageIn._storable(value)


class AppealOut(Schema):
    appeal: int
    state: str


@router.post(
    "/appeals",
    response={201: AppealOut, **errors(404, 409, 422)},
    summary="Forward a user's appeal of an action in force",
)
def post_appeal(request: HttpRequest, body: AppealIn) -> Any:
    from accounts.models import Account

    key = require_scope(request, Scope.APPEALS_WRITE)
    account = Account.objects.filter(integration_id=key.integration_id, user_hash=hash_user_id(body.user)).first()
    if account is None:
        return error(request, 404, "No action applies to this user.")
    try:
        appeal = receive_appeal(actor=key, account=account, action_id=body.action, text=body.text)
    except IllegalTransition as exc:
        return error(request, 409, str(exc))
    return Status(201, {"appeal": appeal.pk, "state": appeal.state})
