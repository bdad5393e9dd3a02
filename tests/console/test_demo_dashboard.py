"""The demo's month of history fills every chart of the dashboard (what `make run` shows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

import console.urls  # noqa: F401 - load the API's schemas before the demo freezes its clock
from console.demo import seed_hourly_counts, seed_staff
from console.models import HourlyCount, Metric
from review.models import Decision


@pytest.mark.django_db
def test_the_demo_history_gives_every_chart_something_to_show(client, roles, monkeypatch, settings) -> None:
    settings.DOCKET_REQUIRE_2FA = False  # as `make run` serves the demo: its logins have no authenticator
    from accounts.demo import seed_enforcement
    from review.demo import seed_flags, seed_integrations, seed_review_history

    monkeypatch.setattr("console.dashboard.PANEL_SECONDS", 0)
    lines: list[str] = []
    for step in (seed_staff, seed_integrations):
        step(lines.append)
    seed_flags(lines.append, count=450)
    seed_review_history(lines.append)
    seed_enforcement(lines.append)
    seed_hourly_counts(lines.append)

    decided = Decision.objects.values_list("decided_at", flat=True)
    assert max(decided) - min(decided) > timedelta(days=20)  # a month, not one moment
    for metric in (Metric.FLAGS, Metric.DECISIONS, Metric.VIOLATIONS, Metric.ACCOUNT_STATES, Metric.VERDICTS):
        assert HourlyCount.objects.filter(metric=metric).exists(), metric

    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="ops"))
    html = client.get(reverse("console:home")).content.decode()
    assert '<table class="dense small queue-health">' in html  # with this little traffic the queues may be empty
    for panel in ("flags-in", "decisions-out", "violations", "states", "team", "calibration"):
        section = html.split(f'id="{panel}"')[1].split("</section>")[0]
        assert '<svg class="chart"' in section, panel
        assert "Nothing to show yet." not in section, panel
    seed_review_history(lines.append)  # a second seed_demo leaves the history alone
    assert "review history: decisions already there, nothing to do" in lines
