"""Retention: how long each integration's prompt and response text is kept."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from console.access import AuthenticatedRequest, require
from console.calibration_forms import RetentionForm
from console.models import AuditEntry, AuditVerb
from console.roles import Cap
from review.models import Integration
from review.services.retention import set_retention_days


@require(Cap.MANAGE_POLICY)
@require_GET
def retention(request: AuthenticatedRequest) -> HttpResponse:
    integrations = Integration.objects.select_related("profile").order_by("name")
    runs = AuditEntry.objects.filter(verb=AuditVerb.RETENTION_APPLIED).order_by("-seq")[:10]
    return render(request, "console/retention.html", {"integrations": integrations, "runs": runs})


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def retention_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    form = RetentionForm(request.POST if request.method == "POST" else None,
                         initial={"days": integration.retention_days})
    if request.method == "POST" and form.is_valid():
        set_retention_days(actor=request.user, integration=integration, days=form.cleaned_data["days"],
                           reason=form.cleaned_data["reason"])
        messages.success(request, f"{integration.name} keeps flag text for {form.cleaned_data['days']} days.")
        return redirect("console:policy_retention")
    return render(request, "console/policy_form.html", {"form": form, "title": f"Retention: {integration.name}"},
                  status=400 if form.is_bound else 200)
