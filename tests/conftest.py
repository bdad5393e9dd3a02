"""Shared fixtures: the staff personas, and the rules for tests that need a
real PostgreSQL, Redis or Chromium (fail in CI, skip with a reason elsewhere)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from console.roles import TWO_FACTOR_ROLES, Role, sync_roles
from console.services import create_staff

pytest_plugins = ["tests.browser", "tests.servers"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "a-long-test-password-4-staff"
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI needs this: {reason}", pytrace=False)
    pytest.skip(reason)


def redis_available() -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, in CI, fail) before any fixture runs: a skipped test must not touch the database."""
    if item.get_closest_marker("postgres") and settings.DATABASES["default"]["ENGINE"] != (
        "django.db.backends.postgresql"
    ):
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if item.get_closest_marker("redis") and not redis_available():
        _missing("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0 with a server running")
    if item.get_closest_marker("browser") and CHROMIUM is None:
        _missing("needs Chromium at /usr/bin/chromium (bin/ensure-chromium installs it)")


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:  # type: ignore[no-untyped-def]
    # PBKDF2's deliberate slowness is for attackers, not for a test suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_cache(settings) -> None:  # type: ignore[no-untyped-def]
    # The cache is Redis in CI: it outlives a test and a whole run (a second run within the
    # keys' lifetime found a dashboard panel the first had drawn). Each test keys its own:
    # panels, sign-in and rate-limit counts, statuses. A test that sets CACHES keeps this prefix.
    default = settings.CACHES["default"]
    settings.CACHES = {**settings.CACHES, "default": {**default, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def use_shared_redis(settings) -> None:  # type: ignore[no-untyped-def]
    """The default cache on REDIS_URL's server, as in production, under a key prefix of this test's own."""
    redis = {"BACKEND": "console.cache.DocketRedisCache", "LOCATION": settings.REDIS_URL}
    settings.CACHES = {"default": {**redis, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def clock() -> Iterator[Any]:
    """freezegun's clock stopped at 2026-11-22 10:00:00 UTC; it moves only with clock.tick(seconds).

    The URLconf is loaded before time stops: django-ninja builds its schemas when
    the API module is imported, and cannot build them from freezegun's fake date.
    """
    from django.urls import get_resolver
    from freezegun import freeze_time

    get_resolver().url_patterns  # noqa: B018 - imports every URL module
    with freeze_time("2026-11-22 10:00:00") as frozen:
        yield frozen


def seed_reference_data() -> None:
    """What the migrations seed (roles, taxonomy, default profile, queues).

    Transactional tests (live server, threads) end with a flush that empties
    every table, so the next one re-seeds here; a no-op when the data is there.
    """
    from review.models import Category

    sync_roles(apps)
    if not Category.objects.exists():
        from importlib import import_module

        import_module("review.migrations.0002_seed_taxonomy_and_defaults").seed(apps, None)
        from review.versions import seed_versions

        seed_versions(apps)


@pytest.fixture
def roles(db: None) -> None:
    seed_reference_data()


@pytest.fixture
def make_staff(roles: None) -> Callable[..., AbstractBaseUser]:
    counter = iter(range(1, 10_000))

    def make(role: Role, username: str | None = None, *, two_factor: bool | None = None) -> AbstractBaseUser:
        """A staff member; in a role that needs two-factor sign-in, enrolled with tests.twofactor.TOTP_SECRET."""
        from tests.twofactor import enrol_totp

        name = username or f"{role.value}{next(counter)}"
        user = create_staff(actor=None, username=name, password=PASSWORD, role=role)
        if two_factor if two_factor is not None else role in TWO_FACTOR_ROLES:
            enrol_totp(user)
        return user

    return make


@pytest.fixture
def reviewer(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.REVIEWER, "rita")


@pytest.fixture
def senior(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.SENIOR_REVIEWER, "sam")


@pytest.fixture
def second_senior(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.SENIOR_REVIEWER, "sasha")


@pytest.fixture
def policy_admin(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.POLICY_ADMIN, "pat")


@pytest.fixture
def ops(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.OPS, "otto")


@pytest.fixture
def auditor(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.AUDITOR, "ada")


@pytest.fixture
def staff_admin(make_staff: Callable[..., AbstractBaseUser]) -> AbstractBaseUser:
    return make_staff(Role.STAFF_ADMIN, "stella")


@pytest.fixture
def outsider(roles: None) -> AbstractBaseUser:
    """Signed in, but holds no role at all."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("olivia", password=PASSWORD)


@pytest.fixture
def integration(roles: None):  # type: ignore[no-untyped-def]
    from tests.factories import make_integration

    return make_integration("Acme Chat")


@pytest.fixture
def api(client, integration):  # type: ignore[no-untyped-def]
    """An API client holding a key with every scope for `integration`."""
    from tests.factories import Api, make_key

    return Api(client, make_key(integration).secret)


@pytest.fixture(autouse=True)
def _no_calibration_sample(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Default profile samples 1 % of the flags below threshold; tests that do not ask for it
    (the `calibration_sampling` fixture) must not find a stray calibration case."""
    if "calibration_sampling" not in request.fixturenames:
        monkeypatch.setattr("review.calibration.sampled", lambda **kwargs: False)


@pytest.fixture
def calibration_sampling() -> None:
    """Ingestion draws the calibration sample as in production (review.calibration.sampled)."""
