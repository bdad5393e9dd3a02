"""Calibration: the numbers per source, category and level; the sample rate per profile; the what-if."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from console.access import AuthenticatedRequest, require
from console.calibration_forms import DEFAULT_DAYS, CalibrationFilterForm, CalibrationRateForm, WhatIfForm
from console.roles import Cap
from review.calibration import CalibrationRow, calibration_rows, what_if
from review.models import Category, PolicyProfile
from review.services.calibration import set_calibration_rate


@require(Cap.MANAGE_POLICY)
@require_GET
def calibration(request: AuthenticatedRequest) -> HttpResponse:
    params = request.GET.copy()
    if not params.get("since") and not params.get("until"):
        today = timezone.localdate()
        params["since"], params["until"] = str(today - timedelta(days=DEFAULT_DAYS - 1)), str(today)
    form = CalibrationFilterForm(params)
    categories = {c.slug: c for c in Category.objects.all()}
    rows: list[CalibrationRow] = []
    if form.is_valid():
        integration, profile = form.cleaned_data["integration"], form.cleaned_data["profile"]
        rows = calibration_rows(
            form.period(),
            integration_id=integration.pk if integration else None,
            profile_id=profile.pk if profile else None,
        )
        rows.sort(key=lambda r: (categories[r.category].position if r.category in categories else 999,
                                 r.category, r.source, -r.level))
    named = [(row, categories.get(row.category)) for row in rows]
    profiles = PolicyProfile.objects.annotate(integration_count=Count("integrations")).order_by("name")
    whatif_initial = {"profile": form.cleaned_data.get("profile") if form.is_valid() else None}
    context = {
        "form": form,
        "rows": named,
        "profiles": profiles,
        "whatif_form": WhatIfForm(initial={k: v for k, v in whatif_initial.items() if v}),
    }
    return render(request, "console/calibration.html", context, status=200 if form.is_valid() else 400)


@require(Cap.MANAGE_POLICY)
@require_GET
def whatif(request: AuthenticatedRequest) -> HttpResponse:
    """The what-if panel (htmx partial; a whole page without htmx). GET: profile, category, threshold, days."""
    form = WhatIfForm(request.GET)
    context: dict[str, object] = {"whatif_form": form}
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        context["whatif"] = what_if(data["profile"], data["category"].slug, data["threshold"], days=data["days"])
        context["category"] = data["category"]
        status = 200
    partial = request.headers.get("HX-Request") == "true"
    return render(request, "console/_whatif.html" if partial else "console/whatif.html", context, status=status)


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def calibration_rate(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(PolicyProfile, pk=pk)
    form = CalibrationRateForm(request.POST if request.method == "POST" else None,
                               initial={"rate": profile.calibration_rate})
    if request.method == "POST" and form.is_valid():
        set_calibration_rate(actor=request.user, profile=profile, rate=form.cleaned_data["rate"],
                             reason=form.cleaned_data["reason"])
        messages.success(request, f"{profile.name} now samples {form.cleaned_data['rate']:g} % of the flags "
                                  "below threshold.")
        return redirect("console:policy_calibration")
    return render(request, "console/policy_form.html",
                  {"form": form, "title": f"Calibration sample: {profile.name}"},
                  status=400 if form.is_bound else 200)
