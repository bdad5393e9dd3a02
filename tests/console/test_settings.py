"""Settings come from the environment; bad values and missing secrets stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from console.env import env_bool, env_choice, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "console.settings",
    "SECRET_KEY": "a-production-grade-secret-key-value-that-is-long-enough-1234567890",
    "DOCKET_ACCOUNT_HASH_KEY": "a-production-grade-account-hash-key-0123456789",
    "ALLOWED_HOSTS": "docket.example.com",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_env_bool_refuses_a_word_it_does_not_know(monkeypatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false"):
        env_bool("DEBUG", False)


def test_env_int_names_the_variable_and_the_bad_value(monkeypatch) -> None:
    monkeypatch.setenv("DB_CONN_MAX_AGE", "ten")
    with pytest.raises(ImproperlyConfigured, match="DB_CONN_MAX_AGE must be a whole number, not 'ten'"):
        env_int("DB_CONN_MAX_AGE", 60)
    monkeypatch.setenv("DB_CONN_MAX_AGE", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("DB_CONN_MAX_AGE", 60, minimum=0)


def test_env_choice_lists_the_choices(monkeypatch) -> None:
    monkeypatch.setenv("DOCKET_TASK_BACKEND", "sidekiq")
    with pytest.raises(ImproperlyConfigured, match="one of immediate, rq, celery"):
        env_choice("DOCKET_TASK_BACKEND", "immediate", ["immediate", "rq", "celery"])


def test_env_list_splits_and_trims(monkeypatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example , b.example,, ")
    assert env_list("ALLOWED_HOSTS") == ["a.example", "b.example"]


def test_a_production_start_without_a_secret_key_refuses() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_short_secret_key_is_refused_in_production() -> None:
    result = _manage("check", env={**PRODUCTION, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "SECRET_KEY must be a random value of at least 50 characters" in result.stderr


def test_the_rq_backend_without_redis_is_refused() -> None:
    result = _manage("check", env={**PRODUCTION, "DOCKET_TASK_BACKEND": "rq"})
    assert result.returncode != 0
    assert "DOCKET_TASK_BACKEND=rq needs REDIS_URL" in result.stderr


def test_check_deploy_has_nothing_to_say_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "DEBUG", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
