"""Two-factor sign-in for tests: a known secret, and the code the console accepts now.

Personas in a role that needs two-factor sign-in (console.roles.TWO_FACTOR_ROLES)
are enrolled with TOTP_SECRET by `make_staff`, so `client.force_login` works for
them as before, and `tests.browser.login` types `next_code(...)` at the code step.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from console import twofactor
from console.models import TotpDevice

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol_totp(user: Any, secret: str = TOTP_SECRET) -> TotpDevice:
    """An authenticator for `user`, set up directly (no audit entry, like a fixture's create_user)."""
    return TotpDevice.objects.create(user=user, secret=twofactor.encrypt_secret(secret), created_at=timezone.now())


def code_now(secret: str = TOTP_SECRET, *, steps_ahead: int = 0) -> str:
    return twofactor.code_at(secret, twofactor.time_step(time.time()) + steps_ahead)


def next_code(user_or_username: Any) -> str:
    """A code the console accepts for this user now: the current step's, or the next one's if that was used."""
    user = user_or_username
    if isinstance(user, str):
        user = get_user_model().objects.get(username=user)
    device = TotpDevice.objects.get(user=user)
    now = twofactor.time_step(time.time())
    step = max(now, device.last_counter + 1)
    if step > now + twofactor.DRIFT_STEPS:
        raise AssertionError(f"{user}: the codes up to {device.last_counter} are spent; the next works in 30 s")
    return twofactor.code_at(twofactor.decrypt_secret(device.secret), step)


def wrong_code(secret: str = TOTP_SECRET) -> str:
    """Six digits the console refuses now: no step within the drift window shows them."""
    step = twofactor.time_step(time.time())
    near = {twofactor.code_at(secret, s) for s in range(step - twofactor.DRIFT_STEPS, step + twofactor.DRIFT_STEPS + 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)
