"""API keys and Authorization values never reach the logs, whatever logs them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from console.redact import RedactSecrets, redact
from review.models import Integration
from tests.factories import flag_payload, make_key

SECRET = "dk_" + "Q" * 20 + "-secretpart_" + "z" * 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {SECRET} used", "key dk_[redacted] used"),
        (f"Authorization: Bearer {SECRET}", "Authorization: [redacted]"),
        ("authorization=Bearer abc.def.ghi", "authorization=[redacted]"),
        (f"{{'HTTP_AUTHORIZATION': 'Bearer {SECRET}', 'PATH_INFO': '/x'}}",
         "{'HTTP_AUTHORIZATION': '[redacted]', 'PATH_INFO': '/x'}"),
        ("sent bearer eyJhbGciOi.payload.sig to them", "sent bearer [redacted] to them"),
        ("GET /api/v1/flags/dk_abcdefgh?x=1", "GET /api/v1/flags/dk_[redacted]?x=1"),
        ("nothing secret here: dk_ and a bear", "nothing secret here: dk_ and a bear"),
    ],
)
def test_redact_takes_out_keys_and_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_redacts_arguments_and_tracebacks() -> None:
    try:
        raise RuntimeError(f"upstream echoed Authorization: Bearer {SECRET}")
    except RuntimeError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key was %s", (SECRET,), (type(exc), exc, None))

    RedactSecrets().filter(record)
    formatted = logging.Formatter("%(message)s").format(record)

    assert SECRET not in formatted
    assert "key was dk_[redacted]" in formatted
    assert "upstream echoed Authorization: [redacted]" in formatted
    assert record.exc_info is None  # the exception object, with the secret in it, goes no further


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING) writes, while the test runs."""
    [handler] = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_a_key_sent_in_the_url_by_mistake_is_not_logged(log_output: io.StringIO, integration: Integration) -> None:
    response = Client().get(f"/api/v1/flags/{SECRET}", HTTP_AUTHORIZATION=f"Bearer {SECRET}")

    assert response.status_code == 401
    written = log_output.getvalue()
    assert "Unauthorized: /api/v1/flags/dk_[redacted]" in written
    assert SECRET not in written and "secretpart" not in written


@pytest.mark.django_db
def test_an_unexpected_error_is_answered_in_json_and_logged_without_the_key(
    log_output: io.StringIO, integration: Integration, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make_key(integration).secret

    def explode(**kwargs: Any) -> Any:
        raise RuntimeError(f"database said no; request had Authorization: Bearer {secret}")

    monkeypatch.setattr("review.api.ingest_flags", explode)
    client = Client(raise_request_exception=False)

    response = client.post(
        "/api/v1/flags", json.dumps(flag_payload()), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert response.status_code == 500
    assert response.json() == {
        "error": "Docket could not answer this request; the error has been logged. Try again later."
    }
    written = log_output.getvalue()
    assert "Unhandled error answering POST /api/v1/flags" in written
    assert "RuntimeError: database said no; request had Authorization: [redacted]" in written
    assert secret not in written and secret[3:] not in written
