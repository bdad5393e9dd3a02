"""Every write on the staff side of the console."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NoReturn

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console import throttle, twofactor
from console.audit import record
from console.models import AuditVerb, RecoveryCode, StaffProfile, TotpDevice
from console.roles import Role, roles_of, sync_roles
from console.throttle import Lockout


@transaction.atomic
def create_staff(*, actor: Any, username: str, password: str, role: Role, email: str = "") -> User:
    """Create a staff user with one role. Raises ValidationError for a weak password."""
    user = User(username=username, email=email)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    StaffProfile.objects.create(user=user)
    record(actor=actor, verb=AuditVerb.STAFF_CREATED, target=user, after={"username": username, "email": email})
    grant_role(actor=actor, user=user, role=role)
    return user


class SelfChangeRefused(PermissionDenied):
    """Nobody changes their own roles (an audited refusal) or resets their own second factor."""


def _group(role: Role) -> Group:
    group = Group.objects.filter(name=role.value).first()
    if group is None:  # a flushed test database; the migrations made it everywhere else
        from django.apps import apps

        sync_roles(apps)
        group = Group.objects.get(name=role.value)
    return group


def _role_values(roles: Iterable[Role]) -> list[str]:
    return sorted(role.value for role in roles)


def _refuse_own_role_change(*, actor: Any, before: set[Role], wanted: set[Role], reason: str) -> NoReturn:
    # Its own transaction: the refusal must stay on record although the caller gets an error.
    with transaction.atomic():
        record(
            actor=actor,
            verb=AuditVerb.STAFF_ROLE_CHANGE_REFUSED,
            target=actor,
            before={"roles": _role_values(before)},
            after={"roles": _role_values(wanted)},
            reason=reason,
        )
    raise SelfChangeRefused("Nobody may change their own roles: ask another staff admin.")


def _is_self(actor: Any, user: User) -> bool:
    return actor is not None and getattr(actor, "pk", None) == user.pk and not hasattr(actor, "audit_actor_type")


def grant_role(*, actor: Any, user: User, role: Role, reason: str = "") -> None:
    set_roles(actor=actor, user=user, roles={*roles_of(user), role}, reason=reason)


def revoke_role(*, actor: Any, user: User, role: Role, reason: str = "") -> None:
    set_roles(actor=actor, user=user, roles=set(roles_of(user)) - {role}, reason=reason)


def set_roles(*, actor: Any, user: User, roles: Iterable[Role], reason: str = "") -> bool:
    """Give `user` exactly `roles`: one audit entry per role granted or removed, with before and after.

    Raises SelfChangeRefused (audited) when `actor` is `user`. Returns whether anything changed.
    """
    before, wanted = set(roles_of(user)), set(roles)
    if before == wanted:
        return False
    if _is_self(actor, user):
        _refuse_own_role_change(actor=actor, before=before, wanted=wanted, reason=reason)
    with transaction.atomic():
        current = set(before)
        for role in sorted(wanted - before):
            user.groups.add(_group(role))
            previous, current = current, current | {role}
            record(
                actor=actor,
                verb=AuditVerb.STAFF_ROLE_GRANTED,
                target=user,
                before={"roles": _role_values(previous)},
                after={"role": role.value, "roles": _role_values(current)},
                reason=reason,
            )
        for role in sorted(before - wanted):
            user.groups.remove(_group(role))
            previous, current = current, current - {role}
            record(
                actor=actor,
                verb=AuditVerb.STAFF_ROLE_REVOKED,
                target=user,
                before={"roles": _role_values(previous)},
                after={"role": role.value, "roles": _role_values(current)},
                reason=reason,
            )
    return True


@transaction.atomic
def record_password_change(*, actor: User) -> None:
    record(actor=actor, verb=AuditVerb.STAFF_PASSWORD_CHANGED, target=actor)


# --- Signing in and out -------------------------------------------------------------------


@transaction.atomic
def record_sign_in(*, user: User, address: str, second_factor: str | None = None) -> None:
    """`second_factor`: None (password only), "totp" or "recovery"."""
    record(
        actor=user, verb=AuditVerb.STAFF_LOGIN, target=user, after={"address": address, "second_factor": second_factor}
    )


@transaction.atomic
def record_sign_out(*, user: User) -> None:
    record(actor=user, verb=AuditVerb.STAFF_LOGOUT, target=user)


@transaction.atomic
def record_failed_sign_in(
    *, username: str, address: str, step: str = "password", lockouts: Iterable[Lockout] = ()
) -> None:
    """A refused password or code, and the lockouts it started.

    The username tried is kept (bounded): it is what an investigator needs.
    The password never is. A failure at the "code" step means the password
    was right: worth a look.
    """
    who = {"username": username[:150], "address": address}
    record(actor=None, verb=AuditVerb.STAFF_LOGIN_FAILED, target=("auth.user", ""), after={**who, "step": step})
    for lockout in lockouts:
        record(
            actor=None,
            verb=AuditVerb.STAFF_LOGIN_LOCKED,
            target=("auth.user", ""),
            after={**who, "scope": lockout.scope, "until": lockout.until_datetime},
        )


@transaction.atomic
def lift_sign_in_lockout(
    *, actor: Any, user: User | None = None, address: str = "", reason: str = ""
) -> list[str]:
    """Lift a lockout before its time (a colleague locked out, maybe by someone guessing at their name).

    Returns the scopes ("account", "address") that were locked.
    """
    username = user.get_username() if user is not None else ""
    lifted = throttle.lift(username=username, address=address)
    record(
        actor=actor,
        verb=AuditVerb.STAFF_LOGIN_UNLOCKED,
        target=user if user is not None else ("auth.user", ""),
        after={"username": username, "address": address[:45], "was_locked": lifted},
        reason=reason,
    )
    return list(lifted)


@transaction.atomic
def record_session_expiry(*, user: User, why: str, seconds: int) -> None:
    """`why`: "idle" (no request for `seconds`) or "max_age" (signed in longer than `seconds`)."""
    record(actor=user, verb=AuditVerb.STAFF_SESSION_EXPIRED, target=user, after={"why": why, "seconds": seconds})


@transaction.atomic
def sign_out_everywhere(*, actor: Any, user: User, reason: str = "") -> int:
    """End every session of `user`, this one included (the caller signs this one out); the new generation."""
    profile, _ = StaffProfile.objects.get_or_create(user=user)
    StaffProfile.objects.filter(pk=profile.pk).update(session_generation=F("session_generation") + 1)
    generation = StaffProfile.objects.values_list("session_generation", flat=True).get(pk=profile.pk)
    record(
        actor=actor,
        verb=AuditVerb.STAFF_SESSIONS_REVOKED,
        target=user,
        before={"generation": generation - 1},
        after={"generation": generation},
        reason=reason,
    )
    return generation


# --- Two-factor sign-in -----------------------------------------------------------------------


class WrongCode(Exception):
    """The code is not the app's current one, was used already, or is no recovery code left."""


def _new_recovery_codes(user: User) -> list[str]:
    codes = twofactor.new_recovery_codes()
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=twofactor.hash_recovery_code(c)) for c in codes)
    return codes


@transaction.atomic
def enable_totp(*, actor: User, secret: str, code: str) -> list[str]:
    """Turn two-factor sign-in on with the app that shows `code` for `secret`; the recovery codes, once.

    The code confirming the app is spent: it cannot sign in as well.
    """
    # The person's row is locked so that two tabs confirming at once enrol one app, not fail on the second.
    User.objects.select_for_update().filter(pk=actor.pk).first()
    if TotpDevice.objects.filter(user=actor).exists():
        raise WrongCode("Two-factor sign-in is on already.")
    step = twofactor.matching_step(secret, twofactor.normalise(code), timestamp=time.time())
    if step is None:
        raise WrongCode("That is not the code your app shows now. Check the app's clock, and try the next code.")
    TotpDevice.objects.create(
        user=actor, secret=twofactor.encrypt_secret(secret), last_counter=step, created_at=timezone.now()
    )
    codes = _new_recovery_codes(actor)
    record(actor=actor, verb=AuditVerb.STAFF_2FA_ENABLED, target=actor, after={"recovery_codes": len(codes)})
    return codes


@transaction.atomic
def use_second_factor(*, user: User, code: str) -> str:
    """Spend a code from the app ("totp") or a recovery code ("recovery"); raises WrongCode.

    An app code is good once: a conditional UPDATE moves `last_counter` past
    it, so a replay (or a code older than the last one used) finds no row
    to change, even from two requests at once. A recovery code is marked
    used the same way.
    """
    code = twofactor.normalise(code)
    if twofactor.is_totp_code(code):
        device = TotpDevice.objects.filter(user=user).first()
        if device is None:
            raise WrongCode("That code is not right.")
        step = twofactor.matching_step(twofactor.decrypt_secret(device.secret), code, timestamp=time.time())
        if step is None:
            raise WrongCode("That code is not right. Check the app's clock, and try the next code.")
        if not TotpDevice.objects.filter(pk=device.pk, last_counter__lt=step).update(
            last_counter=step, last_used_at=timezone.now()
        ):
            raise WrongCode("That code was used already. Wait for the app to show the next one.")
        return "totp"
    if twofactor.looks_like_recovery_code(code):
        hashed = twofactor.hash_recovery_code(code)
        if not RecoveryCode.objects.unused().filter(user=user, code_hash=hashed).update(used_at=timezone.now()):
            raise WrongCode("That recovery code is not right, or was used already.")
        left = RecoveryCode.objects.unused().filter(user=user).count()
        record(actor=user, verb=AuditVerb.STAFF_2FA_RECOVERY_USED, target=user, after={"recovery_codes_left": left})
        return "recovery"
    raise WrongCode("Enter the 6-digit code from your app, or one of your recovery codes.")


@transaction.atomic
def renew_recovery_codes(*, actor: User) -> list[str]:
    """Ten new recovery codes in place of the old ones (used or not); shown once."""
    if not TotpDevice.objects.filter(user=actor).exists():
        raise WrongCode("Two-factor sign-in is off: there are no recovery codes to replace.")
    codes = _new_recovery_codes(actor)
    record(actor=actor, verb=AuditVerb.STAFF_2FA_RECOVERY_RENEWED, target=actor, after={"recovery_codes": len(codes)})
    return codes


def _remove_second_factor(user: User) -> bool:
    removed, _ = TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    return bool(removed)


@transaction.atomic
def disable_totp(*, actor: User) -> bool:
    """Turn the actor's own two-factor sign-in off (the view has checked their password and a code)."""
    if not _remove_second_factor(actor):
        return False
    record(actor=actor, verb=AuditVerb.STAFF_2FA_DISABLED, target=actor)
    return True


def reset_totp(*, actor: Any, user: User, reason: str) -> bool:
    """An admin removes someone else's authenticator (lost phone, no codes left); they enrol again.

    Their sessions end too: whoever holds the lost phone is signed out.
    """
    if _is_self(actor, user):
        raise SelfChangeRefused("Turn your own two-factor sign-in off from your settings page.")
    with transaction.atomic():
        if not _remove_second_factor(user):
            return False
        record(actor=actor, verb=AuditVerb.STAFF_2FA_RESET, target=user, reason=reason)
        sign_out_everywhere(actor=actor, user=user, reason=reason)
    return True


@transaction.atomic
def update_staff_settings(*, actor: User, blur_sensitive: bool) -> StaffProfile:
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
