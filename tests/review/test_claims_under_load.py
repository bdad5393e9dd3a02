"""Reviewers claim and decide while flags keep arriving, on PostgreSQL: no double claim, no deadlock, no error.

The short version of bench/load_reviewers.py (50 reviewers, 1,000 flags/s,
a minute): REVIEWERS threads claim the next case and decide it, back to
back, while one thread ingests a steady flow of flags, many of them
joining the very cases being decided (same account, same content), for
SECONDS. Decisions are a mix of violating and not violating, so a decision
also writes the account's violation counts while ingestion counts its
flags: both sides lock the same account and case rows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, F, Sum

from accounts.models import Account
from console.audit import verify_chain
from console.models import AuditEntry, AuditVerb
from console.roles import Role
from review.models import Case, CaseStatus, Category, Decision, Flag, Outcome, Queue
from review.services import Verdict, claim_next_case, ingest_flags, record_decision
from tests.factories import make_integration

REVIEWERS = 8
SECONDS = 10.0
FLAGS_PER_SECOND = 50
BATCH = 10
USERS = 40
TEXTS = 6


@dataclass
class Tally:
    claims: list[tuple[int, int]] = field(default_factory=list)  # (case, reviewer)
    decided: list[tuple[int, int]] = field(default_factory=list)
    ingested: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def flow(integration: Any, tally: Tally, stop: threading.Event) -> None:
    """Batches of BATCH flags at FLAGS_PER_SECOND, each batch on its own schedule (open loop)."""
    try:
        interval, n, start = BATCH / FLAGS_PER_SECOND, 0, time.monotonic()
        while not stop.is_set():
            payloads = [
                {
                    "id": f"load-{n}-{i}",
                    "user": f"user-{(n * 7 + i) % USERS}",
                    "prompt": f"text {(n + i) % TEXTS}",
                    "source": "generic",
                    "result": {"signals": [{"category": "harassment", "level": "high"}]},
                }
                for i in range(BATCH)
            ]
            outcomes = ingest_flags(integration=integration, payloads=payloads)
            with tally.lock:
                tally.ingested += sum(o.status == "created" for o in outcomes)
                tally.batches += 1
            n += 1
            stop.wait(max(0.0, start + n * interval - time.monotonic()))
    except Exception as exc:
        tally.errors.append(f"ingest: {exc!r}")
    finally:
        connection.close()


def review(reviewer: Any, queue: Queue, harassment: Category, tally: Tally, stop: threading.Event) -> None:
    try:
        n = 0
        while not stop.is_set():
            case = claim_next_case(actor=reviewer, queue=queue)
            if case is None:
                stop.wait(0.01)
                continue
            with tally.lock:
                tally.claims.append((case.pk, reviewer.pk))
            n += 1
            verdict = (
                Verdict(Outcome.VIOLATING, category=harassment, severity="medium")
                if n % 2
                else Verdict(Outcome.NOT_VIOLATING)
            )
            record_decision(actor=reviewer, case=case, verdict=verdict)
            with tally.lock:
                tally.decided.append((case.pk, reviewer.pk))
    except Exception as exc:
        tally.errors.append(f"reviewer {reviewer.pk}: {exc!r}")
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reviewers_claim_and_decide_while_flags_arrive_without_double_claims_deadlocks_or_errors(make_staff) -> None:
    integration = make_integration()
    queue = Queue.objects.get(slug="general")
    harassment = Category.objects.get(pk="harassment")
    reviewers = [make_staff(Role.REVIEWER) for _ in range(REVIEWERS)]
    seq_before = AuditEntry.objects.count()
    tally, stop = Tally(), threading.Event()

    threads = [threading.Thread(target=flow, args=(integration, tally, stop))]
    threads += [threading.Thread(target=review, args=(r, queue, harassment, tally, stop)) for r in reviewers]
    for thread in threads:
        thread.start()
    stop.wait(SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"

    assert tally.errors == []  # a deadlock or a lock timeout would be here
    # Flags kept arriving and the reviewers really worked in parallel on the same queue. (How fast is
    # the benchmark's business: the reviewer threads share this process's one interpreter lock.)
    assert tally.ingested >= 100
    assert len(tally.decided) >= 20
    assert len({reviewer for _, reviewer in tally.decided}) == REVIEWERS

    # No double claim: every case claimed once, decided once, by whoever claimed it.
    claims = Counter(case for case, _ in tally.claims)
    assert max(claims.values()) == 1
    assert sorted(tally.decided) == sorted(tally.claims)
    decisions = Counter(Decision.objects.values_list("case_id", flat=True))
    assert decisions == Counter(case for case, _ in tally.decided)
    assert Case.objects.filter(pk__in=claims, status=CaseStatus.CLOSED).count() == len(claims)
    assert AuditEntry.objects.filter(verb=AuditVerb.CASE_CLAIMED).count() == len(tally.claims)
    assert AuditEntry.objects.filter(verb=AuditVerb.CASE_DECIDED).count() == len(tally.decided)
    assert AuditEntry.objects.count() == seq_before + 2 * len(tally.decided)

    # Every flag stored once and counted once, in its account and in its case; every violation counted.
    assert Flag.objects.count() == tally.ingested
    assert Account.objects.aggregate(n=Sum("flag_count"))["n"] == tally.ingested
    assert not Case.objects.annotate(n=Count("flags")).exclude(flag_count=F("n")).exists()
    violating = Decision.objects.filter(outcome=Outcome.VIOLATING).count()
    assert Account.objects.aggregate(n=Sum("violation_count"))["n"] == violating
    assert verify_chain()[1] is None
