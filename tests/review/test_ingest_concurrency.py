"""Two requests carrying the same flags at the same moment, on real PostgreSQL.

Each request runs in its own thread with its own database connection, so the
two transactions really overlap; a Barrier releases them together.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client

from accounts.models import Account
from review.models import Case, CaseStatus, Flag
from tests.factories import make_integration, make_key

# The test database is emptied after a transactional test; the `roles` fixture
# seeds again what the migrations seeded (taxonomy, profile, queues).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("roles")]

USERS = 20
CONTENTS = 50


def batch(prefix: str, indexes: range | list[int]) -> list[dict[str, Any]]:
    """Flags from 20 users over 50 texts: 100 (user, text) pairs each sent twice per 200 flags."""
    return [
        {
            "id": f"{prefix}-{i}",
            "user": f"user-{i % USERS}",
            "prompt": f"prompt {i % CONTENTS}",
            "response": "a response",
            "source": "generic",
            "result": {"signals": [{"category": "hate", "level": "high" if i % 2 else "low"}]},
        }
        for i in indexes
    ]


def post_together(secret: str, *batches: list[dict[str, Any]]) -> list[Any]:
    """POST each batch from its own thread, all released at once; the responses (or errors), in order."""
    barrier = threading.Barrier(len(batches))
    answers: list[Any] = [None] * len(batches)

    def send(slot: int, flags: list[dict[str, Any]]) -> None:
        try:
            client = Client(raise_request_exception=True)
            barrier.wait(timeout=10)
            answers[slot] = client.post(
                "/api/v1/flags",
                {"flags": flags},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {secret}",
            )
        except Exception as exc:  # a deadlock or an IntegrityError surfaces here
            answers[slot] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(slot, flags)) for slot, flags in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    return answers


def results_by_id(answers: list[Any]) -> dict[str, list[dict[str, Any]]]:
    for answer in answers:
        assert not isinstance(answer, BaseException), repr(answer)
        assert answer.status_code == 200, answer.content
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        for result in answer.json()["results"]:
            by_id[result["id"]].append(result)
    return by_id


def assert_counts_are_true() -> None:
    """Every count the ingestion keeps matches the rows it wrote."""
    real_per_account = dict(Flag.objects.values("account").annotate(n=Count("pk")).values_list("account", "n"))
    assert dict(Account.objects.values_list("pk", "flag_count")) == real_per_account
    real_per_case = dict(
        Flag.objects.filter(case__isnull=False).values("case").annotate(n=Count("pk")).values_list("case", "n")
    )
    assert dict(Case.objects.values_list("pk", "flag_count")) == real_per_case
    unresolved = Counter(Case.objects.exclude(status=CaseStatus.CLOSED).values_list("account", "content_hash"))
    assert [pair for pair, n in unresolved.items() if n > 1] == []
    assert not Flag.objects.filter(needs_review=True, case__isnull=True).exists()


def test_the_same_batch_sent_twice_at_once_stores_each_flag_once() -> None:
    secret = make_key(make_integration("Racer")).secret
    flags = batch("req", range(200))

    by_id = results_by_id(post_together(secret, flags, flags))

    assert Flag.objects.count() == 200
    assert len(by_id) == 200
    for external_id, (one, two) in by_id.items():
        assert sorted([one["status"], two["status"]]) == ["created", "duplicate"], external_id
        assert one["flag"] == two["flag"] == Flag.objects.get(external_id=external_id).pk
        assert (one["queued"], one["case"], one["queue"]) == (two["queued"], two["case"], two["queue"])
    assert Account.objects.count() == USERS
    assert set(Account.objects.values_list("flag_count", flat=True)) == {200 // USERS}
    assert Case.objects.count() == 100
    assert_counts_are_true()


def test_overlapping_batches_in_opposite_orders_store_each_flag_once() -> None:
    secret = make_key(make_integration("Racer")).secret
    first = batch("req", range(150))  # 0..149
    second = list(reversed(batch("req", range(50, 200))))  # 199..50

    by_id = results_by_id(post_together(secret, first, second))

    assert Flag.objects.count() == 200
    for external_id, results in by_id.items():
        statuses = sorted(r["status"] for r in results)
        shared = 50 <= int(external_id.split("-")[1]) < 150
        assert statuses == (["created", "duplicate"] if shared else ["created"]), external_id
        assert {r["flag"] for r in results} == {Flag.objects.get(external_id=external_id).pk}
    assert Account.objects.get(user_hash=Flag.objects.get(external_id="req-7").account.user_hash).flag_count == 10
    assert_counts_are_true()


def test_many_requests_joining_the_same_cases_keep_true_counts() -> None:
    """Four requests, different flag ids, the same users and texts: every flag joins a shared case."""
    secret = make_key(make_integration("Racer")).secret
    batches = [batch(f"r{n}", range(100)) for n in range(4)]

    by_id = results_by_id(post_together(secret, *batches))

    assert {r["status"] for results in by_id.values() for r in results} == {"created"}
    assert Flag.objects.count() == 400
    assert Case.objects.count() == 100
    assert set(Case.objects.values_list("flag_count", flat=True)) == {4}
    assert_counts_are_true()
