"""Webhooks to the platform, sent to a real HTTP receiver: outbox, signature, retries, claim lock, Redis away."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import (
    Action,
    ActionKind,
    ActionState,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from accounts.services import (
    apply_action,
    approve_action,
    create_endpoint,
    deliver,
    deliver_due,
    lift_action,
    propose_action,
    redeliver,
)
from accounts.tasks import deliver_due_webhooks
from console.models import AuditEntry, AuditVerb
from review.models import Category, Outcome
from tests.console import test_task_workers as workers
from tests.factories import make_case, make_decision

# Long enough for any healthy machine; a wait that reaches it means the code under test is stuck.
DEADLINE = 10.0


@pytest.fixture(autouse=True)
def _private_cache(settings) -> None:  # type: ignore[no-untyped-def]
    # Applying an action publishes its status on commit; keep it out of any shared cache.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid4().hex}}


# --- A real receiver ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers `status`."""

    url: str
    status: int = 204
    on_request: Callable[[Request], None] | None = None
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Request]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            this = box[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Request(self.path, {k: v for k, v in self.headers.items()}, body)
            with this.lock:
                this.requests.append(request)
            if this.on_request is not None:
                this.on_request(request)
            self.send_response(this.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/docket"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=DEADLINE)


def signature_is_valid(secret: str, request: Request, *, max_age: float = 300) -> bool:
    """What a platform does: HMAC-SHA256(secret, f"{t}.{body}") against v1, and t recent."""
    parts = dict(part.split("=", 1) for part in request.headers["Docket-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= max_age


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- The action behind the events ----------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    action: Action
    endpoint: WebhookEndpoint
    secret: str


@pytest.fixture
def approved(integration, reviewer, senior, second_senior, ops, receiver) -> Setup:  # type: ignore[no-untyped-def]
    """An approved suspension of u1 backed by two violations (request ids chat-1 and chat-2), and an endpoint."""
    hate = Category.objects.get(pk="hate")
    evidence = []
    for request_id in ("chat-1", "chat-2"):
        case = make_case(integration, id=request_id, user="u1", prompt=f"threat {request_id}")
        evidence.append(make_decision(case, reviewer, outcome=Outcome.VIOLATING, category=hate, severity="high"))
    action = propose_action(
        actor=senior,
        account=evidence[0].case.account,
        kind=ActionKind.SUSPEND,
        hours=24,
        reason="threats",
        evidence=[d.violation for d in evidence],
    )
    approve_action(actor=second_senior, action=action, reason="agreed")
    endpoint, secret = create_endpoint(actor=ops, integration=integration, url=receiver.url, events=[])
    return Setup(Action.objects.get(pk=action.pk), endpoint, secret)


def apply(setup: Setup, actor: Any) -> Action:
    return apply_action(actor=actor, action=setup.action, reason="go")


class _Rollback(Exception):
    pass


# --- (1) Outbox and signature --------------------------------------------------------------------


@pytest.mark.django_db
def test_applying_an_action_writes_one_event_and_one_delivery_in_its_own_transaction(approved, senior) -> None:
    with pytest.raises(_Rollback), transaction.atomic():
        apply(approved, senior)
        assert (WebhookEvent.objects.count(), WebhookDelivery.objects.count()) == (1, 1)
        raise _Rollback

    assert (WebhookEvent.objects.count(), WebhookDelivery.objects.count()) == (0, 0)
    assert Action.objects.get(pk=approved.action.pk).state == ActionState.APPROVED


@pytest.mark.django_db
def test_after_the_commit_the_receiver_gets_one_signed_post_naming_the_action_and_the_flags(
    approved, senior, receiver, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        action = apply(approved, senior)

    event = WebhookEvent.objects.get()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.endpoint, delivery.state, delivery.attempts) == (
        event,
        approved.endpoint,
        DeliveryState.PENDING,
        0,
    )
    assert receiver.received() == []  # nothing leaves before the commit

    for callback in callbacks:
        callback()  # the commit: the immediate backend sends at once

    [request] = receiver.received()
    assert request.path == "/hooks/docket"
    assert signature_is_valid(approved.secret, request)
    assert not signature_is_valid("whsec_someone-elses", request)
    assert (request.headers["Content-Type"], request.headers["User-Agent"]) == (
        "application/json",
        "Docket-Webhooks/1",
    )
    assert (request.headers["Docket-Event"], request.headers["Docket-Event-Id"]) == ("action.applied", str(event.pk))
    assert request.headers["Docket-Delivery"] == str(delivery.pk)
    body = request.json()
    action.refresh_from_db()
    assert body == {
        "id": event.pk,
        "type": "action.applied",
        "created_at": event.created_at.isoformat(),
        "account": action.account.user_hash,
        "state": "suspended",
        "action": {
            "id": action.pk,
            "kind": "suspend",
            "scope": None,
            "state": "applied",
            "applied_at": action.applied_at.isoformat(),
            "ends_at": action.ends_at.isoformat(),
        },
        "flags": ["chat-1", "chat-2"],
    }
    assert "u1" not in request.body.decode()  # the raw user id never leaves Docket: it never had it
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.delivered_at is not None) == (
        DeliveryState.DELIVERED,
        1,
        204,
        True,
    )
    assert list(WebhookAttempt.objects.values_list("delivery", "status", "error")) == [(delivery.pk, 204, "")]


@pytest.mark.django_db
def test_only_active_endpoints_that_want_the_event_get_a_delivery(integration, approved, senior, ops, receiver) -> None:
    lifted_only, _ = create_endpoint(actor=ops, integration=integration, url=receiver.url, events=["action.lifted"])
    inactive, _ = create_endpoint(actor=ops, integration=integration, url=receiver.url, events=[])
    WebhookEndpoint.objects.filter(pk=inactive.pk).update(is_active=False)

    action = apply(approved, senior)
    lift_action(actor=senior, action=action, reason="enough")

    assert sorted(WebhookDelivery.objects.values_list("event__type", "endpoint")) == [
        ("action.applied", approved.endpoint.pk),
        ("action.lifted", approved.endpoint.pk),
        ("action.lifted", lifted_only.pk),
    ]


# --- (2) Redis away, then back --------------------------------------------------------------------


def _use_rq(settings: Any, url: str) -> None:
    settings.RQ_QUEUES = {"default": {"URL": url, "DEFAULT_TIMEOUT": 60}}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


@pytest.fixture
def rq_redis() -> Iterator[workers.PrivateRedis]:
    """An empty Redis database of this test's own (see tests/console/test_task_workers.py)."""
    private = workers._claim_empty_redis_db()
    if private is None:
        pytest.fail("no empty Redis database (1-15) to claim")
    try:
        yield private
    finally:
        private.client.flushdb()
        private.client.close()


@pytest.mark.redis
@pytest.mark.django_db
def test_with_redis_away_the_action_commits_and_the_sweep_delivers_it_once_redis_is_back(
    approved, senior, receiver, settings, rq_redis, caplog, django_capture_on_commit_callbacks
) -> None:
    _use_rq(settings, f"redis://127.0.0.1:{closed_port()}/0")

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        action = apply(approved, senior)

    delivery = WebhookDelivery.objects.get()
    assert f"webhook delivery {delivery.pk} not enqueued; the sweep will send it" in caplog.messages
    assert Action.objects.get(pk=action.pk).state == ActionState.APPLIED
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)
    assert receiver.received() == []

    _use_rq(settings, rq_redis.url)  # Redis is back; the periodic sweep runs
    assert rq_redis.client.llen(workers.RQ_QUEUE_KEY) == 0  # nothing was queued while it was away

    assert deliver_due() == 1

    [request] = receiver.received()
    assert signature_is_valid(approved.secret, request)
    assert request.json()["action"]["id"] == action.pk
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)

    assert deliver_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert len(receiver.received()) == 1


@pytest.mark.postgres
@pytest.mark.redis
def test_with_redis_away_a_real_worker_delivers_the_webhook_exactly_once_when_it_is_back(
    transactional_db, approved, senior, receiver, settings, rq_redis, tmp_path: Path, caplog
) -> None:
    _use_rq(settings, f"redis://127.0.0.1:{closed_port()}/0")

    with caplog.at_level(logging.WARNING):
        action = apply(approved, senior)  # commits for real; the enqueue on commit fails

    delivery = WebhookDelivery.objects.get()
    assert f"webhook delivery {delivery.pk} not enqueued; the sweep will send it" in caplog.messages
    assert Action.objects.get(pk=action.pk).state == ActionState.APPLIED
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)

    _use_rq(settings, rq_redis.url)
    deliver_due_webhooks.enqueue()  # what rqcron does every minute
    assert rq_redis.client.llen(workers.RQ_QUEUE_KEY) == 1
    env = workers._worker_env(backend="rq", redis_url=rq_redis.url)
    workers._run_to_completion("rqworker", workers._manage(*workers.RQ_WORKER), env=env, log=tmp_path / "rqworker.log")

    [request] = receiver.received()
    assert signature_is_valid(approved.secret, request)
    assert (request.headers["Docket-Event"], request.json()["action"]["id"]) == ("action.applied", action.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DELIVERED, 1, 204)

    deliver_due_webhooks.enqueue()  # the next sweep has nothing to send
    workers._run_to_completion(
        "rqworker", workers._manage(*workers.RQ_WORKER), env=env, log=tmp_path / "rqworker-2.log"
    )
    assert len(receiver.received()) == 1
    assert WebhookAttempt.objects.count() == 1


# --- (3) Retries with backoff -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_receiver_gets_retries_with_backoff_until_a_day_has_passed(approved, senior, receiver) -> None:
    receiver.status = 500
    apply(approved, senior)  # on-commit sends are not run here: the sweep drives every attempt
    event = WebhookEvent.objects.get()
    delivery = WebhookDelivery.objects.get()
    t0 = timezone.now()

    def state() -> tuple[str, int, Any]:
        delivery.refresh_from_db()
        return delivery.state, delivery.attempts, delivery.next_attempt_at

    assert deliver_due(now=t0) == 0

    attempt = WebhookAttempt.objects.get()
    assert (attempt.status, attempt.error) == (500, "HTTP 500")
    assert t0 <= attempt.at <= timezone.now()
    assert state() == (DeliveryState.PENDING, 1, attempt.at + timedelta(minutes=1))
    assert (delivery.last_status, delivery.last_error, delivery.locked_until) == (500, "HTTP 500", None)
    first = attempt.at
    assert len(receiver.received()) == 1

    assert deliver_due(now=first + timedelta(seconds=59)) == 0
    assert len(receiver.received()) == 1  # not due yet

    deliver_due(now=first + timedelta(minutes=1))
    assert state() == (DeliveryState.PENDING, 2, first + timedelta(minutes=3))

    assert deliver_due(now=first + timedelta(minutes=2, seconds=59)) == 0
    assert len(receiver.received()) == 2

    deliver_due(now=first + timedelta(minutes=3))
    assert state() == (DeliveryState.PENDING, 3, first + timedelta(minutes=7))

    deliver_due(now=event.created_at + timedelta(hours=23))
    assert state() == (DeliveryState.PENDING, 4, event.created_at + timedelta(hours=23, minutes=8))

    deliver_due(now=event.created_at + timedelta(hours=24))
    assert state()[:2] == (DeliveryState.FAILED, 5)

    assert deliver_due(now=event.created_at + timedelta(days=3)) == 0
    assert len(receiver.received()) == 5
    assert list(WebhookAttempt.objects.order_by("at").values_list("status", flat=True)) == [500] * 5
    assert all(signature_is_valid(approved.secret, r) for r in receiver.received())


@pytest.mark.django_db
def test_an_unreachable_receiver_is_recorded_as_an_error_and_retried(approved, senior) -> None:
    WebhookEndpoint.objects.filter(pk=approved.endpoint.pk).update(url=f"http://127.0.0.1:{closed_port()}/hooks")
    apply(approved, senior)
    delivery = WebhookDelivery.objects.get()

    assert deliver(delivery.pk) == "will retry"

    attempt = WebhookAttempt.objects.get()
    assert attempt.status is None and "refused" in attempt.error.lower()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (DeliveryState.PENDING, 1, attempt.error)


@pytest.mark.django_db
def test_a_receiver_that_recovers_gets_the_delivery_on_the_next_attempt(approved, senior, receiver) -> None:
    receiver.status = 503
    apply(approved, senior)
    delivery = WebhookDelivery.objects.get()
    assert deliver(delivery.pk) == "will retry"

    receiver.status = 200
    assert deliver(delivery.pk) == "not due or being sent"  # the backoff holds
    delivery.refresh_from_db()
    assert deliver(delivery.pk, now=delivery.next_attempt_at) == "delivered"

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DELIVERED, 2, 200)
    assert deliver(delivery.pk, now=delivery.next_attempt_at + timedelta(hours=1)) == "nothing to do"
    assert len(receiver.received()) == 2


# --- (4) The claim lock -------------------------------------------------------------------------


def _no_worker(settings: Any) -> None:
    """Tasks enqueued on commit are kept, never run: these tests call deliver() themselves."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_flight_is_not_sent_again_by_a_second_deliver(approved, senior, receiver, settings) -> None:
    _no_worker(settings)
    apply(approved, senior)
    delivery = WebhookDelivery.objects.get()
    second: list[str] = []

    def deliver_again(request: Request) -> None:
        # Runs in the receiver's thread while the first deliver() waits for this answer
        # (once: were the lock broken, the second send would land here too).
        if second:
            return
        second.append("sending")
        try:
            second[0] = deliver(delivery.pk)
        finally:
            connection.close()

    receiver.on_request = deliver_again

    assert deliver(delivery.pk) == "delivered"

    assert second == ["not due or being sent"]
    assert len(receiver.received()) == 1
    assert WebhookAttempt.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_delivers_of_one_delivery_send_it_once(approved, senior, receiver, settings) -> None:
    _no_worker(settings)
    apply(approved, senior)
    delivery = WebhookDelivery.objects.get()
    results: queue.Queue[str | BaseException] = queue.Queue()
    first_result = threading.Event()
    barrier = threading.Barrier(2)

    def hold_until_the_other_returns(request: Request) -> None:
        # Keep the first send in flight until the other caller has given up: if the lock
        # let both through, both would wait here and the test would see two requests.
        first_result.wait(timeout=DEADLINE)

    receiver.on_request = hold_until_the_other_returns

    def work() -> None:
        try:
            barrier.wait(timeout=DEADLINE)
            results.put(deliver(delivery.pk))
        except BaseException as exc:  # reported below
            results.put(exc)
        finally:
            first_result.set()
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE * 2)

    outcomes = sorted(str(results.get_nowait()) for _ in range(2))
    assert outcomes == ["delivered", "not due or being sent"]
    assert len(receiver.received()) == 1
    assert WebhookAttempt.objects.count() == 1


# --- (5) Redelivery -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_redelivering_makes_a_new_delivery_of_the_same_event_and_audits_it(
    approved, senior, ops, receiver, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        apply(approved, senior)
    original = WebhookDelivery.objects.get()
    assert original.state == DeliveryState.DELIVERED

    with django_capture_on_commit_callbacks(execute=True):
        again = redeliver(actor=ops, delivery=original)

    assert again.pk != original.pk
    assert (again.event_id, again.endpoint_id) == (original.event_id, original.endpoint_id)
    entry = AuditEntry.objects.get(verb=AuditVerb.WEBHOOK_REDELIVERED)
    assert (entry.actor_label, entry.target_type, entry.target_id) == (
        "otto",
        "accounts.webhookdelivery",
        str(again.pk),
    )
    assert entry.after == {"event": original.event_id, "of_delivery": original.pk}
    first, second = receiver.received()
    assert first.headers["Docket-Event-Id"] == second.headers["Docket-Event-Id"] == str(original.event_id)
    assert (first.headers["Docket-Delivery"], second.headers["Docket-Delivery"]) == (str(original.pk), str(again.pk))
    assert first.body == second.body
    assert signature_is_valid(approved.secret, second)
    again.refresh_from_db()
    assert (again.state, again.attempts) == (DeliveryState.DELIVERED, 1)
    assert WebhookDelivery.objects.get(pk=original.pk).attempts == 1
