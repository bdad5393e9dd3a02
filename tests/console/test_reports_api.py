"""GET /api/v1/reports/{name}: the key's own integration, streamed, with the scope reports:read."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.http import StreamingHttpResponse

from console.models import AuditEntry, AuditVerb
from review.models import Scope
from tests.factories import Api, make_integration, make_key, make_violation

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(integration: Any, reviewer: Any) -> dict[str, Any]:
    other = make_integration("Globex")
    return {
        "mine": [make_violation(integration, reviewer, user="u1", category="hate"),
                 make_violation(integration, reviewer, user="u2", category="sexual")],
        "theirs": make_violation(other, reviewer, user="u1", category="hate"),
    }


def body(response: Any) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_it_streams_the_keys_own_violations_as_csv(api, data) -> None:
    response = api.get("reports/violations")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [int(r["decision"]) for r in rows] == [v.decision_id for v in data["mine"]]
    assert {r["integration"] for r in rows} == {"Acme Chat"}


def test_it_takes_filters_and_json_lines(api, data) -> None:
    response = api.get("reports/violations", format="jsonl", category="hate", **{"from": "2020-01-01"})

    lines = [json.loads(line) for line in body(response).splitlines()]
    assert [line["decision"] for line in lines] == [data["mine"][0].decision_id]
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"


def test_every_report_answers(api, data) -> None:
    for name in ("violations", "actions", "account_rates", "reviewer_activity"):
        response = api.get(f"reports/{name}", format="jsonl")
        assert response.status_code == 200, name
        body(response)


def test_a_key_without_reports_read_is_refused(client, integration, data) -> None:
    key = make_key(integration, scopes=[Scope.FLAGS_WRITE, Scope.FLAGS_READ])

    response = Api(client, key.secret).get("reports/violations")

    assert response.status_code == 403
    assert response.json() == {"error": "This API key lacks the scope 'reports:read'."}
    assert not AuditEntry.objects.filter(verb=AuditVerb.REPORT_EXPORTED).exists()


def test_no_key_or_a_wrong_key_is_unauthorised(client, data) -> None:
    assert client.get("/api/v1/reports/violations").status_code == 401
    assert Api(client, "dk_not-a-key").get("reports/violations").status_code == 401


def test_bad_parameters_are_sentences(api, data) -> None:
    cases = {
        (("integration", "1"),): "The violations report does not take integration",
        (("state", "x"),): "state: Select a valid choice",
        (("from", "yesterday"),): "from: Enter a valid date.",
        (("from", "2025-02-01"), ("to", "2025-01-01")): "to: To must not be before From.",
        (("format", "xlsx"),): "format: Select a valid choice",
    }
    for params, said in cases.items():
        response = api.get("reports/violations", **dict(params))
        assert response.status_code == 400, params
        assert response.json()["error"].startswith(said), response.json()
    response = api.get("reports/reviewer_activity", severity="high")
    assert response.status_code == 400
    assert "does not take severity; it takes category, format, from, queue, to" in response.json()["error"]
    missing = api.get("reports/payroll")
    assert missing.status_code == 404
    assert "There is no report 'payroll'" in missing.json()["error"]


def test_an_api_export_is_audited_under_the_key(api, integration, data) -> None:
    body(api.get("reports/actions", state="applied"))

    entry = AuditEntry.objects.get(verb=AuditVerb.REPORT_EXPORTED)
    assert entry.actor_type == "api_key"
    assert entry.after == {"report": "actions", "filters": {"integration": integration.pk, "state": "applied"},
                           "format": "csv", "channel": "api"}


def test_the_endpoint_is_documented(client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/reports/{name}"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"name", "from", "to", "format", "category", "state"}
    assert "reports:read" in operation["description"]
