"""A database outage answers 503 with Retry-After, never a 500, and leaves no half-written rows.

Here the outage is simulated in-process (every query raises what Django
raises when PostgreSQL is gone); tests/console/test_fault_postgres_restart.py
stops a real PostgreSQL under a running server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client

from accounts.models import Account
from console.middleware import RETRY_AFTER_SECONDS
from review.models import Case, Flag, Signal
from tests.factories import flag_payload

GONE = "connection to server at 127.0.0.1, port 5432 failed: Connection refused"


@contextmanager
def database_down(error: type[Exception] = OperationalError) -> Iterator[None]:
    """Every new cursor fails, as it does while PostgreSQL is stopped."""
    with mock.patch.object(connection, "cursor", side_effect=error(GONE)):
        yield


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Cache-Control"] == "no-store"


def test_it_answers_the_api_503_in_json_with_retry_after(api: Any) -> None:
    with database_down():
        response = api.post_flags(flag_payload())

    assert_unavailable(response)
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": f"The database is unavailable for a moment. Try again in {RETRY_AFTER_SECONDS} seconds."
    }


def test_it_answers_a_dropped_connection_the_same_way(api: Any) -> None:
    with database_down(InterfaceError):
        response = api.get("flags/req-1")

    assert_unavailable(response)


def test_it_answers_a_console_page_503_in_plain_html_when_the_session_cannot_be_read(
    reviewer: Any, settings: Any
) -> None:
    # The session and the user are read by middleware, before any view: Django's handler500 path.
    client = Client(raise_request_exception=False)
    client.force_login(reviewer)

    with database_down():
        response = client.get("/queues/")

    assert_unavailable(response)
    assert response["Content-Type"] == "text/html; charset=utf-8"
    text = response.content.decode()
    assert "Docket is briefly unavailable" in text
    assert f"reload this page in {RETRY_AFTER_SECONDS} seconds" in text
    assert "<script" not in text  # the CSP's no-inline rule holds on this page too


def test_other_errors_are_still_a_500(reviewer: Any) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(reviewer)

    with mock.patch.object(connection, "cursor", side_effect=RuntimeError("a bug, not an outage")):
        response = client.get("/queues/")

    assert response.status_code == 500
    assert "Retry-After" not in response


@pytest.mark.django_db(transaction=True)
def test_a_batch_cut_off_by_the_outage_leaves_nothing_behind(api: Any) -> None:
    # The outage strikes after the accounts, flags and cases are written, before the signals.
    with mock.patch("review.services.ingest.insert_rows", side_effect=OperationalError(GONE)):
        response = api.post_flags(flag_payload(id="a", user="u1"), flag_payload(id="b", user="u2"))

    assert_unavailable(response)
    assert not Flag.objects.exists()
    assert not Signal.objects.exists()
    assert not Case.objects.exists()
    assert not Account.objects.exists()

    # The client sends the same batch again once the database is back: stored once, whole.
    again = api.post_flags(flag_payload(id="a", user="u1"), flag_payload(id="b", user="u2"))

    assert again.status_code == 200
    assert [r["status"] for r in again.json()["results"]] == ["created", "created"]
    assert Flag.objects.count() == 2
    assert not Flag.objects.filter(signals__isnull=True).exists()

