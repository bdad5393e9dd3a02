"""The calibration numbers and the what-if, checked against a small dataset computed by hand.

The dataset (`calibration_data`), all on the Default profile (violence: medium
and above; hate: low and above) through the integration Acme, received two
days before NOW unless said otherwise. A flag's level in a category is its
highest signal there. Flags whose id starts with "cal-" are drawn for the
calibration sample (the draw is injected; the profile's rate is the default 1 %).

violence, high (met):
  V1 generic                  violating violence       30 s
  V2 generic                  violating violence       50 s
  V3 generic, low + high      not violating            70 s   (counts once, at high)
  V4 llamaguard "unsafe S1"   violating violence       90 s   (its own source)
  V5 generic                  escalated, then a senior: violating violence 40 s
  V6 generic                  not violating 20 s, corrected to violating (a correction has no time)
violence, medium (met):
  M1 generic                  violating violence       10 s
  M2 generic                  not violating            20 s
  M3 generic, + hate low      violating *hate*        100 s   (not violating for violence)
  M4 generic                  open, undecided
violence, low (below threshold):
  cal-L1, cal-L2, cal-L3 drawn: violating violence 15 s; not violating 25 s; open
  L4, L5, L6 not drawn
violence, negligible:
  cal-N3 drawn: not violating 5 s;  N1, N2 not drawn
hate, low (met):
  H1 generic                  not violating            60 s   (and M3's hate signal)
Outside: O1 generic violence high, violating, received 40 days before NOW;
B1 generic violence high, not violating, and B2 generic violence medium, open, through Beta on the
profile Games (no thresholds of its own: medium and above).

Wilson's interval, z = 1.96 (z² = 3.8416): with p = x/n,
  centre = (p + z²/2n) / (1 + z²/n),  half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from review.calibration import Period, calibration_rows, what_if, wilson
from review.models import Case, Category, Decision, Integration, Outcome, PolicyProfile, Severity
from review.services import Verdict, correct_decision, ingest_flags
from tests.factories import make_decision, make_integration

NOW = timezone.now().replace(microsecond=0)
RECENT = NOW - timedelta(days=2)


def _generic(*signals: tuple[str, str]) -> dict[str, Any]:
    return {"signals": [{"category": c, "level": level} for c, level in signals]}


def _flag(
    integration: Integration, fid: str, result: Any, *, source: str = "generic", when: Any = RECENT
) -> Case | None:
    payload = {"id": fid, "user": f"user-{fid}", "prompt": f"prompt {fid}", "response": f"response {fid}",
               "source": source, "result": result}
    [outcome] = ingest_flags(integration=integration, payloads=[payload], now=when)
    assert outcome.status == "created", outcome.errors
    return Case.objects.select_related("queue").get(pk=outcome.case) if outcome.case else None


def _decide(case: Case | None, who: Any, outcome: Outcome, seconds: int | None, category: str | None = None
            ) -> Decision:
    assert case is not None
    verdict: dict[str, Any] = {"outcome": outcome}
    if outcome == Outcome.VIOLATING:
        verdict.update(category=Category.objects.get(pk=category), severity=Severity.MEDIUM)
    if outcome == Outcome.ESCALATED:
        verdict["note"] = "a second look"
    decision = make_decision(Case.objects.select_related("queue").get(pk=case.pk), who, **verdict)
    Decision.objects.filter(pk=decision.pk).update(handling_seconds=seconds)  # times chosen for the median
    return decision


@pytest.fixture
def calibration_data(roles, reviewer, senior, monkeypatch) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("review.calibration.sampled", lambda *, external_id, **_: external_id.startswith("cal-"))
    acme = make_integration("Acme")
    games = PolicyProfile.objects.create(name="Games")
    beta = make_integration("Beta", profile=games)
    V, M = Outcome.VIOLATING, Outcome.NOT_VIOLATING

    _decide(_flag(acme, "V1", _generic(("violence", "high"))), reviewer, V, 30, "violence")
    _decide(_flag(acme, "V2", _generic(("violence", "high"))), reviewer, V, 50, "violence")
    _decide(_flag(acme, "V3", _generic(("violence", "low"), ("violence", "high"))), reviewer, M, 70)
    _decide(_flag(acme, "V4", "unsafe\nS1", source="llamaguard"), reviewer, V, 90, "violence")
    v5 = _flag(acme, "V5", _generic(("violence", "high")))
    _decide(v5, reviewer, Outcome.ESCALATED, 8)
    _decide(v5, senior, V, 40, "violence")
    v6 = _decide(_flag(acme, "V6", _generic(("violence", "high"))), reviewer, M, 20)
    correct_decision(actor=senior, decision=v6, reason="missed the threat",
                     verdict=Verdict(V, Category.objects.get(pk="violence"), Severity.HIGH))

    _decide(_flag(acme, "M1", _generic(("violence", "medium"))), reviewer, V, 10, "violence")
    _decide(_flag(acme, "M2", _generic(("violence", "medium"))), reviewer, M, 20)
    _decide(_flag(acme, "M3", _generic(("violence", "medium"), ("hate", "low"))), reviewer, V, 100, "hate")
    _flag(acme, "M4", _generic(("violence", "medium")))

    _decide(_flag(acme, "cal-L1", _generic(("violence", "low"))), reviewer, V, 15, "violence")
    _decide(_flag(acme, "cal-L2", _generic(("violence", "low"))), reviewer, M, 25)
    assert _flag(acme, "cal-L3", _generic(("violence", "low"))) is not None
    for fid in ("L4", "L5", "L6"):
        assert _flag(acme, fid, _generic(("violence", "low"))) is None
    _decide(_flag(acme, "cal-N3", _generic(("violence", "negligible"))), reviewer, M, 5)
    for fid in ("N1", "N2"):
        _flag(acme, fid, _generic(("violence", "negligible")))

    _decide(_flag(acme, "H1", _generic(("hate", "low"))), reviewer, M, 60)

    _decide(_flag(acme, "O1", _generic(("violence", "high")), when=NOW - timedelta(days=40)), reviewer, V, 1,
            "violence")
    _decide(_flag(beta, "B1", _generic(("violence", "high"))), reviewer, M, 1000)
    _flag(beta, "B2", _generic(("violence", "medium")))
    return {"acme": acme, "beta": beta, "default": acme.profile, "games": games}


# Default profile, last 30 days:
# (arrived, reviewed, violating, sampled, sample reviewed, sample violating, median seconds)
EXPECTED = {
    # V1 V2 V3 V5 V6: five arrived, all decided; violating V1 V2 V5 V6 (corrected) = 4;
    # times 30 50 70 40 20 (V6's original; V5's escalation does not count) → median 40
    ("generic", "violence", "high"): (5, 5, 4, 0, 0, 0, 40.0),
    ("llamaguard", "violence", "high"): (1, 1, 1, 0, 0, 0, 90.0),  # V4
    # M1 M2 M3 decided, M4 open; only M1 violating in violence; times 10 20 100 → 20
    ("generic", "violence", "medium"): (4, 3, 1, 0, 0, 0, 20.0),
    # L1-L6 arrived; the three drawn are the sample, two decided (L1 violating); times 15 25 → 20
    ("generic", "violence", "low"): (6, 2, 1, 3, 2, 1, 20.0),
    # N1 N2 N3; N3 drawn and decided not violating in 5 s
    ("generic", "violence", "negligible"): (3, 1, 0, 1, 1, 0, 5.0),
    # H1 not violating (60 s), M3 violating hate (100 s) → 1 of 2, median 80
    ("generic", "hate", "low"): (2, 2, 1, 0, 0, 0, 80.0),
}


def _table(rows: Any) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    return {
        (r.source, r.category, r.level_label): (
            r.arrived, r.reviewed, r.violating, r.sampled, r.sample_reviewed, r.sample_violating, r.median_seconds
        )
        for r in rows
    }


def _r(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return (round(interval[0], 3), round(interval[1], 3)) if interval else None


def test_wilson_matches_the_hand_computed_bounds() -> None:
    # 4/5: p = .8, z²/n = .76832, denominator 1.76832; centre (.8 + .38416)/1.76832 = .66965;
    #      half 1.96·sqrt(.032 + .038416)/1.76832 = 1.96·.26536/1.76832 = .29412 → (.376, .964)
    assert _r(wilson(4, 5)) == (0.376, 0.964)
    # 1/3: z²/n = 1.28053, denominator 2.28053; centre (.33333 + .64027)/2.28053 = .42692;
    #      half 1.96·sqrt(.074074 + .106711)/2.28053 = .36543 → (.061, .792)
    assert _r(wilson(1, 3)) == (0.061, 0.792)
    # 1/2: centre (.5 + .9604)/2.9208 = .5; half 1.96·sqrt(.125 + .2401)/2.9208 = .40547 → (.095, .905)
    assert _r(wilson(1, 2)) == (0.095, 0.905)
    # 1/1: centre (1 + 1.9208)/4.8416 = .60327; half 1.96·sqrt(.9604)/4.8416 = .39673 → (.207, 1.000)
    assert _r(wilson(1, 1)) == (0.207, 1.0)
    # 0/1: centre 1.9208/4.8416 = .39673 = half → (0, .793)
    assert _r(wilson(0, 1)) == (0.0, 0.793)
    # 5/6: z²/n = .64027, denominator 1.64027; centre (.83333 + .32013)/1.64027 = .70322;
    #      half 1.96·sqrt(.023148 + .026678)/1.64027 = .26673 → (.436, .970)
    assert _r(wilson(5, 6)) == (0.436, 0.970)
    assert wilson(0, 0) is None


@pytest.mark.django_db
def test_the_numbers_per_source_category_and_level_match_the_hand_count(calibration_data) -> None:
    rows = calibration_rows(Period(NOW - timedelta(days=30), NOW), profile_id=calibration_data["default"].pk)

    assert _table(rows) == EXPECTED
    shares = {(r.source, r.category, r.level_label): (r.share.value, _r(r.share.interval)) for r in rows}
    assert shares[("generic", "violence", "high")] == (0.8, (0.376, 0.964))
    assert shares[("llamaguard", "violence", "high")] == (1.0, (0.207, 1.0))
    assert shares[("generic", "violence", "medium")] == (pytest.approx(1 / 3), (0.061, 0.792))
    assert shares[("generic", "violence", "low")] == (0.5, (0.095, 0.905))
    assert shares[("generic", "violence", "negligible")] == (0.0, (0.0, 0.793))
    low = next(r for r in rows if (r.category, r.level_label) == ("violence", "low"))
    assert (low.sample_share.value, _r(low.sample_share.interval)) == (0.5, (0.095, 0.905))


@pytest.mark.django_db
def test_the_filters_and_the_period_choose_the_flags(calibration_data) -> None:
    month = Period(NOW - timedelta(days=30), NOW)

    everyone = _table(calibration_rows(month))
    beta = _table(calibration_rows(month, integration_id=calibration_data["beta"].pk))
    games = _table(calibration_rows(month, profile_id=calibration_data["games"].pk))
    quarter = _table(
        calibration_rows(Period(NOW - timedelta(days=90), NOW), integration_id=calibration_data["acme"].pk)
    )
    hate = _table(calibration_rows(month, category="hate"))

    # B1 joins V1-V6's row without a filter: 6 arrived, 6 decided, 4 violating; times 20 30 40 50 70 1000 → 45
    assert everyone[("generic", "violence", "high")] == (6, 6, 4, 0, 0, 0, 45.0)
    assert beta == games == {
        ("generic", "violence", "high"): (1, 1, 0, 0, 0, 0, 1000.0),
        ("generic", "violence", "medium"): (1, 0, 0, 0, 0, 0, None),
    }
    # 90 days take in O1 (violating, 1 s): 6 arrived, 5 violating; times 1 20 30 40 50 70 → 35
    assert quarter[("generic", "violence", "high")] == (6, 6, 5, 0, 0, 0, 35.0)
    assert hate == {("generic", "hate", "low"): (2, 2, 1, 0, 0, 0, 80.0)}


@pytest.mark.django_db
def test_the_what_if_matches_the_hand_computation(calibration_data) -> None:
    default = calibration_data["default"]
    # violence over the last 30 days, sources together (O1 is older, B1 is on Games):
    #   high:       6 arrived (V1-V6), 6 decided, 5 violating  → 5/6, (.436, .970)
    #   medium:     4 arrived, 3 decided, 1 violating           → 1/3, (.061, .792)
    #   low:        6 arrived, 2 decided, 1 violating           → 1/2, (.095, .905)
    #   negligible: 3 arrived, 1 decided, 0 violating           → 0/1, (0, .793)
    low = what_if(default, "violence", "low", days=30, now=NOW)

    assert [(e.level.label, e.arrived, e.reviewed, e.violating, e.reviewed_if_proposed) for e in low.levels] == [
        ("negligible", 3, 1, 0, False),
        ("low", 6, 2, 1, True),
        ("medium", 4, 3, 1, True),
        ("high", 6, 6, 5, True),
    ]
    assert low.current == "medium"
    # 6 + 4 + 6 = 16 flags in 30 days; today's medium: 6 + 4 = 10
    assert round(low.review_per_day, 3) == round(16 / 30, 3) == 0.533
    assert round(low.current_review_per_day, 3) == 0.333
    # caught: 6·5/6 + 4·1/3 + 6·1/2 = 5 + 1.333 + 3 = 9.333;
    #   low bound 6·.43649 + 4·.06149 + 6·.09453 = 3.432; high 6·.96995 + 4·.79235 + 6·.90547 = 14.422
    assert (round(low.caught.value, 3), round(low.caught.low, 3), round(low.caught.high, 3)) == (9.333, 3.432, 14.422)
    # missed: only negligible, 3·0 = 0, up to 3·.79346 = 2.380
    assert (round(low.missed.value, 3), round(low.missed.low, 3), round(low.missed.high, 3)) == (0.0, 0.0, 2.380)
    assert (low.unknown_caught, low.unknown_missed) == (0, 0)

    high = what_if(default, "violence", "high", days=30, now=NOW)
    assert round(high.review_per_day, 3) == 0.2  # 6 / 30
    # caught 6·5/6 = 5 (2.619 … 5.820); missed 4·1/3 + 6·1/2 + 0 = 4.333
    #   (4·.06149 + 6·.09453 = .813 … 4·.79235 + 6·.90547 + 3·.79346 = 10.983)
    assert (round(high.caught.value, 3), round(high.caught.low, 3), round(high.caught.high, 3)) == (5.0, 2.619, 5.820)
    assert (round(high.missed.value, 3), round(high.missed.low, 3), round(high.missed.high, 3)) == (4.333, 0.813,
                                                                                                   10.983)

    off = what_if(default, "violence", "off", days=30, now=NOW)
    assert off.review_per_day == 0
    assert (off.caught.value, round(off.missed.value, 3)) == (0, 9.333)


@pytest.mark.django_db
def test_a_category_with_fewer_levels_estimates_what_it_has(calibration_data) -> None:
    # hate over 30 days: only low (H1, M3: 1 of 2 violating); nothing at the other levels
    result = what_if(calibration_data["default"], "hate", "medium", days=30, now=NOW)

    assert result.current == "low"
    assert [(e.level.label, e.arrived) for e in result.levels] == [
        ("negligible", 0), ("low", 2), ("medium", 0), ("high", 0)
    ]
    assert result.review_per_day == 0
    # missed 2·1/2 = 1, from 2·.09453 = .189 to 2·.90547 = 1.811
    assert (result.missed.value, round(result.missed.low, 3), round(result.missed.high, 3)) == (1.0, 0.189, 1.811)
    assert (result.caught.value, result.unknown_caught, result.unknown_missed) == (0, 0, 0)


@pytest.mark.django_db
def test_flags_at_a_level_nobody_decided_are_counted_as_unknown(calibration_data) -> None:
    # Games, violence: B1 high (decided, not violating), B2 medium (open)
    result = what_if(calibration_data["games"], "violence", "low", days=30, now=NOW)

    assert (result.caught.value, result.caught.high > 0) == (0, True)
    assert (result.unknown_caught, result.unknown_missed) == (1, 0)
    assert round(result.review_per_day, 4) == round(2 / 30, 4)


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_computes_the_same_numbers_with_percentile_cont(calibration_data) -> None:
    from django.db import connection

    assert connection.vendor == "postgresql"
    rows = calibration_rows(Period(NOW - timedelta(days=30), NOW), profile_id=calibration_data["default"].pk)
    assert _table(rows) == EXPECTED
    assert round(what_if(calibration_data["default"], "violence", "low", days=30, now=NOW).caught.low, 3) == 3.432


@pytest.mark.django_db
def test_the_daily_roll_up_gives_the_same_numbers(calibration_data) -> None:
    from review.models import CalibrationDay, CalibrationRollup
    from review.services.calibration import roll_up_calibration_days

    rolled = roll_up_calibration_days(now=NOW, max_days=40)  # yesterday back to O1's day

    assert rolled == [(NOW - timedelta(days=n)).date() for n in range(1, 41)]
    again = roll_up_calibration_days(now=NOW, max_days=3)  # safe to run twice: the next days, none again
    assert again == [(NOW - timedelta(days=n)).date() for n in range(41, 44)]
    # The roll-up holds V1-V6, M1-M4, L1-L6, N1-N3, H1 (with M3's hate) and B1, B2 on their day, O1 on its own.
    recent = {
        (category, level): flags
        for category, level, flags in CalibrationDay.objects.filter(
            day=RECENT.date(), integration=calibration_data["acme"], source="generic"
        ).values_list("category_id", "level", "flags")
    }
    assert recent == {("violence", 3): 5, ("violence", 2): 4, ("violence", 1): 6, ("violence", 0): 3, ("hate", 1): 2}
    assert CalibrationRollup.objects.count() == 43
    assert CalibrationDay.objects.filter(day=(NOW - timedelta(days=40)).date()).values_list("flags", "level").get() == (
        1, 3
    )  # O1
    # A 30-day period now reads 28 whole days from the roll-up and the two partial days at its ends from the flags.
    rows = calibration_rows(Period(NOW - timedelta(days=30), NOW), profile_id=calibration_data["default"].pk)
    assert _table(rows) == EXPECTED
    low = what_if(calibration_data["default"], "violence", "low", days=30, now=NOW)
    assert (round(low.caught.value, 3), round(low.caught.low, 3), round(low.review_per_day, 3)) == (9.333, 3.432, 0.533)
    quarter = calibration_rows(Period(NOW - timedelta(days=90), NOW), integration_id=calibration_data["acme"].pk)
    assert _table(quarter)[("generic", "violence", "high")] == (6, 6, 5, 0, 0, 0, 35.0)


@pytest.mark.django_db
def test_a_flag_received_exactly_at_midnight_counts_on_the_day_that_starts(roles) -> None:
    from review.models import CalibrationDay
    from review.services.calibration import roll_up_calibration_days

    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    _flag(make_integration("Acme"), "V1", _generic(("violence", "high")), when=midnight)

    assert roll_up_calibration_days(now=midnight + timedelta(days=1), max_days=2) == [
        midnight.date(), (midnight - timedelta(days=1)).date()
    ]
    assert list(CalibrationDay.objects.values_list("day", "flags")) == [(midnight.date(), 1)]
    rows = calibration_rows(Period(midnight, midnight + timedelta(hours=1)))
    assert [(row.category, row.arrived) for row in rows] == [("violence", 1)]
