"""Access helpers for views: one decorator per capability check."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from console.roles import Cap, perm


def require(*caps: Cap) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """403 unless the signed-in user has one of `caps` (login itself is the middleware's job)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not any(request.user.has_perm(perm(cap)) for cap in caps):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        wrapped.required_caps = caps  # type: ignore[attr-defined]
        return wrapped

    return decorator


def has_cap(user: Any, cap: Cap) -> bool:
    return bool(user.has_perm(perm(cap)))
