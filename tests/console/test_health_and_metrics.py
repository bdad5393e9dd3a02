"""/healthz (readiness, public) and /metrics (Prometheus, behind a token or an allowed network)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from console import aggregates, metrics
from console.models import Heartbeat, HourlyCount, Metric
from review.models import Queue
from review.services import claim_next_case
from tests.factories import make_case, make_integration

TOKEN = "metrics-token-for-tests-0123456789"
CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition; fails when it is missing."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name + (f"{{{wanted}}}" if labels else "")) + r" (\S+)$"
    found = re.search(pattern, body, re.MULTILINE)
    assert found, f"no sample {name}{labels} in:\n{body}"
    return float(found.group(1))


# --- /healthz -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_200_when_the_database_answers_and_no_redis_is_configured(client, settings) -> None:
    settings.REDIS_URL = ""
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["redis"] == "not configured"
    assert body["worker"] == {"status": "never seen", "heartbeat_age_seconds": None}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_reports_the_worker_heartbeat_age(client, settings) -> None:
    settings.REDIS_URL = ""
    Heartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(seconds=42))
    aggregates.mark_up_to_date(timezone.now() - timedelta(minutes=4))
    body = client.get("/healthz").json()
    assert body["worker"]["status"] == "ok"
    assert 42 <= body["worker"]["heartbeat_age_seconds"] < 60
    assert 240 <= body["hourly_counts_age_seconds"] < 260

    Heartbeat.objects.filter(name="worker").update(beat_at=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 200  # a stopped worker is reported, not a reason to take the web out
    assert response.json()["worker"]["status"] == "stale"


@pytest.mark.django_db
def test_healthz_answers_503_when_redis_is_configured_but_unreachable_and_names_no_address(client, settings) -> None:
    settings.REDIS_URL = CLOSED_PORT
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["redis"] == "unreachable"
    assert response.json()["database"] == "ok"
    assert b"127.0.0.1" not in response.content and b"6379" not in response.content


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_does_not(client, settings, monkeypatch) -> None:
    settings.REDIS_URL = ""

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("connection refused")

    monkeypatch.setattr("console.health.connection.cursor", broken)
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert b"refused" not in response.content


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_pings_the_configured_redis(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["redis"] == "ok"


# --- /metrics: access ----------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_closed_while_neither_a_token_nor_a_network_is_configured(client, settings) -> None:
    settings.DOCKET_METRICS_TOKEN, settings.DOCKET_METRICS_NETWORKS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
def test_metrics_need_the_token(client, settings) -> None:
    settings.DOCKET_METRICS_TOKEN, settings.DOCKET_METRICS_NETWORKS = TOKEN, []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.django_db
def test_metrics_answer_an_allowed_network_without_a_token(client, settings) -> None:
    from ipaddress import ip_network

    settings.DOCKET_METRICS_TOKEN = ""
    settings.DOCKET_METRICS_NETWORKS = [ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_the_settings_refuse_a_short_token_and_a_bad_network(monkeypatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from console.env import env_networks

    monkeypatch.setenv("DOCKET_METRICS_NETWORKS", "10.0.0.0/8, ::1, nonsense")
    with pytest.raises(ImproperlyConfigured, match="DOCKET_METRICS_NETWORKS must list IP addresses"):
        env_networks("DOCKET_METRICS_NETWORKS")
    monkeypatch.setenv("DOCKET_METRICS_NETWORKS", "10.0.0.0/8, ::1")
    assert [str(n) for n in env_networks("DOCKET_METRICS_NETWORKS")] == ["10.0.0.0/8", "::1/128"]


# --- /metrics: content ---------------------------------------------------------------------


@pytest.fixture
def scrape(client, settings):  # type: ignore[no-untyped-def]
    settings.DOCKET_METRICS_TOKEN, settings.DOCKET_METRICS_NETWORKS = TOKEN, []

    def get() -> str:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return response.content.decode()

    return get


@pytest.mark.django_db
def test_metrics_count_flags_decisions_webhook_failures_and_open_cases(scrape, roles) -> None:
    hour = aggregates.floor_hour(timezone.now())
    for metric, key, value in [
        (Metric.FLAGS, "queued", 40),
        (Metric.FLAGS, "below", 60),
        (Metric.DECISIONS, "violating", 7),
        (Metric.DECISIONS, "escalated", 2),
        (Metric.WEBHOOK_ATTEMPTS, "failed", 3),
        (Metric.WEBHOOK_ATTEMPTS, "delivered", 9),
    ]:
        HourlyCount.objects.create(metric=metric, hour=hour, key=key, value=value)
        HourlyCount.objects.create(metric=metric, hour=hour - timedelta(days=300), key=key, value=1)
    integration = make_integration()
    make_case(integration, prompt="a")
    make_case(integration, prompt="b")
    Heartbeat.objects.create(name="worker", beat_at=timezone.now() - timedelta(seconds=30))

    body = scrape()

    assert sample(body, "docket_flags_ingested_total", queued="true") == 41
    assert sample(body, "docket_flags_ingested_total", queued="false") == 61
    assert sample(body, "docket_decisions_total", outcome="violating") == 8
    assert sample(body, "docket_decisions_total", outcome="not_violating") == 0
    assert sample(body, "docket_decisions_total", outcome="escalated") == 3
    assert sample(body, "docket_webhook_failures_total") == 4
    assert sample(body, "docket_cases_open", queue="general", status="open") == 2
    assert sample(body, "docket_cases_open", queue="general", status="claimed") == 0
    assert sample(body, "docket_cases_past_sla", queue="general") == 0
    assert sample(body, "docket_task_queue_length", backend="immediate", queue="default") == 0
    assert 30 <= sample(body, "docket_worker_heartbeat_age_seconds") < 60
    assert "# TYPE docket_flags_ingested_total counter" in body
    assert "# TYPE docket_cases_open gauge" in body
    assert "# TYPE docket_claim_latency_seconds histogram" in body


@pytest.mark.django_db
def test_with_the_immediate_backend_the_task_queue_is_the_work_sweeps_will_send(scrape, roles) -> None:
    from accounts.models import StatusDirty, WebhookDelivery, WebhookEvent
    from accounts.services.webhooks import create_endpoint

    integration = make_integration()
    endpoint, _ = create_endpoint(actor=None, integration=integration, url="https://example.com/h", events=[])
    event = WebhookEvent.objects.create(
        integration=integration, type="action.applied", payload={}, created_at=timezone.now()
    )
    WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now() + timedelta(hours=1))
    StatusDirty.objects.create(account=make_case(integration).account, since=timezone.now())

    body = scrape()
    assert sample(body, "docket_task_queue_length", backend="immediate", queue="default") == 2
    assert sample(body, "docket_webhook_deliveries_pending") == 2


@pytest.fixture
def in_process(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The histogram in this process's memory, as without REDIS_URL (the Redis path has its own test)."""
    monkeypatch.setattr(metrics, "redis_client", lambda: None)
    metrics.LOCAL.clear()


@pytest.mark.django_db
def test_claim_latency_is_observed_after_a_claim(scrape, reviewer, in_process) -> None:
    general = Queue.objects.get(slug="general")
    make_case(prompt="to claim")

    assert claim_next_case(actor=reviewer, queue=general) is not None
    body = scrape()
    assert sample(body, "docket_claim_latency_seconds_count", outcome="claimed") == 1
    assert sample(body, "docket_claim_latency_seconds_bucket", outcome="claimed", le="+Inf") == 1
    assert 0 < sample(body, "docket_claim_latency_seconds_sum", outcome="claimed") < 5
    assert sample(body, "docket_claim_latency_seconds_count", outcome="empty") == 0

    claim_next_case(actor=reviewer, queue=Queue.objects.get(slug="child-safety"))  # nothing there
    assert sample(scrape(), "docket_claim_latency_seconds_count", outcome="empty") == 1


def test_the_histogram_is_cumulative_and_its_labels_are_escaped(in_process) -> None:
    for seconds in (0.001, 0.004, 0.02, 0.3, 9.0):
        metrics.observe_claim(seconds, claimed=True)
    family = metrics.claim_latency()
    buckets = {s[1]["le"]: s[2] for s in family.samples if s[0] == "_bucket" and s[1]["outcome"] == "claimed"}
    assert buckets == {
        "0.005": 2,
        "0.01": 2,
        "0.025": 3,
        "0.05": 3,
        "0.1": 3,
        "0.25": 3,
        "0.5": 4,
        "1": 4,
        "2.5": 4,
        "5": 4,
        "+Inf": 5,
    }
    text = metrics.render([metrics.Family("x", "gauge", "h", [("", {"queue": 'a"b\\c\nd'}, 1)])])
    assert text == '# HELP x h\n# TYPE x gauge\nx{queue="a\\"b\\\\c\\nd"} 1\n'


@pytest.mark.redis
@pytest.mark.django_db
def test_with_redis_every_process_adds_to_one_histogram_in_redis(scrape, reviewer) -> None:
    from console.cache import redis_client

    client = redis_client()
    assert client is not None, "REDIS_URL makes the cache Redis"
    keys = [metrics.claim_key(o) for o in metrics.CLAIM_OUTCOMES]
    client.delete(*keys)
    try:
        make_case(prompt="to claim in redis")
        claim_next_case(actor=reviewer, queue=Queue.objects.get(slug="general"))
        assert int(client.hget(keys[0], "count")) == 1
        metrics.LOCAL.clear()  # another process: nothing in this one's memory
        assert sample(scrape(), "docket_claim_latency_seconds_count", outcome="claimed") == 1
    finally:
        client.delete(*keys)


def test_a_redis_that_does_not_answer_costs_a_claim_one_try_then_is_left_alone(monkeypatch) -> None:
    tries: list[str] = []

    class Broken:
        def pipeline(self, transaction: bool = True):  # type: ignore[no-untyped-def]
            tries.append("pipeline")
            raise ConnectionError("no route to host")

    monkeypatch.setattr(metrics, "redis_client", lambda: Broken())
    monkeypatch.setattr(metrics, "_redis_down_until", 0.0)
    metrics.observe_claim(0.01, claimed=True)  # must not raise: the claim has already happened
    metrics.observe_claim(0.01, claimed=True)
    assert tries == ["pipeline"]
    assert metrics._redis_down_until > 0
