"""Every operation of the OpenAPI document Docket serves, fuzzed by schemathesis through the WSGI app.

The schema is the one /api/v1/openapi.json answers (so a new endpoint is fuzzed
without editing this file). Each operation gets valid and invalid requests
(bodies, path parameters, headers) with a key holding every scope, and each
answer must be: no 5xx, a status code the document lists for the operation,
the content type it lists, and a body matching the schema it lists. Invalid
data must be refused with a 4xx. Seeded (derandomized) and capped, so a run is
the same every time and takes well under two minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from review.models import ApiKey, Integration
from tests.factories import make_key

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 40


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    # schemathesis calls the WSGI app itself, not through Django's test client, so each request
    # would run close_old_connections, which closes the connection holding the test's transaction
    # (PostgreSQL; SQLite's in-memory database survives it). Django's own test client disconnects it too.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def _connection_kept() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does.

    Schemathesis calls the WSGI app itself, and at the end of each request Django
    would close the connection: on PostgreSQL that ends the test's transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_key(integration: Integration, _connection_kept: None) -> str:
    new = make_key(integration)
    # Hundreds of requests in a few seconds: the fuzzer is not the abuse the limit is for.
    ApiKey.objects.filter(pk=new.key.pk).update(rate_per_minute=10**9)
    return new.secret


# 413 is how Docket refuses a batch of more than 1,000 flags (documented for the operation): a rejection.
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 406, 413, 415, 422]}}}


def _load() -> Any:
    # At collection: the document needs no database, and schemathesis's lazy fixture loader
    # does not work with this pytest.
    from console.wsgi import application

    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=config)


schema = _load()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_documented_schema(case: Any, fuzz_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_key}"}, checks=CHECKS)


def test_the_fuzzed_document_lists_every_api_route() -> None:
    from console.api import api

    operations = {
        (method.upper(), path)
        for path, item in api.get_openapi_schema(path_prefix="/api/v1/")["paths"].items()
        for method in item
    }
    assert operations == {
        ("POST", "/api/v1/flags"),
        ("GET", "/api/v1/flags/{flag_id}"),
        ("POST", "/api/v1/usage"),
        ("GET", "/api/v1/accounts/{user}/status"),
        ("POST", "/api/v1/appeals"),
        ("GET", "/api/v1/reports/{name}"),
    }
