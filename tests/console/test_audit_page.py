from __future__ import annotations

import pytest
from django.urls import reverse

from console.audit import record
from console.models import AuditVerb


@pytest.fixture
def entries(db):  # type: ignore[no-untyped-def]
    for i in range(1, 121):
        verb = AuditVerb.CASE_DECIDED if i % 2 else AuditVerb.QUEUE_CHANGED
        record(actor=None, verb=verb, target=("review.case", i), reason=f"reason <b>{i}</b>")


@pytest.mark.django_db
def test_the_audit_page_pages_by_key_newest_first(client, auditor, entries) -> None:
    client.force_login(auditor)
    first = client.get(reverse("console:audit"))
    seqs = [e.seq for e in first.context["page"].items]
    # The auditor's own creation entries come before the 120 above.
    assert seqs[0] > seqs[-1] and len(seqs) == 50
    second = client.get(reverse("console:audit") + "?" + first.context["page"].next_query)
    assert next(e.seq for e in second.context["page"].items) == seqs[-1] - 1


@pytest.mark.django_db
def test_the_audit_page_filters_by_verb_and_target(client, auditor, entries) -> None:
    client.force_login(auditor)
    response = client.get(reverse("console:audit"), {"verb": AuditVerb.QUEUE_CHANGED, "target_id": "10"})
    items = response.context["page"].items
    assert [(e.verb, e.target_id) for e in items] == [(AuditVerb.QUEUE_CHANGED, "10")]
    assert "reason &lt;b&gt;10&lt;/b&gt;" in response.content.decode()


@pytest.mark.django_db
def test_the_audit_page_costs_the_same_queries_whatever_its_length(
    client, auditor, entries, django_assert_max_num_queries
) -> None:
    client.force_login(auditor)
    with django_assert_max_num_queries(12) as captured:
        client.get(reverse("console:audit"))
    small = len(captured)
    with django_assert_max_num_queries(small):
        client.get(reverse("console:audit"), {"verb": AuditVerb.CASE_DECIDED})
