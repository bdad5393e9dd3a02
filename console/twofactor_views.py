"""A staff member's own two-factor sign-in: enrol, replace the recovery codes, turn it off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console import auth, services, throttle, twofactor
from console.access import AuthenticatedRequest
from console.forms import CodeForm, DisableTwoFactorForm, EnrolForm
from console.models import RecoveryCode, TotpDevice
from console.throttle import client_address
from console.views import count_failure


def _enrolment_secret(request: HttpRequest) -> str:
    """The secret being enrolled: made once per session, kept there encrypted until confirmed."""
    token = request.session.get(auth.ENROL_KEY)
    if token:
        try:
            return twofactor.decrypt_secret(token)
        except twofactor.SecretUnreadable:
            pass
    secret = twofactor.new_secret()
    request.session[auth.ENROL_KEY] = twofactor.encrypt_secret(secret)
    return secret


def _renew_form(data: Mapping[str, Any] | None = None) -> CodeForm:
    form = CodeForm(data, auto_id="renew_%s")
    form.fields["code"].widget.attrs.pop("autofocus", None)  # a settings page, not a sign-in step
    return form


def _recovery_codes_page(request: HttpRequest, codes: list[str], *, first_time: bool) -> HttpResponse:
    shown = [twofactor.display_recovery_code(code) for code in codes]
    return render(request, "console/recovery_codes.html", {"codes": shown, "first_time": first_time})


@require_http_methods(["GET", "POST"])
def two_factor(request: AuthenticatedRequest) -> HttpResponse:
    """Enrol an authenticator app (GET shows the secret, POST confirms it with a code), or manage one."""
    device = TotpDevice.objects.filter(user=request.user).first()
    if device is not None:
        if request.method == "POST":
            messages.info(request, "Two-factor sign-in is on already.")
            return redirect("console:two_factor")
        return _manage_page(request, status=200)
    secret = _enrolment_secret(request)
    form = EnrolForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.enable_totp(actor=request.user, secret=secret, code=form.cleaned_data["code"])
        except services.WrongCode as wrong:
            form.add_error("code", str(wrong))
        else:
            request.session.pop(auth.ENROL_KEY, None)
            messages.success(request, "Two-factor sign-in is on. From now on you sign in with a code from your app.")
            return _recovery_codes_page(request, codes, first_time=True)
    uri = twofactor.provisioning_uri(secret, request.user.get_username())
    context = {
        "form": form,
        "secret": twofactor.grouped(secret),
        "uri": uri,
        "qr": twofactor.qr_data_uri(uri),
        "required": auth.second_factor_required(request.user),
    }
    return render(request, "console/two_factor_enrol.html", context, status=400 if form.errors else 200)


def _refused_while_locked(request: AuthenticatedRequest) -> HttpResponse | None:
    lockout = throttle.current_lockout(username=request.user.get_username(), address=client_address(request))
    if lockout is None:
        return None
    messages.error(request, lockout.message())
    return redirect("console:two_factor")


def _refused_when_off(request: AuthenticatedRequest) -> HttpResponse | None:
    if TotpDevice.objects.filter(user=request.user).exists():
        return None
    messages.info(request, "Two-factor sign-in is off.")
    return redirect("console:two_factor")


def _manage_page(request: AuthenticatedRequest, *, status: int = 400, **forms: object) -> HttpResponse:
    """The page of someone with an app: when it was set up, codes left, and the two forms."""
    context = {
        "device": TotpDevice.objects.filter(user=request.user).first(),
        "codes_left": RecoveryCode.objects.unused().filter(user=request.user).count(),
        "renew_form": _renew_form(),
        "disable_form": DisableTwoFactorForm(user=request.user, auto_id="disable_%s"),
        **forms,
    }
    return render(request, "console/two_factor.html", context, status=status)


@require_POST
def renew_recovery_codes(request: AuthenticatedRequest) -> HttpResponse:
    """Ten new recovery codes for a current code from the app (or a recovery code)."""
    form = _renew_form(request.POST)
    if not form.is_valid():
        return _manage_page(request, renew_form=form)
    if (refused := _refused_while_locked(request) or _refused_when_off(request)) is not None:
        return refused
    try:
        services.use_second_factor(user=request.user, code=form.cleaned_data["code"])
        codes = services.renew_recovery_codes(actor=request.user)
    except services.WrongCode as wrong:
        count_failure(request, username=request.user.get_username(), step="code")
        form.add_error("code", str(wrong))
        return _manage_page(request, renew_form=form)
    messages.success(request, "New recovery codes made; the old ones no longer work.")
    return _recovery_codes_page(request, codes, first_time=False)


@require_POST
def disable_two_factor(request: AuthenticatedRequest) -> HttpResponse:
    """Turn two-factor sign-in off: the password and a code, so an unattended console cannot."""
    if (refused := _refused_while_locked(request)) is not None:
        return refused
    form = DisableTwoFactorForm(request.POST, user=request.user, auto_id="disable_%s")
    if not form.is_valid():
        if request.POST.get("password") and "password" in form.errors:
            count_failure(request, username=request.user.get_username(), step="password_check")
        return _manage_page(request, disable_form=form)
    if (refused := _refused_when_off(request)) is not None:
        return refused
    try:
        services.use_second_factor(user=request.user, code=form.cleaned_data["code"])
    except services.WrongCode as wrong:
        count_failure(request, username=request.user.get_username(), step="code")
        form.add_error("code", str(wrong))
        return _manage_page(request, disable_form=form)
    services.disable_totp(actor=request.user)
    if auth.second_factor_required(request.user):
        messages.warning(request, "Two-factor sign-in is off. Your role needs it: set up an app again to go on.")
    else:
        messages.success(request, "Two-factor sign-in is off.")
    return redirect("console:settings")
