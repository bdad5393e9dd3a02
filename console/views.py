from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from console import auth, dashboard, health, services, throttle
from console import metrics as metrics_
from console.access import AuthenticatedRequest, require
from console.filters import AuditFilter
from console.forms import CodeForm, StaffSettingsForm
from console.models import AuditEntry, RecoveryCode, StaffProfile, TotpDevice
from console.pagination import keyset_page
from console.roles import Cap
from console.throttle import client_address


class LoginView(auth_views.LoginView):
    """The password step. For someone with an authenticator app it signs nobody in: the code step does."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        lockout = throttle.current_lockout(username=request.POST.get("username", ""), address=client_address(request))
        if lockout is not None:  # checked before the password, so a locked account answers nothing about it
            return locked_out(request, lockout)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if TotpDevice.objects.filter(user=user).exists():
            self.request.session.cycle_key()
            self.request.session[auth.PENDING_KEY] = {
                "user": user.pk,
                "backend": user.backend,
                "at": time.time(),
                "next": self.get_redirect_url(),
            }
            return redirect("console:login_code")
        response = super().form_valid(form)
        throttle.forget_failures(username=user.get_username())
        services.record_sign_in(user=user, address=client_address(self.request))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        lockout = count_failure(self.request, username=self.request.POST.get("username", ""), step="password")
        if lockout is not None:
            return locked_out(self.request, lockout)
        return super().form_invalid(form)


def count_failure(request: HttpRequest, *, username: str, step: str) -> throttle.Lockout | None:
    """Count and audit one refused password or code; the lockout it started, if any."""
    address = client_address(request)
    lockouts = throttle.register_failure(username=username, address=address)
    services.record_failed_sign_in(username=username, address=address, step=step, lockouts=lockouts)
    return next((lock for lock in lockouts if lock.scope == "account"), lockouts[0] if lockouts else None)


def locked_out(request: HttpRequest, lockout: throttle.Lockout, *, username: str | None = None) -> HttpResponse:
    """The sign-in page saying when to try again (429: a client may retry after that)."""
    request.session.pop(auth.PENDING_KEY, None)
    username = request.POST.get("username", "") if username is None else username
    form = AuthenticationForm(request, initial={"username": username})
    response = render(request, "registration/login.html", {"form": form, "lockout": lockout.message()}, status=429)
    response["Retry-After"] = str(max(1, round(lockout.until - time.time())))
    return response


def _pending_user(request: HttpRequest) -> tuple[Any, dict[str, Any]] | None:
    pending = request.session.get(auth.PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > auth.PENDING_SECONDS:
        return None
    if pending.get("backend") not in settings.AUTHENTICATION_BACKENDS:
        return None
    user_id = pending.get("user")
    if user_id is None:
        return None
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    return (user, pending) if user is not None else None


@login_not_required
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The code step: a code from the app, or a recovery code. Throttled with the password step."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    found = _pending_user(request)
    if found is None:
        if request.session.pop(auth.PENDING_KEY, None) is not None:
            messages.info(request, "The code step waits five minutes at most: sign in again.")
        return redirect(settings.LOGIN_URL)
    user, pending = found
    username = user.get_username()
    lockout = throttle.current_lockout(username=username, address=client_address(request))
    if lockout is not None:
        return locked_out(request, lockout, username=username)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            method = services.use_second_factor(user=user, code=form.cleaned_data["code"])
        except services.WrongCode as wrong:
            lockout = count_failure(request, username=username, step="code")
            if lockout is not None:
                return locked_out(request, lockout, username=username)
            form.add_error("code", str(wrong))
        else:
            del request.session[auth.PENDING_KEY]
            auth_login(request, user, backend=pending["backend"])
            throttle.forget_failures(username=username)
            services.record_sign_in(user=user, address=client_address(request), second_factor=method)
            if method == "recovery":
                left = RecoveryCode.objects.unused().filter(user=user).count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code: {left} left. "
                    "Make new ones in Settings if you have lost your authenticator.",
                )
            return redirect(pending.get("next") or settings.LOGIN_REDIRECT_URL)
    # A refused code answers 200, as Django's password step does: the page is the answer.
    return render(request, "registration/login_code.html", {"form": form, "username": username})


@method_decorator(login_not_required, name="dispatch")
class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            services.record_sign_out(user=request.user)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Throttled like signing in: with a stolen session cookie it would otherwise test passwords freely."""

    template_name = "registration/password_change.html"
    success_url = "/password/done/"
    request: AuthenticatedRequest  # behind the login middleware, like every console page

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = self.request.user  # the same request, typed as a signed-in one
        lockout = throttle.current_lockout(username=user.get_username(), address=client_address(request))
        if lockout is not None:
            messages.error(request, lockout.message())
            return self.render_to_response(self.get_context_data(form=self.form_class(user)), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: PasswordChangeForm) -> HttpResponse:
        if "old_password" in form.errors:
            count_failure(self.request, username=self.request.user.get_username(), step="password_change")
        return super().form_invalid(form)

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
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
def home(request: AuthenticatedRequest) -> HttpResponse:
    """The dashboard: what the signed-in user's roles may see (console.dashboard)."""
    return render(request, "console/home.html", {"board": dashboard.dashboard_for(request.user)})


@require(Cap.VIEW_AUDIT)
def audit_log(request: AuthenticatedRequest) -> HttpResponse:
    filterset = AuditFilter(request.GET, queryset=AuditEntry.objects.all())
    page = keyset_page(filterset.qs, params=request.GET, order=("-seq",), size=50)
    return render(request, "console/audit.html", {"filter": filterset, "page": page})


@require_http_methods(["GET", "POST"])
def staff_settings(request: AuthenticatedRequest) -> HttpResponse:
    profile, _ = StaffProfile.objects.get_or_create(user=request.user)
    form = StaffSettingsForm(
        request.POST if request.method == "POST" else None, initial={"blur_sensitive": profile.blur_sensitive}
    )
    if request.method == "POST" and form.is_valid():
        services.update_staff_settings(actor=request.user, blur_sensitive=form.cleaned_data["blur_sensitive"])
        messages.success(request, "Settings saved.")
        return redirect("console:settings")
    device = TotpDevice.objects.filter(user=request.user).first()
    context = {
        "form": form,
        "device": device,
        "codes_left": RecoveryCode.objects.unused().filter(user=request.user).count() if device else 0,
        "two_factor_required": auth.second_factor_required(request.user),
        "idle_minutes": settings.DOCKET_SESSION_IDLE_MINUTES,
    }
    return render(request, "console/settings.html", context)


@require_POST
def sign_out_everywhere(request: AuthenticatedRequest) -> HttpResponse:
    """Every session of this person ends, this one included."""
    services.sign_out_everywhere(actor=request.user, user=request.user)
    logout(request)
    messages.success(request, "You were signed out everywhere, here included.")
    return redirect(settings.LOGIN_URL)
