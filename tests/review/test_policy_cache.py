from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from review.models import PolicyState, ProfileThreshold
from tests.factories import flag_payload


def _tables_read(api) -> set[str]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        assert api.post_flags(flag_payload()).status_code == 200
    return {t for q in ctx.captured_queries for t in ("review_labelmapping", "review_profilethreshold")
            if f'FROM "{t}"' in q["sql"]}


@pytest.mark.django_db
def test_the_policy_is_read_once_and_then_kept_while_its_version_holds(api) -> None:
    _tables_read(api)
    assert _tables_read(api) == set()


@pytest.mark.django_db
def test_any_change_to_a_policy_table_changes_the_version_and_is_read_again(api, integration) -> None:
    _tables_read(api)
    before = PolicyState.objects.get(pk=1).version
    ProfileThreshold.objects.filter(profile=integration.profile, category_id="hate").update(threshold="off")
    assert PolicyState.objects.get(pk=1).version != before
    assert _tables_read(api) == {"review_labelmapping", "review_profilethreshold"}
    outcome = api.post_flags(flag_payload()).json()["results"][0]
    assert outcome["queued"] is False  # judged by the new threshold
