"""/api/v1/reports/{name}: a report of the key's own integration, streamed as CSV or JSON Lines."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from ninja import Router

from console.api import error, require_scope
from console.reports import REPORTS, UnknownReport, get_report
from console.reports import services as reports
from console.reports.forms import ALIASES, ReportFilterForm
from console.reports.writers import CONTENT_TYPES
from review.models import Scope

router: Router = Router(tags=["reports"])

PARAMETERS = {
    "from": "First UTC day, YYYY-MM-DD (included).",
    "to": "Last UTC day, YYYY-MM-DD (included).",
    "format": "`csv` (default, with a header row) or `jsonl` (one JSON object per line).",
    "category": "A category slug, e.g. `hate`.",
    "severity": "`low`, `medium`, `high` or `critical`.",
    "source": "A source, e.g. `openai`.",
    "queue": "A queue slug, e.g. `general`.",
    "state": "violations: `confirmed` or `voided`; actions: an action state; account_rates: an account state.",
}
_BY_FIELD = {v: k for k, v in ALIASES.items()}


# Errors are the API's usual JSON sentence (console.api.ErrorOut).
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}


def _openapi() -> dict[str, Any]:
    filters = "\n".join(
        f"- `{name}`: " + ", ".join(
            f"`{ALIASES.get(f, f)}`" for f in report.filter_names if f != "integration"
        )
        for name, report in REPORTS.items()
    )
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
            for name, text in PARAMETERS.items()
        ],
        "responses": {
            "200": {
                "description": "The report, streamed. Times are UTC (`YYYY-MM-DDTHH:MM:SSZ`); an empty value is an "
                "empty cell in CSV and `null` in JSON Lines.",
                "content": {"text/csv": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}}},
            },
            "400": {"description": "A filter the report does not take, or a value it cannot read.", **_ERROR},
            "401": {"description": "A missing or wrong key.", **_ERROR},
            "403": {"description": "The key lacks the scope `reports:read`.", **_ERROR},
            "404": {"description": "No report by that name.", **_ERROR},
            "413": {"description": "A body over the size limit.", **_ERROR},
            "429": {"description": "Too many requests for this key this minute.", **_ERROR},
            "503": {"description": "The database is unavailable for a moment.", **_ERROR},
        },
        "description": f"Reports: {', '.join(REPORTS)}. Each takes these filters:\n\n{filters}\n\n"
        "Only the key's own integration is reported. Needs the scope `reports:read`.",
    }


@router.get("/reports/{name}", summary="A report of this integration as CSV or JSON Lines", openapi_extra=_openapi())
def get_report_rows(request: HttpRequest, name: str) -> HttpResponseBase:
    key = require_scope(request, Scope.REPORTS_READ)
    try:
        report = get_report(name)
    except UnknownReport as exc:
        return error(request, 404, str(exc))
    accepted = {ALIASES.get(f, f) for f in report.filter_names if f != "integration"} | {"format"}
    unknown = sorted(set(request.GET) - accepted)
    if unknown:
        return error(request, 400, f"The {report.name} report does not take {', '.join(unknown)}; "
                                   f"it takes {', '.join(sorted(accepted))}.")
    data = {_BY_FIELD.get(k, k): v for k, v in request.GET.items()}
    data.setdefault("format", "csv")
    form = ReportFilterForm(data, report=report, integration=False)
    if not form.is_valid():
        return error(request, 400, form.first_error())
    filters, fmt = form.filters(integration=key.integration_id), form.cleaned_data["format"]
    body = reports.stream_report(actor=key, report=report, filters=filters, fmt=fmt, channel="api")
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{report.file_name(filters, fmt)}"'
    response["Cache-Control"] = "no-store"
    return response
