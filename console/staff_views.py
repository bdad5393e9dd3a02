"""Staff admins' pages: who has which role, granting and removing roles, resetting a lost second factor."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console import auth, services, throttle
from console.access import AuthenticatedRequest, require
from console.forms import ReasonForm, RolesForm
from console.models import AuditEntry
from console.pagination import keyset_page
from console.roles import TWO_FACTOR_ROLES, Cap, roles_of

RECENT_ENTRIES = 15


@require(Cap.MANAGE_STAFF)
def staff_list(request: AuthenticatedRequest) -> HttpResponse:
    users = get_user_model().objects.select_related("totp_device").prefetch_related("groups")
    page = keyset_page(users, params=request.GET, order=("id",), size=50)
    rows = [
        {"user": user, "roles": roles_of(user), "two_factor": auth.has_totp(user), "needs": _needs_second_factor(user)}
        for user in page.items
    ]
    return render(request, "console/staff.html", {"page": page, "rows": rows})


def _needs_second_factor(user: Any) -> bool:
    return settings.DOCKET_REQUIRE_2FA and any(role in TWO_FACTOR_ROLES for role in roles_of(user))


def _member_page(
    request: AuthenticatedRequest, member: Any, *, status: int = 200, roles_form: RolesForm | None = None, **forms: Any
) -> HttpResponse:
    current = roles_of(member)
    entries = AuditEntry.objects.filter(target_type="auth.user", target_id=str(member.pk)).order_by("-seq")
    context = {
        "member": member,
        "roles": current,
        "is_self": member.pk == request.user.pk,
        "two_factor": auth.has_totp(member),
        "needs_second_factor": _needs_second_factor(member),
        "roles_form": roles_form or RolesForm(initial={"roles": [r.value for r in current]}, auto_id="roles_%s"),
        "reset_form": forms.get("reset_form") or ReasonForm(auto_id="reset_%s"),
        "sign_out_form": forms.get("sign_out_form") or ReasonForm(auto_id="signout_%s"),
        "unlock_form": forms.get("unlock_form") or ReasonForm(auto_id="unlock_%s"),
        "lockout": throttle.current_lockout(username=member.get_username()),
        "entries": entries[:RECENT_ENTRIES],
        "two_factor_roles": sorted(role.label for role in TWO_FACTOR_ROLES) if settings.DOCKET_REQUIRE_2FA else [],
    }
    return render(request, "console/staff_member.html", context, status=status)


def _member(pk: int) -> Any:
    return get_object_or_404(get_user_model().objects.select_related("totp_device"), pk=pk)


@require(Cap.MANAGE_STAFF)
@require_http_methods(["GET", "POST"])
def staff_member(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """One member of staff; POST gives them exactly the roles ticked."""
    member = _member(pk)
    if request.method == "GET":
        return _member_page(request, member)
    form = RolesForm(request.POST, auto_id="roles_%s")
    if not form.is_valid():
        return _member_page(request, member, status=400, roles_form=form)
    try:
        changed = services.set_roles(
            actor=request.user, user=member, roles=form.cleaned_data["roles"], reason=form.cleaned_data["reason"]
        )
    except services.SelfChangeRefused as refused:
        messages.error(request, str(refused))
        return _member_page(request, member, status=403)
    if changed:
        labels = ", ".join(role.label for role in roles_of(member)) or "none"
        messages.success(request, f"{member.get_username()}'s roles are now: {labels}.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect("console:staff_member", pk=member.pk)


@require(Cap.MANAGE_STAFF)
@require_POST
def staff_reset_two_factor(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Remove a member's authenticator (a lost phone): they set one up again at their next sign-in."""
    member = _member(pk)
    form = ReasonForm(request.POST, auto_id="reset_%s")
    if not form.is_valid():
        return _member_page(request, member, status=400, reset_form=form)
    try:
        reset = services.reset_totp(actor=request.user, user=member, reason=form.cleaned_data["reason"])
    except services.SelfChangeRefused as refused:
        messages.error(request, str(refused))
        return _member_page(request, member, status=403)
    if reset:
        messages.success(request, f"{member.get_username()}'s two-factor sign-in was reset and their sessions ended.")
    else:
        messages.info(request, f"{member.get_username()} has no authenticator to reset.")
    return redirect("console:staff_member", pk=member.pk)


@require(Cap.MANAGE_STAFF)
@require_POST
def staff_sign_out(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """End every session a member has (a lost laptop, a suspected takeover)."""
    member = _member(pk)
    form = ReasonForm(request.POST, auto_id="signout_%s")
    if not form.is_valid():
        return _member_page(request, member, status=400, sign_out_form=form)
    services.sign_out_everywhere(actor=request.user, user=member, reason=form.cleaned_data["reason"])
    if member.pk == request.user.pk:
        logout(request)
        messages.success(request, "You were signed out everywhere, here included.")
        return redirect("console:login")
    messages.success(request, f"Every session of {member.get_username()} has ended.")
    return redirect("console:staff_member", pk=member.pk)



@require(Cap.MANAGE_STAFF)
@require_POST
def staff_unlock(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Lift a member's sign-in lockout before its time."""
    member = _member(pk)
    form = ReasonForm(request.POST, auto_id="unlock_%s")
    if not form.is_valid():
        return _member_page(request, member, status=400, unlock_form=form)
    lifted = services.lift_sign_in_lockout(actor=request.user, user=member, reason=form.cleaned_data["reason"])
    if lifted:
        messages.success(request, f"{member.get_username()} can sign in again.")
    else:
        messages.info(request, f"{member.get_username()} was not locked out.")
    return redirect("console:staff_member", pk=member.pk)
