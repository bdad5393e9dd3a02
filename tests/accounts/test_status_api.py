"""GET /api/v1/accounts/{user}/status: the gateway's hot path, kept in the cache on every change."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from django.core.cache import caches
from django.utils import timezone

from accounts import status as status_cache
from accounts.models import Account, Action, ActionKind, StatusDirty
from accounts.services import apply_action, approve_action, lift_action, propose_action
from review.intake import hash_user_id
from review.models import Scope
from tests.factories import Api, make_integration, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_cache(settings) -> None:  # type: ignore[no-untyped-def]
    # Keys are per integration id, which a new test database reuses: a cache
    # of this test's own keeps earlier answers (say, on a shared Redis) out.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid4().hex}}


@pytest.fixture
def account(integration) -> Account:  # type: ignore[no-untyped-def]
    now = timezone.now()
    return Account.objects.create(integration=integration, user_hash=hash_user_id("u1"), first_seen=now, last_seen=now)


def apply(account: Account, kind: ActionKind, *seniors: Any, **extra: Any) -> Action:
    """Proposed by a rule, approved by each of `seniors` (two for a suspension), applied by the last."""
    action = propose_action(actor=None, account=account, kind=kind, reason="abuse", **extra)
    for senior in seniors:
        action = approve_action(actor=senior, action=action, reason="ok")
    return apply_action(actor=seniors[-1], action=action, reason="go")


def status_of(api: Api, user: str = "u1") -> dict[str, Any]:
    response = api.get(f"accounts/{user}/status")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


class CacheDown(ConnectionError):
    pass


def cache_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise CacheDown("Error 111 connecting to redis: Connection refused.")

    backend = caches["default"]  # the object behind accounts.status.cache
    monkeypatch.setattr(backend, "get", refuse)
    monkeypatch.setattr(backend, "set", refuse)


# --- Access ---------------------------------------------------------------------------------------


def test_the_status_needs_the_status_read_scope(client, integration, account) -> None:
    api = Api(client, make_key(integration, scopes=[Scope.FLAGS_WRITE, Scope.APPEALS_WRITE]).secret)

    response = api.get("accounts/u1/status")

    assert response.status_code == 403
    assert response.json() == {"error": "This API key lacks the scope 'status:read'."}


def test_the_status_needs_an_api_key(client, account) -> None:
    response = client.get("/api/v1/accounts/u1/status")

    assert response.status_code == 401
    assert response.json() == {"error": "A valid API key is required: send 'Authorization: Bearer <key>'."}
    assert response["WWW-Authenticate"] == "Bearer"


def test_an_unknown_user_is_active_with_no_actions(api) -> None:
    body = status_of(api, "never-seen")

    assert (body["state"], body["actions"]) == ("active", [])
    assert body["as_of"]
    assert not Account.objects.exists()


def test_another_integrations_account_is_not_seen(client, senior, account) -> None:
    apply(account, ActionKind.WARN, senior)
    other = Api(client, make_key(make_integration("Other Corp"), scopes=[Scope.STATUS_READ]).secret)

    assert status_of(other)["state"] == "active"


# --- Kept current on every change -------------------------------------------------------------------


def test_right_after_an_action_is_applied_the_status_shows_it_with_scope_and_end(
    api, senior, second_senior, account, django_capture_on_commit_callbacks
) -> None:
    assert status_of(api)["state"] == "active"  # the cache now holds "active"

    with django_capture_on_commit_callbacks(execute=True):
        restriction = apply(account, ActionKind.RESTRICT, senior, scope="tools:computer_use")
    with django_capture_on_commit_callbacks(execute=True):
        suspension = apply(account, ActionKind.SUSPEND, senior, second_senior, hours=12)

    restriction.refresh_from_db()
    suspension.refresh_from_db()
    body = status_of(api)
    assert body["state"] == "suspended"
    assert body["actions"] == [
        {
            "id": restriction.pk,
            "kind": "restrict",
            "scope": "tools:computer_use",
            "applied_at": restriction.applied_at.isoformat(),
            "ends_at": None,
        },
        {
            "id": suspension.pk,
            "kind": "suspend",
            "scope": None,
            "applied_at": suspension.applied_at.isoformat(),
            "ends_at": suspension.ends_at.isoformat(),
        },
    ]


def test_right_after_the_last_action_is_lifted_the_status_is_active(
    api, senior, account, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        warning = apply(account, ActionKind.WARN, senior)
    assert status_of(api)["state"] == "warned"

    with django_capture_on_commit_callbacks(execute=True):
        lift_action(actor=senior, action=warning, reason="apologised")

    assert (status_of(api)["state"], status_of(api)["actions"]) == ("active", [])


def test_the_status_is_not_published_before_the_commit(
    api, senior, account, django_capture_on_commit_callbacks
) -> None:
    assert status_of(api)["state"] == "active"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        apply(account, ActionKind.WARN, senior)

    assert status_of(api)["state"] == "active"
    for callback in callbacks:
        callback()
    assert status_of(api)["state"] == "warned"


# --- Fast ---------------------------------------------------------------------------------------------


def test_a_warm_read_makes_no_database_query_at_all(
    api, senior, account, django_assert_num_queries, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        apply(account, ActionKind.WARN, senior)
    status_of(api)  # caches the API key and writes its "last used" (at most once a minute)

    # Neither the key (review.apikeys caches it) nor the status touches the database.
    with django_assert_num_queries(0):
        assert status_of(api)["state"] == "warned"


def test_a_cold_read_fills_the_cache_from_the_database(api, senior, account, django_assert_num_queries) -> None:
    apply(account, ActionKind.WARN, senior)  # not committed: nothing published
    status_of(api)
    status_cache.cache.delete(status_cache.cache_key(account.integration_id, account.user_hash))

    with django_assert_num_queries(2):  # the account, its actions in force
        assert status_of(api)["state"] == "warned"
    with django_assert_num_queries(0):
        assert status_of(api)["state"] == "warned"


# --- When the cache is down ---------------------------------------------------------------------------


def test_with_the_cache_down_the_status_is_answered_from_the_database(api, senior, account, monkeypatch) -> None:
    apply(account, ActionKind.WARN, senior)
    cache_down(monkeypatch)

    assert status_of(api)["state"] == "warned"
    assert status_of(api, "never-seen")["state"] == "active"


def test_a_publish_that_fails_is_remembered_and_the_sweep_writes_the_right_answer(
    api, senior, second_senior, account, monkeypatch, django_assert_num_queries, django_capture_on_commit_callbacks
) -> None:
    assert status_of(api)["state"] == "active"  # cached before the outage

    with monkeypatch.context() as outage:
        cache_down(outage)
        with django_capture_on_commit_callbacks(execute=True):
            suspension = apply(account, ActionKind.SUSPEND, senior, second_senior, hours=6)
        assert status_of(api)["state"] == "suspended"  # from the database meanwhile

    dirty = StatusDirty.objects.get()
    assert dirty.account_id == account.pk
    # The cache is back with the answer it held before the outage, until the sweep runs.
    assert status_of(api)["state"] == "active"

    assert status_cache.publish_dirty() == 1

    assert not StatusDirty.objects.exists()
    with django_assert_num_queries(0):  # from the cache again
        body = status_of(api)
    assert (body["state"], [a["id"] for a in body["actions"]]) == ("suspended", [suspension.pk])
    assert status_cache.publish_dirty() == 0


def test_the_sweep_keeps_an_account_dirty_while_the_cache_is_still_down(
    senior, account, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    cache_down(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        apply(account, ActionKind.WARN, senior)

    assert status_cache.publish_dirty() == 0
    assert list(StatusDirty.objects.values_list("account_id", flat=True)) == [account.pk]
