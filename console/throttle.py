"""Sign-in throttling: failures counted per username and per client address.

Counts live in Django's cache (Redis in production, so every web process sees
the same numbers; the per-process memory cache in tests and the demo). A
failure starts a window of DOCKET_LOGIN_LOCKOUT_MINUTES; reaching the limit
within it locks that username, or that address, for as long again. The lock
is a separate key written with `add`, so among concurrent failures exactly one
sees the lockout begin and audits it.

Unknown usernames are counted like real ones: the lockout says nothing about
whether an account exists. If the cache cannot be reached, sign-in goes on
unthrottled (passwords and second factors still apply) and the outage is
logged: a cache failure must not lock every member of staff out.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Scope = Literal["account", "address"]
_PREFIX = "docket:signin"


@dataclass(frozen=True)
class Lockout:
    scope: Scope
    until: float  # a Unix time

    @property
    def until_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.until, tz=UTC)

    def message(self, *, now: float | None = None) -> str:
        minutes = max(1, round((self.until - (time.time() if now is None else now)) / 60))
        what = "this account" if self.scope == "account" else "your network address"
        return (
            f"Too many failed sign-ins for {what}. Try again after "
            f"{self.until_datetime:%H:%M} UTC (in about {minutes} minute{'s' if minutes != 1 else ''})."
        )


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the last entry of the trusted proxy's header."""
    header = settings.DOCKET_CLIENT_ADDRESS_META
    if header and request.META.get(header):
        return request.META[header].split(",")[-1].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


def _digest(value: str) -> str:
    # Usernames are typed by strangers: hashed, they make safe, bounded cache keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _subjects(username: str, address: str) -> list[tuple[Scope, str, int]]:
    subjects: list[tuple[Scope, str, int]] = [
        ("account", _digest(username.strip().lower()), settings.DOCKET_LOGIN_FAILURES_PER_USER)
    ]
    if address:
        subjects.append(("address", _digest(address), settings.DOCKET_LOGIN_FAILURES_PER_ADDRESS))
    return subjects


def _window() -> int:
    return settings.DOCKET_LOGIN_LOCKOUT_MINUTES * 60


def current_lockout(*, username: str, address: str = "") -> Lockout | None:
    """The lockout in force for this username or this address (when given); the later one."""
    subjects = _subjects(username, address)
    try:
        found = cache.get_many([f"{_PREFIX}:lock:{scope}:{key}" for scope, key, _ in subjects])
    except (RedisError, OSError):
        log.warning("sign-in throttle: the cache cannot be reached; not throttling", exc_info=True)
        return None
    now = time.time()
    locks = [
        Lockout(scope, float(until))
        for scope, key, _ in subjects
        if (until := found.get(f"{_PREFIX}:lock:{scope}:{key}")) is not None and float(until) > now
    ]
    return max(locks, key=lambda lock: lock.until, default=None)


def register_failure(*, username: str, address: str) -> list[Lockout]:
    """Count one failure; the lockouts it starts, where it is the one that reaches a limit."""
    window = _window()
    started: list[Lockout] = []
    try:
        for scope, key, limit in _subjects(username, address):
            count_key = f"{_PREFIX}:fails:{scope}:{key}"
            cache.add(count_key, 0, timeout=window)
            try:
                count = cache.incr(count_key)
            except ValueError:  # expired between add and incr
                cache.set(count_key, 1, timeout=window)
                count = 1
            if count >= limit and _lock(f"{_PREFIX}:lock:{scope}:{key}", until := time.time() + window, window):
                cache.delete(count_key)  # counting starts afresh when the lock lifts
                started.append(Lockout(scope, until))
    except (RedisError, OSError):
        log.warning("sign-in throttle: the cache cannot be reached; failure not counted", exc_info=True)
    return started


def _lock(key: str, until: float, window: int) -> bool:
    """Write the lock; whether this call started it (`add` lets one of several concurrent callers win)."""
    if cache.add(key, until, timeout=window):
        return True
    # A lock whose time is up but whose key outlived it (the cache's clock runs apart from ours).
    previous = cache.get(key)
    if previous is None or float(previous) <= time.time():
        cache.set(key, until, timeout=window)
        return True
    return False


def lift(*, username: str = "", address: str = "") -> list[Scope]:
    """Lift the lockout of a username and/or an address, and forget their failures; the scopes that were locked."""
    lifted: list[Scope] = []
    for scope, value in (("account", username.strip().lower()), ("address", address.strip())):
        if not value:
            continue
        key = _digest(value)
        lock_key = f"{_PREFIX}:lock:{scope}:{key}"
        until = cache.get(lock_key)
        if until is not None and float(until) > time.time():
            lifted.append(scope)  # type: ignore[arg-type]
        cache.delete_many([lock_key, f"{_PREFIX}:fails:{scope}:{key}"])
    return lifted


def forget_failures(*, username: str) -> None:
    """A full sign-in clears the account's count (not the address's: others may share it)."""
    scope, key, _ = _subjects(username, "")[0]
    try:
        cache.delete(f"{_PREFIX}:fails:{scope}:{key}")
    except (RedisError, OSError):
        log.warning("sign-in throttle: the cache cannot be reached", exc_info=True)
