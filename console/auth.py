"""How a signed-in staff member is loaded, and what their session remembers.

A session is authenticated only once every step is passed: the password and,
for someone with an authenticator app, a code. Until then the password step
leaves a short-lived "pending" note in the anonymous session
(`PENDING_KEY`), which only the code step reads. So every authenticated
session is a fully signed-in one, however it was made.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef
from django.dispatch import receiver
from django.http import HttpRequest

from console.roles import TWO_FACTOR_ROLES

SIGNED_IN_AT_KEY = "docket_signed_in_at"
SEEN_AT_KEY = "docket_seen_at"
GENERATION_KEY = "docket_session_generation"
PENDING_KEY = "docket_2fa_pending"
ENROL_KEY = "docket_2fa_enrolling"
# How long the code step waits after a correct password.
PENDING_SECONDS = 5 * 60


class StaffBackend(ModelBackend):
    """Django's model backend, loading per request everything the session checks need in one query."""

    def get_user(self, user_id: Any) -> User | None:
        needs_second_factor = User.groups.through.objects.filter(
            user_id=OuterRef("pk"), group__name__in=[role.value for role in TWO_FACTOR_ROLES]
        )
        try:
            user = (
                User._default_manager.select_related("staff_profile", "totp_device")
                .annotate(role_needs_second_factor=Exists(needs_second_factor))
                .get(pk=user_id)
            )
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


def session_generation(user: Any) -> int:
    try:
        return int(user.staff_profile.session_generation)
    except ObjectDoesNotExist:
        return 0


def has_totp(user: Any) -> bool:
    try:
        return user.totp_device is not None
    except ObjectDoesNotExist:
        return False


def role_needs_second_factor(user: Any) -> bool:
    annotated = getattr(user, "role_needs_second_factor", None)
    if annotated is not None:
        return bool(annotated)
    return user.groups.filter(name__in=[role.value for role in TWO_FACTOR_ROLES]).exists()


def second_factor_required(user: Any) -> bool:
    """Must this person enrol before anything else (their role needs it and DOCKET_REQUIRE_2FA is on)?"""
    return bool(settings.DOCKET_REQUIRE_2FA) and role_needs_second_factor(user)


@receiver(user_logged_in, dispatch_uid="docket-stamp-session")
def stamp_session(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Note when the session began and under which generation.

    Every sign-in passes here, the console's form and the test client's
    force_login alike; this only writes the session, nothing of the domain.
    """
    if request is None or not hasattr(request, "session"):
        return
    now = time.time()
    from console.models import StaffProfile

    generation = StaffProfile.objects.filter(user=user).values_list("session_generation", flat=True).first()
    request.session[SIGNED_IN_AT_KEY] = now
    request.session[SEEN_AT_KEY] = now
    request.session[GENERATION_KEY] = generation or 0
