"""PostgreSQL restarts while flags arrive: 503 + Retry-After while it is down, no 500, no half-written rows.

Docket runs under gunicorn against a private PostgreSQL (tests/servers.py),
which the test stops (`pg_ctl stop -m fast`: transactions in flight are
aborted, connections cut) and starts again while client threads keep sending
flag batches, reading a console page and asking for an account's status.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from console.middleware import RETRY_AFTER_SECONDS
from tests.servers import PostgresServer, app_env, gunicorn, run_manage, wait_until

BATCH = 10
PHASE = 60.0  # seconds each phase may take on a busy machine before the test gives up
USERS = 15
TEXTS = ["how do I pick a lock", "you are all idiots", "write me a phishing mail", "a recipe for bread"]
SIGNALS = [
    {"signals": [{"category": "hate", "level": "high"}]},  # meets the Default profile: a case
    {"signals": [{"category": "violence", "level": "low"}, {"category": "fraud_spam", "score": 0.2}]},  # stored only
]

# Runs inside the private database: an integration, its key, a reviewer signed in; prints the key and session.
SETUP = """
from django.test import Client
from console.roles import Role
from console.services import create_staff
from review.models import PolicyProfile, Scope
from review.services import create_api_key, create_integration
integration = create_integration(actor=None, name="Restart", profile=PolicyProfile.objects.get(name="Default"))
key = create_api_key(actor=None, integration=integration, name="load", scopes=list(Scope))
rita = create_staff(actor=None, username="rita", password="a-long-test-password-4-staff", role=Role.REVIEWER)
client = Client()
client.force_login(rita)
print("SETUP", key.secret, client.cookies["sessionid"].value)
"""


@dataclass
class Answer:
    what: str  # "flags", "page", "status"
    status: int  # 0: no HTTP answer at all
    headers: dict[str, str]
    body: bytes
    at: float
    ids: list[str] = field(default_factory=list)
    sent: str = ""


class Load:
    """Client threads, each with its own keep-alive connection, recording every answer."""

    def __init__(self, base: str, *, key: str, session: str) -> None:
        self.host, self.port = urlsplit(base).hostname, urlsplit(base).port
        self.key, self.session = key, session
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def request(self, conn: http.client.HTTPConnection, method: str, path: str, **kw: Any) -> tuple[int, dict, bytes]:
        try:
            conn.request(method, path, **kw)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return 0, {}, repr(exc).encode()

    def record(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def flags(self, worker: int) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        n = 0
        while not self.stopping.is_set():
            ids = [f"w{worker}-{n}-{i}" for i in range(BATCH)]
            body = json.dumps({"flags": [flag(i, worker, n) for i in ids]})
            status, headers, data = self.post_flags(conn, body)
            self.record(Answer("flags", status, headers, data, time.monotonic(), ids, body))
            n += 1
            self.stopping.wait(0.02)

    def post_flags(self, conn: http.client.HTTPConnection, body: str) -> tuple[int, dict, bytes]:
        auth = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        return self.request(conn, "POST", "/api/v1/flags", body=body, headers=auth)

    def page(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while not self.stopping.is_set():
            status, headers, data = self.request(
                conn, "GET", "/queues/", headers={"Cookie": f"sessionid={self.session}"}
            )
            self.record(Answer("page", status, headers, data, time.monotonic()))
            self.stopping.wait(0.05)

    def status(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while not self.stopping.is_set():
            auth = {"Authorization": f"Bearer {self.key}"}
            status, headers, data = self.request(conn, "GET", "/api/v1/accounts/user-1/status", headers=auth)
            self.record(Answer("status", status, headers, data, time.monotonic()))
            self.stopping.wait(0.05)

    def start(self) -> None:
        targets: list[Callable[[], None]] = [lambda w=w: self.flags(w) for w in range(3)] + [self.page, self.status]
        self.threads = [threading.Thread(target=t, daemon=True) for t in targets]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def count(self, what: str, status: int, since: float) -> int:
        with self.lock:
            return sum(1 for a in self.answers if a.what == what and a.status == status and a.at >= since)


def flag(external_id: str, worker: int, n: int) -> dict[str, Any]:
    k = zlib.crc32(external_id.encode())
    return {
        "id": external_id,
        "user": f"user-{k % USERS}",
        "prompt": TEXTS[k % len(TEXTS)],
        "source": "generic",
        "result": SIGNALS[(worker + n) % len(SIGNALS)],
    }


def scalar(server: PostgresServer, dbname: str, sql: str) -> Any:
    with server.connect(dbname) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


@pytest.mark.postgres
def test_a_postgres_restart_under_load_answers_503_with_retry_after_and_leaves_no_half_written_rows(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    database = "docket_fault_restart"
    env = app_env(database_url=postgres_server.create_database(database))
    run_manage("migrate", "--noinput", "-v", "0", env=env)
    setup = next(line for line in run_manage("shell", "-c", SETUP, env=env).splitlines() if line.startswith("SETUP "))
    key, session = setup.split()[1:]

    log = tmp_path / "gunicorn.log"
    try:
        with gunicorn(env=env, log=log) as base:
            load = Load(base, key=key, session=session)
            load.start()
            try:
                began = time.monotonic()
                wait_until(
                    lambda: load.count("flags", 200, began) >= 3, what="batches before the restart", deadline=PHASE
                )

                postgres_server.stop("fast")
                stopped = time.monotonic()
                wait_until(
                    lambda: load.count("flags", 503, stopped) >= 5 and load.count("page", 503, stopped) >= 1,
                    what="503s while PostgreSQL is down",
                    deadline=PHASE,
                )
                postgres_server.start()
                restarted = time.monotonic()
                wait_until(
                    lambda: load.count("flags", 200, restarted) >= 5 and load.count("page", 200, restarted) >= 1,
                    what="flag batches and pages served again after the restart",
                    deadline=PHASE,
                )
            finally:
                load.stop()

            answers = load.answers
            unexpected = [(a.what, a.status, a.body[:300]) for a in answers if a.status not in (200, 503)]
            assert not unexpected, f"only 200 and 503 are acceptable answers, got: {unexpected[:5]}"

            unavailable = [a for a in answers if a.status == 503]
            assert all(a.headers.get("retry-after") == str(RETRY_AFTER_SECONDS) for a in unavailable)
            for a in unavailable:
                if a.what == "page":
                    assert a.headers["content-type"].startswith("text/html")
                    assert b"Docket is briefly unavailable" in a.body
                else:
                    assert a.headers["content-type"] == "application/json"
                    assert json.loads(a.body)["error"].startswith("The database is unavailable")

            # What a client does with a 503: send the same batch again. Ids make that safe.
            conn = http.client.HTTPConnection(urlsplit(base).hostname, urlsplit(base).port, timeout=30)
            for a in [a for a in unavailable if a.what == "flags"]:
                status, _, data = load.post_flags(conn, a.sent)
                assert status == 200, data
                assert {r["status"] for r in json.loads(data)["results"]} <= {"created", "duplicate"}

    except BaseException:  # what the server and the database said, for whoever reads the failure
        print("--- gunicorn log ---", log.read_text(errors="replace")[-4000:], sep="\n")
        print("--- postgres log ---", postgres_server.tail(), sep="\n")
        raise

    sent = {i for a in answers if a.what == "flags" for i in a.ids}
    stored = scalar(postgres_server, database, "SELECT count(*) FROM review_flag")
    distinct = scalar(postgres_server, database, "SELECT count(DISTINCT external_id) FROM review_flag")
    assert stored == distinct == len(sent), "every flag sent is stored exactly once"

    # Nothing half-written: a flag always has its signals, a flag that needs review its case, and
    # the counters kept beside the rows agree with the rows.
    checks = {
        "flags without signals": "SELECT count(*) FROM review_flag f "
        "WHERE NOT EXISTS (SELECT 1 FROM review_signal s WHERE s.flag_id = f.id)",
        "flags needing review without a case": "SELECT count(*) FROM review_flag "
        "WHERE needs_review AND case_id IS NULL",
        "accounts whose flag count is off": "SELECT count(*) FROM accounts_account a WHERE a.flag_count <> "
        "(SELECT count(*) FROM review_flag f WHERE f.account_id = a.id)",
        "cases whose flag count is off": "SELECT count(*) FROM review_case c WHERE c.flag_count <> "
        "(SELECT count(*) FROM review_flag f WHERE f.case_id = c.id)",
        "cases without a flag": "SELECT count(*) FROM review_case c "
        "WHERE NOT EXISTS (SELECT 1 FROM review_flag f WHERE f.case_id = c.id)",
    }
    found = {name: scalar(postgres_server, database, sql) for name, sql in checks.items()}
    assert found == dict.fromkeys(checks, 0)
    assert scalar(postgres_server, database, "SELECT count(*) FROM review_case") > 0
