from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEntry, AuditVerb
from review.models import Case, CaseSkip, CaseStatus, Queue
from review.services import CaseNotHeld, claim_next_case, expire_leases, release_case, renew_lease, skip_case
from review.services.cases import take_back_case
from tests.factories import hold, make_case, make_integration


@pytest.fixture
def general(db):  # type: ignore[no-untyped-def]
    return Queue.objects.get(slug="general")


def _cases(n: int, **overrides):  # type: ignore[no-untyped-def]
    integration = make_integration()
    return [make_case(integration, prompt=f"prompt {i}", **overrides) for i in range(n)]


@pytest.mark.django_db
def test_a_claim_takes_the_highest_priority_then_the_oldest_case(reviewer, general) -> None:
    low_old, _low_new = _cases(2, result={"signals": [{"category": "hate", "level": "low"}]})
    high = make_case(prompt="high", result={"signals": [{"category": "hate", "level": "high"}]})
    assert high.priority > low_old.priority
    order = [claim_next_case(actor=reviewer, queue=general) for _ in range(1)]
    assert order[0].pk == high.pk
    release_case(actor=reviewer, case=high)
    Case.objects.filter(pk=high.pk).update(status=CaseStatus.CLOSED)
    assert claim_next_case(actor=reviewer, queue=general).pk == low_old.pk


@pytest.mark.django_db
def test_a_claim_is_an_expiring_lease_recorded_and_audited(reviewer, general) -> None:
    [case] = _cases(1)
    before = timezone.now()
    claimed = claim_next_case(actor=reviewer, queue=general)
    assert (claimed.pk, claimed.status, claimed.claimed_by) == (case.pk, CaseStatus.CLAIMED, reviewer)
    assert claimed.claimed_at >= before
    assert claimed.lease_expires_at == claimed.claimed_at + timedelta(minutes=general.lease_minutes)
    entry = AuditEntry.objects.get(verb=AuditVerb.CASE_CLAIMED)
    assert (entry.actor_label, entry.target_id) == ("rita", str(case.pk))


@pytest.mark.django_db
def test_claiming_again_returns_the_case_already_held(reviewer, general) -> None:
    first, _ = _cases(2)
    assert claim_next_case(actor=reviewer, queue=general).pk == first.pk
    assert claim_next_case(actor=reviewer, queue=general).pk == first.pk
    assert Case.objects.filter(status=CaseStatus.CLAIMED).count() == 1


@pytest.mark.django_db
def test_two_reviewers_never_hold_the_same_case(reviewer, make_staff, general) -> None:
    from console.roles import Role

    other = make_staff(Role.REVIEWER)
    _cases(2)
    mine, theirs = claim_next_case(actor=reviewer, queue=general), claim_next_case(actor=other, queue=general)
    assert mine.pk != theirs.pk
    third = make_staff(Role.REVIEWER)
    assert claim_next_case(actor=third, queue=general) is None


@pytest.mark.django_db
def test_an_expired_lease_returns_the_case_to_the_queue_at_claim_time(reviewer, make_staff, general) -> None:
    from console.roles import Role

    [case] = _cases(1)
    hold(case, reviewer, minutes=-1)
    other = make_staff(Role.REVIEWER)
    assert claim_next_case(actor=other, queue=general).pk == case.pk
    assert AuditEntry.objects.filter(verb=AuditVerb.CASE_LEASE_EXPIRED, target_id=str(case.pk)).count() == 1


@pytest.mark.django_db
def test_an_expired_lease_seen_while_claiming_another_case_rejoins_the_queue(reviewer, make_staff, general) -> None:
    from console.roles import Role

    expired, fresh = _cases(2)
    hold(expired, reviewer, minutes=-1)
    first = claim_next_case(actor=make_staff(Role.REVIEWER), queue=general)
    second = claim_next_case(actor=make_staff(Role.REVIEWER), queue=general)
    assert {first.pk, second.pk} == {expired.pk, fresh.pk}
    assert AuditEntry.objects.filter(verb=AuditVerb.CASE_LEASE_EXPIRED, target_id=str(expired.pk)).count() == 1


@pytest.mark.django_db
def test_claims_keep_the_audit_chain_intact(reviewer, make_staff, general) -> None:
    from console.audit import verify_chain
    from console.roles import Role

    cases = _cases(3)
    claimers = [reviewer, make_staff(Role.REVIEWER), make_staff(Role.REVIEWER)]
    claimed = {claim_next_case(actor=who, queue=general).pk for who in claimers}
    assert claimed == {case.pk for case in cases}
    entries = AuditEntry.objects.filter(verb=AuditVerb.CASE_CLAIMED)
    assert {(e.target_id, e.target_label, e.after["queue"]) for e in entries} == {
        (str(pk), f"case {pk}", "general") for pk in claimed
    }
    checked, problem = verify_chain()
    assert problem is None and checked == AuditEntry.objects.count()


@pytest.mark.django_db
def test_the_periodic_job_expires_leases_everywhere(reviewer) -> None:
    from review.tasks import expire_case_leases

    [case] = _cases(1)
    hold(case, reviewer, minutes=-5)
    expire_case_leases.enqueue()
    case.refresh_from_db()
    assert (case.status, case.claimed_by) == (CaseStatus.OPEN, None)
    assert expire_leases() == 0  # running it twice changes nothing


@pytest.mark.django_db
def test_renewing_extends_the_lease_only_for_its_holder(reviewer, make_staff, general) -> None:
    from console.roles import Role

    [case] = _cases(1)
    held = hold(case, reviewer, minutes=1)
    was = held.lease_expires_at
    renewed = renew_lease(actor=reviewer, case=held)
    assert renewed.lease_expires_at > was + timedelta(minutes=5)
    with pytest.raises(CaseNotHeld):
        renew_lease(actor=make_staff(Role.REVIEWER), case=held)


@pytest.mark.django_db
def test_a_skip_needs_a_reason_and_the_case_is_not_offered_to_that_reviewer_again(reviewer, make_staff,
                                                                                  general) -> None:
    from console.roles import Role

    [case] = _cases(1)
    claimed = claim_next_case(actor=reviewer, queue=general)
    skip_case(actor=reviewer, case=claimed, reason="I know this user")
    assert CaseSkip.objects.get().reason == "I know this user"
    assert claim_next_case(actor=reviewer, queue=general) is None
    assert claim_next_case(actor=make_staff(Role.REVIEWER), queue=general).pk == case.pk
    assert AuditEntry.objects.get(verb=AuditVerb.CASE_SKIPPED).reason == "I know this user"


@pytest.mark.django_db
def test_releasing_puts_the_case_back_and_is_audited(client, reviewer, general) -> None:
    [case] = _cases(1)
    hold(case, reviewer)
    client.force_login(reviewer)
    response = client.post(reverse("review:release", args=[case.pk]))
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.claimed_by) == (CaseStatus.OPEN, None)
    assert AuditEntry.objects.filter(verb=AuditVerb.CASE_RELEASED, actor_label="rita").count() == 1


@pytest.mark.django_db
def test_a_senior_takes_over_a_case_someone_else_holds(reviewer, senior) -> None:
    [case] = _cases(1)
    hold(case, reviewer)
    taken = take_back_case(actor=senior, case=case, reason="Rita went home")
    assert taken.claimed_by == senior
    entry = AuditEntry.objects.get(verb=AuditVerb.CASE_TAKEN_BACK)
    assert (entry.before, entry.reason) == ({"claimed_by": reviewer.pk}, "Rita went home")


@pytest.mark.django_db
def test_start_reviewing_on_an_empty_queue_says_so(client, reviewer, general) -> None:
    client.force_login(reviewer)
    response = client.post(reverse("review:start", args=[general.pk]), follow=True)
    assert "General has no case waiting for you." in response.content.decode()


@pytest.mark.django_db
def test_reviewers_do_not_see_the_escalation_queue_and_seniors_do(client, reviewer, senior) -> None:
    escalations = Queue.objects.get(slug="escalations")
    client.force_login(reviewer)
    assert "Escalations" not in client.get(reverse("review:queues")).content.decode()
    assert client.post(reverse("review:start", args=[escalations.pk])).status_code == 404
    client.force_login(senior)
    assert "Escalations" in client.get(reverse("review:queues")).content.decode()


@pytest.mark.django_db
def test_a_queue_with_members_is_only_for_them(client, reviewer, make_staff) -> None:
    from console.roles import Role

    general = Queue.objects.get(slug="general")
    member = make_staff(Role.REVIEWER)
    general.members.add(member)
    client.force_login(reviewer)
    assert "General" not in client.get(reverse("review:queues")).content.decode()
    client.force_login(member)
    assert "General" in client.get(reverse("review:queues")).content.decode()


@pytest.mark.django_db
def test_the_queues_page_shows_depth_age_and_sla_in_a_fixed_number_of_queries(
    client, reviewer, general, django_assert_num_queries
) -> None:
    _cases(3)
    Case.objects.update(created_at=timezone.now() - timedelta(days=2))
    client.force_login(reviewer)
    response = client.get(reverse("review:queues"))
    row = next(r for r in response.context["rows"] if r.queue == general)
    assert (row.waiting, row.in_review, row.past_sla) == (3, 0, 3)
    before = _queries(client)
    _cases(5)
    Queue.objects.create(name="Extra", slug="extra")
    with django_assert_num_queries(before):
        client.get(reverse("review:queues"))


def _queries(client) -> int:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("review:queues"))
    return len(ctx.captured_queries)
