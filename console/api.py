"""Docket's public API (/api/v1/): one NinjaAPI, one router per app.

Authentication is `Authorization: Bearer <integration key>`; each endpoint
names the scope it needs. Errors are JSON objects with an `error` sentence.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import Field

from console import ratelimit
from review.apikeys import authenticate
from review.models import ApiKey, Scope

log = logging.getLogger(__name__)

UNAUTHORISED = "A valid API key is required: send 'Authorization: Bearer <key>'."


class RateLimited(Exception):
    def __init__(self, exceeded: ratelimit.Exceeded) -> None:
        super().__init__(exceeded.message)
        self.exceeded = exceeded


class KeyAuth(HttpBearer):
    openapi_description = "An integration's API key: `Authorization: Bearer dk_…`"

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = authenticate(token)
        if key is not None and (over := ratelimit.check_key(key.key_hash, key.rate_per_minute)):
            raise RateLimited(over)
        return key


class ScopeError(HttpError):
    pass


def require_scope(request: HttpRequest, scope: Scope) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if scope.value not in key.scopes:
        raise ScopeError(403, f"This API key lacks the scope {scope.value!r}.")
    return key


class FieldErrorOut(Schema):
    field: str = Field(description="Where: a field name, or a dotted path into the body.")
    message: str


class ErrorOut(Schema):
    """Every error answer: a sentence, and for a body that does not match the schema, each problem."""

    error: str = Field(description="What went wrong, as a sentence.")
    errors: list[FieldErrorOut] | None = None


# What any authenticated operation may answer besides its own results: a request that cannot be read
# (400), a missing or wrong key (401), a key without the scope (403), a body over the size limit (413),
# too many requests (429). Routes list their own further errors (404, 409, 415, 422) with `errors()`.
COMMON_ERRORS = (400, 401, 403, 413, 429)


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """`response=` entries for these error codes and the common ones, all answered with ErrorOut."""
    return dict.fromkeys(sorted({*COMMON_ERRORS, *codes}), ErrorOut)


_ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}},
    "429": {
        "Retry-After": {
            "description": "Seconds until the next minute's window opens.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


class DocketAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        # Schemas that document request bodies read by hand (see review.openapi).
        from review.openapi import DOCUMENTED_ONLY

        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in DOCUMENTED_ONLY:
            definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definition.pop("$defs", {}))
            components[model.__name__] = definition
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for code, headers in _ERROR_HEADERS.items():
                    if code in operation.get("responses", {}):
                        operation["responses"][code].setdefault("headers", {}).update(headers)
        return schema


api = DocketAPI(
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


def too_many(request: HttpRequest, exceeded: ratelimit.Exceeded) -> HttpResponse:
    response = error(request, 429, exceeded.message)
    response["Retry-After"] = str(exceeded.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: Exception) -> HttpResponse:
    if over := ratelimit.note_auth_failure(request):
        return too_many(request, over)
    response = error(request, 401, UNAUTHORISED)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    return too_many(request, exc.exceeded)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Ninja's default answer is {"detail": ...}; every error here has an `error` sentence. The same
    # answer for "missing" and "another integration's", so ids cannot be probed.
    return error(request, 404, "Not found: nothing with that id belongs to this key's integration.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 413, f"The body is too large; the limit is {settings.DOCKET_MAX_BODY_BYTES} bytes.")


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    from console.middleware import DATABASE_UNAVAILABLE, unavailable_response

    if isinstance(exc, DATABASE_UNAVAILABLE):  # an outage, not a bug: 503 with Retry-After
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
        return unavailable_response(request)
    # Ninja's default re-raises into Django's HTML 500 page; a machine gets JSON. The traceback goes to
    # the log (through the redacting filter), never to the caller.
    log.error("Unhandled error answering %s %s", request.method, request.path, exc_info=exc)
    return error(request, 500, "Docket could not answer this request; the error has been logged. Try again later.")


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    def where(loc: tuple[object, ...]) -> str:
        parts = list(loc)
        while parts and parts[0] == "body":
            parts.pop(0)
        return ".".join(str(p) for p in parts) or "body"

    details = [{"field": where(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in exc.errors]
    return error(request, 422, "The request does not match the schema.", errors=details)


from accounts.api import router as accounts_router  # noqa: E402
from console.reports.api import router as reports_router  # noqa: E402
from review.api import router as review_router  # noqa: E402

api.add_router("/", review_router)
api.add_router("/", accounts_router)
api.add_router("/", reports_router)
