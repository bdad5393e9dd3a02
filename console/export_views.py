"""The Exports page: run a report (streamed when small, in the background when large), follow
background exports, download them, and manage scheduled report mails."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.access import AuthenticatedRequest, require
from console.models import Export, ExportState, ReportSubscription
from console.pagination import keyset_page
from console.reports import REPORTS, Filters, Report, UnknownReport, get_report
from console.reports import services as reports
from console.reports.forms import ReportFilterForm, SubscriptionForm
from console.reports.writers import CONTENT_TYPES
from console.roles import Cap
from review.models import Integration


def _report(name: str | None) -> Report:
    try:
        return get_report(name or "violations")
    except UnknownReport:
        raise Http404("No such report.") from None


def _page(request: AuthenticatedRequest, report: Report, *, form: ReportFilterForm | None = None,
          subscription_form: SubscriptionForm | None = None, status: int = 200) -> HttpResponse:
    mine = Export.objects.filter(requested_by=request.user)
    page = keyset_page(mine, params=request.GET, order=("-id",), size=20)
    subscriptions = list(ReportSubscription.objects.filter(user=request.user).order_by("id"))
    names = _integration_names([e.filters for e in page.items] + [s.filters for s in subscriptions])
    context: dict[str, Any] = {
        "reports": REPORTS.values(),
        "report": report,
        "form": form or ReportFilterForm(report=report),
        "subscription_form": subscription_form or SubscriptionForm(report=report, user=request.user, prefix="sub"),
        "page": page,
        "exports": [(export, _describe(export, names)) for export in page.items],
        "subscriptions": [
            (s, REPORTS.get(s.report), Filters.from_json(s.filters).describe(names)) for s in subscriptions
        ],
        "stream_max_rows": settings.DOCKET_EXPORT_STREAM_MAX_ROWS,
        "keep_hours": settings.DOCKET_EXPORT_KEEP_HOURS,
    }
    return render(request, "console/exports.html", context, status=status)


def _integration_names(filter_sets: list[dict[str, Any]]) -> dict[int, str]:
    ids = {f["integration"] for f in filter_sets if f.get("integration") is not None}
    return dict(Integration.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def _describe(export: Export, names: dict[int, str]) -> str:
    report = REPORTS.get(export.report)
    title = report.title if report else export.report
    return f"{title}: {Filters.from_json(export.filters).describe(names)}"


@require(Cap.EXPORT_REPORTS)
def exports(request: AuthenticatedRequest) -> HttpResponse:
    return _page(request, _report(request.GET.get("report")))


@require(Cap.EXPORT_REPORTS)
@require_POST
def export_run(request: AuthenticatedRequest, name: str) -> HttpResponseBase:
    report = _report(name)
    form = ReportFilterForm(request.POST, report=report)
    if not form.is_valid():
        return _page(request, report, form=form, status=400)
    filters, fmt = form.filters(), form.cleaned_data["format"]
    if reports.is_large(report, filters):
        export = reports.request_export(actor=request.user, report=report, filters=filters, fmt=fmt)
        messages.success(request, f"{report.title}: more than {settings.DOCKET_EXPORT_STREAM_MAX_ROWS:,} rows, so "
                                  f"it is being written in the background (export #{export.pk}).")
        return redirect(f"{reverse('console:exports')}?report={report.name}#export-{export.pk}")
    body = reports.stream_report(actor=request.user, report=report, filters=filters, fmt=fmt, channel="browser")
    response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{report.file_name(filters, fmt)}"'
    response["Cache-Control"] = "no-store"
    return response


def _own_export(request: AuthenticatedRequest, pk: int) -> Export:
    return get_object_or_404(Export, pk=pk, requested_by=request.user)


@require(Cap.EXPORT_REPORTS)
def export_progress(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The export's row on the page; htmx asks for it every second while the export runs."""
    export = _own_export(request, pk)
    return render(request, "console/_export_progress.html", {"export": export})


@require(Cap.EXPORT_REPORTS)
def export_download(request: AuthenticatedRequest, pk: int) -> FileResponse:
    export = _own_export(request, pk)
    path = reports.export_path(export)
    if export.state != ExportState.DONE or path is None or not path.is_file():
        raise Http404("This export has no file (not finished, failed or expired).")
    reports.record_download(actor=request.user, export=export)
    report = REPORTS.get(export.report)
    name = report.file_name(Filters.from_json(export.filters), export.format) if report else path.name
    response = FileResponse(path.open("rb"), as_attachment=True, filename=name,
                            content_type=CONTENT_TYPES[export.format])
    response["Cache-Control"] = "no-store"
    return response


@require(Cap.EXPORT_REPORTS)
@require_POST
def subscription_new(request: AuthenticatedRequest, name: str) -> HttpResponse:
    report = _report(name)
    form = SubscriptionForm(request.POST, report=report, user=request.user, prefix="sub")
    if not form.is_valid():
        return _page(request, report, subscription_form=form, status=400)
    subscription = reports.subscribe(
        actor=request.user, report=report, filters=form.filters(), fmt=form.cleaned_data["format"],
        frequency=form.cleaned_data["frequency"], delivery=form.cleaned_data["delivery"],
    )
    messages.success(request, f"{report.title} will be mailed to {request.user.email} "
                              f"{subscription.get_frequency_display().lower()}.")
    return redirect(f"{reverse('console:exports')}?report={report.name}")


@require(Cap.EXPORT_REPORTS)
@require_POST
def subscription_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(ReportSubscription, pk=pk, user=request.user)
    reports.unsubscribe(actor=request.user, subscription=subscription)
    messages.success(request, "Subscription deleted: no more mails for it.")
    return redirect("console:exports")
