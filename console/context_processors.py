from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from console.navigation import NAV
from console.roles import perm, roles_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"nav_items": [], "staff_roles": []}
    perms = user.get_all_permissions()
    allowed = user.is_superuser or None
    items = [
        {
            "label": item.label,
            "url": reverse(item.url_name),
            "active": request.resolver_match is not None and request.resolver_match.view_name == item.url_name,
        }
        for item in NAV
        if allowed or any(perm(cap) in perms for cap in item.caps)
    ]
    return {"nav_items": items, "staff_roles": [role.label for role in roles_of(user)]}
