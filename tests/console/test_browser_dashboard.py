"""The dashboard in a real browser: drawn without script or inline style (the CSP allows neither),
numbers on hover and in the table under each chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from console import aggregates
from console.models import HourlyCount, Metric
from tests.browser import BrowserProblems, login
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_ops_sees_every_chart_with_its_numbers_and_the_page_breaks_no_rule(
    page, live_server, ops, browser_problems: BrowserProblems
) -> None:
    hour = aggregates.floor_hour(timezone.now()) - timedelta(hours=1)
    HourlyCount.objects.create(metric=Metric.FLAGS, hour=hour, key="queued", value=17)
    HourlyCount.objects.create(metric=Metric.VIOLATIONS, hour=hour, key="hate", value=4)
    aggregates.mark_up_to_date(timezone.now())

    login(page, live_server.url, "otto", PASSWORD)

    for heading in [
        "Queues",
        "Flags in per hour",
        "Decisions out per hour",
        "Violations by category",
        "Accounts entering each enforcement state",
        "Reviewers: throughput and handling time, last 7 days",
        "Calibration: violating share of reviewed cases",
    ]:
        expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()
    flags = page.locator("section", has=page.get_by_role("heading", name="Flags in per hour"))
    expect(flags.get_by_role("img", name="Flags received per hour, last 7 days (UTC)")).to_be_visible()
    # What the browser shows when the pointer is anywhere over that hour (the bars let it through).
    title = f"{hour:%a %d %b %H}:00: Queued for review 17, Below threshold 0, total 17"
    assert flags.locator("svg rect.hit title", has_text=title).count() == 1
    box = flags.locator("svg.chart rect.bar.queued").bounding_box()
    assert box is not None
    under_pointer = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).querySelector('title')?.textContent",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert under_pointer == title
    flags.get_by_text("The numbers").click()
    row = flags.get_by_role("row", name=f"{hour:%a %d %b %H}:00 17 0 17")
    expect(row).to_be_visible()
    browser_problems.assert_none()
