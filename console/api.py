"""Docket's public API (/api/v1/): one NinjaAPI, one router per app.

Authentication is `Authorization: Bearer <integration key>`; each endpoint
names the scope it needs. Errors are JSON objects with an `error` sentence.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from review.apikeys import authenticate
from review.models import ApiKey, Scope


class KeyAuth(HttpBearer):
    openapi_description = "An integration's API key: `Authorization: Bearer dk_…`"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return authenticate(token)


class ScopeError(HttpError):
    pass


def require_scope(request: HttpRequest, scope: Scope) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if scope.value not in key.scopes:
        raise ScopeError(403, f"This API key lacks the scope {scope.value!r}.")
    return key


api = NinjaAPI(
    title="Docket API",
    version="1",
    description="Send flags from classifiers and moderation APIs, read them back, report usage, "
    "ask for an account's enforcement status and forward appeals.",
    auth=KeyAuth(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def error(request: HttpRequest, status: int, message: str, **extra: Any) -> HttpResponse:
    return api.create_response(request, {"error": message, **extra}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = error(request, 401, "A valid API key is required: send 'Authorization: Bearer <key>'.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error(request, exc.status_code, str(exc))


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "message": e.get("msg", "")}
        for e in exc.errors
    ]
    return error(request, 422, "The request does not match the schema.", errors=details)


from review.api import router as review_router  # noqa: E402

api.add_router("/", review_router)
