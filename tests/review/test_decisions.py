from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Violation
from console.models import AuditEntry, AuditVerb
from review.models import Case, CaseStatus, Category, Decision, Outcome, Queue, Severity
from review.services import InvalidDecision, Verdict, apply_bulk_decision, correct_decision
from tests.factories import hold, make_case, make_decision, make_integration


def _decide(client, case, **data):  # type: ignore[no-untyped-def]
    return client.post(reverse("review:decide", args=[case.pk]), data, HTTP_HX_REQUEST="true")


@pytest.fixture
def held(reviewer):  # type: ignore[no-untyped-def]
    case = make_case(prompt="you are worthless")
    Case.objects.filter(pk=case.pk).update()
    held = hold(case, reviewer)
    Case.objects.filter(pk=case.pk).update(claimed_at=timezone.now() - timedelta(seconds=42))
    held.refresh_from_db()
    return held


@pytest.mark.django_db
def test_violating_stores_the_decision_the_violation_and_the_audit_entry(client, reviewer, held) -> None:
    client.force_login(reviewer)
    response = _decide(client, held, outcome="violating", category="harassment", severity="high", note="targeted")
    assert response.status_code == 200
    decision = Decision.objects.get(case=held)
    assert (decision.outcome, decision.category_id, decision.severity, decision.note, decision.reviewer) == (
        Outcome.VIOLATING, "harassment", Severity.HIGH, "targeted", reviewer)
    assert 41 <= decision.handling_seconds <= 60 and decision.claimed_at is not None
    held.refresh_from_db()
    assert (held.status, held.claimed_by, held.closed_at is not None) == (CaseStatus.CLOSED, None, True)
    violation = Violation.objects.get()
    assert (violation.account_id, violation.category_id, violation.severity, violation.decision) == (
        held.account_id, "harassment", "high", decision)
    assert Account.objects.get(pk=held.account_id).violation_count == 1
    entry = AuditEntry.objects.get(verb=AuditVerb.CASE_DECIDED)
    assert (entry.actor_label, entry.after["outcome"], entry.after["category"], entry.reason) == (
        "rita", "violating", "harassment", "targeted")


@pytest.mark.django_db
def test_not_violating_closes_the_case_without_a_violation(client, reviewer, held) -> None:
    client.force_login(reviewer)
    _decide(client, held, outcome="not_violating")
    assert Decision.objects.get(case=held).outcome == Outcome.NOT_VIOLATING
    assert not Violation.objects.exists()
    assert Account.objects.get(pk=held.account_id).violation_count == 0
    assert AuditEntry.objects.get(verb=AuditVerb.CASE_DECIDED).after["outcome"] == "not_violating"


@pytest.mark.django_db
def test_escalating_needs_a_reason_and_sends_the_case_to_the_seniors(client, reviewer, held) -> None:
    client.force_login(reviewer)
    refused = _decide(client, held, outcome="escalated", note="  ")
    assert refused.status_code == 400 and "Say why you escalate" in refused.content.decode()
    assert not Decision.objects.exists()
    _decide(client, held, outcome="escalated", note="might be a real threat")
    held.refresh_from_db()
    assert (held.queue.slug, held.status, held.claimed_by) == ("escalations", CaseStatus.OPEN, None)
    assert Decision.objects.get().outcome == Outcome.ESCALATED
    assert not Violation.objects.exists()
    assert AuditEntry.objects.get(verb=AuditVerb.CASE_ESCALATED).reason == "might be a real threat"


@pytest.mark.django_db
def test_a_senior_resolves_an_escalation(reviewer, senior, held) -> None:
    from review.services import claim_next_case, record_decision

    make_decision(held, reviewer, outcome=Outcome.ESCALATED, note="unsure")
    case = claim_next_case(actor=senior, queue=Queue.objects.get(slug="escalations"))
    assert case.pk == held.pk
    record_decision(actor=senior, case=case, verdict=Verdict(
        Outcome.VIOLATING, Category.objects.get(slug="violence"), Severity.CRITICAL))
    assert Violation.objects.get().severity == "critical"
    assert Case.objects.get(pk=held.pk).status == CaseStatus.CLOSED


@pytest.mark.django_db
def test_a_violating_decision_without_category_or_severity_is_refused(client, reviewer, held) -> None:
    client.force_login(reviewer)
    response = _decide(client, held, outcome="violating", category="", severity="")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose the category the content violates." in body and "Choose how severe" in body
    assert not Decision.objects.exists() and Case.objects.get(pk=held.pk).status == CaseStatus.CLAIMED


@pytest.mark.django_db
def test_a_decision_on_a_case_one_does_not_hold_is_a_conflict(client, reviewer, make_staff) -> None:
    from console.roles import Role

    case = make_case()
    hold(case, make_staff(Role.REVIEWER))
    client.force_login(reviewer)
    response = _decide(client, case, outcome="not_violating")
    assert response.status_code == 409
    assert "You do not hold this case" in response.content.decode()
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_a_case_cannot_be_decided_twice(client, reviewer, held) -> None:
    client.force_login(reviewer)
    _decide(client, held, outcome="not_violating")
    again = _decide(client, held, outcome="violating", category="hate", severity="low")
    assert again.status_code == 409 and "already decided" in again.content.decode()
    assert Decision.objects.count() == 1 and not Violation.objects.exists()


@pytest.mark.django_db
def test_after_a_decision_the_next_case_arrives_in_the_same_response(client, reviewer, held) -> None:
    nxt = make_case(make_integration(), prompt="another one")
    client.force_login(reviewer)
    response = _decide(client, held, outcome="not_violating")
    assert response["HX-Push-Url"] == reverse("review:case", args=[nxt.pk])
    assert response.context["case"].pk == nxt.pk and 'id="workspace"' in response.content.decode()
    assert Case.objects.get(pk=nxt.pk).claimed_by == reviewer


@pytest.mark.django_db
def test_after_the_last_case_the_queue_says_it_is_empty(client, reviewer, held) -> None:
    client.force_login(reviewer)
    response = _decide(client, held, outcome="not_violating")
    assert "General is empty" in response.content.decode()
    assert response["HX-Push-Url"] == reverse("review:queues")


@pytest.mark.django_db
def test_a_correction_to_not_violating_voids_the_violation(reviewer, senior, held) -> None:
    first = make_decision(held, reviewer, outcome=Outcome.VIOLATING,
                          category=Category.objects.get(slug="hate"), severity=Severity.LOW)
    new = correct_decision(actor=senior, decision=first, verdict=Verdict(Outcome.NOT_VIOLATING),
                           reason="satire, not hate")
    assert new.supersedes == first and list(Decision.objects.current()) == [new]
    violation = Violation.objects.get()
    assert violation.voided_at is not None and not Violation.objects.confirmed().exists()
    assert Account.objects.get(pk=held.account_id).violation_count == 0
    entry = AuditEntry.objects.get(verb=AuditVerb.DECISION_CORRECTED)
    assert (entry.before["outcome"], entry.after["outcome"], entry.reason) == (
        "violating", "not_violating", "satire, not hate")


@pytest.mark.django_db
def test_a_correction_of_category_moves_the_violation(reviewer, senior, held) -> None:
    first = make_decision(held, reviewer, outcome=Outcome.VIOLATING,
                          category=Category.objects.get(slug="hate"), severity=Severity.LOW)
    correct_decision(actor=senior, decision=first, reason="it is harassment", verdict=Verdict(
        Outcome.VIOLATING, Category.objects.get(slug="harassment"), Severity.MEDIUM))
    assert list(Violation.objects.confirmed().values_list("category_id", "severity")) == [("harassment", "medium")]
    assert Account.objects.get(pk=held.account_id).violation_count == 1


@pytest.mark.django_db
def test_a_correction_to_violating_creates_the_violation(reviewer, senior, held) -> None:
    first = make_decision(held, reviewer)
    correct_decision(actor=senior, decision=first, reason="missed it", verdict=Verdict(
        Outcome.VIOLATING, Category.objects.get(slug="hate"), Severity.HIGH))
    assert Violation.objects.confirmed().count() == 1


@pytest.mark.django_db
def test_a_correction_needs_a_reason_and_only_the_newest_decision_can_be_corrected(reviewer, senior, held) -> None:
    first = make_decision(held, reviewer)
    with pytest.raises(InvalidDecision, match="needs a reason"):
        correct_decision(actor=senior, decision=first, verdict=Verdict(Outcome.NOT_VIOLATING), reason=" ")
    correct_decision(actor=senior, decision=first, verdict=Verdict(Outcome.NOT_VIOLATING), reason="ok")
    with pytest.raises(InvalidDecision, match="already corrected"):
        correct_decision(actor=senior, decision=first, verdict=Verdict(Outcome.NOT_VIOLATING), reason="again")


@pytest.mark.django_db
def test_reviewers_cannot_correct_and_seniors_can_through_the_page(client, reviewer, senior, held) -> None:
    first = make_decision(held, reviewer)
    data = {"outcome": "violating", "category": "hate", "severity": "high", "reason": "missed"}
    client.force_login(reviewer)
    assert client.post(reverse("review:correct", args=[first.pk]), data).status_code == 403
    client.force_login(senior)
    assert client.post(reverse("review:correct", args=[first.pk]), data).status_code == 302
    assert Violation.objects.confirmed().count() == 1


@pytest.mark.django_db
def test_a_bulk_decision_gives_each_case_its_own_decision_and_audit_entry(senior, reviewer) -> None:
    integration = make_integration()
    cases = [make_case(integration, prompt=f"spam {i}") for i in range(3)]
    hold(cases[2], reviewer)
    verdict = Verdict(Outcome.VIOLATING, Category.objects.get(slug="fraud_spam"), Severity.LOW, note="spam wave")
    result = apply_bulk_decision(actor=senior, case_ids=[c.pk for c in cases], verdict=verdict)
    assert result.decided == [cases[0].pk, cases[1].pk]
    assert result.skipped == {cases[2].pk: "held by another reviewer"}
    decisions = Decision.objects.filter(bulk=True)
    assert decisions.count() == 2 and {d.reviewer for d in decisions} == {senior}
    assert AuditEntry.objects.filter(verb=AuditVerb.CASE_DECIDED, after__bulk=True).count() == 2
    assert Violation.objects.count() == 2


@pytest.mark.django_db
def test_the_bulk_page_reports_what_it_did(client, senior) -> None:
    integration = make_integration()
    cases = [make_case(integration, prompt=f"spam {i}") for i in range(2)]
    client.force_login(senior)
    response = client.post(reverse("review:bulk_decide"),
                           {"cases": [c.pk for c in cases], "outcome": "not_violating"}, follow=True)
    assert "Decided 2 case(s)." in response.content.decode()
    assert Case.objects.filter(status=CaseStatus.CLOSED).count() == 2
