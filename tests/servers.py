"""Private PostgreSQL and Redis servers for the fault tests, and the processes that run Docket against them.

A test that stops a server must never stop the one everybody shares: these
start their own on a free port of 127.0.0.1, in a temporary directory, and
stop and remove it whatever happens. PostgreSQL refuses to run as root, so
as root its commands run as the `postgres` user (Debian's packages create
it). When a server cannot be started the test is skipped with the reason,
or fails in CI (tests/conftest.py `_missing`).

Docket itself runs in subprocesses here (gunicorn, rqworker, rqcron,
manage.py) with the environment `app_env` builds, each in a process group
of its own that is killed on the way out.
"""

from __future__ import annotations

import glob
import hashlib
import hmac
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings

from tests.conftest import _missing

START_DEADLINE = 30.0
STOP_DEADLINE = 20.0
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until[T](check: Callable[[], T | None], *, what: str, deadline: float = START_DEADLINE) -> T:
    """Poll `check` until it returns something; fail naming `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > end:
            pytest.fail(f"no {what} within {deadline:.0f} s")
        time.sleep(0.05)


# --- Redis ---------------------------------------------------------------------------------------------


class RedisServer:
    """A redis-server of this test's own; stop() and start() again keep the port (and lose the data)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                _missing(f"redis-server exited with {self.process.returncode}: {self._log()}")
            with suppress(redis.RedisError), self.client() as client:
                return bool(client.ping())
            return False

        wait_until(up, what=f"private Redis on port {self.port}")

    def stop(self) -> None:
        """Stop the server (as a crash or an operator would: its data is gone)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(timeout=STOP_DEADLINE)

    def _log(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("needs redis-server on PATH to start a private Redis")
    directory = Path(tempfile.mkdtemp(prefix="docket-redis-"))
    server = RedisServer(binary, directory)  # type: ignore[arg-type]
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest installed server binaries (Debian keeps initdb and pg_ctl out of PATH)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_tool(name: str) -> str:
    """pg_dump, pg_restore …: from the server's own bin directory when there is one (versions must match)."""
    bindir = postgres_bindir()
    if bindir is not None and (bindir / name).exists():
        return str(bindir / name)
    found = shutil.which(name)
    if found is None:
        _missing(f"needs {name} (PostgreSQL's client programs)")
    return found  # type: ignore[return-value]


class PostgresServer:
    """A PostgreSQL cluster of this test session's own (trust auth, user postgres, 127.0.0.1 only)."""

    def __init__(self, bindir: Path, directory: Path, run_as: str | None) -> None:
        self.bindir, self.directory, self.run_as, self.port = bindir, directory, run_as, free_port()
        self.data = directory / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def init(self) -> None:
        made = self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        if made.returncode != 0:
            _missing(f"initdb failed: {made.stderr.strip()[-500:]}")

    def start(self) -> None:
        # No fsync: the data of a test cluster need not survive the machine, only the server.
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c full_page_writes=off -c max_connections=200"
        started = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        if started.returncode != 0:
            _missing(f"the private PostgreSQL did not start: {started.stderr.strip()} {self.tail()}")

    def stop(self, mode: str = "fast") -> None:
        """`fast` aborts the transactions in flight and closes every connection, as a restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private cluster for the session; each test makes its own database in it."""
    bindir = postgres_bindir()
    if bindir is None:
        _missing("needs PostgreSQL's server programs (initdb, pg_ctl) to start a private PostgreSQL")
    run_as = None
    if os.geteuid() == 0:  # initdb and postgres refuse root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root, a private PostgreSQL needs a 'postgres' user to run as")
        run_as = "postgres"
    directory = Path(tempfile.mkdtemp(prefix="docket-pg-"))
    if run_as:
        os.chown(directory, account.pw_uid, account.pw_gid)
    server = PostgresServer(bindir, directory, run_as)  # type: ignore[arg-type]
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


# --- Docket in subprocesses --------------------------------------------------------------------------------


def app_env(*, database_url: str, redis_url: str = "", backend: str = "immediate") -> dict[str, str]:
    """Docket's settings for a subprocess: production-like (DEBUG off), plain HTTP, the test secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKET_", "DB_", "REDIS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        SECRET_KEY=os.environ["SECRET_KEY"],
        DOCKET_ACCOUNT_HASH_KEY=os.environ["DOCKET_ACCOUNT_HASH_KEY"],
        DOCKET_HTTPS="false",
        DOCKET_STATIC_MANIFEST="false",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        DOCKET_TASK_BACKEND=backend,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def run_manage(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120) -> str:
    """Run a management command to the end; fail the test with its output if it fails."""
    done = subprocess.run(
        manage(*args), cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class Process:
    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the process and every process it started: no handler runs, nothing is cleaned up.

        By descendants, not only by process group: RQ's work horse, the child
        that runs the job, puts itself in a group of its own (os.setpgrp).
        """
        for pid in [*descendants(self.popen.pid), self.popen.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, children last-born first, from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@contextmanager
def spawn(label: str, args: list[str], *, env: dict[str, str], log: Path) -> Iterator[Process]:
    """Run a process in a group of its own, and leave nothing of it behind."""
    with log.open("ab") as out:
        popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    process = Process(label, popen, log)
    try:
        yield process
    finally:
        process.kill()


@contextmanager
def gunicorn(*, env: dict[str, str], log: Path, workers: int = 2) -> Iterator[str]:
    """Docket under gunicorn on a free port; yields its base URL once /livez answers."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "console.wsgi", "--bind", f"127.0.0.1:{port}"]
    args += ["--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5"]
    with spawn("gunicorn", args, env=env, log=log) as process:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if process.popen.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.popen.returncode}:\n{process.tail()}")
            with (
                suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{base}/livez", timeout=2) as response,  # noqa: S310 - our own server
            ):
                return response.status == 200
            return False

        wait_until(up, what="gunicorn answering /livez")
        yield base


def shared_test_database_url() -> str:
    """The test database (pytest-django's test_<name>) as a DATABASE_URL for another process."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    netloc = db["HOST"] or ""
    if db["PORT"]:
        netloc = f"{netloc}:{db['PORT']}"
    if db["USER"]:
        auth = quote(db["USER"], safe="")
        if db["PASSWORD"]:
            auth = f"{auth}:{quote(db['PASSWORD'], safe='')}"
        netloc = f"{auth}@{netloc}"
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    return f"postgres://{netloc}/{quote(db['NAME'], safe='')}"


# --- A platform's webhook receiver --------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event_id: str
    delivery_id: str
    signature: str
    body: bytes


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers 204.

    `hold(n)` keeps the n-th request (1-based) waiting until `release()`:
    the sender is then caught in the middle of a delivery.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.held = threading.Event()
        self.released = threading.Event()
        self.hold_at: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(
                        Received(
                            self.headers.get("Docket-Event-Id", ""),
                            self.headers.get("Docket-Delivery", ""),
                            self.headers.get("Docket-Signature", ""),
                            body,
                        )
                    )
                    hold = len(receiver.received) == receiver.hold_at
                if hold:
                    receiver.held.set()
                    receiver.released.wait(START_DEADLINE)
                with suppress(OSError):  # a sender killed meanwhile has closed the socket
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/docket"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def hold(self, n: int) -> None:
        self.hold_at = n

    def release(self) -> None:
        self.released.set()

    def event_ids(self) -> list[str]:
        with self.lock:
            return [r.event_id for r in self.received]

    def signed_by(self, secret: str) -> bool:
        """Every request carries a valid Docket-Signature (t=…,v1=HMAC-SHA256(secret, f"{t}.{body}"))."""
        with self.lock:
            requests = list(self.received)
        for r in requests:
            parts = dict(part.split("=", 1) for part in r.signature.split(","))
            expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + r.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, parts["v1"]):
                return False
        return True


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=STOP_DEADLINE)


class Supervisor:
    """What systemd's `Restart=always` does for a worker: start it again whenever it exits.

    RQ's worker quits when Redis goes away at the wrong moment (between two
    jobs it writes its state to Redis, and that error is not retried), and
    so does `rqcron`; operations.md says to run both under a supervisor.
    """

    def __init__(self, label: str, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.label, self.args, self.env, self.log = label, args, env, log
        self.restarts = 0
        self.stopping = threading.Event()
        self.current: Process | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _start(self) -> Process:
        with self.log.open("ab") as out:
            popen = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return Process(self.label, popen, self.log)

    def _run(self) -> None:
        self.current = self._start()
        while not self.stopping.wait(0.2):
            if self.current.popen.poll() is not None:
                self.restarts += 1
                self.current = self._start()

    def tail(self) -> str:
        return self.current.tail() if self.current else ""


@contextmanager
def supervised(label: str, args: list[str], *, env: dict[str, str], log: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(label, args, env=env, log=log)
    supervisor.thread.start()
    try:
        yield supervisor
    finally:
        supervisor.stopping.set()
        supervisor.thread.join(timeout=STOP_DEADLINE)
        if supervisor.current is not None:
            supervisor.current.kill()
