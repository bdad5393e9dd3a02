"""The API's defences against a malicious or broken integration: per-key rate limits, a per-address
allowance of failed sign-ins, body size, closed CORS, constant-time key checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from django.core.cache import caches
from django.test import Client
from freezegun import freeze_time

from console import metrics, ratelimit
from console.api import api as ninja_api
from console.cache import raw_key, redis_client
from console.models import AuditEntry, AuditVerb
from review import apikeys
from review.models import ApiKey, Integration, Scope
from tests.factories import flag_payload, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_cache(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid4().hex}}


def operations() -> list[tuple[str, str]]:
    """Every (method, path) the OpenAPI document lists: a new endpoint is checked without editing this file."""
    schema = ninja_api.get_openapi_schema(path_prefix="/api/v1/")
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                path = path.replace("{flag_id}", "req-1").replace("{user}", "u1").replace("{name}", "violations")
                found.append((method.upper(), path))
    return sorted(found)


OPERATIONS = operations()


def call(client: Client, method: str, path: str, secret: str | None, **extra: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    if method == "POST":
        return client.post(path, "{}", content_type="application/json", **headers, **extra)
    return client.generic(method, path, **headers, **extra)


def test_the_walk_finds_every_authenticated_endpoint() -> None:
    assert OPERATIONS == [
        ("GET", "/api/v1/accounts/u1/status"),
        ("GET", "/api/v1/flags/req-1"),
        ("GET", "/api/v1/reports/violations"),
        ("POST", "/api/v1/appeals"),
        ("POST", "/api/v1/flags"),
        ("POST", "/api/v1/usage"),
    ]


# --- Per-key limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_key_over_its_limit_is_answered_429_with_retry_after(
    client: Client, integration: Integration, method: str, path: str
) -> None:
    key = make_key(integration, scopes=list(Scope))
    ApiKey.objects.filter(pk=key.key.pk).update(rate_per_minute=2)
    apikeys.forget([key.key.key_hash])

    with freeze_time(datetime(2026, 11, 22, 10, 15, 40, tzinfo=UTC)):
        answered = [call(client, method, path, key.secret).status_code for _ in range(3)]
        last = call(client, method, path, key.secret)

    assert 429 not in answered[:2], answered
    assert answered[2] == 429
    assert last.status_code == 429
    assert last["Content-Type"].startswith("application/json")
    assert last["Retry-After"] == "20"  # the minute ends 20 s later
    assert last.json() == {"error": "This API key is limited to 2 requests a minute; retry after 20 seconds."}


def test_the_next_minute_opens_a_new_window(api: Any, integration: Integration) -> None:
    key = make_key(integration, scopes=[Scope.STATUS_READ])
    ApiKey.objects.filter(pk=key.key.pk).update(rate_per_minute=1)
    apikeys.forget([key.key.key_hash])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}

    with freeze_time("2026-11-22T10:15:59Z"):
        assert api.client.get("/api/v1/accounts/u1/status", **auth).status_code == 200
        assert api.client.get("/api/v1/accounts/u1/status", **auth).status_code == 429
    with freeze_time("2026-11-22T10:16:00Z"):
        assert api.client.get("/api/v1/accounts/u1/status", **auth).status_code == 200


def test_without_a_limit_of_its_own_a_key_gets_the_default(
    client: Client, integration: Integration, settings: Any
) -> None:
    settings.DOCKET_API_RATE_PER_MINUTE = 3
    key = make_key(integration, scopes=[Scope.STATUS_READ])

    with freeze_time("2026-11-22T10:15:00Z"):
        codes = [call(client, "GET", "/api/v1/accounts/u1/status", key.secret).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]


def test_each_key_has_its_own_counter(client: Client, integration: Integration) -> None:
    first, second = make_key(integration, name="a"), make_key(integration, name="b")
    for new in (first, second):
        ApiKey.objects.filter(pk=new.key.pk).update(rate_per_minute=1)
        apikeys.forget([new.key.key_hash])

    with freeze_time("2026-11-22T10:15:00Z"):
        codes = [call(client, "GET", "/api/v1/accounts/u1/status", new.secret).status_code for new in (first, second)]
        again = call(client, "GET", "/api/v1/accounts/u1/status", first.secret).status_code

    assert codes == [200, 200]
    assert again == 429


def test_a_rate_limited_request_writes_nothing(client: Client, integration: Integration) -> None:
    from review.models import Flag

    key = make_key(integration)
    ApiKey.objects.filter(pk=key.key.pk).update(rate_per_minute=1)
    apikeys.forget([key.key.key_hash])
    body = json.dumps(flag_payload(id="req-a"))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}

    with freeze_time("2026-11-22T10:15:00Z"):
        assert client.post("/api/v1/flags", body, content_type="application/json", **auth).status_code == 201
        refused = client.post(
            "/api/v1/flags", json.dumps(flag_payload(id="req-b")), content_type="application/json", **auth
        )

    assert refused.status_code == 429
    assert list(Flag.objects.values_list("external_id", flat=True)) == ["req-a"]


def test_with_the_cache_down_requests_are_not_limited(
    client: Client, integration: Integration, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(integration, scopes=[Scope.STATUS_READ])
    ApiKey.objects.filter(pk=key.key.pk).update(rate_per_minute=1)
    apikeys.forget([key.key.key_hash])
    call(client, "GET", "/api/v1/accounts/u1/status", key.secret)  # key now in this process's memory

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(caches["default"], "add", refuse)
    monkeypatch.setattr(caches["default"], "incr", refuse)

    codes = [call(client, "GET", "/api/v1/accounts/u1/status", key.secret).status_code for _ in range(3)]

    assert codes == [200, 200, 200]


# --- Setting a key's limit from the console -----------------------------------------------------


def test_ops_set_a_keys_limit_on_the_integration_page_and_it_applies_at_once(
    client: Client, ops: Any, integration: Integration
) -> None:
    key = make_key(integration, scopes=[Scope.STATUS_READ])
    with freeze_time("2026-11-22T10:15:00Z"):
        assert call(client, "GET", "/api/v1/accounts/u1/status", key.secret).status_code == 200  # cached now
    client.force_login(ops)

    page = client.get(f"/integrations/{integration.pk}/")
    saved = client.post(
        f"/integrations/{integration.pk}/keys/{key.key.pk}/rate/", {"rate_per_minute": "1", "reason": "flooding us"}
    )

    assert 'placeholder="60000 (default)"' in page.content.decode()
    assert saved.status_code == 302
    key.key.refresh_from_db()
    assert key.key.rate_per_minute == 1
    entry = AuditEntry.objects.filter(verb=AuditVerb.API_KEY_RATE_CHANGED).get()
    assert (entry.actor_label, entry.before, entry.after, entry.reason) == (
        "otto",
        {"rate_per_minute": None},
        {"rate_per_minute": 1},
        "flooding us",
    )
    with freeze_time("2026-11-22T10:20:00Z"):
        codes = [call(client, "GET", "/api/v1/accounts/u1/status", key.secret).status_code for _ in range(2)]
    assert codes == [200, 429]
    assert 'value="1"' in client.get(f"/integrations/{integration.pk}/").content.decode()


def test_a_bad_limit_is_refused_with_a_message_naming_it(client: Client, ops: Any, integration: Integration) -> None:
    key = make_key(integration)
    client.force_login(ops)

    response = client.post(
        f"/integrations/{integration.pk}/keys/{key.key.pk}/rate/", {"rate_per_minute": "0"}, follow=True
    )

    assert "Rate limit of test not changed" in response.content.decode()
    assert "greater than or equal to 1" in response.content.decode()
    key.key.refresh_from_db()
    assert key.key.rate_per_minute is None
    assert not AuditEntry.objects.filter(verb=AuditVerb.API_KEY_RATE_CHANGED).exists()


def test_a_key_can_be_created_with_its_own_limit(client: Client, ops: Any, integration: Integration) -> None:
    client.force_login(ops)

    response = client.post(
        f"/integrations/{integration.pk}/keys/",
        {"name": "gateway", "scopes": ["status:read"], "rate_per_minute": "600"},
    )

    assert response.status_code == 200
    key = ApiKey.objects.get(name="gateway")
    assert key.rate_per_minute == 600
    entry = AuditEntry.objects.filter(verb=AuditVerb.API_KEY_CREATED, target_id=str(key.pk)).get()
    assert entry.after["rate_per_minute"] == 600


# --- Failed sign-ins per address ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_an_address_that_keeps_failing_is_answered_429(client: Client, settings: Any, method: str, path: str) -> None:
    settings.DOCKET_API_AUTH_FAILURES_PER_MINUTE = 3

    with freeze_time("2026-11-22T10:15:45Z"):
        codes = [call(client, method, path, "dk_" + "A" * 43).status_code for _ in range(3)]
        no_key = call(client, method, path, None)

    assert codes == [401, 401, 401]
    assert no_key.status_code == 429
    assert no_key["Retry-After"] == "15"
    assert no_key.json()["error"].startswith("Too many requests without a valid API key from this address")


def test_a_valid_key_still_works_from_an_address_that_failed(
    client: Client, integration: Integration, settings: Any
) -> None:
    settings.DOCKET_API_AUTH_FAILURES_PER_MINUTE = 1
    key = make_key(integration, scopes=[Scope.STATUS_READ])

    with freeze_time("2026-11-22T10:15:00Z"):
        failures = [call(client, "GET", "/api/v1/accounts/u1/status", "dk_wrong").status_code for _ in range(2)]
        good = call(client, "GET", "/api/v1/accounts/u1/status", key.secret)

    assert failures == [401, 429]
    assert good.status_code == 200


def test_failures_count_per_address(client: Client, settings: Any) -> None:
    settings.DOCKET_API_AUTH_FAILURES_PER_MINUTE = 1

    with freeze_time("2026-11-22T10:15:00Z"):
        one = [call(client, "GET", "/api/v1/flags/x", None, REMOTE_ADDR="192.0.2.1").status_code for _ in range(2)]
        other = call(client, "GET", "/api/v1/flags/x", None, REMOTE_ADDR="192.0.2.2").status_code

    assert one == [401, 429]
    assert other == 401


def test_behind_a_proxy_the_address_the_proxy_appended_counts(client: Client, settings: Any) -> None:
    settings.DOCKET_API_AUTH_FAILURES_PER_MINUTE = 1
    settings.DOCKET_TRUST_X_FORWARDED_FOR = True

    with freeze_time("2026-11-22T10:15:00Z"):
        # The client can write the first entries; the proxy appends the address it saw.
        first = call(client, "GET", "/api/v1/flags/x", None, HTTP_X_FORWARDED_FOR="1.1.1.1, 192.0.2.7").status_code
        spoofed = call(client, "GET", "/api/v1/flags/x", None, HTTP_X_FORWARDED_FOR="9.9.9.9, 192.0.2.7").status_code
        another = call(client, "GET", "/api/v1/flags/x", None, HTTP_X_FORWARDED_FOR="192.0.2.8").status_code

    assert (first, spoofed, another) == (401, 429, 401)


# --- The counter itself -------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[Any]:
    from tests.conftest import redis_available, use_shared_redis

    if not redis_available():
        pytest.skip("needs Redis: set REDIS_URL")
    use_shared_redis(settings)
    yield redis_client()


def count_redis_calls(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command the client sends from now on, by name (a pipeline counts as one call)."""
    calls: list[str] = []
    pipeline_class = type(client.pipeline())
    original_pipeline, original_command = pipeline_class.execute, type(client).execute_command

    def pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("pipeline")
        return original_pipeline(self, *args, **kwargs)

    def command(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return original_command(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_class, "execute", pipeline)
    monkeypatch.setattr(type(client), "execute_command", command)
    return calls


@pytest.mark.redis
def test_on_redis_a_request_costs_one_round_trip_and_the_counter_expires(
    redis_cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratelimit.hit("key:warm", 1)  # the script is loaded once per client
    calls = count_redis_calls(redis_cache, monkeypatch)
    now = 1_800_000_030.0  # 30 s into a minute

    results = [ratelimit.hit("key:abc", 2, now=now) for _ in range(3)]

    assert results[:2] == [None, None]
    assert results[2] == ratelimit.Exceeded(limit=2, retry_after=30)
    assert calls == ["EVALSHA"] * 3
    key = raw_key(f"{ratelimit.PREFIX}key:abc:{int(now // 60)}")
    assert redis_cache.get(key) == b"3"
    assert 0 < redis_cache.ttl(key) <= 65


@pytest.mark.redis
def test_on_redis_keys_written_past_the_cache_framework_carry_its_key_prefix(redis_cache: Any, settings: Any) -> None:
    # Without the prefix, one test run would read the rate counts and statuses an earlier run left in Redis.
    from accounts.status import cache_key

    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    now = 1_800_000_030.0
    ratelimit.hit("key:prefixed", 5, now=now)
    plain = f"{ratelimit.PREFIX}key:prefixed:{int(now // 60)}"
    client = redis_client()
    assert client.get(f"{prefix}:{plain}") == b"1"
    assert client.get(plain) is None
    assert cache_key(7, "abc") == f"{prefix}:docket:status:7:abc"
    assert metrics.claim_key("claimed") == f"{prefix}:docket:metrics:claim_latency_seconds:claimed"


@pytest.mark.redis
def test_on_redis_a_warm_status_read_is_still_one_round_trip_with_the_limit_counted(
    clock: Any, redis_cache: Any, client: Client, integration: Integration, monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
) -> None:
    key = make_key(integration, scopes=[Scope.STATUS_READ])
    user = f"u-{uuid4().hex}"  # a status answer of this test's own on the shared Redis
    assert call(client, "GET", f"/api/v1/accounts/{user}/status", key.secret).status_code == 200  # fills the cache
    calls = count_redis_calls(redis_cache, monkeypatch)

    with django_assert_num_queries(0):
        response = call(client, "GET", f"/api/v1/accounts/{user}/status", key.secret)

    assert response.status_code == 200 and response.json()["state"] == "active"
    assert calls == ["EVALSHA"]
    assert ratelimit.peek(ratelimit.key_bucket(key.key.key_hash)) == 2


@pytest.mark.redis
def test_on_redis_concurrent_requests_are_counted_exactly(redis_cache: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    now = 1_800_000_000.0
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda _: ratelimit.hit("key:race", 50, now=now), range(200)))

    assert sum(v is None for v in verdicts) == 50
    assert ratelimit.peek("key:race", now=now) == 200


def test_on_the_local_cache_the_counter_counts_too() -> None:
    now = 1_800_000_000.0
    assert [ratelimit.hit("key:local", 1, now=now) is None for _ in range(3)] == [True, False, False]
    assert ratelimit.peek("key:local", now=now) == 3
    assert ratelimit.hit("key:local", 1, now=now + 60) is None


# --- Keys: constant-time check ------------------------------------------------------------------


def test_the_final_key_check_is_constant_time(integration: Integration, monkeypatch: pytest.MonkeyPatch) -> None:
    new = make_key(integration)
    compared: list[tuple[str, str]] = []
    real = apikeys.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)

    assert apikeys.authenticate(new.secret) is not None
    assert compared == [(new.key.key_hash, apikeys.hash_key(new.secret))]
    assert new.secret not in repr(compared)  # only digests are compared, never the secret


# --- Body size ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_endpoint_refuses_a_body_over_the_limit_with_413_before_reading_it(
    client: Client, integration: Integration, settings: Any, method: str, path: str
) -> None:
    settings.DOCKET_MAX_BODY_BYTES = 1024
    key = make_key(integration)
    body = json.dumps({"flags": [flag_payload(prompt="x" * 2000)]})

    response = client.generic(
        method, path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key.secret}"
    )

    assert response.status_code == 413
    assert response.json() == {"error": f"The body is {len(body)} bytes; the limit is 1024."}


def test_a_console_page_refuses_a_body_over_the_limit_too(client: Client, ops: Any, settings: Any) -> None:
    settings.DOCKET_MAX_BODY_BYTES = 1024
    client.force_login(ops)

    response = client.post("/integrations/new/", {"name": "x" * 2000})

    assert response.status_code == 413
    assert response.content.decode().startswith("The body is")


def test_a_content_length_that_is_not_a_number_is_a_400_not_a_500(client: Client, integration: Integration) -> None:
    key = make_key(integration)

    response = client.generic(
        "POST", "/api/v1/flags", "{}", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}", CONTENT_LENGTH="12abc",
    )

    assert response.status_code == 400
    assert response.json() == {"error": "The Content-Length header is not a number of bytes."}


def test_the_default_limit_covers_djangos_own_body_reading(settings: Any) -> None:
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.DOCKET_MAX_BODY_BYTES == 10 * 1024 * 1024


# --- CORS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [*OPERATIONS, ("GET", "/api/v1/openapi.json"), ("GET", "/login/")])
def test_a_cors_preflight_is_refused_and_nothing_allows_another_origin(
    client: Client, integration: Integration, method: str, path: str
) -> None:
    key = make_key(integration)
    origin = {"HTTP_ORIGIN": "https://evil.example"}

    preflight = client.options(
        path,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
        **origin,
    )
    actual = call(client, method, path, key.secret, **origin)

    assert preflight.status_code == 403
    for response in (preflight, actual):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], response.headers
    if path.startswith("/api/"):
        assert preflight.json()["error"].startswith("Cross-origin requests are refused")


# --- Errors stay JSON under /api/ ----------------------------------------------------------------


def test_an_unknown_api_path_is_a_json_404(client: Client) -> None:
    response = client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"error": "No such API endpoint: see /api/v1/docs."}
