from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.models import User
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse

from console import auth

# Paths that never carry a staff session: the machine API, static files, probes.
OPEN_PREFIXES = ("/api/", "/static/", "/livez", "/healthz", "/metrics")
# The last-activity stamp is rewritten at most this often (so at most one
# session write a minute per person, not one per request).
SEEN_REFRESH_SECONDS = 60


class StaffLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every console page needs a signed-in staff user.

    The machine API (/api/) authenticates with integration keys instead, and
    answers 401 in JSON rather than redirecting to a login page.
    """

    open_prefixes = OPEN_PREFIXES

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[Any, Any],
    ) -> HttpResponseBase | None:
        if request.path.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestBoundsMiddleware:
    """Refuses, before any view reads a byte of the body, what no route accepts.

    - A body whose Content-Length is over DOCKET_MAX_BODY_BYTES: 413, for
      every route (Django would only find out when a view reads the body,
      and then answer with an HTML 400).
    - A Content-Length that is not a number: 400 (Django would fail with a 500).
    - A CORS preflight: 403. Docket's API is for servers, and the console is
      same-origin only, so no response carries Access-Control-Allow-Origin.

    Answers on /api/ are JSON objects with an `error` sentence, like the API's own.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or ""
        if length and not length.isdigit():
            return self._refuse(request, 400, "The Content-Length header is not a number of bytes.")
        limit = settings.DOCKET_MAX_BODY_BYTES
        if length and int(length) > limit:
            return self._refuse(request, 413, f"The body is {length} bytes; the limit is {limit}.")
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            return self._refuse(
                request, 403, "Cross-origin requests are refused: call Docket's API from your servers, not a browser."
            )
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, status: int, message: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"error": message}, status=status)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class StaffSessionMiddleware:
    """Ends a staff session that was signed out everywhere, ran past its age, or sat idle.

    Ending it here, before any view, leaves an anonymous request that the
    login-required check then sends to the sign-in page (with `next`), and
    a message on that page saying why.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(OPEN_PREFIXES) and request.user.is_authenticated:
            self._check(request, request.user)
        return self.get_response(request)

    def _check(self, request: HttpRequest, user: User) -> None:
        from console import services

        session, now = request.session, time.time()
        if session.get(auth.GENERATION_KEY, 0) < auth.session_generation(user):
            logout(request)
            messages.info(request, "You were signed out everywhere. Sign in again to go on.")
            return
        signed_in_at = float(session.get(auth.SIGNED_IN_AT_KEY, 0))
        seen_at = float(session.get(auth.SEEN_AT_KEY, signed_in_at))
        idle_limit = settings.DOCKET_SESSION_IDLE_MINUTES * 60
        if now - signed_in_at > settings.SESSION_COOKIE_AGE:
            services.record_session_expiry(user=user, why="max_age", seconds=settings.SESSION_COOKIE_AGE)
            logout(request)
            hours = settings.SESSION_COOKIE_AGE / 3600
            messages.info(request, f"Your session reached its limit of {hours:g} hours. Sign in again to go on.")
        elif now - seen_at > idle_limit:
            services.record_session_expiry(user=user, why="idle", seconds=idle_limit)
            logout(request)
            messages.info(
                request,
                f"You were signed out after {settings.DOCKET_SESSION_IDLE_MINUTES} minutes without activity.",
            )
        elif now - seen_at >= SEEN_REFRESH_SECONDS:
            session[auth.SEEN_AT_KEY] = now


class TwoFactorEnrolmentMiddleware:
    """Holds back a member of a two-factor role who has no authenticator yet: enrol first.

    Only the enrolment page, signing out and the open paths get through.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.DOCKET_REQUIRE_2FA
            and not request.path.startswith(OPEN_PREFIXES)
            and request.user.is_authenticated
            and not auth.has_totp(request.user)
            and auth.second_factor_required(request.user)
        ):
            enrol = reverse("console:two_factor")
            if request.path not in {enrol, reverse("console:logout")}:
                messages.warning(request, "Your role needs two-factor sign-in: set it up to go on.")
                response: HttpResponse = redirect(enrol)
                if request.headers.get("HX-Request"):
                    response = HttpResponse(status=204, headers={"HX-Redirect": enrol})
                return response
        return self.get_response(request)


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
    the user, read by middleware) reaches `console.errors.server_error` instead.
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
