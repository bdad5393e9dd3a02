from __future__ import annotations

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest


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
