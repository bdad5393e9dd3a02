from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse


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
