"""Access helpers for views: one decorator per capability check."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from console.roles import Cap, perm

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedRequest(HttpRequest):
    """The request a console view receives: LoginRequiredMiddleware has already sent anonymous visitors away.

    Only an annotation (views are still called with Django's HttpRequest); it tells
    the type checker that `request.user` is a staff `User`, never an `AnonymousUser`.
    """

    user: User


def require(*caps: Cap) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """403 unless the signed-in user has one of `caps` (login itself is the middleware's job)."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not any(request.user.has_perm(perm(cap)) for cap in caps):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        wrapped.required_caps = caps  # type: ignore[attr-defined]
        return wrapped

    return decorator


def has_cap(user: Any, cap: Cap) -> bool:
    return bool(user.has_perm(perm(cap)))
