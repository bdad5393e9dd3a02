"""Redis stops while flags arrive and actions are applied: ingest keeps answering, and nothing is lost.

Docket is configured as in production with the rq backend: the cache and
the task queue are a (private) Redis, which the test kills while a thread
keeps sending flag batches and people decide cases and apply actions.
Redis comes back empty (no persistence), as after a crash. A real RQ
worker runs all along under a supervisor (RQ's worker may quit when Redis
goes away between two jobs; it is started again). The periodic jobs then
run (enqueued the way `rqcron` does at its next tick), and every piece of
work must be done exactly once: each webhook event delivered once, each
account's status published, each violating account evaluated (one
proposal, not two).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from pytest_django import Settings

from accounts.models import (
    Action,
    ActionKind,
    DeliveryState,
    EnforcementRule,
    RuleKind,
    StatusDirty,
    WebhookAttempt,
    WebhookDelivery,
)
from accounts.services import apply_action, approve_action, create_endpoint, propose_action
from accounts.status import cache_key
from console.audit import verify_chain
from console.periodic import PERIODIC_JOBS, enqueue_periodic
from review.models import Case, Category, Flag, Outcome
from review.services import Verdict, claim_next_case, record_decision
from tests.factories import Api, flag_payload, make_key
from tests.servers import (
    RedisServer,
    WebhookReceiver,
    app_env,
    manage,
    shared_test_database_url,
    supervised,
    wait_until,
)

WORKER = ["rqworker", "default", "--job-class", "django_tasks_rq.Job"]
DEADLINE = 60.0


def use_redis(settings: Settings, redis_url: str) -> None:
    """What REDIS_URL + DOCKET_TASK_BACKEND=rq configure (console/settings.py), on the private server.

    No KEY_PREFIX: the server is this test's alone, and the worker (settings from its environment) must
    find the keys this process writes.
    """
    settings.CACHES = {
        "default": {
            "BACKEND": "console.cache.DocketRedisCache",
            "LOCATION": redis_url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.RQ_QUEUES = {"default": {"URL": redis_url, "DEFAULT_TIMEOUT": 60}}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


class FlagFlow:
    """A thread sending batches of flags through the API until stopped; records every answer."""

    def __init__(self, secret: str) -> None:
        self.api = Api(Client(), secret)
        self.answers: list[tuple[int, list[str]]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            n = 0
            while not self.stopping.is_set():
                flags = [
                    flag_payload(id=f"flow-{n}-{i}", user=f"flow-user-{(n + i) % 7}", prompt=f"text {(n * i) % 5}")
                    for i in range(5)
                ]
                response = self.api.post_flags(*flags)
                self.answers.append((response.status_code, [f["id"] for f in flags]))
                n += 1
                self.stopping.wait(0.02)
        finally:
            connection.close()

    def answered(self) -> int:
        return len(self.answers)


@pytest.mark.postgres
@pytest.mark.redis
def test_with_redis_down_ingest_answers_and_all_work_is_done_once_it_is_back(
    transactional_db: None,
    settings: Settings,
    redis_server: RedisServer,
    webhook_receiver: WebhookReceiver,
    integration: Any,
    reviewer: Any,
    senior: Any,
    ops: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_redis(settings, redis_server.url())
    EnforcementRule.objects.create(name="Any violation warns", kind=RuleKind.ANY, action_kind=ActionKind.WARN)
    _, secret = create_endpoint(actor=ops, integration=integration, url=webhook_receiver.url, events=[])
    key = make_key(integration)
    api = Api(Client(), key.secret)
    hate = Category.objects.get(pk="hate")

    # Cases to decide and accounts to warn, before and during the outage.
    users = [f"person-{i}" for i in range(4)]
    response = api.post_flags(*[flag_payload(id=f"{u}-flag", user=u, prompt=f"threat from {u}") for u in users])
    assert response.status_code == 200
    queue = Case.objects.get(flags__external_id="person-0-flag").queue

    def decide_one() -> None:
        case = claim_next_case(actor=reviewer, queue=queue)
        assert case is not None
        record_decision(actor=reviewer, case=case, verdict=Verdict(Outcome.VIOLATING, category=hate, severity="high"))

    def warn(user: str) -> None:
        account = Flag.objects.get(external_id=f"{user}-flag").account
        action = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="spam")
        approve_action(actor=senior, action=action, reason="agreed")
        apply_action(actor=senior, action=action, reason="go")

    # A worker runs all along, under a supervisor that starts it again if it exits, as in production.
    env = app_env(database_url=shared_test_database_url(), redis_url=redis_server.url(), backend="rq")
    with supervised("rqworker", manage(*WORKER), env=env, log=tmp_path / "rqworker.log") as worker:
        flow = FlagFlow(key.secret)
        flow.thread.start()
        try:
            wait_until(lambda: flow.answered() >= 3, what="flag batches before the outage")
            decide_one()
            warn("person-0")
            wait_until(
                lambda: (
                    WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).exists()
                    and Action.objects.filter(rule__isnull=False).exists()
                ),
                what=f"the worker at work before the outage:\n{worker.tail()}",
                deadline=DEADLINE,
            )

            redis_server.stop()
            at_stop = flow.answered()
            decide_one()
            decide_one()
            warn("person-1")
            warn("person-2")
            status = api.get("accounts/person-1/status")
            assert status.status_code == 200 and status.json()["state"] == "warned"  # read from the database
            wait_until(lambda: flow.answered() >= at_stop + 5, what="flag batches while Redis is down")
            assert StatusDirty.objects.count() == 2  # person-1 and person-2: their statuses wait for the cache

            redis_server.start()  # empty: whatever was queued before is gone
            at_start = flow.answered()
            wait_until(lambda: flow.answered() >= at_start + 3, what="flag batches after Redis is back")
        finally:
            flow.stopping.set()
            flow.thread.join(timeout=DEADLINE)

        # The scheduler (rqcron) enqueues every periodic job when it starts, and every interval after.
        for job in PERIODIC_JOBS:
            enqueue_periodic(job.task_path)
        deliveries = WebhookDelivery.objects.all()
        wait_until(
            lambda: (
                not deliveries.exclude(state=DeliveryState.DELIVERED).exists()
                and not StatusDirty.objects.exists()
                and Action.objects.filter(rule__isnull=False).count() >= 3
            ),
            what="the worker catching up",
            deadline=DEADLINE,
        )
        wait_until(lambda: redis_server.client().llen("rq:queue:default") == 0, what="an empty queue")
        assert "Connection refused" in worker.log.read_text()  # the worker did meet the outage

    # Ingest answered throughout, and stored every flag once.
    assert {status for status, _ in flow.answers} == {200}
    sent = [i for _, ids in flow.answers for i in ids]
    assert Flag.objects.filter(external_id__in=sent).count() == len(set(sent)) == len(sent)
    assert not Flag.objects.filter(signals__isnull=True).exists()

    # Each webhook event delivered once: three warnings, three events, three deliveries, three POSTs.
    assert deliveries.count() == 3
    assert Counter(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == dict.fromkeys(
        deliveries.values_list("pk", flat=True), 1
    )
    assert sorted(webhook_receiver.event_ids()) == sorted(str(d.event_id) for d in deliveries)
    assert webhook_receiver.signed_by(secret)

    # The statuses that could not be published during the outage were published by the sweep …
    client = redis_server.client()
    for user in ("person-1", "person-2"):
        account = Flag.objects.get(external_id=f"{user}-flag").account
        cached = client.get(cache_key(account.integration_id, account.user_hash))
        assert cached is not None and json.loads(cached)["state"] == "warned", user
    # … and the one published before it, lost with Redis's memory, is read from the database on a miss.
    for user in ("person-0", "person-1", "person-2"):
        assert api.get(f"accounts/{user}/status").json()["state"] == "warned", user

    # Each of the three violating accounts evaluated, proposed for once.
    proposals = Counter(Action.objects.filter(rule__isnull=False).values_list("account_id", flat=True))
    assert len(proposals) == 3 and set(proposals.values()) == {1}
    assert verify_chain()[1] is None
    assert "not enqueued; the sweep will send it" in caplog.text
