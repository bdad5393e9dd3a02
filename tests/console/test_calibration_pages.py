"""The calibration page, its what-if panel and the sample rate per profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

from console.models import AuditEntry, AuditVerb
from console.navigation import NAV
from review.models import PolicyProfile
from review.services import ingest_flags
from tests.factories import flag_payload, make_integration
from tests.review.test_calibration_numbers import NOW, calibration_data  # noqa: F401 - the hand-computed dataset

pytestmark = pytest.mark.django_db

URL = reverse("console:policy_calibration")
WHATIF = reverse("console:policy_whatif")


@pytest.fixture
def admin_client(client, policy_admin):  # type: ignore[no-untyped-def]
    client.force_login(policy_admin)
    return client


def _row(html: str, *cells: str) -> bool:
    """Whether a table row holds these cells in this order."""
    import re

    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):
        texts = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        if texts[: len(cells)] == list(cells):
            return True
    return False


def test_it_shows_the_hand_computed_numbers_for_a_profile(admin_client, calibration_data) -> None:  # noqa: F811
    response = admin_client.get(URL, {"profile": calibration_data["default"].pk})

    html = response.content.decode()
    assert response.status_code == 200
    # category, source, level, arrived, decided, violating, interval, median, sample sent · decided, sample share, CI
    assert _row(html, "Violence", "generic", "high", "5", "5", "80.0 %", "37.6 to 96.4 %", "40 s", "—", "—", "—")
    assert _row(html, "Violence", "generic", "medium", "4", "3", "33.3 %", "6.1 to 79.2 %", "20 s")
    assert _row(html, "Violence", "generic", "low", "6", "2", "50.0 %", "9.5 to 90.5 %", "20 s", "3 · 2", "50.0 %",
                "9.5 to 90.5 %")
    assert _row(html, "Violence", "generic", "negligible", "3", "1", "0.0 %", "0.0 to 79.3 %", "5 s", "1 · 1", "0.0 %")
    assert _row(html, "Violence", "llamaguard", "high", "1", "1", "100.0 %", "20.7 to 100.0 %", "1 min 30 s")
    assert _row(html, "Hate", "generic", "low", "2", "2", "50.0 %", "9.5 to 90.5 %", "1 min 20 s")


def test_without_a_filter_it_shows_the_last_30_days_of_every_integration(admin_client, calibration_data) -> None:  # noqa: F811
    with freeze_time(NOW):  # the page's "today" and this test's are the same day
        html = admin_client.get(URL).content.decode()

    today = NOW.date()
    assert f'value="{today - timedelta(days=29)}"' in html and f'value="{today}"' in html
    # B1 (Beta, Games) joins V1-V6's row: 4 of 6 violating, median of 20 30 40 50 70 1000 = 45 s
    assert _row(html, "Violence", "generic", "high", "6", "6", "66.7 %")
    assert _row(html, "Violence", "generic", "medium", "5", "3", "33.3 %")  # and B2, open


def test_a_period_that_ends_before_it_starts_is_a_form_error(admin_client) -> None:
    response = admin_client.get(URL, {"since": "2026-03-01", "until": "2026-02-01"})

    assert response.status_code == 400
    assert "since: The period must start on or before its end." in response.content.decode()
    assert admin_client.get(URL, {"since": "yesterday"}).status_code == 400


def test_the_page_costs_the_same_queries_for_one_row_or_many(admin_client, calibration_data,  # noqa: F811
                                                             django_assert_num_queries) -> None:
    with CaptureQueriesContext(connection) as many:
        admin_client.get(URL)
    PolicyProfile.objects.create(name="Spare")  # another profile row in the sample-rate table
    for n in range(20):
        ingest_flags(integration=calibration_data["acme"], payloads=[flag_payload(
            source="generic", result={"signals": [{"category": c, "level": "low"}]}, prompt=f"p{n}")
            for c in ("sexual", "fraud_spam", "privacy")])
    with django_assert_num_queries(len(many.captured_queries)):
        html = admin_client.get(URL).content.decode()
    assert _row(html, "Sexual content", "generic", "low", "20")


def test_the_what_if_partial_matches_the_hand_computation(admin_client, calibration_data) -> None:  # noqa: F811
    response = admin_client.get(
        WHATIF, {"profile": calibration_data["default"].pk, "category": "violence", "threshold": "low"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # a partial, for htmx to swap in
    # 16 flags in 30 days at low and above → 0.53 a day (today's medium: 10 → 0.33)
    assert '<strong class="whatif-volume">0.53</strong>' in html and "threshold: 0.33)" in html
    # caught ≈ 9.33 (3.43 to 14.4); missed ≈ 0 (0 to 2.38)
    assert '<strong class="whatif-caught">≈ 9.33</strong>' in html and "95 %: 3.43 to 14.4" in html
    assert '<strong class="whatif-missed">≈ 0.00</strong>' in html and "95 %: 0.00 to 2.38" in html
    assert _row(html, "high", "6", "6", "83.3 %", "43.6 to 97.0 %", "5.00", "reviewed")
    assert _row(html, "negligible", "3", "1", "0.0 %", "0.0 to 79.3 %", "0.00", "not reviewed")


def test_without_htmx_the_what_if_is_a_whole_page(admin_client, calibration_data) -> None:  # noqa: F811
    response = admin_client.get(
        WHATIF, {"profile": calibration_data["default"].pk, "category": "violence", "threshold": "high"}
    )

    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert '<strong class="whatif-volume">0.20</strong>' in html
    assert '<strong class="whatif-missed">≈ 4.33</strong>' in html


def test_the_what_if_names_what_is_missing_or_wrong(admin_client, roles) -> None:
    response = admin_client.get(WHATIF, {"category": "nope", "threshold": "sometimes"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 400
    assert "profile: This field is required." in html
    assert "category: Select a valid choice." in html
    assert "threshold: Select a valid choice. sometimes is not one of the available choices." in html


def test_the_what_if_says_child_safety_is_not_adjustable(admin_client, roles) -> None:
    default = PolicyProfile.objects.get(name="Default")

    html = admin_client.get(WHATIF, {"profile": default.pk, "category": "child_safety", "threshold": "off"},
                            HTTP_HX_REQUEST="true").content.decode()

    assert "is not adjustable" in html


def test_a_policy_admin_sets_a_profiles_sample_rate_with_a_reason(admin_client, policy_admin, roles) -> None:
    default = PolicyProfile.objects.get(name="Default")
    url = reverse("console:policy_calibration_rate", args=[default.pk])

    refused = admin_client.post(url, {"rate": "2.5"})
    too_much = admin_client.post(url, {"rate": "101", "reason": "more"})
    saved = admin_client.post(url, {"rate": "2.5", "reason": "precision at low is unknown"})

    assert (refused.status_code, too_much.status_code, saved.status_code) == (400, 400, 302)
    assert "reason" in refused.content.decode() and "less than or equal to 100" in too_much.content.decode()
    default.refresh_from_db()
    assert str(default.calibration_rate) == "2.50"
    entry = AuditEntry.objects.filter(verb=AuditVerb.PROFILE_CALIBRATION_CHANGED).get()
    assert (entry.before, entry.after, entry.reason, entry.actor_label) == (
        {"calibration_rate": "1.00"}, {"calibration_rate": "2.5"}, "precision at low is unknown", "pat"
    )
    assert _row(admin_client.get(URL).content.decode(), "Default", "0", "2.5 %")


def test_the_new_rate_is_what_ingestion_samples_at(admin_client, roles, calibration_sampling) -> None:
    acme = make_integration("Acme")
    admin_client.post(reverse("console:policy_calibration_rate", args=[acme.profile_id]),
                      {"rate": "100", "reason": "measure everything for a day"})

    [outcome] = ingest_flags(integration=acme, payloads=[flag_payload(
        result={"signals": [{"category": "violence", "level": "low"}]})])

    assert outcome.queue == "calibration"


def test_calibration_and_retention_are_in_the_policy_admins_navigation(client, policy_admin, reviewer) -> None:
    labels = {item.label: item.url_name for item in NAV}
    assert labels["Calibration"] == "console:policy_calibration"
    assert labels["Retention"] == "console:policy_retention"
    client.force_login(policy_admin)
    assert f'href="{URL}"' in client.get(reverse("console:home")).content.decode()
    client.force_login(reviewer)
    assert f'href="{URL}"' not in client.get(reverse("console:home")).content.decode()
