from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account, UsageDay
from review.intake import hash_user_id
from review.models import Scope
from tests.factories import Api, make_key


@pytest.mark.django_db
def test_usage_is_an_idempotent_upsert(api) -> None:
    body = {"usage": [{"user": "u1", "day": "2026-11-20", "requests": 100},
                      {"user": "u1", "day": "2026-11-21", "requests": 40}]}
    assert api.post("usage", body).json() == {"recorded": 2}
    assert api.post("usage", body).json() == {"recorded": 2}
    body["usage"][0]["requests"] = 120
    api.post("usage", body)
    account = Account.objects.get(user_hash=hash_user_id("u1"))
    rows = dict(UsageDay.objects.filter(account=account).values_list("day", "requests"))
    assert rows == {dt.date(2026, 11, 20): 120, dt.date(2026, 11, 21): 40}


@pytest.mark.django_db
def test_bad_usage_rows_are_refused_naming_the_row_and_field(api) -> None:
    response = api.post("usage", {"usage": [{"user": "u1", "day": "2026-11-20", "requests": -5}]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "usage.0.requests", "message": "Input should be greater than or equal to 0"}]
    assert not UsageDay.objects.exists() and not Account.objects.exists()


@pytest.mark.django_db
def test_usage_needs_the_usage_scope(client, integration) -> None:
    api = Api(client, make_key(integration, scopes=[Scope.FLAGS_WRITE]).secret)
    response = api.post("usage", {"usage": [{"user": "u1", "day": "2026-11-20", "requests": 1}]})
    assert response.status_code == 403 and "usage:write" in response.json()["error"]
    assert not UsageDay.objects.exists()
