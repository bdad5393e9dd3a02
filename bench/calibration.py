"""Calibration numbers, the what-if and a retention run on a PostgreSQL database with a million flags.

    .venv/bin/python bench/calibration.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_calibration

Drops and creates the database (its name must say `bench` or `calib`), migrates
it, and fills it server-side with generate_series: --flags flags over 60 days
on two integrations (the Default profile), 400-character prompts and
responses, three signals per flag (categories and levels spread evenly,
sources mixed), a case for one flag in ten, decided (40 % violating, handling
times of 5 to 600 s) for nine in ten of those, and one in a hundred of those
cases marked as calibration samples. Then it times (median and slowest of
--repeat runs where it says so):

1. calibration_rows over the last 30 days before any day is rolled up (once);
2. roll_up_calibration_days over the 60 days;
3. calibration_rows over the last 30 days, every integration, then one profile;
4. what_if for one category over the last 30 days;
5. one apply_retention run with a 30-day retention (its cap of 50,000 flags),
   after the plan of one batch's selection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import bench_env

ROOT = Path(__file__).resolve().parents[1]

SOURCES = ["openai", "perspective", "gemini", "azure", "llamaguard", "claude", "generic"]
CATEGORIES = ["hate", "harassment", "sexual", "violence", "self_harm", "dangerous", "cyber", "fraud_spam",
              "elections", "privacy", "medical", "other"]

FILL = """
INSERT INTO accounts_account (integration_id, user_hash, first_seen, last_seen, flag_count, violation_count, state)
SELECT 1 + g %% 2, md5('user' || g) || md5('u' || g), now() - interval '60 days', now(), 0, 0, 'active'
FROM generate_series(1, 2000) g;

-- One case for every tenth flag (ids 1, 2, ... in a fresh database), nine in ten of them closed.
INSERT INTO review_case (queue_id, integration_id, account_id, content_hash, status, priority, category_id, level,
                         routing, flag_count, calibration, created_at, updated_at, closed_at)
SELECT %(queue)s, 1 + (g * 10) %% 2, 1 + (g * 10) %% 2000, md5('c' || g * 10) || md5('h' || g * 10),
       CASE WHEN g %% 10 < 9 THEN 'closed' ELSE 'open' END, 100, 'violence', 2, '{}'::jsonb, 1, g %% 100 = 0,
       now() - ((g * 10 * 5) %% 5184000) * interval '1 second',
       now() - ((g * 10 * 5) %% 5184000) * interval '1 second' + interval '1 hour',
       CASE WHEN g %% 10 < 9 THEN now() - ((g * 10 * 5) %% 5184000) * interval '1 second' + interval '1 hour' END
FROM generate_series(1, %(flags)s / 10) g ORDER BY g;

INSERT INTO review_flag (integration_id, external_id, account_id, source, prompt, response, content_hash, result,
                         metadata, language, occurred_at, received_at, max_level, needs_review, case_id)
SELECT 1 + g %% 2, 'req-' || g, 1 + g %% 2000, (%(sources)s::text[])[1 + g %% 7],
       repeat('p', 400), repeat('r', 400), md5('c' || g) || md5('h' || g), NULL, '{}'::jsonb, '',
       now() - ((g * 5) %% 5184000) * interval '1 second', now() - ((g * 5) %% 5184000) * interval '1 second',
       0, g %% 10 = 0, CASE WHEN g %% 10 = 0 THEN g / 10 END
FROM generate_series(1, %(flags)s) g;

INSERT INTO review_signal (flag_id, source_label, category_id, score, level, severity, threshold, met_threshold)
SELECT f.id, 'label', (%(categories)s::text[])[1 + (f.id * 7 + k * 5) %% 12], 0.5,
       (f.id / 3 + k) %% 4, NULL, 'medium', false
FROM review_flag f CROSS JOIN generate_series(0, 2) k;

INSERT INTO review_decision (case_id, reviewer_id, outcome, category_id, severity, note, claimed_at, decided_at,
                             handling_seconds, bulk)
SELECT c.id, %(reviewer)s, CASE WHEN c.id %% 5 < 2 THEN 'violating' ELSE 'not_violating' END,
       CASE WHEN c.id %% 5 < 2 THEN (%(categories)s::text[])[1 + c.id %% 12] END,
       CASE WHEN c.id %% 5 < 2 THEN 'medium' ELSE '' END, '', c.closed_at, c.closed_at,
       5 + (c.id * 37) %% 596, false
FROM review_case c WHERE c.status = 'closed';
"""


def _time(label: str, repeat: int, run) -> None:  # type: ignore[no-untyped-def]
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    print(f"{label}: median {statistics.median(times) * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms"
          f" ({repeat} runs){'; ' + result if isinstance(result, str) else ''}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/docket_bench_calibration")
    parser.add_argument("--flags", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    name = args.database_url.rsplit("/", 1)[-1]
    if "bench" not in name and "calib" not in name:
        print(f"Refusing to drop {name}: its name must say bench or calib.", file=sys.stderr)
        return 2
    env = bench_env(args.database_url)
    os.environ.clear()
    os.environ.update(env)
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from console.roles import Role
    from console.services import create_staff
    from review.calibration import Period, calibration_rows, what_if
    from review.models import Flag, Integration, PolicyProfile, Queue
    from review.services.calibration import roll_up_calibration_days
    from review.services.retention import apply_retention as run_retention
    from review.services.retention import removable, set_retention_days
    from tests.factories import make_integration

    reviewer = create_staff(actor=None, username="bench-reviewer", password="a-long-bench-password-1",
                            role=Role.REVIEWER)
    first, second = make_integration("Bench A"), make_integration("Bench B")
    assert (first.pk, second.pk) == (1, 2), "a fresh database numbers the integrations from 1"
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL, {"flags": args.flags, "sources": SOURCES, "categories": CATEGORIES,
                              "queue": Queue.objects.get(slug="general").pk, "reviewer": reviewer.pk})
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM review_signal")
        signals = cursor.fetchone()[0]
    print(f"filled {args.flags:,} flags, {signals:,} signals in {time.perf_counter() - start:.0f} s", flush=True)

    month = Period.last_days(30)
    default = PolicyProfile.objects.get(name="Default")
    _time("calibration_rows, 30 days, everything, nothing rolled up yet", 1,
          lambda: f"{len(calibration_rows(month))} rows")
    start = time.perf_counter()
    days = roll_up_calibration_days(max_days=400)
    print(f"roll_up_calibration_days: {len(days)} days in {time.perf_counter() - start:.1f} s", flush=True)
    _time("calibration_rows, 30 days, everything", args.repeat,
          lambda: f"{len(calibration_rows(month))} rows")
    _time("calibration_rows, 30 days, one profile", args.repeat,
          lambda: f"{len(calibration_rows(month, profile_id=default.pk))} rows")
    _time("what_if violence low, 30 days", args.repeat,
          lambda: f"{what_if(default, 'violence', 'low').review_per_day:,.0f} flags a day")

    for integration in Integration.objects.all():
        set_retention_days(actor=None, integration=integration, days=30, reason="bench")
    integration = Integration.objects.get(pk=1)
    chosen = removable(integration, now=month.until).order_by("received_at").values("pk")[:2000]
    update = Flag.objects.filter(pk__in=chosen)
    sql, params = update.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        print("plan of one batch's selection:\n  " + "\n  ".join(r[0] for r in cursor.fetchall()), flush=True)
    start = time.perf_counter()
    run = run_retention()
    elapsed = time.perf_counter() - start
    print(f"apply_retention: {run.total:,} flags in {elapsed:.1f} s ({run.total / elapsed:,.0f} flags/s), "
          f"complete={run.complete}", flush=True)
    start = time.perf_counter()
    again = run_retention(max_flags=2000)
    print(f"a second run's first batch of 2,000: {again.total:,} flags in {time.perf_counter() - start:.2f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
