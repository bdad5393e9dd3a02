from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.access import AuthenticatedRequest, require
from console.roles import Cap
from review import services
from review.forms import ApiKeyForm, IntegrationEditForm, IntegrationForm, KeyRateForm, RevokeKeyForm
from review.models import ApiKey, Integration


@require(Cap.MANAGE_INTEGRATIONS)
def integrations(request: AuthenticatedRequest) -> HttpResponse:
    rows = Integration.objects.select_related("profile").annotate(
        active_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True),
        endpoints=Count("webhook_endpoints", filter=Q(webhook_endpoints__is_active=True), distinct=True),
    )
    return render(request, "review/integrations.html", {"integrations": rows})


@require(Cap.MANAGE_INTEGRATIONS)
@require_http_methods(["GET", "POST"])
def integration_new(request: AuthenticatedRequest) -> HttpResponse:
    form = IntegrationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        integration = services.create_integration(actor=request.user, **form.cleaned_data)
        messages.success(request, f"Integration {integration.name} created. Now give it an API key.")
        if integration.webhook_secret:  # type: ignore[attr-defined]
            # Rendered, not redirected: the signing secret is shown this once.
            endpoint = integration.webhook_endpoints.get()
            response = render(request, "accounts/webhook_created.html",
                              {"integration": integration, "endpoint": endpoint,
                               "secret": integration.webhook_secret})  # type: ignore[attr-defined]
            response["Cache-Control"] = "no-store"
            return response
        return redirect("review:integration", pk=integration.pk)
    return render(request, "review/integration_form.html", {"form": form})


@require(Cap.MANAGE_INTEGRATIONS)
def integration(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(Integration.objects.select_related("profile"), pk=pk)
    keys = obj.api_keys.order_by("revoked_at", "-created_at").select_related("created_by")
    edit = IntegrationEditForm(
        initial={"profile": obj.profile, "is_active": obj.is_active}
    )
    return render(
        request,
        "review/integration.html",
        {
            "integration": obj,
            "keys": keys,
            "key_form": ApiKeyForm(),
            "edit_form": edit,
            "default_rate": settings.DOCKET_API_RATE_PER_MINUTE,
        },
    )


@require(Cap.MANAGE_INTEGRATIONS)
@require_POST
def integration_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(Integration, pk=pk)
    form = IntegrationEditForm(request.POST)
    if not form.is_valid():
        keys = obj.api_keys.order_by("revoked_at", "-created_at")
        return render(
            request,
            "review/integration.html",
            {"integration": obj, "keys": keys, "key_form": ApiKeyForm(), "edit_form": form,
             "default_rate": settings.DOCKET_API_RATE_PER_MINUTE},
            status=400,
        )
    services.update_integration(actor=request.user, integration=obj, **form.cleaned_data)
    messages.success(request, "Integration saved.")
    return redirect("review:integration", pk=obj.pk)


@require(Cap.MANAGE_INTEGRATIONS)
@require_POST
def key_new(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(Integration, pk=pk)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        keys = obj.api_keys.order_by("revoked_at", "-created_at")
        edit = IntegrationEditForm(
            initial={"profile": obj.profile, "is_active": obj.is_active}
        )
        return render(
            request,
            "review/integration.html",
            {"integration": obj, "keys": keys, "key_form": form, "edit_form": edit,
             "default_rate": settings.DOCKET_API_RATE_PER_MINUTE},
            status=400,
        )
    new = services.create_api_key(actor=request.user, integration=obj, **form.cleaned_data)
    # Rendered, not redirected: the secret must not travel in a URL or a session.
    response = render(request, "review/key_created.html", {"integration": obj, "new": new})
    response["Cache-Control"] = "no-store"
    return response


@require(Cap.MANAGE_INTEGRATIONS)
@require_POST
def key_revoke(request: AuthenticatedRequest, pk: int, key_pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_pk, integration_id=pk)
    form = RevokeKeyForm(request.POST)
    if form.is_valid():
        try:
            services.revoke_api_key(actor=request.user, key=key, reason=form.cleaned_data["reason"])
            messages.success(request, f"Key {key.prefix}… revoked: it no longer works.")
        except ValueError as exc:
            messages.error(request, str(exc))
    return redirect("review:integration", pk=pk)


@require(Cap.MANAGE_INTEGRATIONS)
@require_POST
def key_rate(request: AuthenticatedRequest, pk: int, key_pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_pk, integration_id=pk)
    form = KeyRateForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{e}" for errors in form.errors.values() for e in errors)
        messages.error(request, f"Rate limit of {key.name} not changed: {problems}")
        return redirect("review:integration", pk=pk)
    try:
        services.set_api_key_rate(
            actor=request.user, key=key, rate_per_minute=form.cleaned_data["rate_per_minute"],
            reason=form.cleaned_data["reason"],
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Key {key.prefix}… rate limit saved.")
    return redirect("review:integration", pk=pk)
