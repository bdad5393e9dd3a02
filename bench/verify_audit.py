#!/usr/bin/env python
"""`manage.py verify_audit` over a million audit entries, on PostgreSQL.

    .venv/bin/python bench/verify_audit.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_audit

Against a dedicated database (created and migrated when missing):

1. seed: the audit log is extended to --entries entries (1,000,000 by
   default), written as `record()` would have written them: contiguous
   seq, each entry's hash over its fields and the previous hash
   (console.models.chain_hash, the function verify_audit checks with), the
   head moved to the last one. The chain is computed here in Python and
   the rows sent with COPY; it takes a minute or so, and is done once: a
   later run re-uses what is there (--reseed drops and creates the database);
2. verify: `manage.py verify_audit` runs as its own process, --runs times;
   its wall time, entries per second and peak memory (max RSS) are printed.
   The peak memory is the figure that shows the walk streams: it stays that
   of a Django process whatever the number of entries.

Entries look like a console's: mostly claims and decisions by a few hundred
reviewers, with before/after snapshots and the odd reason.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from common import bench_env
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent
GENESIS = "0" * 64
COLUMNS = (
    "seq, prev_hash, created_at, actor_type, actor_id, actor_label, verb, target_type, target_id, target_label, "
    "before, after, reason, hash"
)
REASONS = ["", "", "", "", "duplicate of an earlier case", "context makes it satire", "escalated by the reviewer"]


def ensure_database(database_url: str, env: dict[str, str], *, recreate: bool) -> None:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = psycopg.sql.Identifier(str(info["dbname"]))
    with psycopg.connect(psycopg.conninfo.make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
        if recreate:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (info["dbname"],)).fetchone()
        if exists is None:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(name))
    subprocess.run(
        [str(VENV_BIN / "python"), str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def entry(rng: random.Random, seq: int, prev_hash: str, at: datetime) -> list[Any]:
    """One entry's HASHED_FIELDS values, in that order."""
    roll = rng.random()
    reviewer = rng.randint(1, 300)
    case = rng.randint(1, 2_000_000)
    if roll < 0.45:
        verb, target, before, after = (
            "case.claimed",
            ("review.case", case),
            None,
            {
                "queue": "general",
                "lease_expires_at": (at + timedelta(minutes=10)).isoformat(),
            },
        )
    elif roll < 0.9:
        outcome = rng.choice(["not_violating", "not_violating", "violating"])
        verb, target = "case.decided", ("review.case", case)
        before = {"status": "claimed", "queue": "general"}
        after = {"decision": seq, "outcome": outcome, "category": "harassment" if outcome == "violating" else None}
    else:
        verb, target = (
            rng.choice(["action.proposed", "action.approved", "action.applied", "queue.changed"]),
            (
                "accounts.action",
                rng.randint(1, 50_000),
            ),
        )
        before, after = {"state": "proposed"}, {"state": "approved", "kind": "warn", "evidence": [case, case + 1]}
    return [
        seq,
        prev_hash,
        at,
        "user",
        str(reviewer),
        f"reviewer-{reviewer:03d}",
        verb,
        target[0],
        str(target[1]),
        f"{target[0].split('.')[1]} {target[1]}",
        before,
        after,
        rng.choice(REASONS),
    ]


def seed(conn: psycopg.Connection[Any], entries: int) -> tuple[int, float]:
    """Extend the chain to `entries` entries; return how many were added and the seconds it took."""
    from console.models import chain_hash

    head = conn.execute("SELECT seq, hash FROM console_audithead WHERE id = 1").fetchone()
    seq, prev_hash = head if head else (0, GENESIS)
    if seq >= entries:
        return 0, 0.0
    started = time.perf_counter()
    rng = random.Random(seq)
    at = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / (entries - seq)
    with conn.transaction(), conn.cursor() as cursor:
        if head is None:
            cursor.execute("INSERT INTO console_audithead (id, seq, hash) VALUES (1, 0, %s)", (GENESIS,))
        with cursor.copy(f"COPY console_auditentry ({COLUMNS}) FROM STDIN") as copy:
            for n in range(seq + 1, entries + 1):
                at += step
                values = entry(rng, n, prev_hash, at.replace(microsecond=rng.randint(0, 999_999)))
                prev_hash = chain_hash(values)
                before, after = values[10], values[11]
                copy.write_row(
                    [*values[:10], None if before is None else Jsonb(before), Jsonb(after), values[12], prev_hash]
                )
        cursor.execute("UPDATE console_audithead SET seq = %s, hash = %s WHERE id = 1", (entries, prev_hash))
    conn.execute("VACUUM ANALYZE console_auditentry")
    return entries - seq, time.perf_counter() - started


def verify(env: dict[str, str]) -> tuple[float, int, str, int]:
    """Run verify_audit as a child; return its wall time, exit code, last line and peak RSS (KiB)."""
    started = time.perf_counter()
    with subprocess.Popen(
        [str(VENV_BIN / "python"), str(ROOT / "manage.py"), "verify_audit"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as child:
        output = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not the migrate's before it
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    return seconds, child.returncode, output.strip().splitlines()[-1], usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a dedicated PostgreSQL database")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reseed", action="store_true", help="drop and create the database, then seed again")
    args = parser.parse_args()
    info = psycopg.conninfo.conninfo_to_dict(args.database_url)
    if info.get("host", "") not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark talks to 127.0.0.1 only")
    if "bench" not in str(info.get("dbname", "")):
        parser.error("use a database whose name says bench")

    env = bench_env(args.database_url)
    ensure_database(args.database_url, env, recreate=args.reseed)
    os.environ.update(env)
    import django

    django.setup()

    with psycopg.connect(args.database_url, autocommit=True) as conn:
        added, seconds = seed(conn, args.entries)
        total = conn.execute("SELECT count(*) FROM console_auditentry").fetchone()[0]
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('console_auditentry'))").fetchone()[0]
    if added:
        print(f"seeded {added:,} entries in {seconds:.1f} s ({added / seconds:,.0f}/s)")
    print(f"{total:,} audit entries, {size} with indexes; {os.cpu_count()} cores", flush=True)

    failed = False
    for run in range(1, args.runs + 1):
        seconds, code, last, peak = verify(env)
        failed |= code != 0
        print(f"run {run}: {seconds:6.1f} s wall, {total / seconds:,.0f} entries/s, peak RSS {peak / 1024:.0f} MiB")
        print(f"  {last}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
