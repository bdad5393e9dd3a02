"""Every write in the accounts app, one module per area."""

from __future__ import annotations

from accounts.services.actions import (
    IllegalTransition,
    apply_action,
    approve_action,
    expire_actions,
    lift_action,
    propose_action,
    reject_action,
)
from accounts.services.appeals import add_note, decide_appeal, receive_appeal
from accounts.services.rules import evaluate_account, evaluate_recent, save_rule
from accounts.services.usage import UsageRow, record_usage
from accounts.services.violations import record_violation, void_violation
from accounts.services.webhooks import create_endpoint, deliver, deliver_due, redeliver

__all__ = [
    "IllegalTransition",
    "UsageRow",
    "add_note",
    "apply_action",
    "approve_action",
    "create_endpoint",
    "decide_appeal",
    "deliver",
    "deliver_due",
    "evaluate_account",
    "evaluate_recent",
    "expire_actions",
    "lift_action",
    "propose_action",
    "receive_appeal",
    "record_usage",
    "record_violation",
    "redeliver",
    "reject_action",
    "save_rule",
    "void_violation",
]
