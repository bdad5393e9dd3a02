#!/usr/bin/env python
"""Exporting 1,000,000 violation rows from PostgreSQL to CSV (and JSON Lines).

    .venv/bin/python bench/export.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench_export

Against a dedicated database (created and migrated when missing; it refuses a
name without `bench`, and a (re)load empties its review and account tables):

1. load: one integration, 20 reviewers, 50,000 accounts, and 1,000,000
   closed cases, each with one flag (two signals), one violating decision and
   its violation, spread over 90 days; 20,000 actions citing one violation
   each. Generated in SQL (INSERT … SELECT … FROM generate_series), then
   VACUUM ANALYZE. Re-used when already there (--reload forces a new load);
2. the export, in a child process, through the product's own path:
   `manage.py export_report violations --format csv --output FILE` (the code
   the exports page, the background task, the API and the mails share). The
   child's wall time, CPU time and peak resident memory (ru_maxrss from
   wait4) are measured from outside; the command reports its own time without
   Python's and Django's start-up. The file is then checked: one header and
   1,000,000 lines, the first row's case and reviewer as in the database;
3. the same as JSON Lines (--formats csv,jsonl is the default).

Each run waits (up to --wait-idle seconds) for the machine to go quiet and
prints how busy the machine was during the export, and the CPU time the
export used on each side: the export process (from wait4) and the PostgreSQL
processes serving it (the backend and its parallel workers, sampled from
/proc), so that runs on a busy machine can still be compared.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from common import bench_env

ROOT = Path(__file__).resolve().parent.parent
VIOLATIONS = 1_000_000
ACCOUNTS = 50_000
REVIEWERS = 20
ACTIONS = 20_000
INTEGRATION = "bench-export"
CATEGORIES = ["harassment", "hate", "fraud_spam", "sexual", "violence", "dangerous", "self_harm", "cyber", "privacy"]
SOURCES = ["openai", "perspective", "gemini", "azure", "llamaguard", "claude", "generic"]
SEVERITIES = ["low", "medium", "high", "critical"]


def ensure_database(database_url: str, env: dict[str, str]) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing {name!r}: the benchmark empties tables, so its database name must say 'bench'")
    admin = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def loaded(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM accounts_violation),
                  (SELECT count(*) FROM review_decision),
                  (SELECT count(*) FROM review_integration WHERE name = %s)""",
        (INTEGRATION,),
    ).fetchone()
    return tuple(row or ()) == (VIOLATIONS, VIOLATIONS, 1)


def load(conn: psycopg.Connection[Any]) -> dict[str, float]:
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params: Any = None) -> None:
        started = time.perf_counter()
        conn.execute(sql, params)
        timings[name] = time.perf_counter() - started

    # Every row is generated consistent with its foreign keys: skip their triggers for this session.
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET work_mem = '64MB'")
    conn.execute("SET maintenance_work_mem = '256MB'")
    conn.execute("BEGIN")
    step("truncate", "TRUNCATE review_signal, review_flag, review_caseskip, review_decision, review_case, "
                     "accounts_account RESTART IDENTITY CASCADE")
    conn.execute(
        """INSERT INTO review_integration (name, profile_id, webhook_url, is_active, created_at, retention_days)
           SELECT %s, id, '', true, now(), 365 FROM review_policyprofile WHERE name = 'Default'
           ON CONFLICT (name) DO NOTHING""",
        (INTEGRATION,),
    )
    integration = conn.execute("SELECT id FROM review_integration WHERE name = %s", (INTEGRATION,)).fetchone()[0]
    queue = conn.execute("SELECT id FROM review_queue WHERE slug = 'general'").fetchone()[0]
    conn.execute(
        """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                  is_active, date_joined)
           SELECT '!', false, 'bench-reviewer-' || g, '', '', '', false, true, now() FROM generate_series(1, %s) g
           ON CONFLICT (username) DO NOTHING""",
        (REVIEWERS,),
    )
    reviewers = [r[0] for r in conn.execute(
        "SELECT id FROM auth_user WHERE username LIKE 'bench-reviewer-%%' ORDER BY id").fetchall()]
    conn.execute("SELECT setseed(0.42)")
    step("accounts", """INSERT INTO accounts_account (id, integration_id, user_hash, first_seen, last_seen,
                                                      flag_count, violation_count, state)
           SELECT g, %s, encode(sha256(('bench-export-account-' || g)::bytea), 'hex'),
                  now() - interval '120 days', now(), 20, 20, 'active'
           FROM generate_series(1, %s) g""", (integration, ACCOUNTS))
    # One draw per violation; the time grows with the id, as decisions do.
    step("draws", """CREATE TEMP TABLE bench_draw AS
           SELECT g AS id,
                  (%(categories)s::text[])[1 + (g::bigint * 7919) %% cardinality(%(categories)s::text[])] AS category,
                  (%(sources)s::text[])[1 + (g::bigint * 104729) %% cardinality(%(sources)s::text[])] AS source,
                  (%(severities)s::text[])[1 + floor(random() * 4)::int] AS severity,
                  (%(reviewers)s::bigint[])[1 + floor(random() * cardinality(%(reviewers)s::bigint[]))::int]
                      AS reviewer_id,
                  1 + floor(random() * %(accounts)s)::int AS account_id,
                  2 + floor(random() * 2)::int AS level,
                  round(random()::numeric, 6)::float8 AS score,
                  now() - interval '90 days' + g * (interval '90 days' / %(n)s) AS decided_at
           FROM generate_series(1, %(n)s) g""",
         {"categories": CATEGORIES, "sources": SOURCES, "severities": SEVERITIES, "reviewers": reviewers,
          "accounts": ACCOUNTS, "n": VIOLATIONS})
    step("cases", """INSERT INTO review_case (id, content_hash, status, priority, level, routing, flag_count,
                                               created_at, updated_at, closed_at, account_id, category_id,
                                               integration_id, queue_id, calibration)
           SELECT id, md5('bench-export-' || id), 'closed', 120, level, '{}', 1, decided_at - interval '1 hour',
                  decided_at, decided_at, account_id, category, %s, %s, false
           FROM bench_draw""", (integration, queue))
    step("flags", """INSERT INTO review_flag (id, integration_id, external_id, account_id, source, prompt, response,
                                               content_hash, result, metadata, language, occurred_at, received_at,
                                               max_level, needs_review, case_id)
           SELECT id, %s, 'bench-export-' || id, account_id, source, 'a prompt', 'a response',
                  md5('bench-export-' || id), NULL, '{}', 'en', decided_at - interval '2 hours',
                  decided_at - interval '2 hours', level, true, id
           FROM bench_draw""", (integration,))
    step("signals", """INSERT INTO review_signal (flag_id, source_label, category_id, score, level, severity,
                                                   threshold, met_threshold)
           SELECT id, source || ':' || category, category, score, level, NULL::smallint, 'medium', true FROM bench_draw
           UNION ALL
           SELECT id, source || ':harassment', 'harassment', score / 3, 1, NULL::smallint, 'low', true FROM bench_draw""")
    step("decisions", """INSERT INTO review_decision (id, case_id, reviewer_id, outcome, category_id, severity, note,
                                                       claimed_at, decided_at, handling_seconds, bulk)
           SELECT id, id, reviewer_id, 'violating', category, severity, '', decided_at - interval '40 seconds',
                  decided_at, 40, false
           FROM bench_draw""")
    # Each violation's copy of its evidence, as record_violation writes it: the flag's two signals, strongest first.
    step("violations", """INSERT INTO accounts_violation (id, account_id, decision_id, case_id, category_id, severity,
                                                           occurred_at, confirmed_at, voided_at, source, signals)
           SELECT id, account_id, id, id, category, severity, decided_at - interval '2 hours', decided_at, NULL, source,
                  concat_ws(' ', category, CASE level WHEN 2 THEN 'medium' ELSE 'high' END,
                            (round(score * 1000) / 1000)::text, '(' || source || ':' || category || ')')
                  || '; ' || concat_ws(' ', 'harassment', 'low', (round(score / 3 * 1000) / 1000)::text,
                                       '(' || source || ':harassment)')
           FROM bench_draw""")
    step("actions", """INSERT INTO accounts_action (id, account_id, kind, scope, hours, state, rule_id, rule_version,
                                                     reason, proposed_by_id, proposed_at, decided_at, applied_at,
                                                     ends_at, ended_at)
           SELECT g, v.account_id, 'warn', '', NULL, 'applied', NULL, NULL, 'bench', %s, v.confirmed_at,
                  v.confirmed_at, v.confirmed_at, NULL, NULL
           FROM generate_series(1, %s) g JOIN accounts_violation v ON v.id = g * 50""", (reviewers[0], ACTIONS))
    step("evidence", """INSERT INTO accounts_action_evidence (action_id, violation_id)
           SELECT g, g * 50 FROM generate_series(1, %s) g""", (ACTIONS,))
    for table in ("accounts_account", "review_case", "review_flag", "review_signal", "review_decision",
                  "accounts_violation", "accounts_action", "accounts_action_evidence"):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.execute("COMMIT")
    conn.execute("SET session_replication_role = origin")
    step("vacuum analyze", "VACUUM ANALYZE")
    return timings


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def wait_idle(limit: float) -> float:
    """Wait until the machine's load is under half a core for 3 s (or `limit` s pass); return that load."""
    deadline = time.monotonic() + limit
    while True:
        busy0, total0 = cpu_times()
        time.sleep(3)
        busy1, total1 = cpu_times()
        cores = os.cpu_count() or 1
        load = cores * (busy1 - busy0) / max(total1 - total0, 1)
        if load < 0.5 or time.monotonic() > deadline:
            return load


class BackendCpu(threading.Thread):
    """CPU seconds used by the PostgreSQL processes serving the bench database while the export runs.

    Polls /proc: the backends' titles name the database, their parallel
    workers name the leader's pid. A worker that starts and ends between two
    polls is missed, so this is a floor.
    """

    def __init__(self, database: str, exclude: set[int]) -> None:
        super().__init__(daemon=True)
        self.database, self.exclude = database, exclude
        self.seen: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seconds
        self.stop = threading.Event()

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _ours(self) -> list[int]:
        leaders, workers = [], []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in self.exclude:
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and f" {self.database} " in title:
                leaders.append(int(entry.name))
            elif "parallel worker for PID" in title:
                workers.append((int(entry.name), int(title.split()[-1])))
        return leaders + [pid for pid, leader in workers if leader in leaders or leader in self.seen]

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self._ours():
                cpu = self._cpu(pid)
                if cpu is not None:
                    first = self.seen.get(pid, (cpu, cpu))[0]
                    self.seen[pid] = (first, cpu)
            self.stop.wait(0.2)

    @property
    def seconds(self) -> float:
        return sum(last - first for first, last in self.seen.values())


def export(env: dict[str, str], fmt: str, out: Path, database: str, exclude: set[int]) -> dict[str, Any]:
    command = [sys.executable, "manage.py", "export_report", "violations", "--format", fmt, "--output", str(out)]
    busy0, total0 = cpu_times()
    backend = BackendCpu(database, exclude)
    backend.start()
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    backend.stop.set()
    backend.join()
    busy1, total1 = cpu_times()
    stderr = child.stderr.read() if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"export_report failed ({child.returncode}):\n{stderr}")
    said = re.search(r"Wrote ([\d,]+) rows .* in ([\d.]+) s", stderr)
    assert said, stderr
    rows, inside = int(said.group(1).replace(",", "")), float(said.group(2))
    cores = os.cpu_count() or 1
    machine = cores * (busy1 - busy0) / max(total1 - total0, 1)
    child_cpu = usage.ru_utime + usage.ru_stime
    return {
        "format": fmt, "rows": rows, "wall_s": wall, "command_s": inside, "rows_per_s_wall": rows / wall,
        "rows_per_s_command": rows / inside, "peak_rss_mb": usage.ru_maxrss / 1024, "child_cpu_s": child_cpu,
        "database_cpu_s": backend.seconds, "machine_cores_busy": machine, "bytes": out.stat().st_size,
    }


def check_file(conn: psycopg.Connection[Any], fmt: str, path: Path) -> str:
    """Count the file's rows without loading it, and compare its first row with the database."""
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            reader = csv.DictReader(handle)
            first = next(reader)
            rows = 1 + sum(1 for _ in reader)
        else:
            first = json.loads(handle.readline())
            rows = 1 + sum(1 for _ in handle)
    expected = conn.execute(
        """SELECT v.case_id, u.username, a.user_hash, v.category_id, v.severity, v.source, v.signals
           FROM accounts_violation v JOIN review_decision d ON d.id = v.decision_id
           JOIN auth_user u ON u.id = d.reviewer_id JOIN accounts_account a ON a.id = v.account_id
           ORDER BY v.confirmed_at, v.id LIMIT 1"""
    ).fetchone()
    got = (int(first["case"]), first["reviewer"], first["account"], first["category"], first["severity"],
           first["source"], first["signals"])
    assert rows == VIOLATIONS, f"{path} has {rows} rows, not {VIOLATIONS}"
    assert got == tuple(expected), f"first row {got} differs from the database's {expected}"
    return f"{rows:,} rows; first row matches the database (case {got[0]}, reviewer {got[1]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--reload", action="store_true", help="generate the data again even if it is there")
    parser.add_argument("--formats", default="csv,jsonl")
    parser.add_argument("--runs", type=int, default=2, help="exports per format; the best is reported too")
    parser.add_argument("--wait-idle", type=float, default=60.0)
    args = parser.parse_args()

    env = bench_env(args.database_url)
    env["DOCKET_EXPORT_DIR"] = tempfile.mkdtemp(prefix="docket-bench-export-")
    ensure_database(args.database_url, env)
    database = urlsplit(args.database_url).path.lstrip("/")
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        own_backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        if args.reload or not loaded(conn):
            print(f"loading {VIOLATIONS:,} violations …", flush=True)
            timings = load(conn)
            print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), flush=True)
        else:
            print(f"re-using the {VIOLATIONS:,} violations already loaded", flush=True)
        results = []
        with tempfile.TemporaryDirectory(prefix="docket-bench-export-") as tmp:
            for fmt in args.formats.split(","):
                for run in range(1, args.runs + 1):
                    before = wait_idle(args.wait_idle)
                    out = Path(tmp) / f"violations-{run}.{fmt}"
                    result = export(env, fmt, out, database, {own_backend})
                    result["load_before"] = before
                    result["check"] = check_file(conn, fmt, out)
                    out.unlink()
                    results.append(result)
                    print(
                        f"{fmt} run {run}: {result['rows']:,} rows in {result['wall_s']:.2f} s wall "
                        f"({result['rows_per_s_wall']:,.0f} rows/s; inside the command {result['command_s']:.2f} s, "
                        f"{result['rows_per_s_command']:,.0f} rows/s), peak RSS {result['peak_rss_mb']:.0f} MB, "
                        f"CPU: export process {result['child_cpu_s']:.2f} s, database {result['database_cpu_s']:.2f} s; "
                        f"file {result['bytes'] / 1e6:.0f} MB, "
                        f"machine busy {result['machine_cores_busy']:.2f} of {os.cpu_count()} cores "
                        f"(before: {before:.2f}); {result['check']}",
                        flush=True,
                    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
