from __future__ import annotations

from django.db import models


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

    objects = ViolationQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["account", "-occurred_at"], name="violation_account_time")]

    def __str__(self) -> str:
        return f"{self.category_id}/{self.severity} by {self.account}"
