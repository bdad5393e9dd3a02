"""Violation windows and rates: moved by decisions and corrections, aged by the sweep, checked by recompute."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from accounts import rates
from accounts.models import Account, AccountRates, UsageDay, Violation
from accounts.services import UsageRow, record_usage
from review.models import Category, Decision, Outcome, Severity
from review.services import Verdict, correct_decision
from tests.factories import make_case, make_decision

pytestmark = pytest.mark.django_db

_prompts = itertools.count(1)
WINDOWS = ("v24h", "v7d", "v30d", "v90d")


def violate(integration, reviewer, *, user="u1", days_ago=0.0):  # type: ignore[no-untyped-def]
    """A flag sent `days_ago`, decided violating now: the real path to a Violation."""
    occurred_at = timezone.now() - timedelta(days=days_ago)
    case = make_case(integration, user=user, prompt=f"prompt {next(_prompts)}", occurred_at=occurred_at.isoformat())
    decision = make_decision(
        case, reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(pk="hate"), severity=Severity.HIGH
    )
    return Violation.objects.get(decision=decision)


def windows(account_id: int) -> tuple[int, ...]:
    row = AccountRates.objects.filter(account_id=account_id).values_list(*WINDOWS).first()
    return tuple(row) if row else (0, 0, 0, 0)


def total(account_id: int) -> int:
    return Account.objects.get(pk=account_id).violation_count


def correct(senior, decision: Decision, outcome: Outcome) -> Decision:  # type: ignore[no-untyped-def]
    verdict = (
        Verdict(outcome, category=Category.objects.get(pk="hate"), severity=Severity.HIGH)
        if outcome == Outcome.VIOLATING
        else Verdict(outcome)
    )
    return correct_decision(actor=senior, decision=decision, verdict=verdict, reason="second look")


def recompute_command(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("recompute_violation_rates", *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


# --- Decisions and corrections ------------------------------------------------------------------


def test_a_violating_decision_counts_in_every_window_and_in_the_accounts_total(integration, reviewer) -> None:
    violation = violate(integration, reviewer)

    assert windows(violation.account_id) == (1, 1, 1, 1)
    assert total(violation.account_id) == 1


def test_a_decision_that_is_not_violating_counts_nowhere(integration, reviewer) -> None:
    case = make_case(integration, user="u1", prompt="fine")

    make_decision(case, reviewer, outcome=Outcome.NOT_VIOLATING)

    assert windows(case.account_id) == (0, 0, 0, 0)
    assert total(case.account_id) == 0


def test_a_correction_to_not_violating_takes_the_violation_out_and_a_correction_back_puts_it_in(
    integration, reviewer, senior
) -> None:
    violation = violate(integration, reviewer, days_ago=10)
    account_id = violation.account_id

    cleared = correct(senior, violation.decision, Outcome.NOT_VIOLATING)

    assert windows(account_id) == (0, 0, 0, 0)
    assert total(account_id) == 0
    assert Violation.objects.get(pk=violation.pk).voided_at is not None

    correct(senior, cleared, Outcome.VIOLATING)

    assert windows(account_id) == (0, 0, 1, 1)
    assert total(account_id) == 1
    assert Violation.objects.confirmed().filter(account_id=account_id).count() == 1


def test_a_correction_from_one_category_to_another_keeps_the_counts(integration, reviewer, senior) -> None:
    violation = violate(integration, reviewer)

    correct(senior, violation.decision, Outcome.VIOLATING)

    assert windows(violation.account_id) == (1, 1, 1, 1)
    assert total(violation.account_id) == 1


def test_a_violation_sent_ten_days_ago_counts_in_30d_and_90d_but_not_24h_or_7d(integration, reviewer) -> None:
    violation = violate(integration, reviewer, days_ago=10)

    assert windows(violation.account_id) == (0, 0, 1, 1)


def test_a_violation_sent_a_hundred_days_ago_counts_in_no_window_but_in_the_total(integration, reviewer) -> None:
    violation = violate(integration, reviewer, days_ago=100)

    assert windows(violation.account_id) == (0, 0, 0, 0)
    assert total(violation.account_id) == 1


def test_each_account_keeps_its_own_counts(integration, reviewer) -> None:
    mine = violate(integration, reviewer, user="u1")
    violate(integration, reviewer, user="u1", days_ago=3)
    theirs = violate(integration, reviewer, user="u2", days_ago=40)

    assert windows(mine.account_id) == (1, 2, 2, 2)
    assert windows(theirs.account_id) == (0, 0, 0, 1)


# --- The sweep -----------------------------------------------------------------------------------


def test_the_sweep_moves_a_violation_out_of_each_window_it_has_left(integration, reviewer) -> None:
    now = timezone.now()
    violation = violate(integration, reviewer, days_ago=6.5)
    assert rates.sweep(now=now) == 0  # nothing has left a window yet
    assert windows(violation.account_id) == (0, 1, 1, 1)

    assert rates.sweep(now=now + timedelta(days=1)) == 1

    assert windows(violation.account_id) == (0, 0, 1, 1)
    assert rates.sweep(now=now + timedelta(days=1)) == 0  # nothing left since
    assert windows(violation.account_id) == (0, 0, 1, 1)

    assert rates.sweep(now=now + timedelta(days=24)) == 1
    assert windows(violation.account_id) == (0, 0, 0, 1)

    assert rates.sweep(now=now + timedelta(days=84)) == 1
    assert windows(violation.account_id) == (0, 0, 0, 0)
    assert total(violation.account_id) == 1  # the total is of all time


def test_the_sweep_takes_a_violation_out_of_the_24_hour_window(integration, reviewer) -> None:
    now = timezone.now()
    violation = violate(integration, reviewer, days_ago=0.5)
    rates.sweep(now=now)

    rates.sweep(now=now + timedelta(hours=11))
    assert windows(violation.account_id) == (1, 1, 1, 1)

    rates.sweep(now=now + timedelta(hours=13))
    assert windows(violation.account_id) == (0, 1, 1, 1)


def test_the_first_sweep_ever_takes_out_what_already_left_a_window(integration, reviewer) -> None:
    violation = violate(integration, reviewer, days_ago=6.5)
    assert windows(violation.account_id) == (0, 1, 1, 1)

    rates.sweep(now=timezone.now() + timedelta(days=1))  # no sweep ran before: nowhere to continue from

    assert windows(violation.account_id) == (0, 0, 1, 1)


def test_the_sweep_ignores_a_violation_corrected_away(integration, reviewer, senior) -> None:
    now = timezone.now()
    violation = violate(integration, reviewer, days_ago=6.5)
    rates.sweep(now=now)
    correct(senior, violation.decision, Outcome.NOT_VIOLATING)

    assert rates.sweep(now=now + timedelta(days=1)) == 0
    assert windows(violation.account_id) == (0, 0, 0, 0)


def test_a_violation_decided_after_it_left_a_window_is_not_taken_out_of_that_window(integration, reviewer) -> None:
    now = timezone.now()
    rates.sweep(now=now - timedelta(minutes=2))  # the last sweep ran two minutes ago
    # Sent 24 h and 1 min ago: inside the 24 h window at that sweep, outside it when decided now.
    violation = violate(integration, reviewer, days_ago=1 + 1 / 1440)
    assert windows(violation.account_id) == (0, 1, 1, 1)

    rates.sweep(now=now + timedelta(minutes=1))

    assert windows(violation.account_id) == (0, 1, 1, 1)


def test_a_violation_corrected_away_after_it_left_a_window_but_before_the_sweep_leaves_that_window(
    integration, reviewer, senior, monkeypatch
) -> None:
    now = timezone.now()
    rates.sweep(now=now - timedelta(minutes=2))
    # Sent 23 h 59 min ago: inside the 24 h window now, outside it two minutes later.
    violation = violate(integration, reviewer, days_ago=1 - 1 / 1440)
    assert windows(violation.account_id) == (1, 1, 1, 1)

    later = now + timedelta(minutes=2)
    with monkeypatch.context() as clock:
        clock.setattr(timezone, "now", lambda: later)
        correct(senior, violation.decision, Outcome.NOT_VIOLATING)  # before any sweep ran again
    rates.sweep(now=later + timedelta(minutes=1))

    assert windows(violation.account_id) == (0, 0, 0, 0)


# --- Rates per 1,000 requests --------------------------------------------------------------------


def test_rates_per_thousand_requests_follow_reported_usage_and_violations(integration, reviewer, senior) -> None:
    first = violate(integration, reviewer)
    violate(integration, reviewer, days_ago=2)
    violate(integration, reviewer, days_ago=20)
    account_id = first.account_id
    rates_row = AccountRates.objects.get(account_id=account_id)
    assert (rates_row.rate_7d, rates_row.rate_30d) == (None, None)  # no usage reported: no rate

    today = timezone.now().date()
    record_usage(
        actor=None,
        integration=integration,
        rows=[
            UsageRow(user="u1", day=today, requests=1500),
            UsageRow(user="u1", day=today - timedelta(days=3), requests=500),
            UsageRow(user="u1", day=today - timedelta(days=15), requests=2000),
            UsageRow(user="u1", day=today - timedelta(days=45), requests=99_000),  # outside both windows
        ],
    )

    rates_row.refresh_from_db()
    assert (rates_row.requests_7d, rates_row.requests_30d) == (2000, 4000)
    assert rates_row.rate_7d == pytest.approx(1.0)  # 2 violations per 2,000 requests
    assert rates_row.rate_30d == pytest.approx(0.75)  # 3 per 4,000

    violate(integration, reviewer)
    rates_row.refresh_from_db()
    assert rates_row.rate_7d == pytest.approx(1.5)

    correct(senior, first.decision, Outcome.NOT_VIOLATING)
    rates_row.refresh_from_db()
    assert (rates_row.rate_7d, rates_row.rate_30d) == (pytest.approx(1.0), pytest.approx(0.75))
    assert UsageDay.objects.filter(account_id=account_id).count() == 4


# --- Recompute -----------------------------------------------------------------------------------


def test_after_a_random_mix_of_decisions_and_corrections_recompute_finds_no_drift(
    integration, reviewer, senior
) -> None:
    chance = random.Random(20261122)
    users = ["u1", "u2", "u3", "u4"]
    # Away from the windows' edges, so the seconds between a decision and the check cannot move one.
    ages = [0.1, 0.6, 2, 6.5, 7.5, 12, 29.5, 30.5, 60, 89.5, 90.5, 120]
    current: list[Decision] = []
    for _ in range(36):
        if current and chance.random() < 0.35:
            decision = current.pop(chance.randrange(len(current)))
            outcome = Outcome.NOT_VIOLATING if decision.outcome == Outcome.VIOLATING else Outcome.VIOLATING
            current.append(correct(senior, decision, outcome))
        else:
            case = make_case(
                integration,
                user=chance.choice(users),
                prompt=f"prompt {next(_prompts)}",
                occurred_at=(timezone.now() - timedelta(days=chance.choice(ages))).isoformat(),
            )
            outcome = chance.choice([Outcome.VIOLATING, Outcome.VIOLATING, Outcome.NOT_VIOLATING])
            extra = {"category": Category.objects.get(pk="hate"), "severity": Severity.LOW}
            current.append(make_decision(case, reviewer, outcome=outcome, **(extra if outcome == "violating" else {})))

    code, output = recompute_command("--check")

    assert (code, output) == (0, "No drift: every account's running counts match its violations.\n")
    now = timezone.now()
    for account in Account.objects.filter(integration=integration):
        confirmed = [v.occurred_at for v in Violation.objects.confirmed().filter(account=account)]
        expected = tuple(sum(now - t < timedelta(days=d) for t in confirmed) for d in (1, 7, 30, 90))
        assert windows(account.pk) == expected
        assert account.violation_count == len(confirmed)
    # The mix really did correct both ways and leave several accounts with history.
    assert Violation.objects.filter(voided_at__isnull=False).exists()
    assert Decision.objects.filter(supersedes__outcome=Outcome.NOT_VIOLATING, outcome=Outcome.VIOLATING).exists()
    assert Account.objects.filter(violation_count__gt=0).count() >= 3


def test_recompute_check_names_a_corrupted_count_and_the_plain_command_fixes_it(integration, reviewer) -> None:
    mine = violate(integration, reviewer, days_ago=3)
    violate(integration, reviewer, user="u2")
    AccountRates.objects.filter(account_id=mine.account_id).update(v7d=F("v7d") + 4)

    code, output = recompute_command("--check")

    assert code == 1
    assert output == (
        f"  account {mine.account_id}: v7d was 5, is 1\nDrift in 1 account(s); run without --check to fix it.\n"
    )
    assert windows(mine.account_id) == (0, 5, 1, 1)  # --check changes nothing

    assert recompute_command() == (
        0,
        f"  account {mine.account_id}: v7d was 5, is 1\nFixed drift in 1 account(s).\n",
    )
    assert windows(mine.account_id) == (0, 1, 1, 1)
    assert recompute_command("--check") == (0, "No drift: every account's running counts match its violations.\n")


def test_recompute_check_names_a_corrupted_total(integration, reviewer) -> None:
    violation = violate(integration, reviewer)
    Account.objects.filter(pk=violation.account_id).update(violation_count=7)

    code, output = recompute_command("--check")

    assert (code, output) == (
        1,
        f"  account {violation.account_id}: violation_count was 7, is 1\n"
        "Drift in 1 account(s); run without --check to fix it.\n",
    )
    assert total(violation.account_id) == 7

    assert recompute_command()[0] == 0
    assert total(violation.account_id) == 1
    assert recompute_command("--check")[0] == 0


def test_recompute_check_finds_a_missing_rates_row(integration, reviewer) -> None:
    violation = violate(integration, reviewer, days_ago=40)
    AccountRates.objects.filter(account_id=violation.account_id).delete()

    code, output = recompute_command("--check")

    assert code == 1
    assert f"  account {violation.account_id}: v90d was 0, is 1\n" in output
    recompute_command()
    assert windows(violation.account_id) == (0, 0, 0, 1)
