"""The dashboard: each role's panels, every chart's numbers, the calibration rule, a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

import console.urls  # noqa: F401 - load the API's schemas before a clock is frozen: pydantic refuses freezegun's dates
from console import aggregates
from console.calibration import share_dropped
from console.charts import Series, chart, duration
from console.models import HourlyCount, Metric
from tests.factories import make_case, make_decision, make_integration

NOW = datetime(2026, 3, 9, 14, 20, tzinfo=UTC)  # a Monday afternoon
HOUR = NOW.replace(minute=0)
PANELS = ["queues", "own", "flags-in", "decisions-out", "violations", "states", "team", "calibration"]
SEEN_BY = {
    "reviewer": {"queues", "own"},
    "senior": {"queues", "own", "flags-in", "decisions-out", "violations", "states", "team"},
    "policy_admin": {"queues", "flags-in", "decisions-out", "violations", "states", "calibration"},
    "ops": {"queues", "flags-in", "decisions-out", "violations", "states", "team", "calibration"},
    "auditor": {"queues", "flags-in", "decisions-out", "violations", "states"},
}


def count(metric: str, hour: datetime, key: str, value: int, subkey: str = "") -> None:
    HourlyCount.objects.create(metric=metric, hour=hour, key=key, subkey=subkey, value=value)


def page(client, user) -> str:  # type: ignore[no-untyped-def]
    client.force_login(user)
    url = reverse("console:home")
    with freeze_time(NOW):
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(autouse=True)
def _draw_every_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Tests write counts without a new count run: keep no drawn panel (test_drawn_panels_are_kept... turns it on)."""
    monkeypatch.setattr("console.dashboard.PANEL_SECONDS", 0)


@pytest.fixture
def fresh(db) -> None:  # type: ignore[no-untyped-def]
    """The counts were brought up to date a minute ago: the page asks for no refresh."""
    aggregates.mark_up_to_date(NOW - timedelta(minutes=1))


@pytest.mark.parametrize("persona", list(SEEN_BY))
def test_each_role_sees_its_own_panels(request, client, fresh, persona) -> None:
    html = page(client, request.getfixturevalue(persona))

    shown = {panel for panel in PANELS if f'id="{panel}"' in html}
    assert shown == SEEN_BY[persona]
    assert "Signed in as" in html


def test_a_reviewer_sees_only_the_queues_open_to_them(client, fresh, reviewer, make_staff) -> None:
    from console.roles import Role
    from review.models import Queue

    Queue.objects.get(slug="general").members.add(reviewer)
    Queue.objects.get(slug="self-harm-violence").members.add(make_staff(Role.REVIEWER))
    html = page(client, reviewer)
    assert "Your queues" in html
    assert "General" in html and "Self-harm and violence" not in html


def test_the_queues_panel_shows_depth_oldest_age_and_cases_past_sla(client, fresh, ops) -> None:
    integration = make_integration()
    with freeze_time(NOW - timedelta(hours=30)):
        old = make_case(integration, prompt="old")
    with freeze_time(NOW - timedelta(minutes=5)):
        make_case(integration, prompt="new")
    html = page(client, ops)

    general = old.queue
    assert general.slug == "general" and general.sla_minutes == 24 * 60
    assert "General: Waiting 2, In review 0, Past SLA 1" in html
    assert '<td class="nowrap">30 h</td>' in html
    assert '<span class="figure">2</span><span class="what">open cases</span>' in html
    assert '<span class="figure">1</span><span class="what">past SLA</span>' in html


def test_flags_in_and_decisions_out_are_drawn_per_hour_with_their_numbers(client, fresh, ops) -> None:
    count(Metric.FLAGS, HOUR - timedelta(hours=2), "queued", 7)
    count(Metric.FLAGS, HOUR - timedelta(hours=2), "below", 5)
    count(Metric.FLAGS, HOUR - timedelta(days=3), "below", 1000)  # outside the last 24 hours
    count(Metric.DECISIONS, HOUR, "violating", 3)
    count(Metric.DECISIONS, HOUR, "escalated", 1)
    count(Metric.FLAGS, HOUR - timedelta(days=8), "queued", 99)  # before the chart's week
    html = page(client, ops)

    assert "Mon 09 Mar 12:00: Queued for review 7, Below threshold 5, total 12" in html
    assert "Mon 09 Mar 14:00: Violating 3, Not violating 0, Escalated 1, total 4" in html
    assert '<span class="figure">12</span><span class="what">flags in, last 24 h</span>' in html
    assert '<span class="figure">4</span><span class="what">decisions out, last 24 h</span>' in html
    assert "Queued for review 99" not in html
    table = html.split('id="flags-in"')[1].split("</table>")[0]
    assert (
        '<td class="nowrap">Mon 09 Mar 12:00</td><td class="num">7</td><td class="num">5</td><td class="num">12</td>'
        in table
    )


def test_violations_by_category_stack_the_biggest_five_and_group_the_rest(client, fresh, policy_admin) -> None:
    day = HOUR - timedelta(days=2)
    for value, slug in enumerate(["hate", "harassment", "violence", "sexual", "self_harm", "fraud_spam", "cyber"], 1):
        count(Metric.VIOLATIONS, day, slug, value * 10)
    count(Metric.VIOLATIONS, day + timedelta(hours=3), "cyber", 5)  # same day, another hour
    html = page(client, policy_admin)

    assert (
        "Sat 07 Mar: Cyber abuse 75, Fraud and spam 60, Self-harm 50, Sexual content 40, Violence 30, "
        "Other categories 30, total 285" in html
    )


def test_accounts_entering_each_state_are_counted_per_day(client, fresh, auditor) -> None:
    count(Metric.ACCOUNT_STATES, HOUR - timedelta(days=1), "warned", 3)
    count(Metric.ACCOUNT_STATES, HOUR - timedelta(days=1, hours=2), "suspended", 1)
    count(Metric.ACCOUNT_STATES, HOUR - timedelta(days=1), "active", 2)
    html = page(client, auditor)

    assert "Sun 08 Mar: Warned 3, Restricted 0, Suspended 1, Terminated 0, Back to active 2, total 6" in html


def test_reviewers_throughput_and_handling_time_over_the_last_week(client, fresh, senior, reviewer) -> None:
    rita, sam = str(reviewer.pk), str(senior.pk)
    for hours_ago, who, decisions, timed, seconds in [(1, rita, 8, 8, 200), (30, rita, 4, 2, 100), (3, sam, 2, 2, 190)]:
        hour = HOUR - timedelta(hours=hours_ago)
        count(Metric.REVIEWER_DECISIONS, hour, who, decisions)
        count(Metric.REVIEWER_TIMED, hour, who, timed)
        count(Metric.REVIEWER_SECONDS, hour, who, seconds)
    count(Metric.REVIEWER_DECISIONS, HOUR - timedelta(days=8), rita, 500)  # older than a week
    html = page(client, senior)

    team = html.split('id="team"')[1].split("</section>")[0]
    assert '<tr><td>rita</td><td class="num">12</td><td class="num">30 s</td></tr>' in team
    assert '<tr><td>sam</td><td class="num">2</td><td class="num">1 min 35 s</td></tr>' in team
    assert "rita: Decisions 12" in team and "sam: Average handling time 1 min 35 s" in team
    own = html.split('id="own"')[1].split("</section>")[0]
    assert "2 in the last 14 days; 1 min 35 s on average" in own


def test_a_reviewer_sees_their_own_decisions_per_day(client, fresh, reviewer) -> None:
    rita = str(reviewer.pk)
    count(Metric.REVIEWER_DECISIONS, HOUR - timedelta(days=2), rita, 9)
    count(Metric.REVIEWER_TIMED, HOUR - timedelta(days=2), rita, 9)
    count(Metric.REVIEWER_SECONDS, HOUR - timedelta(days=2), rita, 9 * 44)
    html = page(client, reviewer)

    assert "Sat 07 Mar: Your decisions 9" in html
    assert '<span class="figure">44 s</span>' in html


def test_a_category_whose_violating_share_dropped_raises_a_calibration_alert(client, fresh, policy_admin) -> None:
    recent, before = HOUR - timedelta(days=2), HOUR - timedelta(days=20)
    for slug, rv, rt, bv, bt in [("hate", 10, 30, 40, 50), ("violence", 2, 10, 40, 50), ("sexual", 20, 30, 35, 50)]:
        count(Metric.VERDICTS, recent, slug, rv, "violating")
        count(Metric.VERDICTS, recent, slug, rt - rv, "not_violating")
        count(Metric.VERDICTS, before, slug, bv, "violating")
        count(Metric.VERDICTS, before, slug, bt - bv, "not_violating")
    count(Metric.VERDICTS, HOUR - timedelta(days=40), "sexual", 500, "not_violating")  # before both windows
    html = page(client, policy_admin)

    alerts = html.split('id="calibration-alerts"')[1].split("</section>")[0]
    assert "<strong>Hate</strong>: 33 % of reviewed cases were violating in the last 7 days (10 of 30)" in alerts
    assert "against 80 % in the 28 days before (40 of 50): down 47 points" in alerts
    assert "Violence" not in alerts  # too few verdicts in the last week to judge
    assert "Sexual" not in alerts  # 67 % against 70 %: no real drop
    assert '<span class="figure">1</span><span class="what">calibration alert</span>' in html
    assert "Hate: 28 days before 80 %, Last 7 days 33 %" in html
    assert reverse("console:policy_category", args=["hate"]) in alerts


@pytest.mark.parametrize(
    ("recent", "baseline", "alert"),
    [
        ((10, 30), (40, 50), True),  # 33 % against 80 %: z = 4.2
        ((10, 19), (40, 50), False),  # fewer than 20 verdicts in the last week
        ((5, 20), (30, 39), False),  # fewer than 40 in the 28 days before
        ((12, 20), (40, 50), False),  # 60 % against 80 %: 20 points, but z = 1.7 on so few
        ((70, 100), (420, 500), False),  # 70 % against 84 %: significant, but 14 points
        ((69, 100), (420, 500), True),  # 69 % against 84 %: 15 points, z = 3.3
        ((40, 100), (300, 500), True),  # 40 % against 60 %, z = 3.7
        ((0, 20), (0, 40), False),  # never violating: nothing dropped
    ],
)
def test_the_calibration_rule_needs_samples_a_drop_of_15_points_and_significance(recent, baseline, alert) -> None:
    (rv, rt), (bv, bt) = recent, baseline
    assert share_dropped(rv, rt, bv, bt) is alert


def test_the_dashboard_costs_the_same_number_of_queries_with_little_or_much_data(
    client, fresh, ops, reviewer, django_assert_num_queries
) -> None:
    def counts_at(hours_ago: int) -> None:
        hour = HOUR - timedelta(hours=hours_ago)
        count(Metric.FLAGS, hour, "queued", hours_ago + 1)
        count(Metric.DECISIONS, hour, "violating", 2)
        count(Metric.VIOLATIONS, hour, "hate", 1)
        count(Metric.VERDICTS, hour, "hate", 1, "violating")
        count(Metric.ACCOUNT_STATES, hour, "warned", 1)
        count(Metric.REVIEWER_DECISIONS, hour, str(reviewer.pk), 3)

    integration = make_integration()
    make_case(integration, prompt="one")
    counts_at(1)
    client.force_login(ops)
    with freeze_time(NOW), CaptureQueriesContext(connection) as small:
        client.get(reverse("console:home"))
    for i in range(12):
        make_case(integration, prompt=f"p{i}")
    for hours_ago in range(2, 24 * 40, 7):
        counts_at(hours_ago)
    with freeze_time(NOW), django_assert_num_queries(len(small.captured_queries)):
        response = client.get(reverse("console:home"))
    assert response.status_code == 200


def test_drawn_panels_are_kept_until_the_counts_change(client, ops, monkeypatch, django_assert_num_queries) -> None:
    monkeypatch.setattr("console.dashboard.PANEL_SECONDS", 600)
    as_of = NOW - timedelta(minutes=1, microseconds=NOW.microsecond + 7)  # a moment no other test uses
    aggregates.mark_up_to_date(as_of)
    count(Metric.FLAGS, HOUR, "queued", 5)
    client.force_login(ops)
    url = reverse("console:home")
    with freeze_time(NOW), CaptureQueriesContext(connection) as first:
        assert "Queued for review 5" in client.get(url).content.decode()

    count(Metric.FLAGS, HOUR - timedelta(hours=1), "queued", 6)  # written, but no count run has said so yet
    with freeze_time(NOW), CaptureQueriesContext(connection) as second:
        html = client.get(url).content.decode()
    assert "Queued for review 5" in html and "Queued for review 6" not in html
    assert len(second.captured_queries) < len(first.captured_queries)  # no hourly counts read at all
    assert not any("console_hourlycount" in q["sql"] for q in second.captured_queries)

    aggregates.mark_up_to_date(as_of + timedelta(seconds=30))  # the next run
    with freeze_time(NOW):
        assert "Queued for review 6" in client.get(url).content.decode()


def test_stale_counts_are_brought_up_to_date_when_the_page_is_opened(client, ops, reviewer) -> None:
    from django.core.cache import cache

    cache.delete("docket:hourly_counts:nudge")
    with freeze_time(NOW - timedelta(hours=2)):
        make_decision(reviewer=reviewer)
    assert not HourlyCount.objects.exists()
    html = page(client, ops)  # no periodic job ever ran (make run): the immediate backend counts now

    assert HourlyCount.objects.filter(metric=Metric.DECISIONS).get().value == 1
    assert "Mon 09 Mar 12:00: Violating 0, Not violating 1, Escalated 0, total 1" in html
    assert "brought up to date at 14:20 UTC" in html


def test_it_asks_for_a_refresh_at_most_once_a_minute(db, reviewer) -> None:
    from django.core.cache import cache

    from console.dashboard import nudge_if_stale

    cache.delete("docket:hourly_counts:nudge")
    assert nudge_if_stale(None, now=NOW) is True
    assert nudge_if_stale(None, now=NOW) is False
    assert nudge_if_stale(NOW - timedelta(minutes=2), now=NOW) is False  # fresh: nothing to ask


# --- The chart helper -------------------------------------------------------------------------


def test_a_stacked_chart_puts_each_series_on_the_one_below_and_names_every_number() -> None:
    drawn = chart(
        label="test",
        x_titles=["Mon", "Tue"],
        series=[Series("A", "c1", [2, 0]), Series("B", "c2", [3, 1])],
        kind="stacked",
        width=200,
        height=120,
    )
    assert [t.label for t in drawn.y_ticks] == ["0", "5"]  # no "2" half way: it would not be true
    a, b, b2 = drawn.bars
    assert (a.css, b.css, b2.css) == ("c1", "c2", "c2")  # Tue's A is zero: no bar
    assert a.y + a.height == pytest.approx(drawn.plot_bottom)
    assert b.y + b.height == pytest.approx(a.y)
    assert a.height / b.height == pytest.approx(2 / 3)
    assert [c.title for c in drawn.columns] == ["Mon: A 2, B 3, total 5", "Tue: A 0, B 1, total 1"]
    assert drawn.headings == ["", "A", "B", "Total"]
    assert [r.cells for r in drawn.rows] == [["2", "3", "5"], ["0", "1", "1"]]


def test_side_by_side_bars_share_a_slot_and_long_labels_slant() -> None:
    drawn = chart(
        label="test",
        x_titles=["A very long queue name indeed", "Another long queue name"],
        series=[Series("Waiting", "c1", [40, 10]), Series("Past SLA", "c2", [5, 0])],
        width=200,
    )
    waiting, late, _ = drawn.bars
    assert late.x == pytest.approx(waiting.x + waiting.width)
    assert all(t.rotate for t in drawn.x_ticks)
    assert drawn.x_ticks[0].label == "A very long queue…"
    assert [t.label for t in drawn.y_ticks] == ["0", "25", "50"]


def test_a_chart_refuses_a_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="has 1 values for 2 slots"):
        chart(label="x", x_titles=["a", "b"], series=[Series("S", "c1", [1])])


def test_durations_read_as_people_say_them() -> None:
    assert [duration(s) for s in (7, 95, 3600, 3 * 3600 + 60 * 5, 30 * 3600, 50 * 3600)] == [
        "7 s",
        "1 min 35 s",
        "1 h",
        "3 h 5 min",
        "30 h",
        "2 d 2 h",
    ]


def test_the_empty_dashboard_draws_its_panels_and_says_there_is_nothing_yet(client, fresh, ops) -> None:
    html = page(client, ops)
    assert html.count('<svg class="chart"') == 5  # queues, flags, decisions, violations, states
    assert "Nothing to show yet." in html
    assert "No decision in the last 7 days." in html and "No reviewed case in the last 35 days." in html
