"""Thin tasks: ids in, one service call, safe to run twice."""

from __future__ import annotations

from django.tasks import task

from accounts import rates, status
from accounts.services import deliver, deliver_due, evaluate_recent, expire_actions
from accounts.services import evaluate_account as evaluate_rules


@task
def evaluate_account(account_id: int) -> int:
    """Run the enforcement rules for an account after a violation was recorded."""
    return len(evaluate_rules(account_id=account_id))


@task
def evaluate_recent_accounts() -> int:
    return evaluate_recent()


@task
def deliver_webhook(delivery_id: int) -> str:
    return deliver(delivery_id)


@task
def deliver_due_webhooks() -> int:
    return deliver_due()


@task
def expire_due_actions() -> int:
    return expire_actions()


@task
def sweep_violation_windows() -> int:
    return rates.sweep()


@task
def publish_dirty_statuses() -> int:
    return status.publish_dirty()
