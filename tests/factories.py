"""Plain factory functions for tests: make_x(**overrides) -> x."""

from __future__ import annotations

import itertools
import json
from typing import Any

from django.test import Client

from review.models import Integration, PolicyProfile, Scope
from review.services import NewKey, create_api_key, create_integration

_ids = itertools.count(1)


def make_integration(name: str | None = None, profile: PolicyProfile | None = None, **overrides: Any) -> Integration:
    profile = profile or PolicyProfile.objects.get(name="Default")
    return create_integration(actor=None, name=name or f"integration-{next(_ids)}", profile=profile, **overrides)


def make_key(integration: Integration | None = None, scopes: list[Scope] | None = None, name: str = "test") -> NewKey:
    return create_api_key(
        actor=None, integration=integration or make_integration(), name=name, scopes=scopes or list(Scope)
    )


def flag_payload(**overrides: Any) -> dict[str, Any]:
    """A valid flag object; generic source, one hate signal at high."""
    payload: dict[str, Any] = {
        "id": f"req-{next(_ids)}",
        "user": "user-1",
        "prompt": "a prompt",
        "response": "a response",
        "source": "generic",
        "result": {"signals": [{"category": "hate", "level": "high"}]},
    }
    payload.update(overrides)
    return payload


class Api:
    """A test client that speaks to /api/v1 with one integration key."""

    def __init__(self, client: Client, secret: str) -> None:
        self.client, self.secret = client, secret

    def _auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def post(self, path: str, body: Any) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(f"/api/v1/{path}", data, content_type="application/json", **self._auth())

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/{path}", params, **self._auth())

    def post_flags(self, *flags: dict[str, Any]) -> Any:
        return self.post("flags", {"flags": list(flags)})
