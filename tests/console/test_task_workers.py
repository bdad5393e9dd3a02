"""Tasks go through django.tasks and run where DOCKET_TASK_BACKEND says.

The worker tests start a real RQ or Celery worker as a subprocess and look for
the task's effect in the database. They use `transactional_db`, so what the
worker writes is committed and visible here, and they need PostgreSQL: the
SQLite test database lives in this process's memory, out of a worker's reach.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from uuid import uuid4

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.tasks import TaskResultStatus
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rq.registry import FailedJobRegistry

from console.models import Heartbeat
from console.periodic import PERIODIC_JOBS
from console.tasks import heartbeat

# A worker that has not shown the effect by then is not going to.
WORKER_DEADLINE = 60.0
STOP_DEADLINE = 20.0

RQ_QUEUE_KEY = "rq:queue:default"
RQ_WORKER = ["rqworker", "default", "--burst", "--job-class", "django_tasks_rq.Job"]
_CLAIM_KEY = "docket:test-claim"


class _Rollback(Exception):
    pass


# --- Enqueued on commit (any database, no worker) -------------------------------------


def test_a_task_enqueued_on_commit_does_not_run_when_the_transaction_rolls_back(
    db: None, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(_Rollback),
        transaction.atomic(),
    ):
        transaction.on_commit(partial(heartbeat.enqueue, name="rolled-back"))
        raise _Rollback

    assert callbacks == []
    assert not Heartbeat.objects.exists()


def test_a_task_enqueued_on_commit_waits_for_the_commit(
    db: None, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        transaction.on_commit(partial(heartbeat.enqueue, name="committed"))
        assert not Heartbeat.objects.exists()

    assert len(callbacks) == 1
    assert not Heartbeat.objects.exists()

    callbacks[0]()

    assert Heartbeat.objects.get(name="committed").runs == 1


def test_a_task_enqueued_on_commit_runs_once_after_the_commit(
    db: None, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        transaction.on_commit(partial(heartbeat.enqueue, name="committed"))

    assert len(callbacks) == 1
    assert list(Heartbeat.objects.values_list("name", "runs")) == [("committed", 1)]


# --- Real workers ---------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateRedis:
    url: str
    client: redis.Redis


def _claim_empty_redis_db() -> PrivateRedis | None:
    base = urlsplit(settings.REDIS_URL)
    base_db = int(base.path.strip("/") or 0)
    for db in range(1, 16):
        if db == base_db:
            continue
        url = urlunsplit(base._replace(path=f"/{db}"))
        client = redis.Redis.from_url(url)
        if client.connection_pool.connection_kwargs.get("db") != db:
            client.close()
            pytest.fail(f"REDIS_URL={settings.REDIS_URL} names its database in the query string; use /<n>")
        try:
            claimed = client.set(_CLAIM_KEY, "1", nx=True, ex=600)
        except redis.ResponseError:  # the server has fewer than 16 databases
            client.close()
            return None
        if claimed and client.dbsize() == 1:
            return PrivateRedis(url=url, client=client)
        if claimed:
            client.delete(_CLAIM_KEY)
        client.close()
    return None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """An empty Redis database of this test's own, emptied again afterwards.

    `rqworker default` works the queue named "default" in whatever database
    REDIS_URL names, so a database nobody else is using is what keeps this
    test's jobs away from other runs' workers, and theirs away from this one.
    A database is claimed with SET NX and used only if it held nothing else.
    """
    private = _claim_empty_redis_db()
    if private is None:
        pytest.fail(f"no empty Redis database (1-15) to claim next to {settings.REDIS_URL}")
    try:
        yield private
    finally:
        private.client.flushdb()
        private.client.close()


def _test_database_url() -> str:
    """The test database (pytest-django's test_<name>) as a DATABASE_URL for another process."""
    db = connection.settings_dict
    host = db["HOST"] or ""
    netloc = quote(host, safe="") if host.startswith("/") else host
    if db["PORT"]:
        netloc = f"{netloc}:{db['PORT']}"
    if db["USER"]:
        auth = quote(db["USER"], safe="")
        if db["PASSWORD"]:
            auth = f"{auth}:{quote(db['PASSWORD'], safe='')}"
        netloc = f"{auth}@{netloc}"
    return f"postgres://{netloc}/{quote(db['NAME'], safe='')}"


def _worker_env(*, backend: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "DOCKET_ACCOUNT_HASH_KEY": os.environ["DOCKET_ACCOUNT_HASH_KEY"],
        "DOCKET_HTTPS": "false",
        "DEBUG": "false",
        "DATABASE_URL": _test_database_url(),
        "DOCKET_TASK_BACKEND": backend,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }


def _manage(*args: str) -> list[str]:
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


@dataclass(frozen=True)
class Process:
    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def _process(label: str, args: list[str], *, env: dict[str, str], log: Path) -> Iterator[Process]:
    """Run a worker in a process group of its own, and leave nothing of it behind."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            args, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield Process(label, popen, log)
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()


def _stop(proc: Process) -> None:
    """Ask for a warm shutdown and wait for it."""
    os.killpg(proc.popen.pid, signal.SIGTERM)
    try:
        proc.popen.wait(timeout=STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.label} did not stop within {STOP_DEADLINE:.0f}s of SIGTERM:\n{proc.tail()}")


def _run_to_completion(label: str, args: list[str], *, env: dict[str, str], log: Path) -> None:
    with _process(label, args, env=env, log=log) as proc:
        try:
            proc.popen.wait(timeout=WORKER_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{label} still running after {WORKER_DEADLINE:.0f}s:\n{proc.tail()}")
        assert proc.popen.returncode == 0, f"{label} exited with {proc.popen.returncode}:\n{proc.tail()}"


def _wait_for[T](check: Callable[[], T | None], *, proc: Process, what: str) -> T:
    """Poll until `check` returns something, the process exits or the deadline passes."""
    deadline = time.monotonic() + WORKER_DEADLINE
    while True:
        found = check()
        if found is not None:
            return found
        if proc.popen.poll() is not None:
            pytest.fail(f"{proc.label} exited with {proc.popen.returncode} before {what}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {WORKER_DEADLINE:.0f}s of starting {proc.label}:\n{proc.tail()}")
        time.sleep(0.1)


def _use_rq(settings: Settings, private_redis: PrivateRedis) -> None:
    settings.RQ_QUEUES = {"default": {"URL": private_redis.url, "DEFAULT_TIMEOUT": 60}}
    # Overriding TASKS sends setting_changed, on which django.tasks drops the
    # backends it has built, so the next enqueue() builds the RQ one.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


@pytest.mark.postgres
@pytest.mark.redis
def test_a_real_rq_worker_runs_an_enqueued_task(
    transactional_db: None, settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    _use_rq(settings, private_redis)
    name = f"rq-{uuid4().hex}"

    result = heartbeat.enqueue(name=name)

    assert private_redis.client.llen(RQ_QUEUE_KEY) == 1
    assert not Heartbeat.objects.filter(name=name).exists()

    worker_name = f"docket-test-{uuid4().hex}"
    _run_to_completion(
        "rqworker",
        _manage(*RQ_WORKER, "--name", worker_name),
        env=_worker_env(backend="rq", redis_url=private_redis.url),
        log=tmp_path / "rqworker.log",
    )

    assert list(Heartbeat.objects.values_list("name", "runs")) == [(name, 1)]
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.worker_ids == [worker_name]


@pytest.mark.postgres
@pytest.mark.redis
def test_an_rq_job_enqueued_on_commit_reaches_the_queue_only_if_the_transaction_commits(
    transactional_db: None, settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    _use_rq(settings, private_redis)

    with pytest.raises(_Rollback), transaction.atomic():
        transaction.on_commit(partial(heartbeat.enqueue, name="rolled-back"))
        raise _Rollback
    assert private_redis.client.llen(RQ_QUEUE_KEY) == 0

    with transaction.atomic():
        transaction.on_commit(partial(heartbeat.enqueue, name="committed"))
        assert private_redis.client.llen(RQ_QUEUE_KEY) == 0
    assert private_redis.client.llen(RQ_QUEUE_KEY) == 1

    _run_to_completion(
        "rqworker",
        _manage(*RQ_WORKER),
        env=_worker_env(backend="rq", redis_url=private_redis.url),
        log=tmp_path / "rqworker.log",
    )

    assert list(Heartbeat.objects.values_list("name", "runs")) == [("committed", 1)]


@pytest.mark.postgres
@pytest.mark.redis
def test_rq_cron_enqueues_each_periodic_job_and_a_real_rq_worker_runs_it(
    transactional_db: None, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = _worker_env(backend="rq", redis_url=private_redis.url)
    queue = private_redis.client

    # An interval job's first run is due as soon as the scheduler starts.
    with _process("rqcron", _manage("rqcron", "console.rq_cron"), env=env, log=tmp_path / "rqcron.log") as cron:
        _wait_for(
            lambda: queue.llen(RQ_QUEUE_KEY) >= len(PERIODIC_JOBS) or None,
            proc=cron,
            what=f"{len(PERIODIC_JOBS)} periodic job(s) on the queue",
        )
        _stop(cron)
    assert queue.llen(RQ_QUEUE_KEY) == len(PERIODIC_JOBS)

    # Each cron job hands its declared task to the backend, which queues it
    # for the same burst worker; the worker stops once both have run.
    worker_log = tmp_path / "rqworker.log"
    _run_to_completion("rqworker", _manage(*RQ_WORKER), env=env, log=worker_log)

    assert FailedJobRegistry("default", connection=queue).count == 0, worker_log.read_text()
    assert queue.llen(RQ_QUEUE_KEY) == 0
    # The heartbeat, and the dashboard's count run, which leaves its own mark.
    assert sorted(Heartbeat.objects.values_list("name", "runs")) == [("hourly_counts", 1), ("worker", 1)]


@pytest.fixture
def celery_queue() -> Iterator[str]:
    """A queue of this test's own on the shared broker, removed afterwards.

    A Celery worker takes the queues it consumes on its command line, so a
    unique name keeps this test's message from anyone else's worker.
    """
    name = f"docket-test-{uuid4().hex}"
    yield name
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    finally:
        client.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_a_real_celery_worker_runs_an_enqueued_task(
    transactional_db: None, settings: Settings, celery_queue: str, tmp_path: Path
) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks_celery.CeleryBackend",
            "QUEUES": ["default", celery_queue],
            "OPTIONS": {"CELERY_APP": "console.celery.app"},
        }
    }
    name = f"celery-{uuid4().hex}"

    result = heartbeat.using(queue_name=celery_queue).enqueue(name=name)

    assert not Heartbeat.objects.filter(name=name).exists()

    args = [sys.executable, "-m", "celery", "-A", "console", "worker", "--pool=solo", "-c", "1", "-Q", celery_queue]
    args += ["-n", f"{celery_queue}@%h", "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "INFO"]
    env = _worker_env(backend="celery", redis_url=settings.REDIS_URL)
    try:
        with _process("celery worker", args, env=env, log=tmp_path / "celery.log") as worker:
            beat = _wait_for(lambda: Heartbeat.objects.filter(name=name).first(), proc=worker, what="heartbeat row")

            def finished() -> bool | None:
                result.refresh()
                return result.is_finished or None

            _wait_for(finished, proc=worker, what="finished task result")
            _stop(worker)
    finally:
        redis.Redis.from_url(settings.CELERY_RESULT_BACKEND).delete(f"celery-task-meta-{result.id}")

    assert (beat.name, beat.runs) == (name, 1)
    assert Heartbeat.objects.count() == 1
    assert result.status == TaskResultStatus.SUCCESSFUL, worker.tail()
    assert len(result.worker_ids) == 1
    assert result.worker_ids[0].startswith(f"{celery_queue}@")
