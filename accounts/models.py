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
        constraints = [models.UniqueConstraint(fields=["integration", "user_hash"], name="account_unique_per_integration")]

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
