"""The account, action and appeal pages: lists, the account page, proposals, transitions, appeals."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    Account,
    AccountNote,
    AccountRates,
    Action,
    ActionKind,
    ActionState,
    Appeal,
    AppealState,
    EnforcementState,
    UsageDay,
    Violation,
)
from accounts.services import apply_action, approve_action, propose_action, receive_appeal
from console.models import AuditEntry, AuditVerb
from review.intake import hash_user_id
from review.models import Case, CaseStatus, Category, Integration, Outcome, Severity
from tests.factories import make_case, make_decision, make_integration

pytestmark = pytest.mark.django_db
_users = itertools.count(1)
HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


def make_account(integration: Any = None, **fields: Any) -> Account:
    """An account with its rates row; `v30d=3` and the like go to the rates."""
    rate_fields = {
        k: fields.pop(k) for k in list(fields) if k in {"v24h", "v7d", "v30d", "v90d", "rate_30d", "requests_30d"}
    }
    now = timezone.now()
    fields.setdefault("first_seen", now - timedelta(days=40))
    fields.setdefault("last_seen", now)
    account = Account.objects.create(
        integration=integration or make_integration(), user_hash=hash_user_id(f"user-{next(_users)}"), **fields
    )
    AccountRates.objects.create(account=account, **rate_fields)
    return account


def violate(
    reviewer: Any, *, user: str = "user-1", integration: Any = None, category: str = "hate", prompt: str | None = None
) -> Violation:
    """A flag for `user`, queued, decided violating by `reviewer`: a confirmed violation."""
    integration = integration or Integration.objects.filter(name="Tests").first() or make_integration("Tests")
    case = make_case(integration, user=user, prompt=prompt or f"prompt {next(_users)}")
    decision = make_decision(
        case, reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(slug=category), severity=Severity.HIGH
    )
    return Violation.objects.get(decision=decision)


def ids(response: Any) -> list[int]:
    return [a.pk for a in response.context["page"].items]


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- The accounts list ---------------------------------------------------------------------


def test_the_list_filters_by_integration_state_category_and_min_violations(client, senior, reviewer) -> None:
    acme, other = make_integration("Acme"), make_integration("Other")
    hateful = violate(reviewer, user="h", integration=acme).account
    violent = violate(reviewer, user="v", integration=other, category="violence").account
    Account.objects.filter(pk=violent.pk).update(state=EnforcementState.WARNED)
    for _ in range(2):
        violate(reviewer, user="h", integration=acme)
    client.force_login(senior)
    url = reverse("accounts:accounts")
    assert set(ids(client.get(url))) == {hateful.pk, violent.pk}
    assert ids(client.get(url, {"integration": other.pk})) == [violent.pk]
    assert ids(client.get(url, {"state": "warned"})) == [violent.pk]
    assert ids(client.get(url, {"category": "violence"})) == [violent.pk]
    assert ids(client.get(url, {"category": "violence", "window": "24h"})) == [violent.pk]
    assert ids(client.get(url, {"min_violations": 3})) == [hateful.pk]
    assert ids(client.get(url, {"min_violations": 3, "window": "7d"})) == [hateful.pk]
    assert ids(client.get(url, {"account": hateful.user_hash[:10]})) == [hateful.pk]


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ("v24h", [{"v24h": n} for n in (1, 5, 3)]),
        ("v7d", [{"v7d": n} for n in (1, 5, 3)]),
        ("v30d", [{"v30d": n} for n in (1, 5, 3)]),
        ("v90d", [{"v90d": n} for n in (1, 5, 3)]),
        ("rate_30d", [{"rate_30d": r, "requests_30d": 900} for r in (0.5, 12.25, 10 / 3)]),
        ("violation_count", [{"violation_count": n} for n in (1, 5, 3)]),
        ("flag_count", [{"flag_count": n} for n in (1, 5, 3)]),
        ("last_seen", [{"last_seen": timezone.now() - timedelta(hours=h)} for h in (9, 1, 5)]),
    ],
)
def test_the_list_sorts_highest_first_by_each_count_and_rate(client, ops, sort: str, values: list[dict]) -> None:
    low, high, middle = (make_account(**v) for v in values)
    client.force_login(ops)
    response = client.get(reverse("accounts:accounts"), {"sort": sort})
    assert response.status_code == 200
    assert ids(response)[:3] == [high.pk, middle.pk, low.pk]


@pytest.mark.parametrize("sort", ["v30d", "rate_30d", "last_seen"])
def test_the_list_pages_by_key_through_ties_without_losing_or_repeating_rows(client, senior, sort: str) -> None:
    integration = make_integration()
    moment = timezone.now().replace(microsecond=123456)
    for i in range(57):
        make_account(
            integration, v30d=i % 3, rate_30d=(i % 3) / 7, requests_30d=700, last_seen=moment - timedelta(seconds=i % 4)
        )
    client.force_login(senior)
    first = client.get(reverse("accounts:accounts"), {"sort": sort})
    assert first.context["page"].next_query
    second = client.get(reverse("accounts:accounts") + "?" + first.context["page"].next_query)
    key = {"v30d": "rates__v30d", "rate_30d": "rates__rate_30d", "last_seen": "last_seen"}[sort]
    expected = list(Account.objects.order_by(f"-{key}", "-id").values_list("pk", flat=True))
    assert ids(first) + ids(second) == expected
    assert second.context["page"].next_query is None


def test_a_cursor_edited_by_hand_starts_again_from_the_first_page(client, senior) -> None:
    accounts = [make_account(v30d=1) for _ in range(3)]
    client.force_login(senior)
    for cursor in ("nan,3", "2026-01-01T00:00:00+00:00,1", "x,y", "1,99999999999999999999999"):
        response = client.get(reverse("accounts:accounts"), {"after": cursor})
        assert response.status_code == 200
        assert set(ids(response)) == {a.pk for a in accounts}


def test_the_list_costs_the_same_number_of_queries_for_5_or_60_accounts(client, ops, django_assert_num_queries) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(5):
        make_account(v30d=i)
    client.force_login(ops)
    url = reverse("accounts:accounts") + "?integration=&state=active&sort=rate_30d"
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for i in range(55):
        make_account(v30d=i, rate_30d=i / 10, requests_30d=1000)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert len(ids(response)) == 50


def test_reviewers_and_policy_admins_do_not_see_accounts(client, reviewer, policy_admin) -> None:
    account = make_account()
    for user in (reviewer, policy_admin):
        client.force_login(user)
        assert client.get(reverse("accounts:accounts")).status_code == 403
        assert client.get(reverse("accounts:account", args=[account.pk])).status_code == 403


# --- The account page ------------------------------------------------------------------------


def test_the_account_page_shows_windows_rates_chart_and_category_table(clock, client, senior, reviewer) -> None:
    violation = violate(reviewer, user="u1")
    violate(reviewer, user="u1", category="violence")
    account = violation.account
    today = timezone.now().date()
    UsageDay.objects.bulk_create(
        [UsageDay(account=account, day=today - timedelta(days=d), requests=100) for d in range(10)]
    )
    from accounts.rates import refresh_requests

    refresh_requests(account_ids=[account.pk])
    client.force_login(senior)
    response = client.get(reverse("accounts:account", args=[account.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    windows = {row.window.value: row for row in response.context["windows"]}
    assert [windows[w].violations for w in ("24h", "7d", "30d", "90d")] == [2, 2, 2, 2]
    assert windows["30d"].requests == 1000 and windows["30d"].rate == pytest.approx(2.0)
    assert f'title="{account.user_hash}"' in page  # the full hash on hover
    table = response.context["categories"]
    assert {(row.category.slug, row.total) for row in table.rows} == {("hate", 1), ("violence", 1)}
    assert table.totals[[s.value for s in Severity].index("high")] == 2
    # The chart: server-drawn SVG, bars with tooltips, a table of the same numbers, no inline style.
    assert '<svg class="chart"' in page and 'class="bar violations"' in page and 'class="bar requests"' in page
    assert f"{today:%a %d %b}: 2 flags, 2 violations" in page
    assert " style=" not in page and "<script>" not in page.split("</head>")[1]
    days = response.context["days"]
    assert len(days) == 30 and days[-1].violations == 2 and days[-1].requests == 100


def test_the_timeline_merges_history_newest_first_and_escapes_hostile_text(client, senior, reviewer) -> None:
    violation = violate(reviewer, user="u1", prompt=HOSTILE)
    account = violation.account
    action = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason=f"because {HOSTILE}")
    client.force_login(senior)
    client.post(reverse("accounts:account_note", args=[account.pk]), {"text": f"note {HOSTILE}"})
    response = client.get(reverse("accounts:account", args=[account.pk]))
    page = response.content.decode()
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    kinds = [e.kind for e in response.context["timeline"]]
    assert kinds == ["note", "action", "decision", "flag"]
    assert reverse("accounts:action", args=[action.pk]) in page


def test_ops_see_the_history_without_links_they_cannot_open(client, ops, reviewer, senior) -> None:
    account = violate(reviewer, user="u1").account
    propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="pattern")
    client.force_login(ops)
    response = client.get(reverse("accounts:account", args=[account.pk]))
    assert response.status_code == 200
    assert all(not e.url for e in response.context["timeline"])
    assert response.context["propose_form"] is None
    assert reverse("accounts:account_propose", args=[account.pk]) not in response.content.decode()


def test_a_note_is_added_and_audited(client, ops) -> None:
    account = make_account()
    client.force_login(ops)
    response = client.post(reverse("accounts:account_note", args=[account.pk]), {"text": "  Called the platform.  "})
    assert response.status_code == 302
    note = AccountNote.objects.get(account=account)
    assert (note.text, note.author) == ("Called the platform.", ops)
    entry = AuditEntry.objects.get(verb=AuditVerb.ACCOUNT_NOTE_ADDED)
    assert (entry.actor_label, entry.target_id, entry.after["text"]) == ("otto", str(account.pk), note.text)
    empty = client.post(reverse("accounts:account_note", args=[account.pk]), {"text": "   "})
    assert empty.status_code == 400 and AccountNote.objects.count() == 1


def test_an_unknown_account_is_404(client, senior) -> None:
    client.force_login(senior)
    assert client.get(reverse("accounts:account", args=[999999])).status_code == 404


# --- Proposing from the account page -----------------------------------------------------------


def test_a_senior_proposes_an_action_with_evidence_from_the_account_page(client, senior, reviewer) -> None:
    first = violate(reviewer, user="u1")
    second = violate(reviewer, user="u1")
    account = first.account
    client.force_login(senior)
    page = client.get(reverse("accounts:account", args=[account.pk]))
    assert {v.pk for v in page.context["propose_form"].fields["evidence"].queryset} == {first.pk, second.pk}
    response = client.post(
        reverse("accounts:account_propose", args=[account.pk]),
        {
            "kind": "restrict",
            "scope": " tools:image_generation ",
            "hours": "168",
            "reason": "Two in a day.",
            "evidence": [first.pk, second.pk],
        },
    )
    action = Action.objects.get(account=account)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:action", args=[action.pk])
    assert (action.kind, action.scope, action.hours, action.state) == (
        "restrict",
        "tools:image_generation",
        168,
        ActionState.PROPOSED,
    )
    assert action.proposed_by == senior and set(action.evidence.all()) == {first, second}
    assert AuditEntry.objects.filter(verb=AuditVerb.ACTION_PROPOSED, target_id=str(action.pk)).count() == 1


def test_a_proposal_refuses_bad_combinations_and_foreign_evidence(client, senior, reviewer) -> None:
    account = violate(reviewer, user="u1").account
    elsewhere = violate(reviewer, user="someone-else")
    client.force_login(senior)
    url = reverse("accounts:account_propose", args=[account.pk])
    no_scope = client.post(url, {"kind": "restrict", "reason": "x"})
    assert no_scope.status_code == 400 and no_scope.context["propose_form"].errors["scope"]
    no_hours = client.post(url, {"kind": "suspend", "reason": "x"})
    assert no_hours.context["propose_form"].errors["hours"]
    foreign = client.post(url, {"kind": "warn", "reason": "x", "evidence": [elsewhere.pk]})
    assert foreign.status_code == 400 and foreign.context["propose_form"].errors["evidence"]
    assert not Action.objects.exists()


def test_ops_may_not_propose(client, ops) -> None:
    account = make_account()
    client.force_login(ops)
    response = client.post(reverse("accounts:account_propose", args=[account.pk]), {"kind": "warn", "reason": "x"})
    assert response.status_code == 403
    assert not Action.objects.exists()


# --- Actions ---------------------------------------------------------------------------------


def test_the_actions_list_shows_proposed_first_and_filters(client, senior, second_senior) -> None:
    account = make_account()
    done = approve_action(
        actor=second_senior,
        reason="ok",
        action=propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="a"),
    )
    waiting = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="b")
    newest = propose_action(actor=senior, account=account, kind=ActionKind.RESTRICT, scope="tools:x", reason="c")
    client.force_login(senior)
    url = reverse("accounts:actions")
    assert ids(client.get(url)) == [newest.pk, waiting.pk, done.pk]
    assert ids(client.get(url, {"state": "approved"})) == [done.pk]
    assert ids(client.get(url, {"kind": "restrict"})) == [newest.pk]
    page = client.get(url)
    assert page.context["page"].items[0].evidence_count == 0


def test_a_senior_walks_an_action_through_approve_apply_and_lift(client, senior, second_senior) -> None:
    account = make_account()
    action = propose_action(
        actor=senior,
        account=account,
        kind=ActionKind.RESTRICT,
        scope="tools:image_generation",
        hours=24,
        reason="pattern",
    )
    client.force_login(second_senior)
    url, step = reverse("accounts:action", args=[action.pk]), reverse("accounts:action_step", args=[action.pk])
    page = client.get(url)
    assert [s for s, _ in page.context["steps"]] == ["approve", "reject"]
    for name, state in (("approve", "approved"), ("apply", "applied"), ("lift", "lifted")):
        response = client.post(step, {"step": name, "reason": f"{name} it"})
        assert response.status_code == 302 and response["Location"] == url
        assert Action.objects.get(pk=action.pk).state == state
        if name == "apply":
            assert Account.objects.get(pk=account.pk).state == EnforcementState.RESTRICTED
    assert Account.objects.get(pk=account.pk).state == EnforcementState.ACTIVE
    entries = AuditEntry.objects.filter(target_type="accounts.action", target_id=str(action.pk)).order_by("seq")
    assert [(e.verb, e.actor_label, e.reason) for e in entries] == [
        (AuditVerb.ACTION_PROPOSED, "sam", "pattern"),
        (AuditVerb.ACTION_APPROVED, "sasha", "approve it"),
        (AuditVerb.ACTION_APPLIED, "sasha", "apply it"),
        (AuditVerb.ACTION_LIFTED, "sasha", "lift it"),
    ]
    final = client.get(url)
    assert [e.verb for e in final.context["history"]] == [e.verb for e in entries]
    assert final.context["steps"] == []
    assert "Action lifted" in final.content.decode()


def test_a_senior_may_not_approve_their_own_suspension_and_is_told_why(client, senior) -> None:
    account = make_account()
    client.force_login(senior)
    client.post(
        reverse("accounts:account_propose", args=[account.pk]),
        {"kind": "suspend", "hours": "72", "reason": "keeps coming back"},
    )
    action = Action.objects.get(account=account)
    response = client.post(
        reverse("accounts:action_step", args=[action.pk]), {"step": "approve", "reason": "go"}, follow=True
    )
    assert "A suspension needs a second senior: you proposed it." in response.content.decode()
    assert Action.objects.get(pk=action.pk).state == ActionState.PROPOSED
    assert not AuditEntry.objects.filter(verb=AuditVerb.ACTION_APPROVED).exists()


def test_a_rule_suspension_needs_two_approvals_through_the_page(client, senior, second_senior) -> None:
    action = propose_action(actor=None, account=make_account(), kind=ActionKind.SUSPEND, hours=24, reason="rule")
    step = reverse("accounts:action_step", args=[action.pk])
    client.force_login(senior)
    first = client.post(step, {"step": "approve", "reason": "yes"})
    assert "a second, different senior must approve too" in messages_of(first)[0]
    assert Action.objects.get(pk=action.pk).state == ActionState.PROPOSED
    client.force_login(second_senior)
    client.post(step, {"step": "approve", "reason": "yes too"})
    assert Action.objects.get(pk=action.pk).state == ActionState.APPROVED


def test_a_step_the_state_does_not_allow_shows_the_services_sentence(client, senior) -> None:
    action = propose_action(actor=senior, account=make_account(), kind=ActionKind.WARN, reason="x")
    client.force_login(senior)
    response = client.post(reverse("accounts:action_step", args=[action.pk]), {"step": "lift", "reason": "why not"})
    assert messages_of(response) == ["Only an applied action can be ended; this one is Proposed."]
    no_reason = client.post(reverse("accounts:action_step", args=[action.pk]), {"step": "approve"})
    assert no_reason.status_code == 302 and Action.objects.get(pk=action.pk).state == ActionState.PROPOSED


def test_ops_may_not_open_actions(client, ops) -> None:
    action = propose_action(actor=None, account=make_account(), kind=ActionKind.WARN, reason="x")
    client.force_login(ops)
    assert client.get(reverse("accounts:actions")).status_code == 403
    assert client.get(reverse("accounts:action", args=[action.pk])).status_code == 403
    assert (
        client.post(reverse("accounts:action_step", args=[action.pk]), {"step": "approve", "reason": "x"}).status_code
        == 403
    )


# --- Appeals on the case page ------------------------------------------------------------------


@pytest.fixture
def appeal(make_staff, reviewer) -> Appeal:
    """A restriction proposed and applied by two other seniors, appealed by the user with hostile text."""
    from console.roles import Role

    proposer, approver = make_staff(Role.SENIOR_REVIEWER, "pia"), make_staff(Role.SENIOR_REVIEWER, "ali")
    violation = violate(reviewer, user="u1")
    action = propose_action(
        actor=proposer,
        account=violation.account,
        kind=ActionKind.RESTRICT,
        scope="tools:image_generation",
        reason="pattern",
        evidence=[violation],
    )
    approve_action(actor=approver, action=action, reason="ok")
    apply_action(actor=approver, action=action, reason="go")
    return receive_appeal(actor=None, account=violation.account, action_id=action.pk, text=f"Not me! {HOSTILE}")


def test_the_case_page_of_an_appeal_shows_the_appeal_panel(client, senior, appeal) -> None:
    client.force_login(senior)
    response = client.get(reverse("review:case", args=[appeal.case_id]))
    page = response.content.decode()
    assert response.context["appeal"] == appeal
    assert "Appeal of action" in page and "Not me! &lt;script&gt;" in page and HOSTILE not in page
    assert reverse("accounts:action", args=[appeal.action_id]) in page
    evidence = appeal.action.evidence.get()
    assert reverse("review:case", args=[evidence.case_id]) in page
    assert reverse("accounts:appeal_decide", args=[appeal.pk]) in page


def test_an_ordinary_case_page_has_no_appeal_panel(client, senior) -> None:
    client.force_login(senior)
    response = client.get(reverse("review:case", args=[make_case().pk]))
    assert response.context["appeal"] is None and "Appeal of action" not in response.content.decode()


def test_an_uninvolved_senior_reverses_the_action_from_the_case_page(client, senior, appeal) -> None:
    client.force_login(senior)
    response = client.post(
        reverse("accounts:appeal_decide", args=[appeal.pk]), {"outcome": "reverse", "reason": "Quoted to report it."}
    )
    assert response["Location"] == reverse("review:case", args=[appeal.case_id])
    appeal.refresh_from_db()
    assert (appeal.state, appeal.decided_by, appeal.reason) == (AppealState.REVERSED, senior, "Quoted to report it.")
    assert Action.objects.get(pk=appeal.action_id).state == ActionState.REVERSED
    assert Account.objects.get(pk=appeal.action.account_id).state == EnforcementState.ACTIVE
    assert Case.objects.get(pk=appeal.case_id).status == CaseStatus.CLOSED
    entry = AuditEntry.objects.get(verb=AuditVerb.APPEAL_REVERSED)
    assert (entry.actor_label, entry.target_id) == ("sam", str(appeal.pk))
    after = client.get(reverse("review:case", args=[appeal.case_id])).content.decode()
    assert "Reversed" in after and reverse("accounts:appeal_decide", args=[appeal.pk]) not in after


def test_an_uninvolved_senior_upholds_the_action(client, senior, appeal) -> None:
    client.force_login(senior)
    response = client.post(
        reverse("accounts:appeal_decide", args=[appeal.pk]),
        {"outcome": "uphold", "reason": "The evidence stands."},
        follow=True,
    )
    assert f"action {appeal.action_id} stays in force" in response.content.decode()
    appeal.refresh_from_db()
    assert appeal.state == AppealState.UPHELD
    assert Action.objects.get(pk=appeal.action_id).state == ActionState.APPLIED
    assert AuditEntry.objects.filter(verb=AuditVerb.APPEAL_UPHELD, target_id=str(appeal.pk)).count() == 1


def test_a_senior_involved_in_the_action_may_not_decide_its_appeal(client, appeal) -> None:
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="ali"))
    response = client.post(
        reverse("accounts:appeal_decide", args=[appeal.pk]), {"outcome": "reverse", "reason": "mine"}, follow=True
    )
    assert "neither proposed nor approved the action" in response.content.decode()
    assert Appeal.objects.get(pk=appeal.pk).state == AppealState.OPEN


def test_an_appeal_decision_needs_a_reason(client, senior, appeal) -> None:
    client.force_login(senior)
    response = client.post(reverse("accounts:appeal_decide", args=[appeal.pk]), {"outcome": "reverse"})
    assert messages_of(response) == ["Nothing was decided: choose uphold or reverse and say why."]
    assert Appeal.objects.get(pk=appeal.pk).state == AppealState.OPEN
