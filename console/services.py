"""Every write on the staff side of the console."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from console.audit import record
from console.models import AuditVerb, StaffProfile
from console.roles import Role, sync_roles

User = get_user_model()


@transaction.atomic
def create_staff(*, actor: Any, username: str, password: str, role: Role, email: str = "") -> AbstractBaseUser:
    """Create a staff user with one role. Raises ValidationError for a weak password."""
    user = User(username=username, email=email)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    StaffProfile.objects.create(user=user)
    record(actor=actor, verb=AuditVerb.STAFF_CREATED, target=user, after={"username": username, "email": email})
    grant_role(actor=actor, user=user, role=role)
    return user


@transaction.atomic
def grant_role(*, actor: Any, user: AbstractBaseUser, role: Role, reason: str = "") -> None:
    if actor is not None and getattr(actor, "pk", None) == user.pk:
        raise PermissionError("Nobody may grant a role to themselves.")
    group = Group.objects.filter(name=role.value).first()
    if group is None:
        from django.apps import apps

        sync_roles(apps)
        group = Group.objects.get(name=role.value)
    user.groups.add(group)  # type: ignore[attr-defined]
    record(actor=actor, verb=AuditVerb.STAFF_ROLE_GRANTED, target=user, after={"role": role.value}, reason=reason)


@transaction.atomic
def record_password_change(*, actor: AbstractBaseUser) -> None:
    record(actor=actor, verb=AuditVerb.STAFF_PASSWORD_CHANGED, target=actor)


@transaction.atomic
def record_sign_in(*, user: AbstractBaseUser, address: str) -> None:
    record(actor=user, verb=AuditVerb.STAFF_LOGIN, target=user, after={"address": address})


@transaction.atomic
def record_sign_out(*, user: AbstractBaseUser) -> None:
    record(actor=user, verb=AuditVerb.STAFF_LOGOUT, target=user)


@transaction.atomic
def record_failed_sign_in(*, username: str, address: str) -> None:
    # The username tried is kept (bounded): it is what an investigator needs.
    record(
        actor=None,
        verb=AuditVerb.STAFF_LOGIN_FAILED,
        target=("auth.user", ""),
        after={"username": username[:150], "address": address},
    )


@transaction.atomic
def update_staff_settings(*, actor: AbstractBaseUser, blur_sensitive: bool) -> StaffProfile:
    profile, _ = StaffProfile.objects.select_for_update().get_or_create(user=actor)
    before = {"blur_sensitive": profile.blur_sensitive}
    profile.blur_sensitive = blur_sensitive
    profile.save(update_fields=["blur_sensitive"])
    record(
        actor=actor,
        verb=AuditVerb.STAFF_SETTINGS_CHANGED,
        target=actor,
        before=before,
        after={"blur_sensitive": blur_sensitive},
    )
    return profile
