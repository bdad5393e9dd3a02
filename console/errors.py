"""Django's error pages, answered in JSON under /api/ (the machine API never gets an HTML page)."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from console.middleware import DATABASE_UNAVAILABLE, unavailable_response


def _api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse({"error": "The request could not be read."}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _api(request):
        return JsonResponse({"error": "No such API endpoint: see /api/v1/docs."}, status=404)
    return defaults.page_not_found(request, exception)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        # An outage met before any view (reading the session or the user): 503 with Retry-After.
        return unavailable_response(request)
    if _api(request):
        return JsonResponse(
            {"error": "Docket could not answer this request; the error has been logged. Try again later."},
            status=500,
        )
    return defaults.server_error(request)
