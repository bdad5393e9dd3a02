"""A raw user id is never stored or logged: only its HMAC reaches the database."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from review.intake import hash_user_id
from review.models import Flag
from tests.factories import Api, flag_payload

RAW_USER = "raw-user-id-7f3a9c"


def every_stored_value() -> list[str]:
    """Every row of every table, read column by column and serialised the way dumpdata does."""
    texts: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:  # no table of its own (django_rq's dashboard)
            continue
        rows = list(model._default_manager.values())
        texts.extend(repr(value) for row in rows for value in row.values())
        texts.append(serializers.serialize("json", model._default_manager.all()))
    return texts


def dumpdata() -> str:
    out = io.StringIO()
    # dumpdata does not skip unmanaged models, and some have no table (console.Capability, django_rq's).
    tableless = [model._meta.label for model in apps.get_models() if not model._meta.managed]
    call_command("dumpdata", exclude=tableless, stdout=out)
    return out.getvalue()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    # Django's own "django" logger stops at INFO: lower every logger, not just the root, where caplog listens.
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def post_every_way(api: Api) -> None:
    """Created, joined to a case, below threshold, duplicated, and rejected for other reasons."""
    api.post("flags", flag_payload(id="req-1", user=RAW_USER))
    api.post_flags(
        flag_payload(id="req-2", user=RAW_USER),
        flag_payload(id="req-3", user=RAW_USER, result={"signals": [{"category": "hate", "score": 0.01}]}),
        flag_payload(id="req-1", user=RAW_USER),
        flag_payload(id="req-4", user=RAW_USER, occurred_at="not a time"),
        flag_payload(id="req-5", user=RAW_USER, source="nope"),
        flag_payload(id="req-6", user=RAW_USER, unexpected="field"),
    )
    api.get("flags/req-1")


def test_the_raw_user_id_is_stored_nowhere(api: Api) -> None:
    post_every_way(api)

    assert Flag.objects.count() == 3  # the flags did land
    assert Account.objects.get().user_hash == hash_user_id(RAW_USER)
    assert not [text for text in every_stored_value() if RAW_USER in text]
    assert RAW_USER not in dumpdata()


def test_the_raw_user_id_is_logged_nowhere(api: Api, logs: pytest.LogCaptureFixture) -> None:
    # Every SQL statement and its parameters go to the django.db.backends logger too.
    with CaptureQueriesContext(connection) as queries:
        post_every_way(api)

    assert queries.captured_queries
    assert any(record.name == "django.db.backends" for record in logs.records)
    assert not [q["sql"] for q in queries.captured_queries if RAW_USER in q["sql"]]
    assert RAW_USER not in logs.text
    assert not [r for r in logs.records if RAW_USER in _everything_in(r)]


def _everything_in(record: logging.LogRecord) -> str:
    extra: dict[str, Any] = dict(vars(record))
    return repr(extra) + record.getMessage()


def test_the_check_would_see_a_raw_id_if_one_were_stored(api: Api) -> None:
    """Guards the two tests above against looking in the wrong place."""
    api.post("flags", flag_payload(user=RAW_USER, metadata={"note": f"the platform leaked {RAW_USER} itself"}))

    assert [text for text in every_stored_value() if RAW_USER in text]
    assert RAW_USER in dumpdata()
