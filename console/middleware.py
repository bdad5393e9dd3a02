from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token


class StaffLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every console page needs a signed-in staff user.

    The machine API (/api/) authenticates with integration keys instead, and
    answers 401 in JSON rather than redirecting to a login page.
    """

    open_prefixes = ("/api/", "/static/", "/livez", "/healthz", "/metrics")

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):  # type: ignore[no-untyped-def]
        if request.path.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


# --- The database is down ---------------------------------------------------------------------------

log = logging.getLogger(__name__)

# What Django raises when PostgreSQL cannot be reached, restarts under a request, or drops the
# connection: a client that tries again a few seconds later is served.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON for the API, a plain page for people. Touches neither database nor session."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": f"The database is unavailable for a moment. Try again in {RETRY_AFTER_SECONDS} seconds."},
            status=503,
        )
    else:
        # Rendered without the request: the context processors read the user, which needs the database.
        body = render_to_string("console/unavailable.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(body, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that hits a database outage answers 503 with Retry-After instead of a 500.

    Every write is one `transaction.atomic()` service, so a request cut off
    halfway leaves nothing behind and the client may send it again (flags are
    idempotent by their `id`). An outage met before the view (the session or
    the user, read by middleware) reaches `server_error` below instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        log.error("database unavailable on %s %s: %s", request.method, request.path, exception)
        return unavailable_response(request)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the same 503 for an outage raised outside a view (middleware, session save)."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return unavailable_response(request)
    return defaults.server_error(request)
