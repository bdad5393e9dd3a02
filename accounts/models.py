from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from console.models import DocumentVersion


class EnforcementState(models.TextChoices):
    ACTIVE = "active", "Active"
    WARNED = "warned", "Warned"
    RESTRICTED = "restricted", "Restricted"
    SUSPENDED = "suspended", "Suspended"
    TERMINATED = "terminated", "Terminated"


class Account(models.Model):
    """An end user of an integration, known only by HMAC-SHA256 of their id."""

    integration = models.ForeignKey("review.Integration", on_delete=models.PROTECT, related_name="accounts")
    user_hash = models.CharField(max_length=64)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    flag_count = models.PositiveIntegerField(default=0)
    violation_count = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=EnforcementState.choices, default=EnforcementState.ACTIVE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "user_hash"], name="account_unique_per_integration")
        ]

    def __str__(self) -> str:
        return f"{self.user_hash[:12]}…"

    @property
    def short_hash(self) -> str:
        return self.user_hash[:12]


class UsageDay(models.Model):
    """Requests an account made on one day, as the platform reports them."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    requests = models.PositiveBigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="usage_one_row_per_day")]

    def __str__(self) -> str:
        return f"{self.account} {self.day}: {self.requests}"


class ViolationQuerySet(models.QuerySet["Violation"]):
    def confirmed(self) -> ViolationQuerySet:
        return self.filter(voided_at__isnull=True)


class Violation(models.Model):
    """A confirmed violation: made by a violating decision, voided when it is corrected away."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="violations")
    decision = models.OneToOneField("review.Decision", on_delete=models.PROTECT, related_name="violation")
    case = models.ForeignKey("review.Case", on_delete=models.PROTECT, related_name="violations")
    category = models.ForeignKey("review.Category", on_delete=models.PROTECT)
    severity = models.CharField(max_length=8)
    occurred_at = models.DateTimeField(help_text="When the violating content was sent (its earliest flag).")
    confirmed_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)
    # The evidence as it stood when the violation was confirmed, so that a report of a million
    # violations reads one row each instead of grouping every signal of every case.
    source = models.CharField(
        max_length=20, blank=True, default="", db_default="", help_text="The source of the flag that opened the case."
    )
    signals = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="That flag's signals, strongest first: `category level score (label)`, `; ` between."
    )

    objects = ViolationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["account", "-occurred_at"], name="violation_account_time"),
            models.Index(fields=["confirmed_at", "id"], name="violation_confirmed"),
        ]

    def __str__(self) -> str:
        return f"{self.category_id}/{self.severity} by {self.account}"


class Window(models.TextChoices):
    DAY = "24h", "24 hours"
    WEEK = "7d", "7 days"
    MONTH = "30d", "30 days"
    QUARTER = "90d", "90 days"

    @property
    def delta(self) -> timedelta:
        return {
            "24h": timedelta(hours=24),
            "7d": timedelta(days=7),
            "30d": timedelta(days=30),
            "90d": timedelta(days=90),
        }[self.value]

    @property
    def days(self) -> int:
        return max(1, self.delta.days)


class AccountRates(models.Model):
    """An account's confirmed violations per window, kept current as decisions are made and corrected.

    A decision adds or removes one; a periodic sweep takes out violations that
    have aged out of a window since its last run; `recompute_violation_rates`
    rebuilds them from the violations and reports any drift. Requests per
    window come from reported usage and make the rates per 1,000 requests.
    """

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="rates")
    v24h = models.PositiveIntegerField(default=0)
    v7d = models.PositiveIntegerField(default=0)
    v30d = models.PositiveIntegerField(default=0)
    v90d = models.PositiveIntegerField(default=0)
    requests_7d = models.PositiveBigIntegerField(default=0)
    requests_30d = models.PositiveBigIntegerField(default=0)
    rate_7d = models.FloatField(null=True, blank=True, help_text="Violations per 1,000 requests, 7 days.")
    rate_30d = models.FloatField(null=True, blank=True, help_text="Violations per 1,000 requests, 30 days.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["-v24h", "-account"], name="rates_v24h"),
            models.Index(fields=["-v7d", "-account"], name="rates_v7d"),
            models.Index(fields=["-v30d", "-account"], name="rates_v30d"),
            models.Index(fields=["-v90d", "-account"], name="rates_v90d"),
            models.Index(fields=["-rate_7d", "-account"], name="rates_rate7"),
            models.Index(fields=["-rate_30d", "-account"], name="rates_rate30"),
        ]

    def __str__(self) -> str:
        return f"rates of {self.account}"


class SweepState(models.Model):
    """Where a periodic sweep got to, so the next run continues from there."""

    name = models.CharField(max_length=40, primary_key=True)
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_run_at}"


class ActionKind(models.TextChoices):
    WARN = "warn", "Warn"
    RESTRICT = "restrict", "Restrict"
    SUSPEND = "suspend", "Suspend"
    TERMINATE = "terminate", "Terminate"

    @property
    def needs_four_eyes(self) -> bool:
        return self in (ActionKind.SUSPEND, ActionKind.TERMINATE)

    @property
    def state(self) -> str:
        return {"warn": "warned", "restrict": "restricted", "suspend": "suspended", "terminate": "terminated"}[
            self.value
        ]


class ActionState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    APPLIED = "applied", "Applied"
    LIFTED = "lifted", "Lifted"
    EXPIRED = "expired", "Expired"
    REVERSED = "reversed", "Reversed (appeal)"


class RuleKind(models.TextChoices):
    COUNT = "count", "Violations in a window reach a count"
    RATE = "rate", "Violations per 1,000 requests reach a value"
    ANY = "any", "Any violation of these categories"
    REPEAT = "repeat", "A violation after an earlier action"


class EnforcementRule(models.Model):
    """A condition on an account's violations that proposes an action. Changes make a new version."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=RuleKind.choices)
    categories = models.JSONField(default=list, blank=True, help_text="Empty: any category.")
    severities = models.JSONField(default=list, blank=True, help_text="Empty: any severity.")
    window = models.CharField(max_length=4, choices=Window.choices, default=Window.MONTH)
    count = models.PositiveIntegerField(default=1, help_text="How many violations (count and repeat rules).")
    rate = models.FloatField(null=True, blank=True, help_text="Violations per 1,000 requests (rate rules).")
    min_requests = models.PositiveIntegerField(default=0, help_text="Rate rules need at least this many requests.")
    prior_kind = models.CharField(
        max_length=10, choices=ActionKind.choices, blank=True, help_text="Repeat rules: the earlier action's kind."
    )
    action_kind = models.CharField(max_length=10, choices=ActionKind.choices)
    action_scope = models.CharField(
        max_length=200, blank=True, help_text="For restrict: e.g. tools:computer_use, rate_limit:10/min."
    )
    action_hours = models.PositiveIntegerField(null=True, blank=True, help_text="Duration; empty: until lifted.")
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EnforcementRuleVersion(DocumentVersion):
    rule = models.ForeignKey(EnforcementRule, on_delete=models.CASCADE, related_name="versions")

    class Meta(DocumentVersion.Meta):
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.rule} v{self.version}"


class ActionQuerySet(models.QuerySet["Action"]):
    def in_force(self) -> ActionQuerySet:
        return self.filter(state=ActionState.APPLIED)


class Action(models.Model):
    """Warn, restrict, suspend or terminate an account: proposed, approved, applied, and so on."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=10, choices=ActionKind.choices)
    scope = models.CharField(max_length=200, blank=True)
    hours = models.PositiveIntegerField(null=True, blank=True, help_text="Duration once applied; empty: until lifted.")
    state = models.CharField(max_length=10, choices=ActionState.choices, default=ActionState.PROPOSED)
    rule = models.ForeignKey(EnforcementRule, null=True, blank=True, on_delete=models.PROTECT, related_name="actions")
    rule_version = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField()
    evidence = models.ManyToManyField(Violation, blank=True, related_name="actions")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField()
    approvals = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = ActionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["account", "state"], name="action_account_state"),
            models.Index(fields=["ends_at"], condition=models.Q(state="applied"), name="action_expiry"),
            models.Index(fields=["state", "-proposed_at"], name="action_state_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.account} ({self.get_state_display()})"


class AppealState(models.TextChoices):
    OPEN = "open", "Open"
    UPHELD = "upheld", "Upheld"
    REVERSED = "reversed", "Reversed"


class Appeal(models.Model):
    """A user's appeal of an applied action, forwarded by the platform."""

    action = models.ForeignKey(Action, on_delete=models.PROTECT, related_name="appeals")
    text = models.TextField()
    received_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=AppealState.choices, default=AppealState.OPEN)
    case = models.OneToOneField("review.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="appeal")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action"], condition=models.Q(state="open"), name="one_open_appeal")
        ]

    def __str__(self) -> str:
        return f"appeal of {self.action}"


class AccountNote(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"note on {self.account}"


class WebhookEventType(models.TextChoices):
    ACTION_APPLIED = "action.applied", "Action applied"
    ACTION_LIFTED = "action.lifted", "Action lifted"
    ACTION_EXPIRED = "action.expired", "Action expired"
    ACTION_REVERSED = "action.reversed", "Action reversed on appeal"


class WebhookEndpoint(models.Model):
    """Where an integration wants to hear about actions. The secret signs every delivery."""

    integration = models.ForeignKey("review.Integration", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list, help_text="Event types to send; empty: all.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and (not self.events or event_type in self.events)


class WebhookEvent(models.Model):
    """The outbox: written in the same transaction as the change it reports."""

    integration = models.ForeignKey("review.Integration", on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=30, choices=WebhookEventType.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(state="pending"), name="delivery_due"),
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"attempt on {self.delivery_id}: {self.status or self.error}"


class StatusDirty(models.Model):
    """An account whose status could not be written to the cache; the next sweep writes it."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True)
    since = models.DateTimeField()

    def __str__(self) -> str:
        return f"status of {self.account} to publish"
