"""Django's Redis cache, with one redis-py client per connection pool instead of one per call.

Django builds a new `redis.Redis` for every cache operation, and redis-py 8's
constructor registers ~170 response callbacks each time: on the status
endpoint that was 40 % of the request. A client is thread-safe over its pool,
so one per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    # _get_connection_pool_index, _get_connection_pool and _client are RedisCacheClient's private
    # API, used on purpose (see above); django-stubs does not declare them, hence the ignores.
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients[index] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class DocketRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient


def redis_client() -> Any:
    """The Redis client behind the default cache, or None when the cache is not Redis.

    For the few hot paths that talk to Redis directly (counters, scripts, pre-rendered
    bytes) rather than through the cache framework's versioning and pickling.
    """
    backend = caches["default"]
    return backend._cache.get_client(write=True) if isinstance(backend, DocketRedisCache) else None


def raw_key(name: str) -> str:
    """`name` under the default cache's KEY_PREFIX, so keys written past the cache framework are
    namespaced like every other cache key (the test suite gives each test a prefix of its own)."""
    prefix = caches["default"].key_prefix
    return f"{prefix}:{name}" if prefix else name
