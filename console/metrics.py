"""Prometheus metrics for `/metrics`, in the text exposition format (version 0.0.4), written by hand.

Most numbers are read when scraped: counters from the hourly counts
(console.aggregates, at most one periodic run behind), gauges live from
small indexed reads. The one thing measured as it happens is the claim
latency, a histogram that every web process adds to:

* with REDIS_URL, in Redis (one pipelined round trip per claim: a bucket, the
  count and the sum), so the histogram covers every gunicorn worker on every
  machine and any process can answer the scrape. If Redis does not answer, the
  observation is dropped and Redis is left alone for BACKOFF seconds, so an
  outage costs a claim at most one short timeout;
* without Redis (the embedded default), in the process's own memory: the
  single-process demo sees all of it, several processes each see their own.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum
from django.http import Http404, HttpRequest
from django.utils import timezone

from console.cache import raw_key, redis_client

logger = logging.getLogger(__name__)

CLAIM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CLAIM_OUTCOMES = ("claimed", "empty")
CLAIM_KEY = "docket:metrics:claim_latency_seconds:{outcome}"
BACKOFF = 30.0  # seconds without trying Redis after it failed to answer


# --- Access ------------------------------------------------------------------------------


def check_access(request: HttpRequest) -> bool:
    """Whether `request` may read /metrics; Http404 when no token and no network is configured (closed)."""
    token: str = settings.DOCKET_METRICS_TOKEN
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = settings.DOCKET_METRICS_NETWORKS
    if not token and not networks:
        raise Http404("Metrics are off: set DOCKET_METRICS_TOKEN or DOCKET_METRICS_NETWORKS.")
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return True
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in networks)
    return False


# --- Claim latency ----------------------------------------------------------------------------


class _LocalHistogram:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, float]] = {}

    def add(self, outcome: str, bucket: int, seconds: float) -> None:
        with self.lock:
            row = self.data.setdefault(outcome, {})
            row[f"b{bucket}"] = row.get(f"b{bucket}", 0) + 1
            row["count"] = row.get("count", 0) + 1
            row["sum"] = row.get("sum", 0.0) + seconds

    def read(self, outcome: str) -> dict[str, float]:
        with self.lock:
            return dict(self.data.get(outcome, {}))

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


LOCAL = _LocalHistogram()
_redis_down_until = 0.0


def claim_key(outcome: str) -> str:
    return raw_key(CLAIM_KEY.format(outcome=outcome))


def observe_claim(seconds: float, *, claimed: bool) -> None:
    """Add one claim's duration to the histogram; never raises."""
    global _redis_down_until
    outcome = CLAIM_OUTCOMES[0] if claimed else CLAIM_OUTCOMES[1]
    bucket = bisect_left(CLAIM_BUCKETS, seconds)  # the first bound at or above it; len() is +Inf
    client = redis_client()
    if client is None:
        LOCAL.add(outcome, bucket, seconds)
        return
    if time.monotonic() < _redis_down_until:
        return
    key = claim_key(outcome)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(key, f"b{bucket}", 1)
        pipe.hincrby(key, "count", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.execute()
    except Exception:
        _redis_down_until = time.monotonic() + BACKOFF
        logger.warning("claim latency not recorded: Redis did not answer", exc_info=True)


def _claim_histograms() -> dict[str, dict[str, float]]:
    client = redis_client()
    if client is None:
        return {outcome: LOCAL.read(outcome) for outcome in CLAIM_OUTCOMES}
    pipe = client.pipeline(transaction=False)
    for outcome in CLAIM_OUTCOMES:
        pipe.hgetall(claim_key(outcome))
    answers = pipe.execute()
    return {
        outcome: {k.decode(): float(v) for k, v in answer.items()}
        for outcome, answer in zip(CLAIM_OUTCOMES, answers, strict=True)
    }


# --- Exposition ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # counter, gauge, histogram
    help: str
    samples: Sequence[tuple[str, dict[str, str], float]]  # (suffix, labels, value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines += [
            f"{family.name}{suffix}{_labels(labels)} {_number(value)}" for suffix, labels, value in family.samples
        ]
    return "\n".join(lines) + "\n"


def claim_latency() -> Family:
    samples: list[tuple[str, dict[str, str], float]] = []
    for outcome, row in _claim_histograms().items():
        running = 0.0
        for i, bound in enumerate(CLAIM_BUCKETS):
            running += row.get(f"b{i}", 0)
            samples.append(("_bucket", {"outcome": outcome, "le": _number(bound)}, running))
        running += row.get(f"b{len(CLAIM_BUCKETS)}", 0)
        samples.append(("_bucket", {"outcome": outcome, "le": "+Inf"}, running))
        samples.append(("_sum", {"outcome": outcome}, row.get("sum", 0.0)))
        samples.append(("_count", {"outcome": outcome}, row.get("count", 0)))
    return Family(
        "docket_claim_latency_seconds",
        "histogram",
        'Time claim_next_case takes, call to answer ("empty": the queue had nothing to give).',
        samples,
    )


def counted_totals() -> list[Family]:
    """Counters from the hourly counts: all time, at most one periodic run (5 minutes) behind."""
    from console.models import HourlyCount, Metric

    sums = (
        HourlyCount.objects.filter(metric__in=[Metric.FLAGS, Metric.DECISIONS, Metric.WEBHOOK_ATTEMPTS])
        .values("metric", "key")
        .annotate(n=Sum("value"))
        .order_by()
    )
    got = {(row["metric"], row["key"]): row["n"] for row in sums}
    from review.models import Outcome

    return [
        Family(
            "docket_flags_ingested_total",
            "counter",
            "Flags received (queued: whether one met a threshold), from the hourly counts.",
            [
                ("", {"queued": q}, got.get((Metric.FLAGS, key), 0))
                for q, key in (("true", "queued"), ("false", "below"))
            ],
        ),
        Family(
            "docket_decisions_total",
            "counter",
            "Decisions made, corrections included, by outcome, from the hourly counts.",
            [("", {"outcome": o.value}, got.get((Metric.DECISIONS, o.value), 0)) for o in Outcome],
        ),
        Family(
            "docket_webhook_failures_total",
            "counter",
            "Webhook delivery attempts that failed (no answer or not 2xx), from the hourly counts.",
            [("", {}, got.get((Metric.WEBHOOK_ATTEMPTS, "failed"), 0))],
        ),
        Family(
            "docket_webhook_attempts_total",
            "counter",
            "Webhook delivery attempts by result, from the hourly counts.",
            [("", {"result": r}, got.get((Metric.WEBHOOK_ATTEMPTS, r), 0)) for r in ("delivered", "failed")],
        ),
    ]


def queue_gauges() -> list[Family]:
    from console.dashboard import queue_rows
    from review.models import Queue

    now = timezone.now()
    rows = queue_rows(list(Queue.objects.order_by("slug")), now=now)
    return [
        Family(
            "docket_cases_open",
            "gauge",
            "Unresolved cases per queue: waiting (open) or being reviewed (claimed).",
            [("", {"queue": r.queue.slug, "status": "open"}, r.waiting) for r in rows]
            + [("", {"queue": r.queue.slug, "status": "claimed"}, r.in_review) for r in rows],
        ),
        Family(
            "docket_cases_past_sla",
            "gauge",
            "Unresolved cases older than their queue's SLA.",
            [("", {"queue": r.queue.slug}, r.past_sla) for r in rows],
        ),
        Family(
            "docket_case_oldest_age_seconds",
            "gauge",
            "Age of each queue's oldest unresolved case (0 when empty).",
            [("", {"queue": r.queue.slug}, (now - r.oldest).total_seconds() if r.oldest else 0) for r in rows],
        ),
    ]


def task_queue() -> list[Family]:
    """Tasks waiting: RQ's or Celery's queue length in Redis; with `immediate`, the rows a sweep will send."""
    from accounts.models import DeliveryState, StatusDirty, WebhookDelivery

    backend = settings.DOCKET_TASK_BACKEND
    samples: list[tuple[str, dict[str, str], float]] = []
    names = settings.TASKS["default"].get("QUEUES", ["default"])
    try:
        if backend == "rq":
            import django_rq

            samples = [("", {"backend": backend, "queue": n}, django_rq.get_queue(n).count) for n in names]
        elif backend == "celery":
            import redis

            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
            # Django's "default" queue is Celery's own default one, named "celery".
            samples = [
                ("", {"backend": backend, "queue": n}, client.llen("celery" if n == "default" else n)) for n in names
            ]
        else:
            due = WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=timezone.now())
            samples = [("", {"backend": backend, "queue": "default"}, due.count() + StatusDirty.objects.count())]
    except Exception:
        logger.warning("task queue length unreadable", exc_info=True)
    pending = WebhookDelivery.objects.filter(state=DeliveryState.PENDING).count()
    return [
        Family(
            "docket_task_queue_length",
            "gauge",
            "Tasks waiting for a worker (immediate backend: webhook deliveries due and statuses to publish).",
            samples,
        ),
        Family(
            "docket_webhook_deliveries_pending",
            "gauge",
            "Webhook deliveries not yet delivered and not given up (the outbox).",
            [("", {}, pending)],
        ),
    ]


def ages() -> list[Family]:
    from console import aggregates
    from console.models import Heartbeat

    now = timezone.now()
    beats = dict(Heartbeat.objects.filter(name__in=["worker", aggregates.LAST_RUN]).values_list("name", "beat_at"))
    families = []
    for name, metric, text in (
        ("worker", "docket_worker_heartbeat_age_seconds", "Seconds since a worker last ran the heartbeat job."),
        (
            aggregates.LAST_RUN,
            "docket_hourly_counts_age_seconds",
            "Seconds since the hourly counts were brought up to date.",
        ),
    ):
        if name in beats:
            families.append(Family(metric, "gauge", text, [("", {}, round((now - beats[name]).total_seconds(), 3))]))
    return families


def exposition() -> str:
    families = [*counted_totals(), *queue_gauges(), *task_queue(), *ages()]
    try:
        families.append(claim_latency())
    except Exception:
        logger.warning("claim latency unreadable", exc_info=True)
    return render(families)
