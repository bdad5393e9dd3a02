#!/usr/bin/env python
"""Reviewers claiming and deciding while flags pour in, on PostgreSQL.

    .venv/bin/python bench/load_reviewers.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_load

Against a dedicated database (created and migrated when missing; its flag,
case, account and decision tables are emptied first, so never point this
at data you want to keep):

- flags arrive through the API, under gunicorn (DEBUG off, plain HTTP on
  127.0.0.1), at --flags-per-second in batches of --batch, open loop: each
  batch has a scheduled send time and its latency counts from that time, so
  a server that falls behind shows up as latency and as a lower achieved
  rate, not as fewer batches quietly sent. Flags come from a few thousand
  users and a few dozen texts, so many join a case that is open, or being
  decided, at that very moment; about 30 % need review;
- at the same time --reviewers reviewers, each a process of its own with its
  own database connection, claim the next case (urgent queues first, then
  general) and decide it at once (one in three violating, which counts on
  the account too), back to back, for --seconds: saturation, the hardest
  case for locks. `--think 2` has each reviewer read a case for 2 s on
  average (exponential) before deciding, which is still a fast human.

Checks, the run fails if one does not hold: no error on either side (a
deadlock, a lock timeout or a 5xx would be one); PostgreSQL's own deadlock
counter for the database did not move; no case claimed by two reviewers
(client side) nor decided twice (database side); one `case.claimed` and one
`case.decided` audit entry per decision; every flag sent stored once, counted
once on its account and on its case; every violating decision counted on its
account; the whole audit chain verifies.

Reported: the ingest rate achieved against the one asked for, batch
latency, claims per second, claim and decide latency (p50/p95/p99/max), and
where the CPU went (this benchmark: its processes, gunicorn and the
database's backends; others: the rest of the machine).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from claims import CpuMeter, busy_cores, ensure_database, ensure_staff, percentile, wait_for_quiet
from common import bench_env, free_port
from ingest import SETUP_SCRIPT, Payloads, start_gunicorn, stop, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent
USERS = 3000
TEXTS = 40
REVIEW_SHARE = 0.3
QUEUES = ["child-safety", "self-harm-violence", "general"]  # the order a reviewer looks in
RESET = (
    "TRUNCATE review_signal, review_flag, review_caseskip, review_decision, review_case, accounts_account "
    "RESTART IDENTITY CASCADE"
)


# --- Flags in -------------------------------------------------------------------------------------


@dataclass
class Ingest:
    asked: float
    seconds: float = 0.0
    batches: int = 0
    created: int = 0
    sent_ids: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    behind: float = 0.0  # how late the last batch left, against its schedule
    unsent: int = 0  # batches still waiting to be sent at the deadline


def pour(
    port: int,
    secret: str,
    templates: list[bytes],
    *,
    rate: float,
    batch: int,
    start_at: float,
    deadline: float,
    clients: int,
) -> Ingest:
    """Batches of `batch` flags on a fixed schedule (`rate` flags/s) until the deadline, from `clients` threads."""
    result = Ingest(asked=rate)
    interval = batch / rate
    slots = itertools.count()
    lock = threading.Lock()

    def loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        while True:
            n = next(slots)
            due = start_at + n * interval
            if due >= deadline:
                return
            if time.time() >= deadline:  # behind schedule at the end: what was not sent counts as not sent
                with lock:
                    result.unsent += 1
                continue
            while (left := due - time.time()) > 0:
                time.sleep(min(left, 0.05))
            body = templates[n % len(templates)].replace(Payloads.ID_MARK.encode(), f"load{n:07d}".encode())
            try:
                conn.request("POST", "/api/v1/flags", body=body, headers=headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status, data = 0, repr(exc).encode()
            done = time.time()
            answer = json.loads(data) if status == 200 else {}
            created = sum(1 for r in answer.get("results", []) if r.get("status") == "created")
            with lock:
                result.batches += 1
                result.sent_ids += batch
                result.created += created
                result.latencies.append(done - due)
                result.behind = max(result.behind, done - due)
                if status != 200 or created != batch:
                    result.errors.append(f"{status} {data[:200]!r}")

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.time() - start_at
    return result


# --- Reviewers ----------------------------------------------------------------------------------------


@dataclass
class Reviewer:
    claim: list[float] = field(default_factory=list)
    decide: list[float] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)
    violating: int = 0
    idle: int = 0
    errors: list[str] = field(default_factory=list)


def review(reviewer_id: int, start_at: float, deadline: float, think: float) -> Reviewer:
    """Claim the next case (urgent queues first) and decide it, until the deadline.

    With `think` 0 the decision follows the claim at once and the next claim the
    decision (saturation); otherwise the reviewer reads for a random time,
    `think` seconds on average, before deciding: a person at work.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    from review.models import Outcome, Queue
    from review.services import Verdict, claim_next_case, record_decision

    out = Reviewer()
    try:
        actor = get_user_model().objects.get(pk=reviewer_id)
        queues = sorted(Queue.objects.filter(slug__in=QUEUES), key=lambda q: QUEUES.index(q.slug))
        while (left := start_at - time.time()) > 0:
            time.sleep(min(left, 0.05))
        n = reviewer_id
        pace = random.Random(reviewer_id)
        while time.time() < deadline:
            t0 = time.perf_counter()
            case = None
            for queue in queues:
                case = claim_next_case(actor=actor, queue=queue)
                if case is not None:
                    break
            t1 = time.perf_counter()
            if case is None:
                out.idle += 1
                time.sleep(0.05)
                continue
            n += 1
            out.claim.append(t1 - t0)
            if think:  # reading the case, which holds no lock: only the lease
                time.sleep(min(pace.expovariate(1 / think), max(0.0, deadline - time.time())))
            if n % 3 == 0:
                verdict = Verdict(Outcome.VIOLATING, category=case.category, severity="medium")
                out.violating += 1
            else:
                verdict = Verdict(Outcome.NOT_VIOLATING)
            t1 = time.perf_counter()
            record_decision(actor=actor, case=case, verdict=verdict)
            t2 = time.perf_counter()
            out.decide.append(t2 - t1)
            out.cases.append(case.pk)
    except Exception as exc:
        out.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    return out


def _in_process(results: Any, slot: int, *args: Any) -> None:
    results.put((slot, review(*args)))


def start_reviewers(ids: list[int], start_at: float, deadline: float, think: float) -> tuple[list[Any], Any]:
    from django.db import connections

    connections.close_all()  # nothing shared across fork; each reviewer opens its own connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=_in_process, args=(results, slot, rid, start_at, deadline, think))
        for slot, rid in enumerate(ids)
    ]
    for process in processes:
        process.start()
    return processes, results


def gather(processes: list[Any], results: Any, count: int) -> list[Reviewer]:
    found: list[Reviewer | None] = [None] * count
    for _ in range(count):
        slot, reviewer = results.get(timeout=600)
        found[slot] = reviewer
    for process in processes:
        process.join(timeout=60)
    return [r or Reviewer(errors=["reviewer vanished"]) for r in found]


# --- Checks --------------------------------------------------------------------------------------------


def deadlocks(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def check(
    conn: psycopg.Connection[Any], ingest: Ingest, reviewers: list[Reviewer], *, seq: int, deadlocks_before: int
) -> dict[str, Any]:
    from console.audit import verify_chain

    claimed = [c for r in reviewers for c in r.cases]
    one = conn.execute
    checks: dict[str, Any] = {
        "ingest errors": len(ingest.errors),
        "reviewer errors": sum(len(r.errors) for r in reviewers),
        "deadlocks (pg_stat_database)": deadlocks(conn) - deadlocks_before,
        "cases claimed twice (client side)": sum(1 for n in Counter(claimed).values() if n > 1),
        "cases decided twice": one(
            "SELECT count(*) FROM (SELECT case_id FROM review_decision GROUP BY case_id HAVING count(*) > 1) d"
        ).fetchone()[0],
        "decisions not matching the claims": abs(
            one("SELECT count(*) FROM review_decision").fetchone()[0] - len(claimed)
        ),
        "claims without their case.claimed entry": len(claimed)
        - one("SELECT count(*) FROM console_auditentry WHERE seq > %s AND verb = 'case.claimed'", (seq,)).fetchone()[0],
        "decisions without their case.decided entry": len(claimed)
        - one("SELECT count(*) FROM console_auditentry WHERE seq > %s AND verb = 'case.decided'", (seq,)).fetchone()[0],
        "flags sent but not stored once": ingest.sent_ids - one("SELECT count(*) FROM review_flag").fetchone()[0],
        "accounts whose flag count is off": one(
            "SELECT count(*) FROM accounts_account a WHERE flag_count <> "
            "(SELECT count(*) FROM review_flag f WHERE f.account_id = a.id)"
        ).fetchone()[0],
        "cases whose flag count is off": one(
            "SELECT count(*) FROM review_case c WHERE flag_count <> "
            "(SELECT count(*) FROM review_flag f WHERE f.case_id = c.id)"
        ).fetchone()[0],
        "flags needing review without a case": one(
            "SELECT count(*) FROM review_flag WHERE needs_review AND case_id IS NULL"
        ).fetchone()[0],
        "violations not counted on their account": abs(
            one("SELECT count(*) FROM review_decision WHERE outcome = 'violating'").fetchone()[0]
            - one("SELECT coalesce(sum(violation_count), 0) FROM accounts_account").fetchone()[0]
        ),
    }
    checked, broken = verify_chain()
    checks["audit chain"] = f"{checked:,} entries intact" if broken is None else f"BROKEN at #{broken.seq}"
    return checks


def passed(checks: dict[str, Any]) -> bool:
    return all(v == 0 for k, v in checks.items() if k != "audit chain") and "intact" in checks["audit chain"]


# --- Report ----------------------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    if not values:
        return "no samples"
    quantiles = "  ".join(
        f"{n} {percentile(values, q) * 1000:8.1f}" for n, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    )
    return f"{quantiles}  max {max(values) * 1000:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a dedicated PostgreSQL database (emptied first)")
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--flags-per-second", type=float, default=1000.0)
    parser.add_argument("--batch", type=int, default=100, help="flags per request")
    parser.add_argument("--clients", type=int, default=8, help="client threads sending the batches")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds a reviewer reads a case before deciding (0: at once)"
    )
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--wait-idle", type=float, default=0.0, help="first wait up to N s for a quiet machine")
    args = parser.parse_args()
    info = psycopg.conninfo.conninfo_to_dict(args.database_url)
    if info.get("host", "") not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark talks to 127.0.0.1 only")
    if "bench" not in str(info.get("dbname", "")):
        parser.error("the run empties the review tables: use a database whose name says bench")

    env = bench_env(args.database_url)
    ensure_database(args.database_url, env)
    os.environ.update(env)
    import logging

    import django

    django.setup()
    logging.getLogger("django.tasks").setLevel(logging.WARNING)  # a line per rules task would drown the report

    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(RESET)
        conn.execute("VACUUM ANALYZE review_flag, review_signal, review_case, accounts_account")
        reviewer_ids, _ = ensure_staff(args.reviewers)
        _, secret = subprocess.run(
            [str(VENV_BIN / "python"), "-c", SETUP_SCRIPT],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        payloads = Payloads(seed=11, users=USERS, texts=TEXTS, review_share=REVIEW_SHARE)
        templates = [
            json.dumps(
                {"flags": [payloads.flag(f"{Payloads.ID_MARK}-{i:03d}") for i in range(args.batch)]},
                separators=(",", ":"),
            ).encode()
            for _ in range(20)
        ]
        port = free_port()
        log = Path(tempfile.mkdtemp(prefix="docket-bench-load-")) / "gunicorn.log"
        server = start_gunicorn(
            env, app="console.wsgi", port=port, workers=args.web_workers, worker_class="sync", threads=1, log=log
        )
        try:
            wait_until_up(port, secret, server)
            background = wait_for_quiet(args.wait_idle) if args.wait_idle else busy_cores(1.0)
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM console_audithead").fetchone()[0]
            deadlocks_before = deadlocks(conn)
            print(
                f"{os.cpu_count()} cores; {args.reviewers} reviewer processes (reading {args.think:g} s a case), "
                f"{args.flags_per_second:,.0f} flags/s asked in batches of {args.batch}, {args.seconds:.0f} s; "
                f"gunicorn {args.web_workers} sync workers",
                flush=True,
            )
            start_at = time.time() + 3.0  # every reviewer process forked and connected by then
            deadline = start_at + args.seconds
            with CpuMeter(args.database_url) as meter:
                processes, results = start_reviewers(reviewer_ids, start_at, deadline, args.think)
                ingest = pour(
                    port,
                    secret,
                    templates,
                    rate=args.flags_per_second,
                    batch=args.batch,
                    start_at=start_at,
                    deadline=deadline,
                    clients=args.clients,
                )
                reviewers = gather(processes, results, len(reviewer_ids))
                stop(server)  # inside the meter: gunicorn's CPU counts as this benchmark's once it is reaped
        finally:
            stop(server)
        checks = check(conn, ingest, reviewers, seq=seq, deadlocks_before=deadlocks_before)

    claims = [v for r in reviewers for v in r.claim]
    decides = [v for r in reviewers for v in r.decide]
    ok = passed(checks)
    print(
        f"\ningest: {ingest.created:,} flags stored in {ingest.seconds:.1f} s = {ingest.created / ingest.seconds:,.0f}"
        f" flags/s (asked {args.flags_per_second:,.0f}); {ingest.batches} batches sent, {ingest.unsent} due"
        " but not sent by the end (the server was behind)"
    )
    print(f"  batch latency from its scheduled time: {_ms(ingest.latencies)}")
    print(
        f"reviewers: {len(claims):,} cases claimed and decided = {len(claims) / args.seconds:,.1f}/s "
        f"({sum(r.violating for r in reviewers):,} violating); empty-queue polls {sum(r.idle for r in reviewers):,}"
    )
    print(f"  claim  {_ms(claims)}")
    print(f"  decide {_ms(decides)}")
    print(f"  {meter} ({background:.2f} cores busy elsewhere just before)")
    print(f"checks [{'ok' if ok else 'FAILED'}]:")
    for key, value in checks.items():
        print(f"  {key}: {value}")
    for error in sorted({e for r in reviewers for e in r.errors} | set(ingest.errors))[:10]:
        print(f"  error: {error}")
    print(f"gunicorn log: {log}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
