"""Does recording a decision cost the same with 10 or 10,000 earlier violations on the account?

    .venv/bin/python bench/decision_cost.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_decisions

Builds two accounts on one integration, one with 10 and one with 10,000
confirmed violations (bulk-inserted), then times `record_decision`
(violating, through the real service, audit entry and window counts
included; the rule evaluation runs afterwards as a task and is timed
separately) on 200 fresh cases of each account, alternating between them.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/docket_bench_decisions")
    parser.add_argument("--decisions", type=int, default=200)
    args = parser.parse_args()
    env = bench_env(args.database_url)
    os.environ.clear()
    os.environ.update(env)
    name = args.database_url.rsplit("/", 1)[-1]
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Account, Violation
    from accounts.tasks import evaluate_account
    from console.roles import Role
    from console.services import create_staff
    from review.models import Case, Category, Decision, Outcome, Queue, Severity
    from review.services import Verdict, record_decision
    from tests.factories import hold, make_case, make_integration

    reviewer = create_staff(
        actor=None, username="bench-reviewer", password="a-long-bench-password-1", role=Role.REVIEWER
    )
    integration = make_integration("Bench")
    hate = Category.objects.get(slug="hate")
    seeds = {n: make_case(integration, user=f"user-{n}", prompt=f"seed {n}") for n in (10, 10_000)}
    queue = Queue.objects.get(slug="general")
    for n, case in seeds.items():
        decision = record_decision(
            actor=reviewer, case=hold(case, reviewer), verdict=Verdict(Outcome.VIOLATING, hate, Severity.LOW)
        )
        # n - 1 more violations, spread over 90 days, bulk-inserted with their decisions.
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO review_decision (case_id, reviewer_id, outcome, category_id, severity, note,
                   claimed_at, decided_at, handling_seconds, bulk)
                   SELECT %s, %s, 'violating', 'hate', 'low', '', %s, %s - (g || ' minutes')::interval, 1, false
                   FROM generate_series(1, %s) g""",
                [case.pk, reviewer.pk, now, now, n - 1],
            )
            cursor.execute(
                """INSERT INTO accounts_violation (account_id, decision_id, case_id, category_id, severity,
                   occurred_at, confirmed_at)
                   SELECT %s, d.id, %s, 'hate', 'low', d.decided_at, d.decided_at
                   FROM review_decision d WHERE d.case_id = %s AND d.id <> %s""",
                [case.account_id, case.pk, case.pk, decision.pk],
            )
        Account.objects.filter(pk=case.account_id).update(violation_count=n)
    connection.cursor().execute("ANALYZE")
    print({n: Violation.objects.filter(account_id=c.account_id).count() for n, c in seeds.items()})

    timings: dict[int, list[float]] = {10: [], 10_000: []}
    rules: dict[int, list[float]] = {10: [], 10_000: []}
    for i in range(args.decisions):
        for n in (10, 10_000):
            case = make_case(integration, user=f"user-{n}", prompt=f"case {i} {n}")
            held = hold(case, reviewer)
            started = time.perf_counter()
            record_decision(actor=reviewer, case=held, verdict=Verdict(Outcome.VIOLATING, hate, Severity.LOW))
            timings[n].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            evaluate_account.call(account_id=case.account_id)
            rules[n].append((time.perf_counter() - started) * 1000)
    del queue, Case, Decision, get_user_model

    def line(label: str, values: list[float]) -> str:
        q = statistics.quantiles(values, n=100)
        return f"{label:<34} mean {statistics.mean(values):6.2f} ms  p50 {q[49]:6.2f}  p95 {q[94]:6.2f}"

    print(f"record_decision (violating), {args.decisions} each, PostgreSQL:")
    for n in (10, 10_000):
        print(line(f"  account with {n:>6} violations", timings[n]))
    print("enforcement rules task afterwards (no rules defined):")
    for n in (10, 10_000):
        print(line(f"  account with {n:>6} violations", rules[n]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
