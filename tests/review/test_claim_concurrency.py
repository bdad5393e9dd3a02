"""Many reviewers claiming from one queue at once, on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from console.roles import Role
from review.models import Case, CaseStatus, Outcome, Queue
from review.services import Verdict, claim_next_case, record_decision
from tests.factories import make_case, make_integration

THREADS = 8
CASES = 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_share_a_case_and_lose_none(make_staff) -> None:
    integration = make_integration()
    for i in range(CASES):
        make_case(integration, prompt=f"case {i}")
    queue = Queue.objects.get(slug="general")
    reviewers = [make_staff(Role.REVIEWER) for _ in range(THREADS)]
    taken: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()

    def work(reviewer) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            while True:
                case = claim_next_case(actor=reviewer, queue=queue)
                if case is None:
                    return
                with lock:
                    taken.append((case.pk, reviewer.pk))
                record_decision(actor=reviewer, case=case, verdict=Verdict(Outcome.NOT_VIOLATING))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    counts = Counter(pk for pk, _ in taken)
    assert len(counts) == CASES and max(counts.values()) == 1  # every case once, none twice
    assert Case.objects.filter(status=CaseStatus.CLOSED).count() == CASES
    assert len({reviewer for _, reviewer in taken}) > 1  # they really worked in parallel
