"""The account status endpoint against a bare Django view, side by side, under gunicorn.

    .venv/bin/python bench/status.py            # needs wrk (apt-get install wrk), PostgreSQL and Redis

Loads 10,000 accounts (1,000 with an action in force) into a fresh database,
warms the status cache, starts gunicorn (2 sync workers: one per core) with
Redis as the cache, and runs wrk against `/livez` (a constant JSON body) and
`GET /api/v1/accounts/{user}/status` (a key check and a cache read)
alternately, three rounds each. Reports requests/s (16 connections) and
latency at a light load (2 connections), and how many transactions
PostgreSQL saw during the status runs (0 means the warm path never touched it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import bench_env, free_port

ROOT = Path(__file__).resolve().parents[1]
USERS = 10_000


def prepare(database_url: str) -> str:
    """Fresh database, accounts with and without actions, a key; returns the key."""
    name = database_url.rsplit("/", 1)[-1]
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.cache import cache
    from django.utils import timezone

    from accounts.models import Account, Action
    from accounts.status import load_status
    from review.intake import hash_user_id
    from review.models import Scope
    from review.services import create_api_key
    from tests.factories import make_integration

    cache.clear()
    integration = make_integration("Bench")
    now = timezone.now()
    Account.objects.bulk_create(
        [
            Account(
                integration=integration,
                user_hash=hash_user_id(f"user-{n}"),
                first_seen=now,
                last_seen=now,
                state="restricted" if n < 1000 else "active",
            )
            for n in range(USERS)
        ],
        batch_size=2000,
    )
    ids = dict(Account.objects.values_list("user_hash", "pk"))
    Action.objects.bulk_create(
        [
            Action(
                account_id=ids[hash_user_id(f"user-{n}")],
                kind="restrict",
                scope="tools:computer_use",
                hours=24,
                state="applied",
                reason="bench",
                proposed_at=now,
                applied_at=now,
                ends_at=now + timezone.timedelta(hours=24),
            )
            for n in range(1000)
        ],
        batch_size=2000,
    )
    # Far above what wrk can send: the limiter's counter runs on every request, but never answers 429.
    secret = create_api_key(
        actor=None, integration=integration, name="bench", scopes=[Scope.STATUS_READ], rate_per_minute=10**9
    ).secret
    for n in range(USERS):  # warm: what publish-on-commit leaves behind in production
        load_status(integration.pk, hash_user_id(f"user-{n}"))
    return secret


def wrk(url: str, *, connections: int, seconds: int, script: str | None) -> tuple[float, float, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    if "Non-2xx" in out:
        raise SystemExit(f"errors in the run:\n{out}")
    return rps, pct("50"), pct("99")


def xacts(dbname: str) -> int:
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-tAc",
            f"select xact_commit + xact_rollback from pg_stat_database where datname = '{dbname}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/docket_bench_status")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("This benchmark needs wrk: apt-get install wrk")
    env = bench_env(args.database_url, redis_url=args.redis_url)
    os.environ.clear()
    os.environ.update(env)
    secret = prepare(args.database_url)
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "console.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--access-logfile",
            "/dev/null",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(
            "local n = 0\n"
            f'wrk.headers["Authorization"] = "Bearer {secret}"\n'
            "request = function()\n"
            f"  n = (n + 7919) % {USERS}\n"
            '  return wrk.format("GET", "/api/v1/accounts/user-" .. n .. "/status")\n'
            "end\n"
        )
    base = f"http://127.0.0.1:{port}"
    dbname = args.database_url.rsplit("/", 1)[-1]
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        wrk(f"{base}/livez", connections=4, seconds=2, script=None)  # warm both paths
        wrk(base, connections=4, seconds=2, script=lua.name)
        bare, status, light_bare, light_status = [], [], [], []
        db_before = xacts(dbname)
        for _ in range(3):
            bare.append(wrk(f"{base}/livez", connections=16, seconds=args.seconds, script=None))
            status.append(wrk(base, connections=16, seconds=args.seconds, script=lua.name))
            light_bare.append(wrk(f"{base}/livez", connections=2, seconds=args.seconds, script=None))
            light_status.append(wrk(base, connections=2, seconds=args.seconds, script=lua.name))
        db_during = xacts(dbname) - db_before
    finally:
        server.terminate()
        server.wait(timeout=20)
        os.unlink(lua.name)

    def med(rows: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    print(f"gunicorn, {args.workers} sync workers, wrk -t2; median of 3 rounds of {args.seconds} s each")
    print(f"{'':<28}{'req/s (16 conn)':>16}{'p50 ms (2 conn)':>17}{'p99 ms (2 conn)':>17}")
    print(f"{'bare view /livez':<28}{med(bare, 0):>16,.0f}{med(light_bare, 1):>17.2f}{med(light_bare, 2):>17.2f}")
    print(f"{'status endpoint':<28}{med(status, 0):>16,.0f}{med(light_status, 1):>17.2f}{med(light_status, 2):>17.2f}")
    print(f"status / bare: {med(status, 0) / med(bare, 0):.0%} of the requests per second")
    print(f"PostgreSQL transactions during the runs (status and bare): {db_during}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
