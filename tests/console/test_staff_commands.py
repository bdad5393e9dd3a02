"""Commands for when no staff admin can help: reset a second factor, lift a sign-in lockout."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from console.models import AuditEntry, AuditVerb, TotpDevice
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_reset_two_factor_removes_the_app_ends_the_sessions_and_is_audited(senior) -> None:
    session = Client()
    session.force_login(senior)
    out = io.StringIO()

    call_command("reset_two_factor", "sam", reason="only admin lost her phone", stdout=out)

    assert "Reset sam's two-factor sign-in and ended their sessions." in out.getvalue()
    assert not TotpDevice.objects.filter(user=senior).exists()
    assert session.get(reverse("console:home")).status_code == 302
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_2FA_RESET)
    assert (entry.actor_type, entry.actor_label.startswith("cli:"), entry.reason) == (
        "system",
        True,
        "only admin lost her phone",
    )


def test_reset_two_factor_names_what_is_wrong(senior, reviewer) -> None:
    with pytest.raises(CommandError, match="no staff user named 'nobody'"):
        call_command("reset_two_factor", "nobody", reason="x")
    with pytest.raises(CommandError, match="rita has no authenticator app to reset"):
        call_command("reset_two_factor", "rita", reason="x")
    with pytest.raises(CommandError, match="Give a reason"):
        call_command("reset_two_factor", "sam", reason=" ")


def test_unlock_sign_in_lifts_an_address_lockout(reviewer) -> None:
    for n in range(20):
        Client().post(reverse("console:login"), {"username": f"guess{n}", "password": "x"}, REMOTE_ADDR="198.51.100.8")
    blocked = Client().post(
        reverse("console:login"), {"username": "rita", "password": PASSWORD}, REMOTE_ADDR="198.51.100.8"
    )
    assert blocked.status_code == 429
    out = io.StringIO()

    call_command("unlock_sign_in", address="198.51.100.8", reason="office NAT", stdout=out)

    assert "Lifted the lockout of: address." in out.getvalue()
    again = Client().post(
        reverse("console:login"), {"username": "rita", "password": PASSWORD}, REMOTE_ADDR="198.51.100.8"
    )
    assert again.status_code == 302
    entry = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_UNLOCKED)
    assert entry.after == {"username": "", "address": "198.51.100.8", "was_locked": ["address"]}


def test_unlock_sign_in_needs_someone_or_somewhere(roles) -> None:
    with pytest.raises(CommandError, match=r"Name a --username, an --address, or both\."):
        call_command("unlock_sign_in", reason="x")
    with pytest.raises(CommandError, match="no staff user named 'ghost'"):
        call_command("unlock_sign_in", username="ghost", reason="x")
