"""The console's navigation: each entry shows only to roles that may open it."""

from __future__ import annotations

from dataclasses import dataclass

from console.roles import Cap


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    caps: tuple[Cap, ...]


NAV: list[NavItem] = [
    NavItem("Dashboard", "console:home", (Cap.VIEW_DASHBOARD,)),
    NavItem("Queues", "review:queues", (Cap.REVIEW_CASES,)),
    NavItem("Cases", "review:cases", (Cap.REVIEW_CASES,)),
    NavItem("Integrations", "review:integrations", (Cap.MANAGE_INTEGRATIONS,)),
    NavItem("Queue settings", "console:policy_queues", (Cap.MANAGE_POLICY,)),
    NavItem("Categories", "console:policy_categories", (Cap.MANAGE_POLICY,)),
    NavItem("Audit log", "console:audit", (Cap.VIEW_AUDIT,)),
]
