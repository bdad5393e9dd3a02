"""Ingestion sends a random share of the flags below threshold to the calibration queue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Violation
from review.calibration import sampled
from review.models import Case, Flag, Outcome, PolicyProfile, Queue, Severity
from review.services import ingest_flags
from tests.factories import flag_payload, hold, make_decision, make_integration

BELOW = {"signals": [{"category": "violence", "level": "low", "score": 0.4}]}  # Default: violence at medium
ABOVE = {"signals": [{"category": "violence", "level": "high", "score": 0.97}]}


def _rate(integration, percent: str) -> None:  # type: ignore[no-untyped-def]
    PolicyProfile.objects.filter(pk=integration.profile_id).update(calibration_rate=Decimal(percent))


@pytest.fixture
def acme(roles):  # type: ignore[no-untyped-def]
    return make_integration("Acme")


def test_it_draws_about_the_rate_and_the_same_answer_for_the_same_flag() -> None:
    draws = [sampled(integration_id=7, external_id=f"req-{n}", rate=1.0) for n in range(20_000)]
    assert 150 <= sum(draws) <= 250  # 1 % of 20,000 is 200; a binomial's 99.99 % range is about ±60
    assert draws == [sampled(integration_id=7, external_id=f"req-{n}", rate=1.0) for n in range(20_000)]
    # Another integration's request ids are drawn independently.
    assert [sampled(integration_id=8, external_id=f"req-{n}", rate=1.0) for n in range(20_000)] != draws
    assert not any(sampled(integration_id=7, external_id=f"req-{n}", rate=0) for n in range(1000))
    assert all(sampled(integration_id=7, external_id=f"req-{n}", rate=100) for n in range(1000))


@pytest.mark.django_db
def test_a_drawn_flag_below_threshold_opens_a_calibration_case(acme, calibration_sampling) -> None:
    _rate(acme, "100")

    [outcome] = ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW)])

    case = Case.objects.select_related("queue").get(pk=outcome.case)
    assert (outcome.queued, outcome.queue) == (True, "calibration")
    assert case.calibration is True
    assert case.queue.kind == Queue.Kind.CALIBRATION
    assert (case.category_id, case.level, case.flag_count) == ("violence", 1, 1)
    assert case.routing["calibration_rate"] == 100.0
    assert case.routing["threshold"] == "medium"
    flag = Flag.objects.get(pk=outcome.flag)
    assert (flag.needs_review, flag.case_id) == (False, case.pk)


@pytest.mark.django_db
def test_a_profile_at_zero_percent_samples_nothing(acme, calibration_sampling) -> None:
    _rate(acme, "0")

    outcomes = ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW) for _ in range(50)])

    assert not any(o.queued for o in outcomes)
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_a_flag_that_needs_review_is_never_a_sample(acme, calibration_sampling) -> None:
    _rate(acme, "100")

    [outcome] = ingest_flags(integration=acme, payloads=[flag_payload(result=ABOVE)])

    case = Case.objects.get(pk=outcome.case)
    assert case.calibration is False
    assert outcome.queue != "calibration"


@pytest.mark.django_db
def test_it_draws_per_flag_at_the_profiles_rate(acme, calibration_sampling) -> None:
    _rate(acme, "10")
    payloads = [flag_payload(result=BELOW, user=f"user-{n}", prompt=f"p{n}") for n in range(400)]
    expected = {p["id"] for p in payloads if sampled(integration_id=acme.pk, external_id=p["id"], rate=10.0)}

    outcomes = ingest_flags(integration=acme, payloads=payloads)

    assert {o.id for o in outcomes if o.queued} == expected
    assert 20 <= len(expected) <= 60
    assert Case.objects.filter(calibration=True).count() == len(expected)


@pytest.mark.django_db
def test_flags_not_drawn_cost_no_query_of_their_own(acme, calibration_sampling, django_assert_num_queries) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _rate(acme, "1")
    ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW)])  # loads and caches the policy

    def undrawn(n: int) -> list[dict]:  # type: ignore[type-arg]
        out = []
        while len(out) < n:
            p = flag_payload(result=BELOW)
            if not sampled(integration_id=acme.pk, external_id=p["id"], rate=1.0):
                out.append(p)
        return out

    with CaptureQueriesContext(connection) as one:
        ingest_flags(integration=acme, payloads=undrawn(1))
    with django_assert_num_queries(len(one.captured_queries)):
        ingest_flags(integration=acme, payloads=undrawn(200))


@pytest.mark.django_db
def test_a_flag_that_needs_review_turns_an_open_calibration_case_into_a_review_case(acme, calibration_sampling) -> None:
    _rate(acme, "100")
    [sample] = ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW, prompt="same", response="same")])

    [real] = ingest_flags(integration=acme, payloads=[flag_payload(result=ABOVE, prompt="same", response="same")])

    assert real.case == sample.case
    case = Case.objects.select_related("queue").get(pk=real.case)
    assert case.calibration is False
    assert case.queue.slug == "self-harm-violence"  # routed by the rules, as a flag that needs review is
    assert (case.level, case.flag_count, case.routing.get("calibration_rate")) == (3, 2, None)


@pytest.mark.django_db
def test_a_violating_decision_on_a_calibration_sample_is_a_real_violation(acme, calibration_sampling, reviewer) -> None:
    _rate(acme, "100")
    [outcome] = ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW)])
    case = Case.objects.get(pk=outcome.case)

    decision = make_decision(case, reviewer, outcome=Outcome.VIOLATING, category=case.category,
                             severity=Severity.MEDIUM)

    violation = Violation.objects.get(decision=decision)
    assert violation.account_id == case.account_id


@pytest.mark.django_db
def test_the_case_page_and_the_list_say_calibration_sample(acme, calibration_sampling, client, senior) -> None:
    _rate(acme, "2.5")
    payload = next(
        p for p in (flag_payload(result=BELOW) for _ in range(2000))
        if sampled(integration_id=acme.pk, external_id=p["id"], rate=2.5)
    )
    [outcome] = ingest_flags(integration=acme, payloads=[payload])
    client.force_login(senior)
    hold(Case.objects.get(pk=outcome.case), senior)

    page = client.get(reverse("review:case", args=[outcome.case])).content.decode()
    listing = client.get(reverse("review:cases"), {"calibration": "true"}).content.decode()
    others = client.get(reverse("review:cases"), {"calibration": "false"}).content.decode()

    assert "calibration sample" in page
    assert "one of a random 2.5 % of such flags" in page
    assert "calibration sample" in listing and f">{outcome.case}</a>" in listing
    assert f">{outcome.case}</a>" not in others


@pytest.mark.django_db
def test_a_changed_rate_reaches_ingestion_at_once(acme, calibration_sampling) -> None:
    # The policy is cached per process while the version the triggers keep holds (review/policy.py);
    # a migration that rebuilt a policy table on SQLite once dropped them.
    _rate(acme, "100")
    [first] = ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW)])
    _rate(acme, "0")
    [second] = ingest_flags(integration=acme, payloads=[flag_payload(result=BELOW, prompt="other")])

    assert (first.queued, second.queued) == (True, False)
