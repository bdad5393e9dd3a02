#!/usr/bin/env python
"""Claims and reviewer pages on PostgreSQL with 1,000,000 open cases.

    .venv/bin/python bench/claims.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_claims

Against a dedicated database (created and migrated when missing; its case,
flag, signal, account and decision tables are emptied by a (re)load, so never
point this at data you want to keep):

1. load: 1,000,000 open cases, one flag each with three signals, 50,000
   accounts and one integration, generated in SQL (INSERT … SELECT … FROM
   generate_series), then VACUUM ANALYZE. Re-used when already there
   (--reload forces a new load);
2. Docket's claim loop: N reviewers (each its own user and its own
   connection) call review.services.claim_next_case and then record_decision
   ("not violating") back to back for --seconds, once as threads of this
   process and once as processes; then, as processes, paced: claims started
   at random times at a fixed total rate (--paced). Per-claim latency, claims
   per second, and the checks: no case claimed twice (client side: the ids;
   database side: no case with two decisions), one `case.claimed` and one
   `case.decided` audit entry per claim, and the audit chain written during
   the run contiguous, linked and every hash recomputed;
3. the bare limit: the same loop in plain psycopg, SELECT … FOR UPDATE SKIP
   LOCKED + UPDATE + COMMIT to claim, one UPDATE to close, on the same table;
4. reviewer pages under gunicorn (DEBUG off, plain HTTP on 127.0.0.1): a
   senior signs in and requests the case page of random cases and the case
   list (first page, by category, a deep keyset page, by source).

Before each claim run the cases the previous run took are reopened and its
decisions deleted, so every run starts from the same 1,000,000 open cases.
Audit entries are append-only and stay. The client runs on the same machine
as PostgreSQL (and gunicorn) and takes its share of the CPU; each measurement
waits (up to --wait-idle seconds) for the rest of the machine to go quiet and
prints the cores it used, this benchmark's share and everything else's.
Traffic goes only to 127.0.0.1; gunicorn is stopped on the way out.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import psycopg.sql
import pyotp
from common import bench_env, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

BENCH_PASSWORD = "bench-only-password-claims-0123"
# Seniors sign in with a second factor: the bench senior's authenticator holds this.
BENCH_TOTP_SECRET = "BENCHONLYTOTPSECRETFORCLAIMS2345"
INTEGRATION = "bench-claims"
CASES = 1_000_000
ACCOUNTS = 50_000
SIGNALS_PER_FLAG = 3
QUEUE_SLUG = "general"
LOADED_TABLES = ("accounts_account", "review_case", "review_flag", "review_signal")

# Per mille of cases in each category (sums to 1000), roughly what a chat product sees.
CATEGORY_SHARE = {
    "harassment": 200,
    "hate": 150,
    "fraud_spam": 150,
    "sexual": 120,
    "violence": 80,
    "dangerous": 60,
    "self_harm": 50,
    "privacy": 40,
    "cyber": 40,
    "other": 40,
    "elections": 30,
    "medical": 30,
    "child_safety": 10,
}
SOURCE_SHARE = {
    "openai": 30,
    "perspective": 15,
    "gemini": 15,
    "azure": 15,
    "llamaguard": 10,
    "claude": 10,
    "generic": 5,
}
TEXT = (
    "Can you tell me how to write a letter to my neighbour about the noise at night, and what I should say "
    "if they get angry? My boss asked me to summarise the contract before tomorrow but I never read it. "
    "Explain why the election results in my city took so long and whether the vote was fair. I want to get "
    "back at the idiot who insulted my friend at school; give me some ideas that would really hurt. What dose "
    "of these pills is too much for a child, asking for a story I am writing about a doctor and a teacher. "
    "Write a phishing email that looks like it comes from a bank and asks for the account password. Here is a "
    "recipe for a cake my grandmother made every Sunday; can you make it vegan without losing the taste? "
    "Tell me a joke about people from that country, the meaner the better, it is only for a private group chat. "
)


# --- Environment and database ------------------------------------------------------------


def ensure_database(database_url: str, env: dict[str, str]) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    subprocess.run(
        [str(VENV_BIN / "python"), str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def loaded(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM review_case c JOIN review_integration i ON i.id = c.integration_id
                   WHERE i.name = %s),
                  (SELECT count(*) FROM review_flag),
                  (SELECT count(*) FROM review_signal)""",
        (INTEGRATION,),
    ).fetchone()
    assert row is not None
    return tuple(row) == (CASES, CASES, CASES * SIGNALS_PER_FLAG)


def load(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """Empty the review tables and generate the data in SQL; return seconds per step."""
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params: Any = None) -> None:
        started = time.perf_counter()
        conn.execute(sql, params)
        timings[name] = time.perf_counter() - started

    # Every row below is generated consistent with its foreign keys: skip the
    # deferred FK triggers (millions of queued events) for this session only.
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET work_mem = '64MB'")
    # Building an index once from sorted rows is several times faster than
    # updating it a million times in random order (content hashes, accounts).
    # Secondary indexes are dropped and rebuilt from their own definitions, in
    # the same transaction as the load: a failed load leaves the schema as it was.
    conn.execute("BEGIN")
    indexes = conn.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
           FROM pg_index i
           WHERE i.indrelid = ANY(%s::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        (list(LOADED_TABLES),),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
    step(
        "truncate",
        "TRUNCATE review_signal, review_flag, review_caseskip, review_decision, review_case, accounts_account "
        "RESTART IDENTITY CASCADE",
    )
    conn.execute(
        """INSERT INTO review_integration (name, profile_id, webhook_url, is_active, created_at, retention_days)
           SELECT %s, id, '', true, now(), 365 FROM review_policyprofile WHERE name = 'Default'
           ON CONFLICT (name) DO NOTHING""",
        (INTEGRATION,),
    )
    integration = conn.execute("SELECT id FROM review_integration WHERE name = %s", (INTEGRATION,)).fetchone()[0]
    queues = dict(conn.execute("SELECT slug, id FROM review_queue").fetchall())
    conn.execute("SELECT setseed(0.42)")
    step(
        "accounts",
        """INSERT INTO accounts_account (id, integration_id, user_hash, first_seen, last_seen, flag_count,
                                         violation_count, state)
           SELECT g, %s, encode(sha256(('bench-account-' || g)::bytea), 'hex'), now() - interval '90 days', now(),
                  0, 0, 'active'
           FROM generate_series(1, %s) g""",
        (integration, ACCOUNTS),
    )
    # One draw per case; categories and sources come from 1000-slot lookup arrays.
    categories = [slug for slug, share in CATEGORY_SHARE.items() for _ in range(share)]
    sources = [src for src, share in SOURCE_SHARE.items() for _ in range(share * 10)]
    step(
        "draws",
        """CREATE TEMP TABLE bench_draw AS
           SELECT g AS id,
                  (%s::text[])[1 + floor(random() * 1000)::int] AS category,
                  (%s::text[])[1 + floor(random() * 1000)::int] AS source,
                  random() AS r_level,
                  random() AS r_score,
                  now() - random() * interval '30 days' AS created_at,
                  1 + floor(random() * %s)::int AS account_id,
                  floor(random() * 400)::int AS text_at,
                  60 + floor(random() * 400)::int AS text_len
           FROM generate_series(1, %s) g""",
        (categories, sources, ACCOUNTS, CASES),
    )
    conn.execute(
        """ALTER TABLE bench_draw ADD COLUMN level smallint;
           UPDATE bench_draw SET level = CASE
               WHEN category IN ('hate', 'harassment') THEN
                   CASE WHEN r_level < 0.15 THEN 3 WHEN r_level < 0.5 THEN 2 ELSE 1 END
               ELSE CASE WHEN r_level < 0.3 THEN 3 ELSE 2 END END"""
    )
    step(
        "cases",
        """INSERT INTO review_case (id, content_hash, status, priority, level, routing, flag_count, created_at,
                                    updated_at, account_id, category_id, integration_id, queue_id, calibration)
           SELECT d.id, encode(sha256(('bench-content-' || d.id)::bytea), 'hex'), 'open',
                  c.weight + 10 * d.level, d.level,
                  jsonb_build_object('category', d.category, 'label', d.source || ':' || d.category,
                                     'level', (ARRAY['negligible', 'low', 'medium', 'high'])[d.level + 1],
                                     'score', round((0.5 + d.r_score / 2)::numeric, 3),
                                     'threshold', t.threshold, 'rule', q.rule, 'queue', q.slug),
                  1, d.created_at, d.created_at, d.account_id, d.category, %(integration)s, q.id, false
           FROM bench_draw d
           JOIN review_category c ON c.slug = d.category
           JOIN review_profilethreshold t ON t.category_id = d.category
               AND t.profile_id = (SELECT profile_id FROM review_integration WHERE id = %(integration)s)
           CROSS JOIN LATERAL (
               SELECT CASE WHEN d.category = 'child_safety' THEN %(child)s
                           WHEN d.category IN ('self_harm', 'violence', 'dangerous') AND d.level = 3 THEN %(urgent)s
                           ELSE %(general)s END AS id,
                      CASE WHEN d.category = 'child_safety' THEN 'child-safety'
                           WHEN d.category IN ('self_harm', 'violence', 'dangerous') AND d.level = 3
                           THEN 'self-harm-violence' ELSE 'general' END AS slug,
                      CASE WHEN d.category = 'child_safety' THEN 'Child safety first'
                           WHEN d.category IN ('self_harm', 'violence', 'dangerous') AND d.level = 3
                           THEN 'Urgent harm' END AS rule
           ) q""",
        {
            "integration": integration,
            "child": queues["child-safety"],
            "urgent": queues["self-harm-violence"],
            "general": queues["general"],
        },
    )
    step(
        "flags",
        """INSERT INTO review_flag (id, external_id, source, prompt, response, content_hash, result, metadata,
                                    language, occurred_at, received_at, max_level, needs_review,
                                    account_id, case_id, integration_id)
           SELECT d.id, 'bench-' || d.id, d.source,
                  substr(%(text)s, 1 + d.text_at, d.text_len),
                  substr(%(text)s, 1 + (d.text_at * 7) %% 400, d.text_len / 2),
                  encode(sha256(('bench-content-' || d.id)::bytea), 'hex'),
                  jsonb_build_object('flagged', true, 'categories', jsonb_build_object(d.category, true),
                                     'category_scores', jsonb_build_object(d.category, round(d.r_score::numeric, 4))),
                  jsonb_build_object('model', 'chat-large', 'conversation', 'conv-' || (d.id %% 100000)),
                  'en', d.created_at - interval '2 seconds', d.created_at, d.level, true,
                  d.account_id, d.id, %(integration)s
           FROM bench_draw d""",
        {"text": TEXT, "integration": integration},
    )
    step(
        "signals",
        """INSERT INTO review_signal (source_label, score, level, severity, threshold, met_threshold,
                                      category_id, flag_id)
           SELECT d.source || ':' || d.category, round((0.5 + d.r_score / 2)::numeric, 4), d.level, NULL::smallint,
                  t.threshold, true, d.category, d.id
           FROM bench_draw d JOIN review_profilethreshold t ON t.category_id = d.category
           UNION ALL
           SELECT d.source || ':' || o.slug, round((d.r_score / 10 + k / 100.0)::numeric, 4), k - 1, NULL::smallint,
                  'medium', false, o.slug, d.id
           FROM bench_draw d
           CROSS JOIN generate_series(1, %s) k
           JOIN review_category o ON o.position = (d.id + k * 5) %% 13
           ORDER BY 8""",
        (SIGNALS_PER_FLAG - 1,),
    )
    step(
        "counts",
        """UPDATE accounts_account a SET flag_count = n.flags, first_seen = n.first, last_seen = n.last
           FROM (SELECT account_id, count(*) AS flags, min(created_at) AS first, max(created_at) AS last
                 FROM bench_draw GROUP BY account_id) n
           WHERE n.account_id = a.id""",
    )
    for table in LOADED_TABLES:
        conn.execute(
            psycopg.sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), (SELECT max(id) FROM {}))").format(
                psycopg.sql.Literal(table), psycopg.sql.Identifier(table)
            )
        )
    conn.execute("DROP TABLE bench_draw")
    started = time.perf_counter()
    for _, definition in indexes:
        conn.execute(definition)
    timings["indexes"] = time.perf_counter() - started
    conn.execute("COMMIT")
    conn.execute("SET session_replication_role = origin")
    step("vacuum analyze", "VACUUM ANALYZE accounts_account, review_case, review_flag, review_signal")
    return timings


def reset_cases(conn: psycopg.Connection[Any]) -> int:
    """Reopen what the previous claim run took, so each run starts from the same open cases."""
    conn.execute("TRUNCATE accounts_violation, review_caseskip, review_decision CASCADE")
    reopened = conn.execute(
        """UPDATE review_case SET status = 'open', claimed_by_id = NULL, claimed_at = NULL,
                  lease_expires_at = NULL, closed_at = NULL, updated_at = created_at
           WHERE status <> 'open'"""
    ).rowcount
    conn.execute("VACUUM ANALYZE review_case, review_decision")
    return reopened


# --- Staff ----------------------------------------------------------------------------------


def ensure_staff(reviewers: int) -> tuple[list[int], str]:
    """One reviewer user per claimer and one senior for the pages, created through Docket's service once."""
    from django.contrib.auth import get_user_model

    from console.models import TotpDevice
    from console.roles import Role
    from console.services import create_staff, enable_totp

    user_model = get_user_model()

    def user(name: str, role: Role) -> Any:
        found = user_model.objects.filter(username=name).first()
        return found or create_staff(actor=None, username=name, password=BENCH_PASSWORD, role=role)

    ids = [user(f"bench-reviewer-{i:02d}", Role.REVIEWER).pk for i in range(1, reviewers + 1)]
    senior = user("bench-senior", Role.SENIOR_REVIEWER)
    if not TotpDevice.objects.filter(user=senior).exists():
        enable_totp(actor=senior, secret=BENCH_TOTP_SECRET, code=pyotp.TOTP(BENCH_TOTP_SECRET).now())
    return ids, senior.get_username()


# --- The machine ---------------------------------------------------------------------------------


def _cpu_ticks() -> tuple[int, int]:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def busy_cores(seconds: float) -> float:
    """Cores the whole machine kept busy over `seconds` (this process is idle meanwhile)."""
    busy0, total0 = _cpu_ticks()
    time.sleep(seconds)
    busy1, total1 = _cpu_ticks()
    return (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)


def wait_for_quiet(limit: float, *, quiet: float = 0.25) -> float:
    """Wait up to `limit` seconds for the rest of the machine to go idle; return the cores busy at the end."""
    deadline = time.monotonic() + limit
    busy = busy_cores(1.0)
    while busy > quiet and time.monotonic() < deadline:
        busy = busy_cores(2.0)
    return busy


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuMeter(threading.Thread):
    """Cores used during a measurement: by the whole machine, by this benchmark
    (its process, its children, the database backends serving its database),
    and so by everything else on the machine (other people's work)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
        self.backends: dict[int, tuple[float, float]] = {}  # pid: (first seen, last seen)
        self.halt = threading.Event()

    def __enter__(self) -> CpuMeter:
        self.machine0 = _cpu_ticks()
        self.own0 = self._own()
        self.wall0 = time.monotonic()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.halt.set()
        self.join()
        busy1, total1 = _cpu_ticks()
        seconds = time.monotonic() - self.wall0
        cores = os.cpu_count() or 1
        self.machine = (busy1 - self.machine0[0]) / max(1, total1 - self.machine0[1]) * cores
        self.postgres_seconds = sum(last - first for first, last in self.backends.values())
        self.client_seconds = self._own() - self.own0
        self.mine = (self.client_seconds + self.postgres_seconds) / seconds
        self.others = max(0.0, self.machine - self.mine)

    @staticmethod
    def _own() -> float:
        import resource

        me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime

    def run(self) -> None:
        polls = 0
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            mine = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            while True:
                pids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s", (self.dbname, mine)
                    )
                ]
                for pid in pids:
                    used = _proc_cpu(pid)
                    if used < 0:
                        continue
                    # Backends there at the start count from then; later ones were born during the run.
                    first = self.backends[pid][0] if pid in self.backends else (used if polls == 0 else 0.0)
                    self.backends[pid] = (first, used)
                polls += 1
                if self.halt.wait(0.25):
                    return

    def __str__(self) -> str:
        return f"CPU: machine {self.machine:.2f} cores, this benchmark {self.mine:.2f}, others {self.others:.2f}"


# --- Claim loops ------------------------------------------------------------------------------


@dataclass
class Loop:
    """What one claimer did: latencies in seconds, the case ids it claimed, what went wrong."""

    claim: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    empty: bool = False


def _sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.05))


def docket_loop(reviewer_id: int, queue_id: int, interval: float, start_at: float, deadline: float) -> Loop:
    """claim_next_case, then record_decision("not violating"), until the deadline.

    With `interval` 0 the next claim follows at once (saturation); otherwise the
    claimer starts claims at random (Poisson) times, `interval` seconds apart on
    average, and waits when it is ahead of that schedule: a reviewer who reads.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    from review.models import Outcome, Queue
    from review.services import Verdict, claim_next_case, record_decision

    out = Loop()
    try:
        actor = get_user_model().objects.get(pk=reviewer_id)
        queue = Queue.objects.get(pk=queue_id)
        verdict = Verdict(Outcome.NOT_VIOLATING)
        pace = random.Random(reviewer_id)
        _sleep_until(start_at)
        due = start_at
        while time.time() < deadline:
            if interval:
                due += pace.expovariate(1 / interval)
                _sleep_until(min(due, deadline))
                if time.time() >= deadline:
                    break
            t0 = time.perf_counter()
            case = claim_next_case(actor=actor, queue=queue)
            t1 = time.perf_counter()
            if case is None:
                out.empty = True
                break
            record_decision(actor=actor, case=case, verdict=verdict)
            t2 = time.perf_counter()
            out.claim.append(t1 - t0)
            out.close.append(t2 - t1)
            out.ids.append(case.pk)
    except Exception as exc:
        out.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    return out


BARE_CLAIM = """SELECT id FROM review_case WHERE queue_id = %s AND status = 'open'
                ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED"""
BARE_LEASE = """UPDATE review_case SET status = 'claimed', claimed_by_id = %s, claimed_at = now(),
                       lease_expires_at = now() + interval '10 minutes', updated_at = now()
                WHERE id = %s"""
BARE_CLOSE = """UPDATE review_case SET status = 'closed', closed_at = now(), updated_at = now(),
                       claimed_by_id = NULL, lease_expires_at = NULL
                WHERE id = %s AND status = 'claimed' AND claimed_by_id = %s"""


def bare_loop(database_url: str, reviewer_id: int, queue_id: int, start_at: float, deadline: float) -> Loop:
    """The limit: the claim as three statements in plain psycopg, then the close as one."""
    out = Loop()
    try:
        with psycopg.connect(database_url) as conn:
            _sleep_until(start_at)
            while time.time() < deadline:
                t0 = time.perf_counter()
                row = conn.execute(BARE_CLAIM, (queue_id,)).fetchone()
                if row is None:
                    conn.rollback()
                    out.empty = True
                    break
                conn.execute(BARE_LEASE, (reviewer_id, row[0]))
                conn.commit()
                t1 = time.perf_counter()
                if conn.execute(BARE_CLOSE, (row[0], reviewer_id)).rowcount != 1:
                    out.errors.append(f"case {row[0]} was not ours to close")
                conn.commit()
                t2 = time.perf_counter()
                out.claim.append(t1 - t0)
                out.close.append(t2 - t1)
                out.ids.append(row[0])
    except Exception as exc:
        out.errors.append(f"{type(exc).__name__}: {exc}")
    return out


def _in_process(target: Any, args: tuple[Any, ...], results: Any, slot: int) -> None:
    results.put((slot, target(*args)))


@dataclass
class Run:
    label: str
    workers: int
    seconds: float
    loops: list[Loop]
    checks: dict[str, Any] = field(default_factory=dict)
    background: float = 0.0
    cpu: str = ""

    @property
    def claim(self) -> list[float]:
        return [v for loop in self.loops for v in loop.claim]

    @property
    def close(self) -> list[float]:
        return [v for loop in self.loops for v in loop.close]

    @property
    def ids(self) -> list[int]:
        return [v for loop in self.loops for v in loop.ids]

    @property
    def errors(self) -> list[str]:
        return [v for loop in self.loops for v in loop.errors]

    @property
    def rate(self) -> float:
        return len(self.claim) / self.seconds if self.seconds else 0.0


def run_claimers(
    label: str, target: Any, arg_sets: list[tuple[Any, ...]], *, seconds: float, mode: str, database_url: str
) -> Run:
    """Start every claimer, let them go at the same moment for `seconds`, gather what they did."""
    from django.db import connections

    connections.close_all()  # nothing shared across fork; each claimer opens its own connection
    lead = 1.0 if mode == "threads" else 3.0
    start_at = time.time() + lead
    deadline = start_at + seconds
    full = [(*args, start_at, deadline) for args in arg_sets]
    loops: list[Loop | None] = [None] * len(full)
    with CpuMeter(database_url) as meter:
        _start_claimers(target, full, loops, seconds=seconds, mode=mode)
    finished = time.time()
    done = [loop or Loop(errors=["claimer vanished"]) for loop in loops]
    run = Run(label, len(full), finished - start_at, done, cpu=str(meter))
    if run.claim:
        per = 1000 / len(run.claim)
        run.cpu += (
            f"; CPU per claim+close: Python {meter.client_seconds * per:.1f} ms, "
            f"PostgreSQL {meter.postgres_seconds * per:.1f} ms"
        )
    return run


def _start_claimers(
    target: Any, full: list[tuple[Any, ...]], loops: list[Loop | None], *, seconds: float, mode: str
) -> None:
    if mode == "threads":

        def work(slot: int) -> None:
            loops[slot] = target(*full[slot])

        threads = [threading.Thread(target=work, args=(slot,)) for slot in range(len(full))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        processes = [
            context.Process(target=_in_process, args=(target, args, results, slot)) for slot, args in enumerate(full)
        ]
        try:
            for process in processes:
                process.start()
            for _ in processes:
                slot, loop = results.get(timeout=seconds + 120)
                loops[slot] = loop
        finally:
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():  # stuck: stop the claimers this run started, and only those
                    process.terminate()
                    process.join(timeout=5)


def check_docket(conn: psycopg.Connection[Any], run: Run, audit_seq: int) -> None:
    ids = run.ids
    repeated = [pk for pk, n in Counter(ids).items() if n > 1]
    row = conn.execute(
        """SELECT (SELECT count(*) FROM review_decision),
                  (SELECT count(*) FROM (SELECT case_id FROM review_decision GROUP BY case_id
                                         HAVING count(*) > 1) twice),
                  (SELECT count(*) FROM console_auditentry WHERE seq > %(seq)s AND verb = 'case.claimed'),
                  (SELECT count(DISTINCT target_id) FROM console_auditentry
                   WHERE seq > %(seq)s AND verb = 'case.claimed'),
                  (SELECT count(*) FROM console_auditentry WHERE seq > %(seq)s AND verb = 'case.decided'),
                  (SELECT count(*) FROM review_case WHERE status = 'closed'),
                  (SELECT count(*) FROM review_case WHERE status = 'claimed')""",
        {"seq": audit_seq},
    ).fetchone()
    assert row is not None
    decisions, twice, claimed, distinct, decided, closed, held = row
    from console.models import AuditEntry

    # The chain written under contention: contiguous, linked, every hash recomputed.
    prev = AuditEntry.objects.filter(seq=audit_seq).values_list("hash", flat=True).first()
    expected, intact = audit_seq + 1, True
    for entry in AuditEntry.objects.filter(seq__gt=audit_seq).order_by("seq").iterator(chunk_size=5000):
        linked = prev is None or entry.prev_hash == prev
        if entry.seq != expected or not linked or entry.compute_hash() != entry.hash:
            intact = False
            break
        prev, expected = entry.hash, expected + 1
    run.checks = {
        "claimed ids repeated (client)": len(repeated),
        "cases with two decisions (db)": twice,
        "decisions == claims": decisions == len(ids),
        "case.claimed audit entries == claims": claimed == len(ids) == distinct,
        "case.decided audit entries == claims": decided == len(ids),
        "closed cases == claims": closed == len(ids),
        "cases left claimed": held,
        "audit chain intact over the run": intact,
    }


def check_bare(conn: psycopg.Connection[Any], run: Run) -> None:
    ids = run.ids
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'closed'), count(*) FILTER (WHERE status = 'claimed') FROM review_case"
    ).fetchone()
    assert row is not None
    run.checks = {
        "claimed ids repeated (client)": sum(1 for n in Counter(ids).values() if n > 1),
        "closed cases == claims": row[0] == len(ids),
        "cases left claimed": row[1],
    }


def passed(run: Run) -> bool:
    c = run.checks
    return (
        not run.errors
        and c.get("claimed ids repeated (client)") == 0
        and c.get("cases with two decisions (db)", 0) == 0
        and c.get("cases left claimed") == 0
        and all(v for k, v in c.items() if isinstance(v, bool))
    )


# --- Pages ------------------------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], *, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        str(VENV_BIN / "gunicorn"),
        "console.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--preload",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Browser:
    """One signed-in staff member: cookies by hand, one connection at a time (sync workers close it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key] = rest.split(";", 1)[0]
            return response.status, text
        finally:
            conn.close()

    def sign_in(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise RuntimeError(f"login page answered {status}")
        status, _ = self.request(
            "POST", "/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
        )
        if status == 302 and self.request("GET", "/login/code/")[0] == 200:
            self._second_factor()
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"sign-in failed ({status})")

    def _second_factor(self) -> None:
        # The current step's code, or the next one's if the current one was spent (codes are good once);
        # if both were (two sign-ins within 30 s), the one after, once its step has come.
        totp = pyotp.TOTP(BENCH_TOTP_SECRET)
        for ahead in (0, 30, 30):
            _, page = self.request("GET", "/login/code/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            if token is None:
                raise RuntimeError("the code step shows no form")
            code = totp.at(time.time() + ahead)
            if self.request("POST", "/login/code/", {"code": code, "csrfmiddlewaretoken": token.group(1)})[0] == 302:
                return
            if ahead:
                time.sleep(30.5 - time.time() % 30)  # into the next step: its next code is unspent
        raise RuntimeError("the code step refused the bench senior's codes")


def wait_until_up(port: int, process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see its log")
        try:
            if Browser(port).request("GET", "/login/")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def page_paths(conn: psycopg.Connection[Any], requests: int, rng: random.Random) -> dict[str, list[str]]:
    lo, hi = conn.execute("SELECT min(id), max(id) FROM review_case").fetchone()  # type: ignore[misc]
    categories = list(CATEGORY_SHARE)
    sources = list(SOURCE_SHARE)
    return {
        "case page (random case)": [f"/cases/{rng.randint(lo, hi)}/" for _ in range(requests)],
        "case list, first page": ["/cases/"] * requests,
        "case list by category": [f"/cases/?category={categories[i % len(categories)]}" for i in range(requests)],
        # The cursor the "Next" link carries; deep: a random point in the million.
        "case list, deep keyset page": [f"/cases/?after={rng.randint(lo + 1000, hi - 1000)}" for _ in range(requests)],
        "case list by source": [f"/cases/?source={sources[i % len(sources)]}" for i in range(requests)],
    }


def run_pages(env: dict[str, str], senior: str, paths: dict[str, list[str]], *, workers: int) -> dict[str, Any]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="docket-bench-claims-")) / "gunicorn.log"
    process = start_gunicorn(env, port=port, workers=workers, log=log)
    try:
        wait_until_up(port, process)
        browser = Browser(port)
        browser.sign_in(senior, BENCH_PASSWORD)
        # The deep pages use the cursor the list's own "Next" link carries.
        _, first = browser.request("GET", "/cases/")
        cursor = re.search(r'href="\?after=(\d+)"', first)
        if cursor is None:
            raise RuntimeError("the case list has no next-page link of the form ?after=<id>")
        found: dict[str, Any] = {}
        for name, urls in paths.items():
            for url in urls[:5]:  # warm both workers' caches and connections
                browser.request("GET", url)
            latencies, bad = [], Counter()
            for url in urls:
                t0 = time.perf_counter()
                status, text = browser.request("GET", url)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    bad[status] += 1
                elif "No cases match" in text:
                    bad["empty list"] += 1
            found[name] = {"latencies": latencies, "bad": dict(bad)}
        return found
    finally:
        stop(process)


# --- Report ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _ms(values: list[float]) -> str:
    return (
        "  ".join(
            f"{name} {percentile(values, q) * 1000:7.2f}" for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        )
        + f"  max {max(values, default=float('nan')) * 1000:7.2f} ms"
    )


def print_run(run: Run) -> None:
    state = "ok" if passed(run) else "FAILED"
    print(
        f"\n{run.label}: {len(run.claim)} claims in {run.seconds:.1f} s = {run.rate:,.0f} claims/s [{state}]"
        f" ({run.background:.2f} cores busy elsewhere just before)"
    )
    print(f"  claim  {_ms(run.claim)}")
    print(f"  close  {_ms(run.close)}")
    if run.cpu:
        print(f"  {run.cpu}")
    for key, value in run.checks.items():
        print(f"  {key}: {value}")
    for error in sorted(set(run.errors))[:5]:
        print(f"  error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a dedicated PostgreSQL database (emptied on load)")
    parser.add_argument("--reload", action="store_true", help="load the million cases again even if they are there")
    parser.add_argument("--claimers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each claim run")
    parser.add_argument("--modes", default="threads,processes", help="threads, processes or both")
    parser.add_argument(
        "--paced",
        default="40",
        help="paced runs: claims/s offered by all claimers together, comma-separated ('' for none)",
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60.0,
        help="before each measurement, wait up to this many seconds for a quiet CPU",
    )
    parser.add_argument("--skip-claims", action="store_true")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")
    info = psycopg.conninfo.conninfo_to_dict(args.database_url)
    if info.get("host", "") not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark talks to 127.0.0.1 only")
    if "bench" not in str(info.get("dbname", "")):
        parser.error("a load empties the review tables: use a database whose name says bench")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    started = time.monotonic()
    env = bench_env(args.database_url)
    ensure_database(args.database_url, env)
    os.environ.update(env)
    import django

    django.setup()

    with psycopg.connect(args.database_url, autocommit=True) as conn:
        if args.reload or not loaded(conn):
            print(f"loading {CASES:,} open cases, their flags and signals …", flush=True)
            timings = load(conn)
            print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), f"= {sum(timings.values()):.0f} s")
        else:
            print(f"re-using the {CASES:,} cases already loaded (--reload to load again)")
        reviewer_ids, senior = ensure_staff(args.claimers)
        queue_id = conn.execute("SELECT id FROM review_queue WHERE slug = %s", (QUEUE_SLUG,)).fetchone()[0]
        waiting = conn.execute(
            "SELECT count(*) FROM review_case WHERE queue_id = %s AND status <> 'closed'", (queue_id,)
        ).fetchone()[0]
        print(
            f"{os.cpu_count()} cores; queue {QUEUE_SLUG!r} holds {waiting:,} of the cases; "
            f"{args.claimers} claimers, {args.seconds:.0f} s per run",
            flush=True,
        )

        runs: list[Run] = []
        if not args.skip_claims:
            for mode in modes:
                reset_cases(conn)
                background = wait_for_quiet(args.wait_idle)
                seq = conn.execute("SELECT coalesce(max(seq), 0) FROM console_audithead").fetchone()[0]
                run = run_claimers(
                    f"Docket claim_next_case + record_decision, {args.claimers} {mode}",
                    docket_loop,
                    [(rid, queue_id, 0.0) for rid in reviewer_ids],
                    seconds=args.seconds,
                    mode=mode,
                    database_url=args.database_url,
                )
                check_docket(conn, run, seq)
                run.background = background
                print_run(run)
                runs.append(run)
            for rate in [float(r) for r in args.paced.split(",") if r.strip()]:
                reset_cases(conn)
                background = wait_for_quiet(args.wait_idle)
                seq = conn.execute("SELECT coalesce(max(seq), 0) FROM console_audithead").fetchone()[0]
                mode = "processes" if "processes" in modes else modes[0]
                paced = run_claimers(
                    f"Docket, paced: {args.claimers} {mode} offering {rate:g} claims/s together",
                    docket_loop,
                    [(rid, queue_id, args.claimers / rate) for rid in reviewer_ids],
                    seconds=args.seconds,
                    mode=mode,
                    database_url=args.database_url,
                )
                check_docket(conn, paced, seq)
                paced.background = background
                print_run(paced)
                runs.append(paced)
        if not args.skip_bare:
            for mode in modes:
                reset_cases(conn)
                background = wait_for_quiet(args.wait_idle)
                run = run_claimers(
                    f"bare psycopg SKIP LOCKED claim + close, {args.claimers} {mode}",
                    bare_loop,
                    [(args.database_url, rid, queue_id) for rid in reviewer_ids],
                    seconds=args.seconds,
                    mode=mode,
                    database_url=args.database_url,
                )
                check_bare(conn, run)
                run.background = background
                print_run(run)
                runs.append(run)
        for mode in modes:
            docket = next((r for r in runs if r.label.startswith("Docket claim") and r.label.endswith(mode)), None)
            bare = next((r for r in runs if r.label.startswith("bare") and r.label.endswith(mode)), None)
            if docket and bare and bare.rate:
                print(
                    f"\nratio Docket/bare, {mode}: claims/s {docket.rate / bare.rate:.2f}; "
                    f"claim p50 {percentile(docket.claim, 0.5) / percentile(bare.claim, 0.5):.1f}x, "
                    f"p99 {percentile(docket.claim, 0.99) / percentile(bare.claim, 0.99):.1f}x slower"
                )

        if not args.skip_pages:
            # Autovacuum would analyze the tables the claim runs changed; do it here.
            conn.execute("ANALYZE review_case, review_decision, console_auditentry")
            paths = page_paths(conn, args.requests, random.Random(7))
            background = wait_for_quiet(args.wait_idle)
            print(
                f"\npages: gunicorn, {args.web_workers} sync workers, DEBUG off; one signed-in senior, "
                f"{args.requests} sequential requests each ({background:.2f} cores busy elsewhere just before)",
                flush=True,
            )
            with CpuMeter(args.database_url) as meter:
                pages = run_pages(env, senior, paths, workers=args.web_workers)
            for name, found in pages.items():
                note = f"  non-200: {found['bad']}" if found["bad"] else ""
                print(f"  {name:30} {_ms(found['latencies'])}{note}")
            print(f"  {meter}")

    print(f"\ntotal {time.monotonic() - started:.0f} s")
    failed = [r.label for r in runs if not passed(r)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
