#!/usr/bin/env python
"""Ingestion benchmark: POST /api/v1/flags under gunicorn against PostgreSQL.

    .venv/bin/python bench/ingest.py --database-url postgres://postgres@127.0.0.1:5432/docket_bench

Runs three measurements against a dedicated database (its flag, signal,
case and account tables are TRUNCATEd first, so never point this at data
you want to keep):

1. batch throughput: batches of 500 realistic flags, closed loop from a few
   client threads, for --batch-seconds; flags stored per second;
2. single-flag latency: one flag per request at a fixed --rate, open loop:
   each send has a scheduled time and latency counts from that time, so a
   stalled server shows up as latency instead of as fewer requests sent;
3. COPY baseline: the rows stored by (1), flags and their signals, read back,
   the tables emptied, and the rows loaded again with psycopg's COPY FROM
   STDIN into the same tables (same indexes, same constraints).

gunicorn serves console.wsgi with DEBUG off and bench-only secrets, 3 sync
workers unless --config says otherwise (sync:N or gthread:NxT; repeat it to
compare several, each on a fresh gunicorn). One configuration takes about
80 seconds. --wait-idle N waits up to N seconds for the machine to be quiet
first; --recreate drops and creates the database (for migrations edited in
place); docs/benchmarks.md has the figures and what they mean.

The load generator is threads with http.client in this process, on the
same 2 cores as gunicorn and PostgreSQL: it takes its share of the CPU,
and the CPU lines printed say how much (client, gunicorn, the bench
database's backends, and everything else on the machine). Traffic goes only
to 127.0.0.1, gunicorn is stopped on the way out, and nothing is written
anywhere but the bench database and a temporary log directory.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from common import bench_env, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BATCH_SIZE = 500
QUIET = 0.25  # busy cores below which the machine counts as otherwise idle
MAX_LAG = 10.0  # seconds behind schedule after which the single-flag load gives up on a send
RESET_TABLES = ["review_signal", "review_flag", "review_case", "accounts_account"]


# --- Realistic payloads -----------------------------------------------------------------

WORDS = (  # noqa: SIM905 - a sentence is easier to read than a list of 90 strings
    "the a model user asked about how to make write explain summarise code story email letter recipe "
    "history game character weapon chemistry homework contract medicine dose neighbour friend boss "
    "election vote candidate password account bank transfer crypto loan refund hate angry kill hurt "
    "threat attack joke insult stupid idiot private address phone number school child teacher doctor "
    "pills diet exercise drug police border protest speech religion group people country city night "
    "please can you tell me why what when where would should could never always again today tomorrow"
).split()

SOURCES = ["openai", "perspective", "gemini", "azure", "llamaguard", "claude", "generic"]
SOURCE_WEIGHTS = [30, 15, 15, 15, 10, 10, 5]
OPENAI_LABELS = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]
PERSPECTIVE_ATTRS = ["TOXICITY", "SEVERE_TOXICITY", "INSULT", "PROFANITY", "IDENTITY_ATTACK", "THREAT"]
GEMINI_CATEGORIES = [
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
]
AZURE_CATEGORIES = ["Hate", "SelfHarm", "Sexual", "Violence"]
LLAMAGUARD_CODES = ["S1", "S2", "S9", "S10", "S11", "S12"]
CLAUDE_CATEGORIES = ["Hate", "Violent Crimes", "Self-Harm", "Harassment", "Privacy", "Weapons"]
GENERIC_CATEGORIES = ["violence", "hate", "spam", "jailbreak", "pii"]


def _text(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    length = 0
    while length < target:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words).capitalize() + "."


def _result(rng: random.Random, source: str, hot: bool) -> Any:
    """A native result; `hot` ones meet the Default profile's threshold, the others do not."""
    if source == "openai":
        scores = {label: round(rng.uniform(0.0001, 0.12), 6) for label in OPENAI_LABELS}
        if hot:
            scores[rng.choice(OPENAI_LABELS)] = round(rng.uniform(0.55, 0.99), 6)
        flagged = hot
        return {
            "id": f"modr-{rng.getrandbits(48):012x}",
            "model": "omni-moderation-latest",
            "results": [
                {
                    "flagged": flagged,
                    "categories": {label: score >= 0.5 for label, score in scores.items()},
                    "category_scores": scores,
                }
            ],
        }
    if source == "perspective":
        values = {attr: rng.uniform(0.01, 0.3) for attr in PERSPECTIVE_ATTRS}
        if hot:
            values[rng.choice(PERSPECTIVE_ATTRS)] = rng.uniform(0.75, 0.99)
        return {
            "attributeScores": {
                attr: {"summaryScore": {"value": round(v, 5), "type": "PROBABILITY"}} for attr, v in values.items()
            },
            "languages": ["en"],
        }
    if source == "gemini":
        ratings = {c: "NEGLIGIBLE" for c in GEMINI_CATEGORIES}
        if hot:
            ratings[rng.choice(GEMINI_CATEGORIES)] = rng.choice(["MEDIUM", "HIGH"])
        return {
            "candidates": [
                {
                    "finishReason": "STOP",
                    "safetyRatings": [{"category": c, "probability": p} for c, p in ratings.items()],
                }
            ],
            "promptFeedback": {"safetyRatings": [{"category": c, "probability": "NEGLIGIBLE"} for c in ratings]},
        }
    if source == "azure":
        severities = dict.fromkeys(AZURE_CATEGORIES, 0)
        if hot:
            severities[rng.choice(AZURE_CATEGORIES)] = rng.choice([4, 6])
        return {
            "blocklistsMatch": [],
            "categoriesAnalysis": [{"category": c, "severity": s} for c, s in severities.items()],
        }
    if source == "llamaguard":
        return f"unsafe\n{rng.choice(LLAMAGUARD_CODES)}" if hot else "safe"
    if source == "claude":
        if hot:
            return {
                "risk_level": rng.choice([2, 3]),
                "categories": [rng.choice(CLAUDE_CATEGORIES)],
                "explanation": "The request asks for content the policy does not allow.",
            }
        return {"violation": False, "categories": [], "explanation": "Nothing in the exchange breaks the policy."}
    signals = [{"category": rng.choice(GENERIC_CATEGORIES), "score": round(rng.uniform(0.0, 0.3), 4)}]
    if hot:
        signals.append({"category": rng.choice(GENERIC_CATEGORIES[:2]), "level": "high"})
    return {"signals": signals}


class Payloads:
    """Flag objects whose `id` is a placeholder, serialised once, made unique by a byte replace per send."""

    ID_MARK = "@@ID@@"

    def __init__(self, *, seed: int, users: int, texts: int, review_share: float) -> None:
        self.rng = random.Random(seed)
        self.users = [f"user-{self.rng.getrandbits(40):010x}" for _ in range(users)]
        self.texts = [(_text(self.rng, 150, 600), _text(self.rng, 80, 400)) for _ in range(texts)]
        self.review_share = review_share
        self.now = datetime.now(UTC)

    def flag(self, flag_id: str) -> dict[str, Any]:
        rng = self.rng
        source = rng.choices(SOURCES, SOURCE_WEIGHTS)[0]
        prompt, response = rng.choice(self.texts)
        occurred = self.now - timedelta(seconds=rng.uniform(0, 3600))
        return {
            "id": flag_id,
            "user": rng.choice(self.users),
            "prompt": prompt,
            "response": response,
            "source": source,
            "result": _result(rng, source, rng.random() < self.review_share),
            "occurred_at": occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "language": rng.choices(["en", "en-GB", "pt-BR", "de", "fr"], [60, 10, 10, 10, 10])[0],
            "metadata": {
                "model": rng.choice(["chat-large", "chat-small"]),
                "endpoint": "/v1/chat/completions",
                "region": rng.choice(["eu-west", "us-east"]),
            },
        }

    def batch_template(self) -> bytes:
        flags = [self.flag(f"{self.ID_MARK}-{i:03d}") for i in range(BATCH_SIZE)]
        return json.dumps({"flags": flags}, separators=(",", ":")).encode()

    def single_template(self) -> bytes:
        return json.dumps(self.flag(self.ID_MARK), separators=(",", ":")).encode()


# --- CPU accounting ---------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _machine_busy() -> tuple[float, float]:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts) - idle) / CLK_TCK, sum(parts) / CLK_TCK


class CpuMeter(threading.Thread):
    """CPU seconds used by gunicorn (master and workers) and by the bench database's backends.

    Polls /proc twice a second, so a process that starts or ends during a
    phase (a worker, a database connection) counts all but its last half
    second. The load generator measures itself with getrusage.
    """

    def __init__(self, gunicorn_pid: int, dbname: str) -> None:
        super().__init__(daemon=True)
        self.gunicorn_pid = gunicorn_pid
        self.backend_tag = f" {dbname} "
        self.last: dict[int, float] = {}
        self.used = {"gunicorn": 0.0, "postgres": 0.0}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.poll(first=True)

    def _pids(self) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if pid == self.gunicorn_pid or _parent(pid) == self.gunicorn_pid:
                    found.append((pid, "gunicorn"))
                    continue
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"postgres:") and self.backend_tag.encode() in command:
                found.append((pid, "postgres"))
        return found

    def poll(self, *, first: bool = False) -> None:
        with self.lock:
            for pid, group in self._pids():
                now = _proc_cpu(pid)
                # A process first seen after the start was born since the last poll: all its CPU is new.
                before = self.last.get(pid, now if first else 0.0)
                self.used[group] += max(now - before, 0.0)
                self.last[pid] = now

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.poll()

    def sample(self) -> dict[str, float]:
        self.poll()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        busy, _ = _machine_busy()
        with self.lock:
            return {"client": usage.ru_utime + usage.ru_stime, **self.used, "machine": busy}

    @staticmethod
    def share(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
        """Cores used on average over `seconds`: by each party, and by the whole machine."""
        used = {name: (after[name] - before[name]) / seconds for name in before}
        used["others"] = max(used["machine"] - used["client"] - used["gunicorn"] - used["postgres"], 0.0)
        return used


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


# --- Setup ---------------------------------------------------------------------------------


SETUP_SCRIPT = """
import django
django.setup()
from review.models import Integration, PolicyProfile, Scope
from review.services import create_api_key, create_integration
integration = Integration.objects.filter(name="bench").first() or create_integration(
    actor=None, name="bench", profile=PolicyProfile.objects.get(name="Default"))
print(integration.pk, create_api_key(actor=None, integration=integration, name="bench",
                                     scopes=[Scope.FLAGS_WRITE, Scope.FLAGS_READ], rate_per_minute=10**9).secret)
"""


def recreate_database(database_url: str) -> None:
    """DROP and CREATE the bench database, for when migrations were edited in place."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = info["dbname"]
    with psycopg.connect(psycopg.conninfo.make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))


def prepare_database(database_url: str, env: dict[str, str]) -> tuple[int, str]:
    manage = [str(VENV_BIN / "python"), str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(RESET_TABLES)} RESTART IDENTITY CASCADE")
        conn.execute(f"VACUUM ANALYZE {', '.join(RESET_TABLES)}")
    out = subprocess.run(
        [str(VENV_BIN / "python"), "-c", SETUP_SCRIPT],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "console.settings"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), out[1]


def start_gunicorn(
    env: dict[str, str], *, app: str, port: int, workers: int, worker_class: str, threads: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        str(VENV_BIN / "gunicorn"),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--preload",
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_until_up(port: int, secret: str, process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see its log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/flags/none", headers={"Authorization": f"Bearer {secret}"})
            if conn.getresponse().status == 404:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time; see its log")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Load -------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; reconnects when the server closes it (sync workers always do)."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("POST", "/api/v1/flags", body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed between requests: retry once on a new one.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@dataclass
class BatchResult:
    seconds: float
    batches: int
    created: int
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def run_batches(
    port: int, secret: str, templates: list[bytes], *, clients: int, seconds: float, prefix: str
) -> BatchResult:
    counter = itertools.count()
    lock = threading.Lock()
    result = BatchResult(0.0, 0, 0)
    start = time.monotonic()
    deadline = start + seconds

    def loop() -> None:
        client = Client(port, secret)
        while time.monotonic() < deadline:
            n = next(counter)
            body = templates[n % len(templates)].replace(Payloads.ID_MARK.encode(), f"{prefix}{n:06d}".encode())
            sent = time.monotonic()
            status, data = client.post(body)
            took = time.monotonic() - sent
            answer = json.loads(data) if status in (200, 422) else {}
            with lock:
                result.batches += 1
                result.latencies.append(took)
                result.created += answer.get("created", 0)
                if status != 200 or answer.get("created") != BATCH_SIZE:
                    result.errors.append(f"{status} {data[:200]!r}")

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - start
    return result


@dataclass
class SingleResult:
    sent: int
    seconds: float
    latencies: list[float]
    errors: list[str]


def run_singles(
    port: int, secret: str, templates: list[bytes], *, rate: float, seconds: float, clients: int, prefix: str
) -> SingleResult:
    """Open loop: send i is due at start + i/rate; its latency runs from then to the last byte of the answer."""
    total = int(rate * seconds)
    latencies: list[float] = [0.0] * total
    errors: list[str] = []
    start = time.monotonic() + 0.2

    def loop(k: int) -> None:
        client = Client(port, secret)
        for i in range(k, total, clients):
            due = start + i / rate
            body = templates[i % len(templates)].replace(Payloads.ID_MARK.encode(), f"{prefix}{i:06d}".encode())
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            elif -pause > MAX_LAG:
                # Hopelessly behind: count it as never answered and keep the run bounded.
                latencies[i] = math.inf
                continue
            status, data = client.post(body)
            latencies[i] = time.monotonic() - due
            if status != 201:
                errors.append(f"{status} {data[:200]!r}")

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return SingleResult(total, time.monotonic() - start, latencies, errors)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- COPY baseline --------------------------------------------------------------------------------

FLAG_COLUMNS = [
    "id",
    "integration_id",
    "external_id",
    "account_id",
    "source",
    "prompt",
    "response",
    "content_hash",
    "result",
    "metadata",
    "language",
    "occurred_at",
    "received_at",
    "max_level",
    "needs_review",
    "case_id",
    "text_removed_at",
]
SIGNAL_COLUMNS = [
    "id",
    "flag_id",
    "source_label",
    "category_id",
    "score",
    "level",
    "severity",
    "threshold",
    "met_threshold",
]


@dataclass
class CopyResult:
    flags: int
    signals: int
    seconds: float


def copy_baseline(database_url: str, *, prefix: str) -> CopyResult:
    """Read back the rows the API stored, empty the two tables, load the same rows with COPY, in one transaction."""
    with psycopg.connect(database_url) as conn:
        select_flags = ", ".join(f"{c}::text" if c in ("result", "metadata") else c for c in FLAG_COLUMNS)
        flags = conn.execute(
            f"SELECT {select_flags} FROM review_flag WHERE external_id LIKE %s ORDER BY id", [f"{prefix}%"]
        ).fetchall()
        signals = conn.execute(
            f"SELECT {', '.join('s.' + c for c in SIGNAL_COLUMNS)} FROM review_signal s "
            "JOIN review_flag f ON f.id = s.flag_id WHERE f.external_id LIKE %s ORDER BY s.id",
            [f"{prefix}%"],
        ).fetchall()
        conn.execute("TRUNCATE review_signal, review_flag")
        conn.commit()
        start = time.monotonic()
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY review_flag ({', '.join(FLAG_COLUMNS)}) FROM STDIN") as copy:
                for row in flags:
                    copy.write_row(row)
            with cursor.copy(f"COPY review_signal ({', '.join(SIGNAL_COLUMNS)}) FROM STDIN") as copy:
                for row in signals:
                    copy.write_row(row)
        conn.commit()
        return CopyResult(len(flags), len(signals), time.monotonic() - start)


# --- Main ---------------------------------------------------------------------------------------------------------


@dataclass
class Config:
    worker_class: str
    workers: int
    threads: int

    @classmethod
    def parse(cls, text: str) -> Config:
        """sync:3 or gthread:2x4 (workers x threads)."""
        worker_class, _, size = text.partition(":")
        workers, _, threads = size.partition("x")
        if worker_class not in ("sync", "gthread") or not workers.isdigit() or (threads and not threads.isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r}: expected sync:N or gthread:NxT")
        return cls(worker_class, int(workers), int(threads or 1))

    def __str__(self) -> str:
        return f"{self.worker_class}:{self.workers}" + (f"x{self.threads}" if self.worker_class == "gthread" else "")


def measure(
    args: argparse.Namespace,
    config: Config,
    env: dict[str, str],
    secret: str,
    dbname: str,
    batch_templates: list[bytes],
    single_templates: list[bytes],
    run: str,
) -> dict[str, Any]:
    """Start gunicorn with `config`, run the batch and single-flag loads, stop it."""
    if len(args.config) > 1:
        print(f"[{config}] {wait_for_quiet(args.wait_idle):.2f} cores busy before it", flush=True)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="docket-bench-")) / "gunicorn.log"
    process = start_gunicorn(
        env,
        app=args.app,
        port=port,
        workers=config.workers,
        worker_class=config.worker_class,
        threads=config.threads,
        log=log,
    )
    found: dict[str, Any] = {"config": str(config)}
    meter: CpuMeter | None = None
    try:
        try:
            wait_until_up(port, secret, process)
        except RuntimeError:
            print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
            raise
        meter = CpuMeter(process.pid, dbname)
        meter.start()
        print(f"[{config}] gunicorn on 127.0.0.1:{port}, log {log}", flush=True)
        senders = args.batch_clients or config.workers * config.threads + 1
        # Warm every worker up: imports, the first connection, the first policy load.
        run_batches(port, secret, batch_templates, clients=senders, seconds=2.0, prefix=f"w{run}-")
        if "batches" not in args.skip:
            before = meter.sample()
            batch = run_batches(
                port, secret, batch_templates, clients=senders, seconds=args.batch_seconds, prefix=f"b{run}-"
            )
            cpu = meter.share(before, meter.sample(), batch.seconds)
            found["batch"] = batch
            found["batch_rate"] = batch.created / batch.seconds
            found["batch_cpu"] = cpu
            found["batch_senders"] = senders
            found["batch_prefix"] = f"b{run}-"
        if "singles" not in args.skip:
            run_singles(
                port,
                secret,
                single_templates,
                rate=args.rate,
                seconds=1.0,
                clients=args.single_clients,
                prefix=f"v{run}-",
            )
            before = meter.sample()
            single = run_singles(
                port,
                secret,
                single_templates,
                rate=args.rate,
                seconds=args.single_seconds,
                clients=args.single_clients,
                prefix=f"s{run}-",
            )
            found["single"] = single
            found["single_cpu"] = meter.share(before, meter.sample(), single.seconds)
    finally:
        if meter is not None:
            meter.done.set()
        stop(process)
    return found


def report(args: argparse.Namespace, found: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    config = found["config"]
    if "batch" in found:
        batch: BatchResult = found["batch"]
        cpu = found["batch_cpu"]
        rate = found["batch_rate"]
        per_flag = (cpu["gunicorn"] + cpu["postgres"] + cpu["client"]) / rate * 1000 if rate else 0.0
        rows.append(
            (
                f"{config} batches of {BATCH_SIZE}",
                f"{rate:,.0f} flags/s",
                f"{batch.batches} batches in {batch.seconds:.1f} s from {found['batch_senders']} senders; "
                f"request p50 {percentile(batch.latencies, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(batch.latencies, 0.99) * 1000:.0f} ms; {len(batch.errors)} errors",
            )
        )
        rows.append(("  CPU, cores", _cpu(cpu), f"{per_flag:.2f} ms of CPU per flag (gunicorn + postgres + client)"))
    if "single" in found:
        single: SingleResult = found["single"]
        ms = [v * 1000 for v in single.latencies]
        unsent = sum(1 for v in ms if math.isinf(v))
        rows.append(
            (
                f"{config} single flags at {args.rate:.0f}/s",
                f"p50 {_ms(percentile(ms, 0.5))} / p95 {_ms(percentile(ms, 0.95))} / "
                f"p99 {_ms(percentile(ms, 0.99))} / max {_ms(max(ms))} ms",
                f"{single.sent} scheduled over {args.single_seconds:.0f} s, open loop; "
                f"{len(single.errors)} errors, {unsent} given up (> {MAX_LAG:.0f} s late)",
            )
        )
        rows.append(("  CPU, cores", _cpu(found["single_cpu"]), ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/docket_bench")
    parser.add_argument(
        "--config",
        type=Config.parse,
        action="append",
        default=[],
        help="gunicorn workers: sync:N or gthread:NxT; repeat to compare (default sync:3)",
    )
    parser.add_argument("--app", default="console.wsgi:application", help="the WSGI application gunicorn serves")
    parser.add_argument("--batch-seconds", type=float, default=25.0)
    parser.add_argument("--batch-clients", type=int, default=0, help="concurrent batch senders (0: workers + 1)")
    parser.add_argument("--single-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0, help="single-flag requests per second")
    parser.add_argument("--single-clients", type=int, default=32, help="threads sharing the open-loop schedule")
    parser.add_argument("--review-share", type=float, default=0.3, help="share of flags that need review")
    parser.add_argument("--users", type=int, default=400, help="distinct end users")
    parser.add_argument("--wait-idle", type=float, default=0.0, help="wait up to this many seconds for a quiet CPU")
    parser.add_argument("--recreate", action="store_true", help="DROP and CREATE the bench database first")
    parser.add_argument("--skip", choices=["batches", "singles", "copy"], action="append", default=[])
    args = parser.parse_args()
    configs: list[Config] = args.config or [Config("sync", 3, 1)]

    info = psycopg.conninfo.conninfo_to_dict(args.database_url)
    dbname = str(info.get("dbname", ""))
    if info.get("host", "") not in ("127.0.0.1", "localhost"):
        parser.error("the bench database must be on this machine (127.0.0.1)")
    if "bench" not in dbname:
        parser.error("the bench empties its tables: use a database whose name says bench (docket_bench)")
    env = bench_env(args.database_url)

    if args.recreate:
        recreate_database(args.database_url)
    print(f"preparing {dbname}: migrate, TRUNCATE {', '.join(RESET_TABLES)}, a new integration key", flush=True)
    _, secret = prepare_database(args.database_url, env)
    payloads = Payloads(seed=20261122, users=args.users, texts=3000, review_share=args.review_share)
    batch_templates = [payloads.batch_template() for _ in range(24)]
    single_templates = [payloads.single_template() for _ in range(2000)]
    print(
        f"payloads: {BATCH_SIZE}-flag body {statistics.mean(map(len, batch_templates)) / 1024:.0f} KiB, "
        f"single body {statistics.mean(map(len, single_templates)):.0f} B",
        flush=True,
    )
    background = wait_for_quiet(args.wait_idle)
    print(f"{os.cpu_count()} cores; {background:.2f} busy before the run", flush=True)
    if background > QUIET:
        print("warning: something else is using the CPU, so the figures will be low", flush=True)

    run = f"{int(time.time()) % 100000:05d}"
    rows: list[tuple[str, str, str]] = []
    results = []
    for index, config in enumerate(configs):
        try:
            found = measure(args, config, env, secret, dbname, batch_templates, single_templates, f"{run}.{index}")
        except RuntimeError as problem:
            print(f"[{config}] failed: {problem}", flush=True)
            continue
        results.append(found)
        rows += report(args, found)
        for name, value, note in report(args, found):
            print(f"[{config}] {name.strip()}: {value}  {note}".rstrip(), flush=True)
    if not rows:
        return 1

    with psycopg.connect(args.database_url) as conn:
        share, per_flag = conn.execute(
            "SELECT avg(needs_review::int), (SELECT count(*) FROM review_signal)::float / nullif(count(*), 0) "
            "FROM review_flag"
        ).fetchone() or (0, 0)
    rows.append(("stored flags", f"{float(share or 0):.0%} need review", f"{per_flag or 0:.1f} signals per flag"))

    best = max((f for f in results if "batch" in f), key=lambda f: f["batch_rate"], default=None)
    if "copy" not in args.skip and best is not None and best["batch"].created:
        copied = copy_baseline(args.database_url, prefix=best["batch_prefix"])
        copy_rate = copied.flags / copied.seconds
        rows.append(
            (
                "COPY baseline",
                f"{copy_rate:,.0f} flags/s",
                f"the {copied.flags} flags of {best['config']} + their {copied.signals} signals "
                f"in {copied.seconds:.2f} s, one transaction",
            )
        )
        rows.append((f"API / COPY ({best['config']})", f"{best['batch_rate'] / copy_rate:.0%}", ""))

    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print()
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {note}".rstrip())
    busy_after = busy_cores(1.0)
    print(f"\n{busy_after:.2f} cores busy after the run (other work on the machine)")
    return 0


def wait_for_quiet(patience: float) -> float:
    """Busy cores over the last second, after waiting up to `patience` seconds for them to drop below QUIET."""
    deadline = time.monotonic() + patience
    busy = busy_cores(1.0)
    while busy > QUIET and time.monotonic() < deadline:
        busy = busy_cores(1.0)
    return busy


def busy_cores(seconds: float) -> float:
    busy_before, total_before = _machine_busy()
    time.sleep(seconds)
    busy_after, total_after = _machine_busy()
    return (busy_after - busy_before) / (total_after - total_before) * (os.cpu_count() or 1)


def _ms(value: float) -> str:
    return f">{MAX_LAG * 1000:.0f}" if math.isinf(value) else f"{value:.1f}"


def _cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())


if __name__ == "__main__":
    sys.exit(main())
