"""What every benchmark shares: the production-like environment it runs Docket with, and a free port.

The scripts run as `python bench/<name>.py`, so this folder is on sys.path
and they import it as `common`.
"""

from __future__ import annotations

import os
import socket

BENCH_SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123"
BENCH_HASH_KEY = "bench-only-account-hash-key-0123456789"


def bench_env(database_url: str, *, redis_url: str | None = None) -> dict[str, str]:
    """Settings for gunicorn and the bench process: DEBUG off, plain HTTP on 127.0.0.1, bench-only secrets.

    Docket's own variables from the caller's shell are dropped so that a
    stray DOCKET_* or REDIS_URL cannot change what is measured.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DOCKET_", "DB_"))}
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=BENCH_SECRET,
        DOCKET_ACCOUNT_HASH_KEY=BENCH_HASH_KEY,
        DOCKET_HTTPS="false",
        DOCKET_STATIC_MANIFEST="false",
        DOCKET_TASK_BACKEND="immediate",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="console.settings",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
