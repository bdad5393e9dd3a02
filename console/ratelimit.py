"""Fixed-window request counters in the shared cache: per API key, and per address for failed sign-ins to the API.

One counter per bucket and minute. With Redis one small Lua script increments
the counter, gives it its expiry when it is new, and (for the status endpoint)
reads the cached answer too: one command, one round trip, and the counter and
its expiry can never be separated. So a request that is under its limit costs
one cache call and no database query. A fixed window lets a caller send up to
twice its limit across a minute boundary; that is the price of one round
trip, and the limit is there to stop floods, not to meter.

If the cache is down the counters are skipped (the request goes on): an
outage of Redis must not take the API down with it.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from console.cache import raw_key, redis_client

WINDOW_SECONDS = 60
# Tests swap this per test so that counters never leak from one test into the next.
PREFIX = "docket:rate:"


@dataclass(frozen=True, slots=True)
class Exceeded:
    """A bucket over its limit: how long until the next window opens, and a sentence for the caller."""

    limit: int
    retry_after: int
    message: str = ""


# KEYS[1] the counter, KEYS[2] (optional) a key to read along; ARGV[1] the counter's lifetime.
# A missing KEYS[2] reads as false, which reaches Python as None.
_COUNT_AND_READ = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if KEYS[2] then return {n, redis.call('GET', KEYS[2])} end
return {n, false}
"""
_scripts: dict[int, Any] = {}


def _count(key: str, read: str | None) -> tuple[int, Any]:
    """Add one to the counter `key` (creating it for this window) and return it, with the value
    stored under `read` if one is named: both in one round trip. Raises if the cache is down."""
    client = redis_client()
    if client is not None:
        script = _scripts.get(id(client))
        if script is None:  # EVALSHA, loading the script again if the server lost it (a restart)
            script = _scripts[id(client)] = client.register_script(_COUNT_AND_READ)
        keys = [key] if read is None else [key, read]
        count, value = script(keys=keys, args=[WINDOW_SECONDS + 5])
        return int(count), value
    cache.add(key, 0, WINDOW_SECONDS + 5)
    try:
        count = int(cache.incr(key))
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, WINDOW_SECONDS + 5)
        count = 1
    return count, cache.get(read) if read is not None else None


def _over(limit: int, count: int, window: int, now: float) -> Exceeded | None:
    if count <= limit:
        return None
    return Exceeded(limit=limit, retry_after=max(1, math.ceil((window + 1) * WINDOW_SECONDS - now)))


def hit(bucket: str, limit: int, *, now: float | None = None) -> Exceeded | None:
    """Count one request against `bucket`; an `Exceeded` when it is over `limit` requests this minute."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    try:
        count, _ = _count(raw_key(f"{PREFIX}{bucket}:{window}"), None)
    except Exception:
        return None
    return _over(limit, count, window, now)


@dataclass(frozen=True, slots=True)
class CountedRead:
    exceeded: Exceeded | None
    value: Any  # what the cache held under the key read along (None: nothing)
    cache_up: bool


def hit_and_read(bucket: str, limit: int, read: str, *, now: float | None = None) -> CountedRead:
    """`hit`, and read one cache entry in the same round trip (the status endpoint's answer)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    try:
        count, value = _count(raw_key(f"{PREFIX}{bucket}:{window}"), read)
    except Exception:
        return CountedRead(None, None, cache_up=False)
    return CountedRead(_over(limit, count, window, now), value, cache_up=True)


def peek(bucket: str, *, now: float | None = None) -> int:
    """The bucket's count in this window (0 when unknown): for tests and the console, never the hot path."""
    now = time.time() if now is None else now
    key = raw_key(f"{PREFIX}{bucket}:{int(now // WINDOW_SECONDS)}")
    with contextlib.suppress(Exception):
        client = redis_client()
        value = client.get(key) if client is not None else cache.get(key)
        return int(value or 0)
    return 0


def key_bucket(key_hash: str) -> str:
    # The key's hash, not its row id: ids come back after a database is reset, hashes never do.
    return f"key:{key_hash[:32]}"


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind a proxy the address the proxy put last in X-Forwarded-For."""
    if settings.DOCKET_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:45]
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def _key_exceeded(over: Exceeded) -> Exceeded:
    return replace(
        over,
        message=f"This API key is limited to {over.limit} requests a minute; "
        f"retry after {over.retry_after} seconds.",
    )


def check_key(key_hash: str, per_minute: int | None) -> Exceeded | None:
    """Count a request made with an API key against its per-minute limit (the key's own, or the default)."""
    over = hit(key_bucket(key_hash), per_minute or settings.DOCKET_API_RATE_PER_MINUTE)
    return _key_exceeded(over) if over else None


def check_key_and_read(key_hash: str, per_minute: int | None, read: str) -> CountedRead:
    """`check_key`, reading the cache entry `read` in the same round trip."""
    counted = hit_and_read(key_bucket(key_hash), per_minute or settings.DOCKET_API_RATE_PER_MINUTE, read)
    if counted.exceeded is None:
        return counted
    return replace(counted, exceeded=_key_exceeded(counted.exceeded))


def note_auth_failure(request: HttpRequest) -> Exceeded | None:
    """Count a request whose key was missing or wrong against its address's allowance of failures.

    Only failures count, so a valid key is never held back by someone else's
    failures from the same (shared, NATed) address: keys carry 256 random
    bits, so this limit is about load and noise, not about guessing.
    """
    over = hit(f"authfail:{client_address(request)}", settings.DOCKET_API_AUTH_FAILURES_PER_MINUTE)
    if over is None:
        return None
    return replace(
        over,
        message=f"Too many requests without a valid API key from this address (more than {over.limit} a minute); "
        f"retry after {over.retry_after} seconds.",
    )
