"""Sign-in throttling: per username and per address, with a lockout message and audit entries."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from console.models import AuditEntry, AuditVerb
from tests.conftest import PASSWORD, use_shared_redis
from tests.twofactor import next_code, wrong_code

pytestmark = pytest.mark.django_db


def _sign_in(client, username: str, password: str, address: str = "127.0.0.1", **extra):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("console:login"), {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def test_five_wrong_passwords_lock_the_account_with_a_message_and_an_audit_entry(client, reviewer, clock) -> None:
    for _ in range(4):
        assert _sign_in(client, "rita", "wrong").status_code == 200

    fifth = _sign_in(client, "rita", "wrong")

    assert fifth.status_code == 429
    assert fifth["Retry-After"] == "900"
    assert (
        "Too many failed sign-ins for this account. Try again after 10:15 UTC (in about 15 minutes)."
        in fifth.content.decode()
    )
    lock = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_LOCKED)
    assert lock.after == {
        "username": "rita",
        "address": "127.0.0.1",
        "scope": "account",
        "until": "2026-11-22 10:15:00+00:00",
    }
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN_FAILED).count() == 5

    # The right password now changes nothing, and is not even checked: no new entries either.
    locked = _sign_in(client, "rita", PASSWORD, address="192.0.2.7")
    assert locked.status_code == 429 and "Try again after 10:15 UTC" in locked.content.decode()
    assert client.get(reverse("console:home")).status_code == 302
    assert not AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN).exists()
    noted = AuditEntry.objects.filter(verb__in=[AuditVerb.STAFF_LOGIN_FAILED, AuditVerb.STAFF_LOGIN_LOCKED])
    assert noted.count() == 6


def test_the_lock_lifts_after_the_lockout_minutes(client, reviewer, clock) -> None:
    for _ in range(5):
        _sign_in(client, "rita", "wrong")
    clock.tick(14 * 60)
    assert _sign_in(client, "rita", PASSWORD).status_code == 429
    clock.tick(61)
    response = _sign_in(client, "rita", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("console:home")


def test_the_lockout_length_and_limit_come_from_the_settings(client, reviewer, settings, clock) -> None:
    settings.DOCKET_LOGIN_FAILURES_PER_USER = 2
    settings.DOCKET_LOGIN_LOCKOUT_MINUTES = 3
    assert _sign_in(client, "rita", "wrong").status_code == 200
    second = _sign_in(client, "rita", "wrong")
    assert second.status_code == 429 and "Try again after 10:03 UTC (in about 3 minutes)" in second.content.decode()


def test_an_unknown_username_is_locked_out_like_a_real_one(client, roles) -> None:
    for _ in range(4):
        _sign_in(client, "nobody-here", "wrong")
    response = _sign_in(client, "nobody-here", "wrong")
    assert response.status_code == 429
    assert "Too many failed sign-ins for this account." in response.content.decode()


def test_usernames_are_counted_regardless_of_case_and_spaces(client, reviewer) -> None:
    for name in ("rita", "RITA", " Rita", "rita ", "rItA"):
        _sign_in(client, name, "wrong")
    assert _sign_in(client, "rita", PASSWORD).status_code == 429


def test_a_full_sign_in_clears_the_accounts_count(client, reviewer) -> None:
    for _ in range(4):
        _sign_in(client, "rita", "wrong")
    assert _sign_in(client, "rita", PASSWORD).status_code == 302
    client.post(reverse("console:logout"))
    for _ in range(4):
        assert _sign_in(client, "rita", "wrong").status_code == 200
    assert _sign_in(client, "rita", PASSWORD).status_code == 302


def test_twenty_failures_from_one_address_lock_that_address_for_every_username(client, reviewer) -> None:
    for n in range(19):
        assert _sign_in(client, f"guess{n}", "wrong", address="203.0.113.9").status_code == 200

    twentieth = _sign_in(client, "guess19", "wrong", address="203.0.113.9")

    assert twentieth.status_code == 429
    assert "Too many failed sign-ins for your network address." in twentieth.content.decode()
    lock = AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_LOCKED)
    assert (lock.after["scope"], lock.after["address"]) == ("address", "203.0.113.9")
    assert _sign_in(client, "rita", PASSWORD, address="203.0.113.9").status_code == 429
    # rita herself is not locked: from another address she signs in.
    assert _sign_in(client, "rita", PASSWORD, address="198.51.100.4").status_code == 302


def test_the_code_step_is_throttled_with_the_password_step(client, senior) -> None:
    _sign_in(client, "sam", PASSWORD)
    for _ in range(4):
        response = client.post(reverse("console:login_code"), {"code": wrong_code()})
        assert response.status_code == 200

    fifth = client.post(reverse("console:login_code"), {"code": wrong_code()})

    assert fifth.status_code == 429
    assert "Too many failed sign-ins for this account." in fifth.content.decode()
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN_FAILED, after__step="code").count() == 5
    assert AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_LOCKED).after["scope"] == "account"
    # The pending sign-in is gone, and the right code would not have helped anyway.
    assert client.post(reverse("console:login_code"), {"code": next_code(senior)})["Location"] == reverse(
        "console:login"
    )
    assert _sign_in(client, "sam", PASSWORD).status_code == 429


def test_the_password_change_form_is_throttled(client, reviewer) -> None:
    client.force_login(reviewer)
    url = reverse("console:password_change")
    new = "another-long-passphrase-9"
    data = {"old_password": "wrong", "new_password1": new, "new_password2": new}
    for _ in range(4):
        assert client.post(url, data).status_code == 200
    client.post(url, data)

    response = client.post(url, {**data, "old_password": PASSWORD})

    assert response.status_code == 429
    assert "Too many failed sign-ins for this account" in response.content.decode()
    reviewer.refresh_from_db()
    assert reviewer.check_password(PASSWORD)
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN_FAILED, after__step="password_change").count() == 5


def test_a_trusted_proxy_header_gives_the_address(client, reviewer, settings) -> None:
    settings.DOCKET_CLIENT_ADDRESS_META = "HTTP_X_FORWARDED_FOR"
    _sign_in(client, "rita", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.50")
    assert AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_FAILED).after["address"] == "203.0.113.50"


def test_without_a_trusted_header_a_forwarded_address_is_ignored(client, reviewer) -> None:
    _sign_in(client, "rita", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert AuditEntry.objects.get(verb=AuditVerb.STAFF_LOGIN_FAILED).after["address"] == "127.0.0.1"


def test_the_lockout_message_names_a_time_that_is_the_retry_after(client, reviewer) -> None:
    for _ in range(5):
        response = _sign_in(client, "rita", "wrong")
    match = re.search(r"in about (\d+) minutes", response.content.decode())
    assert match is not None and abs(int(match.group(1)) * 60 - int(response["Retry-After"])) <= 60


@pytest.mark.redis
def test_the_counts_are_shared_through_redis(client, reviewer, settings) -> None:
    from django.core.cache import caches

    from console.cache import DocketRedisCache

    use_shared_redis(settings)
    assert isinstance(caches["default"], DocketRedisCache)
    for _ in range(4):
        _sign_in(client, "rita", "wrong")
    response = _sign_in(client, "rita", "wrong")
    assert response.status_code == 429
    assert _sign_in(client, "rita", PASSWORD).status_code == 429
    assert AuditEntry.objects.filter(verb=AuditVerb.STAFF_LOGIN_LOCKED).count() == 1


def test_a_cache_outage_does_not_lock_everyone_out(client, reviewer, monkeypatch) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from console import throttle

    class Down:
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
                raise RedisConnectionError("connection refused")

            return fail

    monkeypatch.setattr(throttle, "cache", Down())
    assert _sign_in(client, "rita", "wrong").status_code == 200
    assert _sign_in(client, "rita", PASSWORD).status_code == 302
