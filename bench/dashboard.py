#!/usr/bin/env python
"""The dashboard with a year of data, on PostgreSQL.

    .venv/bin/python bench/dashboard.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_dash

Against a dedicated database (created and migrated when missing; refused
unless its name says "bench"; its review, accounts and hourly-count tables are
emptied by a (re)load, so never point this at data you want to keep):

1. load (once; --reload forces it), generated in SQL: a year of traffic from
   one integration: 2,000,000 flags (30 % queued), 600,000 cases of which
   15,000 wait in the queues (a few hundred past their SLA) and the rest were
   decided by 30 reviewers and 5 seniors with their handling times, about
   390,000 violations, 6,000 account actions applied (most since ended),
   12,000 webhook attempts (5 % failed); then VACUUM ANALYZE;
2. the hourly counts: `backfill_hourly_counts --days 366` (timed), then the
   periodic job's run (`refresh_recent`, timed), twice: the second finds
   nothing to change;
3. the dashboard under gunicorn (2 sync workers, DEBUG off, plain HTTP on
   127.0.0.1): each role signs in through the login form and asks for `/`
   --requests times in a row (after 5 warm-up requests); p50/p95/p99/max per
   role, checked for a 200 and the panels that role must see. Twice: as it
   mostly is (the panels drawn from the hourly counts are kept until the next
   count run), and cold (a count run marked just before every request, so
   every panel is drawn again from the counts). /healthz and /metrics (with a
   token) are measured the same way.

The client shares the machine with PostgreSQL and gunicorn; the 1-minute load
average before each measurement is printed so a busy machine shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pyotp
from claims import BENCH_TOTP_SECRET, Browser, start_gunicorn, stop, wait_until_up
from common import bench_env, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BENCH_PASSWORD = "bench-only-password-dash-0123"
METRICS_TOKEN = "bench-only-metrics-token-0123456789"
INTEGRATION = "bench-dashboard"
DAYS = 365
FLAGS = 2_000_000
CASES = 600_000
OPEN_RECENT = 15_000  # waiting, created in the last 36 hours
OPEN_LATE = 300  # waiting for days: past their SLA
ACCOUNTS = 50_000
ACTIONS = 6_000
ATTEMPTS = 12_000
REVIEWERS, SENIORS = 30, 5
ROLES = {
    "reviewer": ("bench-reviewer-1", ['id="queues"', 'id="own"']),
    "senior reviewer": ("bench-senior-1", ['id="flags-in"', 'id="team"', 'id="own"']),
    "policy admin": ("bench-policy", ['id="violations"', 'id="calibration"']),
    "ops": ("bench-ops", ['id="states"', 'id="team"', 'id="calibration"']),
    "auditor": ("bench-auditor", ['id="decisions-out"']),
}
CATEGORY_SHARE = {  # per mille, as in bench/claims.py
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


# --- Database and Django -------------------------------------------------------------------


def ensure_database(database_url: str, env: dict[str, str]) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    if "bench" not in name:
        raise SystemExit(f"refusing {name!r}: the database's name must say 'bench' (its tables are emptied)")
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


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def staff() -> dict[str, list[int]]:
    """The bench's staff users (created once), by role: ids of reviewers and seniors for the decisions."""
    from django.contrib.auth import get_user_model

    from console.models import TotpDevice
    from console.roles import Role
    from console.services import create_staff, enable_totp

    User = get_user_model()
    wanted = [(f"bench-reviewer-{i}", Role.REVIEWER) for i in range(1, REVIEWERS + 1)]
    wanted += [(f"bench-senior-{i}", Role.SENIOR_REVIEWER) for i in range(1, SENIORS + 1)]
    wanted += [("bench-policy", Role.POLICY_ADMIN), ("bench-ops", Role.OPS), ("bench-auditor", Role.AUDITOR)]
    for username, role in wanted:
        if not User.objects.filter(username=username).exists():
            create_staff(actor=None, username=username, password=BENCH_PASSWORD, role=role)
    # The users who sign in enrol an authenticator, as every role but reviewer must; the bench's
    # browser answers the code step (bench/claims.py).
    for username, _must in ROLES.values():
        user = User.objects.get(username=username)
        if not TotpDevice.objects.filter(user=user).exists():
            enable_totp(actor=user, secret=BENCH_TOTP_SECRET, code=pyotp.TOTP(BENCH_TOTP_SECRET).now())
    ids = dict(User.objects.filter(username__startswith="bench-").values_list("username", "pk"))
    return {
        "reviewers": [ids[f"bench-reviewer-{i}"] for i in range(1, REVIEWERS + 1)],
        "seniors": [ids[f"bench-senior-{i}"] for i in range(1, SENIORS + 1)],
    }


# --- Load ------------------------------------------------------------------------------------


def loaded(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT (SELECT count(*) FROM review_flag), (SELECT count(*) FROM review_case)").fetchone()
    return row is not None and tuple(row) == (FLAGS, CASES)


def load(conn: psycopg.Connection[Any], people: dict[str, list[int]]) -> dict[str, float]:
    """Empty the tables the dashboard counts and generate a year in SQL; seconds per step."""
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params: Any = None) -> None:
        started = time.perf_counter()
        conn.execute(sql, params)
        timings[name] = time.perf_counter() - started
        print(f"  {name}: {timings[name]:.1f} s", flush=True)

    conn.execute("SET session_replication_role = replica")  # rows are generated consistent with their keys
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET work_mem = '64MB'")
    conn.execute("BEGIN")
    step(
        "truncate",
        "TRUNCATE console_hourlycount, accounts_webhookattempt, accounts_webhookdelivery, accounts_webhookevent, "
        "accounts_webhookendpoint, accounts_action_evidence, accounts_action_approvals, accounts_appeal, "
        "accounts_action, accounts_violation, accounts_accountrates, accounts_statusdirty, review_signal, "
        "review_flag, review_caseskip, review_decision, review_case, accounts_usageday, accounts_accountnote, "
        "accounts_account RESTART IDENTITY CASCADE",
    )
    conn.execute(
        """INSERT INTO review_integration (name, profile_id, webhook_url, is_active, created_at, retention_days)
           SELECT %s, id, '', true, now(), 365 FROM review_policyprofile WHERE name = 'Default'
           ON CONFLICT (name) DO NOTHING""",
        (INTEGRATION,),
    )
    integration = conn.execute("SELECT id FROM review_integration WHERE name = %s", (INTEGRATION,)).fetchone()[0]
    queues = dict(conn.execute("SELECT slug, id FROM review_queue").fetchall())
    categories = [slug for slug, share in CATEGORY_SHARE.items() for _ in range(share)]
    conn.execute("SELECT setseed(0.17)")
    step(
        "accounts",
        """INSERT INTO accounts_account (id, integration_id, user_hash, first_seen, last_seen, flag_count,
                                         violation_count, state)
           SELECT g, %s, encode(sha256(('bench-dash-' || g)::bytea), 'hex'), now() - interval '400 days', now(),
                  0, 0, 'active'
           FROM generate_series(1, %s) g""",
        (integration, ACCOUNTS),
    )
    # Cases: the last OPEN_RECENT created in the last 36 hours and still waiting, OPEN_LATE waiting for days,
    # the rest over the year and decided 5 minutes to 20 hours after they came in. More traffic by day (UTC).
    step(
        "cases",
        """INSERT INTO review_case (id, queue_id, integration_id, account_id, content_hash, status, priority,
                                    category_id, level, routing, flag_count, created_at, updated_at, closed_at, calibration)
           SELECT g,
                  CASE WHEN c.cat = 'child_safety' THEN %(child)s
                       WHEN c.cat = 'self_harm' THEN %(selfharm)s ELSE %(general)s END,
                  %(integration)s, 1 + floor(random() * %(accounts)s)::int, md5('case-' || g),
                  CASE WHEN g > %(cases)s - %(recent)s OR g %% (%(cases)s / %(late)s) = 0 THEN 'open' ELSE 'closed' END,
                  100 + floor(random() * 300)::int, c.cat, 1 + floor(random() * 3)::int, '{}', 1,
                  t.at, t.at,
                  CASE WHEN g > %(cases)s - %(recent)s OR g %% (%(cases)s / %(late)s) = 0 THEN NULL
                       ELSE t.at + interval '5 minutes' + random() * interval '20 hours' END,
                  false
           FROM generate_series(1, %(cases)s) g
           CROSS JOIN LATERAL (SELECT (%(cats)s::text[])[1 + floor(random() * 1000)::int] AS cat) c
           CROSS JOIN LATERAL (
               SELECT CASE WHEN g > %(cases)s - %(recent)s
                           THEN now() - random() * interval '36 hours'
                           WHEN g %% (%(cases)s / %(late)s) = 0
                           THEN now() - interval '2 days' - random() * interval '5 days'
                           ELSE now() - interval '2 days' - (g::float / %(cases)s) * make_interval(days => %(days)s)
                                + (random() - 0.5) * interval '8 hours' END AS at) t""",
        {
            "child": queues["child-safety"],
            "selfharm": queues["self-harm-violence"],
            "general": queues["general"],
            "integration": integration,
            "accounts": ACCOUNTS,
            "cases": CASES,
            "recent": OPEN_RECENT,
            "late": OPEN_LATE,
            "cats": categories,
            "days": DAYS - 2,
        },
    )
    step(
        "flags",
        """INSERT INTO review_flag (id, integration_id, external_id, account_id, source, prompt, response,
                                    content_hash, result, metadata, language, occurred_at, received_at, max_level,
                                    needs_review, case_id)
           SELECT g, %(integration)s, 'bench-' || g, coalesce(c.account_id, 1 + (g %% %(accounts)s)), 'openai',
                  'a prompt', 'a response', md5('flag-' || g), NULL, '{}', 'en', t.at, t.at + interval '1 second',
                  coalesce(c.level, 0), c.id IS NOT NULL, c.id
           FROM generate_series(1, %(flags)s) g
           LEFT JOIN review_case c ON c.id = g
           CROSS JOIN LATERAL (
               SELECT coalesce(c.created_at, now() - random() * make_interval(days => %(days)s)) AS at) t""",
        {"integration": integration, "accounts": ACCOUNTS, "flags": FLAGS, "days": DAYS},
    )
    step(
        "decisions",
        """INSERT INTO review_decision (id, case_id, reviewer_id, outcome, category_id, severity, note, claimed_at,
                                        decided_at, handling_seconds, bulk)
           SELECT c.id, c.id, d.reviewer,
                  CASE WHEN d.r < 0.65 THEN 'violating' WHEN d.r < 0.98 THEN 'not_violating' ELSE 'escalated' END,
                  CASE WHEN d.r < 0.65 THEN c.category_id END,
                  CASE WHEN d.r < 0.65 THEN 'medium' ELSE '' END, '',
                  c.closed_at - make_interval(secs => d.seconds), c.closed_at, d.seconds, false
           FROM review_case c
           CROSS JOIN LATERAL (
               SELECT random() AS r, (20 + random() * 100 + c.id %% 7)::int AS seconds,
                      (%(people)s::int[])[1 + (c.id %% %(n)s)] AS reviewer) d
           WHERE c.status = 'closed'""",
        {"people": people["reviewers"] + people["seniors"], "n": len(people["reviewers"]) + len(people["seniors"])},
    )
    step(
        "violations",
        """INSERT INTO accounts_violation (account_id, decision_id, case_id, category_id, severity, occurred_at,
                                          confirmed_at)
           SELECT c.account_id, d.id, c.id, d.category_id, d.severity, c.created_at, d.decided_at
           FROM review_decision d JOIN review_case c ON c.id = d.case_id
           WHERE d.outcome = 'violating'""",
    )
    step(
        "actions",
        """INSERT INTO accounts_action (account_id, kind, scope, hours, state, reason, proposed_at, decided_at,
                                       applied_at, ends_at, ended_at)
           SELECT a.account, a.kind, '', a.hours,
                  CASE WHEN a.ended THEN 'expired' ELSE 'applied' END, 'bench',
                  a.at - interval '1 hour', a.at - interval '30 minutes', a.at,
                  a.at + make_interval(hours => a.hours),
                  CASE WHEN a.ended THEN a.at + make_interval(hours => a.hours) END
           FROM (SELECT 1 + (g * 7919) %% %(accounts)s AS account,
                        (ARRAY['warn', 'warn', 'warn', 'restrict', 'restrict', 'suspend'])[1 + g %% 6] AS kind,
                        72 AS hours,
                        now() - (g::float / %(n)s) * make_interval(days => %(days)s) AS at,
                        g > 40 AS ended
                 FROM generate_series(1, %(n)s) g) a""",
        {"accounts": ACCOUNTS, "n": ACTIONS, "days": DAYS},
    )
    step(
        "webhook attempts",
        """WITH endpoint AS (
               INSERT INTO accounts_webhookendpoint (integration_id, url, secret, events, is_active, created_at)
               VALUES (%(integration)s, 'https://example.com/hook', 'secret', '[]', true, now()) RETURNING id),
           event AS (
               INSERT INTO accounts_webhookevent (integration_id, type, payload, created_at)
               VALUES (%(integration)s, 'action.applied', '{}', now()) RETURNING id),
           delivery AS (
               INSERT INTO accounts_webhookdelivery (event_id, endpoint_id, state, attempts, next_attempt_at,
                                                     last_error)
               SELECT event.id, endpoint.id, 'delivered', 1, now(), '' FROM event, endpoint RETURNING id)
           INSERT INTO accounts_webhookattempt (delivery_id, at, status, error, duration_ms)
           SELECT delivery.id, now() - random() * make_interval(days => %(days)s),
                  CASE WHEN g %% 20 = 0 THEN 500 ELSE 200 END, '', 40
           FROM delivery, generate_series(1, %(n)s) g""",
        {"integration": integration, "n": ATTEMPTS, "days": DAYS},
    )
    for table in ("review_case", "review_flag", "review_decision", "accounts_account"):
        conn.execute(
            psycopg.sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), (SELECT max(id) FROM {}))").format(
                psycopg.sql.Literal(table), psycopg.sql.Identifier(table)
            )
        )
    conn.execute("COMMIT")
    conn.execute("SET session_replication_role = origin")
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


# --- Counting and measuring ---------------------------------------------------------------------


def count_hours(*, recount: bool) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from console.aggregates import refresh_recent
    from console.models import HourlyCount

    backfill = None
    if recount or not HourlyCount.objects.exists():
        started = time.perf_counter()
        call_command("backfill_hourly_counts", "--days", str(DAYS + 1))
        backfill = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE console_hourlycount")
    runs = []
    for _ in range(2):
        started = time.perf_counter()
        written = refresh_recent()
        runs.append((time.perf_counter() - started, written))
    return {"backfill_s": backfill, "rows": HourlyCount.objects.count(), "periodic": runs}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(
    browser: Browser,
    path: str,
    requests: int,
    must: list[str],
    headers: dict[str, str] | None = None,
    before: Any = None,
) -> Any:
    for _ in range(5):
        browser.request("GET", path)
    latencies = []
    for _ in range(requests):
        if before is not None:
            before()
        started = time.perf_counter()
        status, text = browser.request("GET", path) if headers is None else request_with(browser, path, headers)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200 or any(marker not in text for marker in must):
            raise RuntimeError(f"{path} answered {status} without {must}")
    return latencies


def request_with(browser: Browser, path: str, headers: dict[str, str]) -> tuple[int, str]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=60)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_idle(limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit and os.getloadavg()[0] >= 1.5:
        time.sleep(5)
    return time.monotonic() - started


def new_count() -> None:
    """What the end of a periodic count run does: a new time, so the drawn panels are stale."""
    from django.utils import timezone

    from console.aggregates import mark_up_to_date

    mark_up_to_date(timezone.now())


def run_pages(env: dict[str, str], requests: int) -> dict[str, list[float]]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="docket-bench-dash-")) / "gunicorn.log"
    process = start_gunicorn(env, port=port, workers=2, log=log)
    found: dict[str, list[float]] = {}
    try:
        wait_until_up(port, process)
        for role, (username, must) in ROLES.items():
            browser = Browser(port)
            browser.sign_in(username, BENCH_PASSWORD)
            print(f"  {role}: load average {os.getloadavg()[0]:.2f}", flush=True)
            found[f"dashboard, {role}"] = measure(browser, "/", requests, must)
            # Cold: a count run just finished before every request, so every panel is drawn afresh.
            found[f"dashboard, {role}, after each count"] = measure(browser, "/", requests, must, before=new_count)
        browser = Browser(port)
        found["/healthz"] = measure(browser, "/healthz", requests, ['"status": "ok"'])
        auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        found["/metrics (token)"] = measure(browser, "/metrics", requests, ["docket_cases_open"], headers=auth)
    finally:
        stop(process)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--reload", action="store_true", help="generate the data again even if it is there")
    parser.add_argument("--recount", action="store_true", help="backfill the hourly counts even if they are there")
    parser.add_argument("--requests", type=int, default=200, help="requests per role (default 200)")
    parser.add_argument(
        "--wait-idle", type=float, default=300, help="wait up to this many seconds for a 1-minute load average < 1.5"
    )
    args = parser.parse_args()
    env = bench_env(args.database_url)
    env["DOCKET_METRICS_TOKEN"] = METRICS_TOKEN
    total = time.perf_counter()
    ensure_database(args.database_url, env)
    setup_django(env)
    people = staff()
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        if args.reload or not loaded(conn):
            print("loading a year of data ...", flush=True)
            timings = load(conn, people)
            print(f"  loaded in {sum(timings.values()):.0f} s", flush=True)
        sizes = conn.execute(
            """SELECT (SELECT count(*) FROM review_flag), (SELECT count(*) FROM review_case),
                      (SELECT count(*) FROM review_case WHERE status <> 'closed'),
                      (SELECT count(*) FROM review_decision), (SELECT count(*) FROM accounts_violation),
                      (SELECT count(*) FROM accounts_action), (SELECT count(*) FROM accounts_webhookattempt)"""
        ).fetchone()
    print(
        "data: {:,} flags, {:,} cases ({:,} unresolved), {:,} decisions, {:,} violations, {:,} actions, "
        "{:,} webhook attempts".format(*sizes)
    )
    print("hourly counts ...", flush=True)
    counted = count_hours(recount=args.recount or args.reload)
    if counted["backfill_s"] is None:
        print(f"  counts kept from an earlier run ({counted['rows']:,} rows; --recount counts again)")
    else:
        print(f"  backfill of {DAYS + 1} days: {counted['backfill_s']:.1f} s, {counted['rows']:,} rows")
    for i, (seconds, written) in enumerate(counted["periodic"], 1):
        print(f"  periodic run {i}: {seconds * 1000:.0f} ms, {written} rows written or deleted")
    waited = wait_idle(args.wait_idle)
    print(
        f"pages ({args.requests} requests each, gunicorn 2 sync workers; waited {waited:.0f} s for a quiet machine, "
        f"load average now {os.getloadavg()[0]:.2f}) ...",
        flush=True,
    )
    results = run_pages(env, args.requests)
    print()
    print("| page | p50 | p95 | p99 | max | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, values in results.items():
        p95 = percentile(values, 95)
        target = ("✔" if p95 < 200 else "✘") if name.startswith("dashboard") else ""
        print(
            f"| {name} | {statistics.median(values):.0f} ms | **{p95:.0f} ms** | {percentile(values, 99):.0f} ms | "
            f"{max(values):.0f} ms | {'p95 < 200 ms ' + target if target else ''} |"
        )
    print(f"\ntotal {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
