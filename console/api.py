"""Docket's public API (/api/v1/): one NinjaAPI, one router per app.

Authentication is `Authorization: Bearer <integration key>`; each endpoint
names the scope it needs. Errors are JSON objects with an `error` sentence.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
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


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = error(request, 401, "A valid API key is required: send 'Authorization: Bearer <key>'.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Ninja's default answer is {"detail": ...}; every error here has an `error` sentence. The same
    # answer for "missing" and "another integration's", so ids cannot be probed.
    return error(request, 404, "Not found: nothing with that id belongs to this key's integration.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error(request, exc.status_code, str(exc))


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
