from __future__ import annotations

import pytest
from django.urls import reverse

from review.models import Case
from tests.factories import flag_payload, make_case, make_decision, make_integration


@pytest.fixture
def cases(db):  # type: ignore[no-untyped-def]
    acme, other = make_integration("Acme"), make_integration("Other")
    made = [make_case(acme, prompt=f"hate {i}") for i in range(3)]
    made.append(make_case(other, prompt="violent", source="openai", result={"results": [
        {"flagged": True, "categories": {}, "category_scores": {"violence": 0.95}}]}))
    return made


@pytest.mark.django_db
def test_the_list_filters_by_integration_category_and_source(client, senior, cases) -> None:
    client.force_login(senior)
    by_integration = client.get(reverse("review:cases"), {"integration": cases[0].integration_id})
    assert {c.pk for c in by_integration.context["page"].items} == {c.pk for c in cases[:3]}
    by_category = client.get(reverse("review:cases"), {"category": "violence"})
    assert [c.pk for c in by_category.context["page"].items] == [cases[3].pk]
    by_source = client.get(reverse("review:cases"), {"source": "openai"})
    assert [c.pk for c in by_source.context["page"].items] == [cases[3].pk]


@pytest.mark.django_db
def test_the_list_filters_by_reviewer_and_status(client, senior, reviewer, cases) -> None:
    make_decision(cases[1], reviewer)
    client.force_login(senior)
    response = client.get(reverse("review:cases"), {"reviewer": "rita", "status": "closed"})
    assert [c.pk for c in response.context["page"].items] == [cases[1].pk]


@pytest.mark.django_db
def test_the_list_pages_by_key_in_the_chosen_order(client, senior) -> None:
    integration = make_integration()
    for i in range(55):
        make_case(integration, prompt=f"p{i}")
    client.force_login(senior)
    first = client.get(reverse("review:cases"), {"order": "oldest"})
    page1 = [c.pk for c in first.context["page"].items]
    second = client.get(reverse("review:cases") + "?" + first.context["page"].next_query)
    page2 = [c.pk for c in second.context["page"].items]
    assert len(page1) == 50 and len(page2) == 5
    assert page1 + page2 == sorted(Case.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_list_costs_the_same_number_of_queries_for_5_or_60_cases(client, senior, django_assert_num_queries
                                                                     ) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    integration = make_integration()
    for i in range(5):
        make_case(integration, prompt=f"a{i}")
    client.force_login(senior)
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("review:cases"))
    for i in range(55):
        make_case(make_integration(), **flag_payload(prompt=f"b{i}", id=f"b{i}"))
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("review:cases"))


@pytest.mark.django_db
def test_reviewers_only_list_cases_of_their_queues_and_get_no_bulk_form(client, reviewer, cases) -> None:
    from review.models import Queue

    Queue.objects.get(slug="general").members.add(reviewer)
    child = Queue.objects.get(slug="child-safety")
    other_reviewer_only = Queue.objects.create(name="Private", slug="private")
    other_reviewer_only.members.add(reviewer.__class__.objects.create(username="someone"))
    Case.objects.filter(pk=cases[0].pk).update(queue=other_reviewer_only)
    client.force_login(reviewer)
    response = client.get(reverse("review:cases"))
    assert cases[0].pk not in {c.pk for c in response.context["page"].items}
    assert response.context["bulk_form"] is None
    assert child  # the child-safety queue is open to every reviewer
    assert client.get(reverse("review:case", args=[cases[0].pk])).status_code == 404
