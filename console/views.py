from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from console import dashboard, health, services
from console import metrics as metrics_
from console.access import require
from console.filters import AuditFilter
from console.forms import StaffSettingsForm
from console.models import AuditEntry, StaffProfile
from console.pagination import keyset_page
from console.roles import Cap


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")[:45]


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        services.record_sign_in(user=form.get_user(), address=client_address(self.request))
        return response

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        services.record_failed_sign_in(
            username=self.request.POST.get("username", ""), address=client_address(self.request)
        )
        return super().form_invalid(form)


@method_decorator(login_not_required, name="dispatch")
class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        if request.user.is_authenticated:
            services.record_sign_out(user=request.user)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    success_url = "/password/done/"

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        services.record_password_change(actor=self.request.user)
        messages.success(self.request, "Your password was changed.")
        return response


@login_not_required
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: a constant answer that touches nothing (and the status benchmark's yardstick)."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database (and Redis, when configured) answer, 503 otherwise; public, nothing secret."""
    healthy, body = health.report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_not_required
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a bearer token or an allowed network; 404 while neither is configured."""
    if not metrics_.check_access(request):
        raise PermissionDenied("A metrics token or an allowed network is needed.")
    return HttpResponse(metrics_.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")


@require(Cap.VIEW_DASHBOARD)
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: what the signed-in user's roles may see (console.dashboard)."""
    return render(request, "console/home.html", {"board": dashboard.dashboard_for(request.user)})


@require(Cap.VIEW_AUDIT)
def audit_log(request: HttpRequest) -> HttpResponse:
    filterset = AuditFilter(request.GET, queryset=AuditEntry.objects.all())
    page = keyset_page(filterset.qs, params=request.GET, order=("-seq",), size=50)
    return render(request, "console/audit.html", {"filter": filterset, "page": page})


@require_http_methods(["GET", "POST"])
def staff_settings(request: HttpRequest) -> HttpResponse:
    profile, _ = StaffProfile.objects.get_or_create(user=request.user)
    form = StaffSettingsForm(
        request.POST if request.method == "POST" else None, initial={"blur_sensitive": profile.blur_sensitive}
    )
    if request.method == "POST" and form.is_valid():
        services.update_staff_settings(actor=request.user, blur_sensitive=form.cleaned_data["blur_sensitive"])
        messages.success(request, "Settings saved.")
        return redirect("console:settings")
    return render(request, "console/settings.html", {"form": form})
