"""Policy admins' enforcement-rule pages and the webhook pages for ops and policy admins."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.admin_forms import DeliveryFilter, EndpointForm, RedeliverForm, RestoreForm, RuleForm
from accounts.models import (
    ActionKind,
    EnforcementRule,
    EnforcementRuleVersion,
    RuleKind,
    WebhookDelivery,
    WebhookEventType,
    Window,
)
from accounts.services.rules import RULE_FIELDS, save_rule, snapshot
from accounts.services.webhooks import create_endpoint, redeliver
from console.access import AuthenticatedRequest, require
from console.pagination import keyset_page
from console.roles import Cap
from console.versioning import Document, Entry, history_page, restored_reason
from review.models import Category, Integration, Severity

# --- How a rule reads to people -------------------------------------------------------------------

FIELD_LABELS = {
    "name": "Name",
    "kind": "Kind",
    "categories": "Categories",
    "severities": "Severities",
    "window": "Window",
    "count": "Count",
    "rate": "Rate per 1,000 requests",
    "min_requests": "Minimum requests",
    "prior_kind": "Earlier action",
    "action_kind": "Action",
    "action_scope": "Restriction scope",
    "action_hours": "Duration",
    "is_active": "Active",
}


def _label(choices: Any, value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _hours(hours: int | None) -> str:
    if not hours:
        return "until lifted"
    return f"{hours // 24} days" if hours >= 48 and hours % 24 == 0 else f"{hours} h"


EARLIER = {"warn": "warning", "restrict": "restriction", "suspend": "suspension", "terminate": "termination"}


def used_fields(values: Mapping[str, Any]) -> list[str]:
    """The fields a rule of this kind and action reads (the form resets the others)."""
    kind, action = values.get("kind"), values.get("action_kind")
    unused = set()
    if kind not in (RuleKind.COUNT, RuleKind.REPEAT):
        unused.add("count")
    if kind != RuleKind.RATE:
        unused |= {"rate", "min_requests"}
    if kind != RuleKind.REPEAT:
        unused.add("prior_kind")
    if action != ActionKind.RESTRICT:
        unused.add("action_scope")
    if action == ActionKind.TERMINATE:
        unused.add("action_hours")
    return [name for name in RULE_FIELDS if name in values and name not in unused]


def show_value(name: str, value: Any, category_names: Mapping[str, str]) -> str:
    """One field of a rule snapshot in words, for the history page."""
    if name == "categories":
        return ", ".join(category_names.get(slug, slug) for slug in value) if value else "any"
    if name == "severities":
        return ", ".join(_label(Severity, s) for s in value) if value else "any"
    if name == "kind":
        return _label(RuleKind, value)
    if name == "window":
        return _label(Window, value)
    if name == "action_kind":
        return _label(ActionKind, value)
    if name == "prior_kind":
        return _label(ActionKind, value) if value else "any earlier action"
    if name == "action_hours":
        return _hours(value) if value else "—"
    if name == "is_active":
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _action(values: Mapping[str, Any]) -> str:
    kind = values.get("action_kind", "")
    if kind == ActionKind.RESTRICT:
        text = f"restrict {values.get('action_scope') or ''}".rstrip()
        return f"{text} for {_hours(values['action_hours'])}" if values.get("action_hours") else text
    if kind == ActionKind.SUSPEND:
        return f"suspend {_hours(values.get('action_hours'))}"
    if kind == ActionKind.WARN and values.get("action_hours"):
        return f"warn (for {_hours(values['action_hours'])})"
    return _label(ActionKind, kind).lower()


def describe(values: Mapping[str, Any], category_names: Mapping[str, str]) -> str:
    """A rule's condition and action in one line of plain language.

    e.g. "3 or more hate/harassment violations (high, critical) in 7 days → suspend 24 h"
    """
    categories = "/".join(category_names.get(s, s).lower() for s in values.get("categories") or [])
    severities = ", ".join(_label(Severity, s).lower() for s in values.get("severities") or [])
    noun = f"{categories} violation" if categories else "violation"
    qualifier = f" ({severities})" if severities else ""
    window = _label(Window, values.get("window", ""))
    kind, count = values.get("kind"), values.get("count") or 1
    if kind == RuleKind.COUNT:
        condition = f"{count} or more {noun}s{qualifier} in {window}"
    elif kind == RuleKind.RATE:
        rate = values.get("rate")
        condition = (
            f"{show_value('rate', rate, {})} or more {noun}s{qualifier} per 1,000 requests in {window}"
            f" (at least {values.get('min_requests') or 0:,} requests)"
        )
    elif kind == RuleKind.ANY:
        condition = f"Any {noun}{qualifier} in {window}"
    elif kind == RuleKind.REPEAT:
        prior = values.get("prior_kind")
        earlier = f"an earlier {EARLIER.get(prior, prior)}" if prior else "any earlier action"
        condition = f"{count} or more {noun}s{qualifier} after {earlier} in {window}"
    else:
        condition = str(kind)
    return f"{condition} → {_action(values)}"


class RuleDocument(Document):
    """An enforcement rule's snapshot, field by field, as the history page reads it."""

    def __init__(self, category_names: Mapping[str, str]) -> None:
        self.names = category_names

    def entries(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        return [self._entry(name, snapshot[name]) for name in RULE_FIELDS if name in snapshot]

    def settings(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        return [self._entry(name, snapshot[name]) for name in used_fields(snapshot)]

    def summary(self, snapshot: Mapping[str, Any]) -> str:
        return describe(snapshot, self.names)

    def _entry(self, name: str, value: Any) -> Entry:
        return Entry(name, FIELD_LABELS.get(name, name), value, show_value(name, value, self.names))


def _category_names() -> dict[str, str]:
    return dict(Category.objects.values_list("slug", "name"))


# --- Enforcement rules (policy admins) ------------------------------------------------------------


@require(Cap.MANAGE_POLICY)
def rules(request: AuthenticatedRequest) -> HttpResponse:
    names = _category_names()
    rows = [(rule, describe(snapshot(rule), names)) for rule in EnforcementRule.objects.order_by("-is_active", "name")]
    return render(request, "accounts/rules.html", {"rows": rows})


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def rule_new(request: AuthenticatedRequest) -> HttpResponse:
    form = RuleForm(request.POST if request.method == "POST" else None,
                    initial={"is_active": True, "window": Window.MONTH, "count": 1})
    if request.method == "POST" and form.is_valid():
        rule = save_rule(actor=request.user, rule=None, data=form.rule_data(), reason=form.cleaned_data["reason"])
        messages.success(request, f"Rule “{rule.name}” created (version 1).")
        return redirect("accounts:rules")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/rule_form.html", {"form": form, "rule": None}, status=status)


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def rule_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EnforcementRule, pk=pk)
    initial = {**snapshot(rule), "based_on": rule.version}
    form = RuleForm(request.POST if request.method == "POST" else None, rule=rule, initial=initial)
    if request.method == "POST" and form.is_valid():
        rule = save_rule(actor=request.user, rule=rule, data=form.rule_data(), reason=form.cleaned_data["reason"])
        messages.success(request, f"Rule “{rule.name}” saved as version {rule.version}.")
        return redirect("accounts:rules")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/rule_form.html", {"form": form, "rule": rule}, status=status)


@require(Cap.MANAGE_POLICY)
def rule_history(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(EnforcementRule, pk=pk)
    history = history_page(
        RuleDocument(_category_names()),
        rule.versions.select_related("author"),
        params=request.GET,
        current=snapshot(rule),
        restore_url=lambda version: reverse("accounts:rule_restore", args=[rule.pk, version]),
    )
    return render(
        request,
        "accounts/rule_history.html",
        {"rule": rule, "rows": history.rows, "page": history.page, "noun": "rule"},
    )


@require(Cap.MANAGE_POLICY)
@require_POST
def rule_restore(request: AuthenticatedRequest, pk: int, version: int) -> HttpResponse:
    rule = get_object_or_404(EnforcementRule, pk=pk)
    old = get_object_or_404(EnforcementRuleVersion, rule=rule, version=version)
    form = RestoreForm(request.POST)
    data = {name: old.snapshot[name] for name in RULE_FIELDS if name in old.snapshot}
    if not form.is_valid():
        messages.error(request, "Nothing was restored: say why you are going back to this version.")
    elif all(getattr(rule, name) == value for name, value in data.items()):
        messages.error(request, f"Nothing was restored: the rule is already as it was in version {version}.")
    elif EnforcementRule.objects.filter(name=data.get("name", rule.name)).exclude(pk=rule.pk).exists():
        messages.error(request, f"Nothing was restored: another rule is now called “{data['name']}”.")
    else:
        reason = restored_reason(version, form.cleaned_data["reason"])
        rule = save_rule(actor=request.user, rule=rule, data=data, reason=reason, restored_from=version)
        messages.success(request, f"Version {version} restored as version {rule.version}.")
    return redirect("accounts:rule_history", pk=rule.pk)


# --- Webhooks (ops and policy admins) -------------------------------------------------------------


@require(Cap.MANAGE_INTEGRATIONS)
def webhooks(request: AuthenticatedRequest) -> HttpResponse:
    integrations = Integration.objects.prefetch_related("webhook_endpoints").order_by("name")
    return render(request, "accounts/webhooks.html", {"integrations": integrations})


@require(Cap.MANAGE_INTEGRATIONS)
@require_http_methods(["GET", "POST"])
def webhook_endpoints(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    form = EndpointForm(request.POST if request.method == "POST" else None, integration=integration)
    if request.method == "POST" and form.is_valid():
        endpoint, secret = create_endpoint(actor=request.user, integration=integration, **form.cleaned_data)
        # Rendered, not redirected: the secret must not travel in a URL or a session.
        response = render(
            request,
            "accounts/webhook_created.html",
            {"integration": integration, "endpoint": endpoint, "secret": secret},
        )
        response["Cache-Control"] = "no-store"
        return response
    endpoints = integration.webhook_endpoints.annotate(deliveries_count=Count("deliveries")).order_by("-created_at")
    return render(
        request,
        "accounts/webhook_endpoints.html",
        {"integration": integration, "endpoints": endpoints, "form": form, "event_types": WebhookEventType},
        status=400 if form.is_bound else 200,
    )


@require(Cap.MANAGE_INTEGRATIONS)
def webhook_deliveries(request: AuthenticatedRequest) -> HttpResponse:
    base = WebhookDelivery.objects.select_related("event", "endpoint__integration")
    filterset = DeliveryFilter(request.GET, queryset=base)
    page = keyset_page(filterset.qs, params=request.GET, order=("-id",), size=50)
    return render(request, "accounts/webhook_deliveries.html", {"filter": filterset, "page": page})


@require(Cap.MANAGE_INTEGRATIONS)
def webhook_delivery(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("event", "endpoint__integration"), pk=pk)
    attempts = delivery.attempt_log.order_by("-at", "-id")
    payload = json.dumps({"id": delivery.event_id, **delivery.event.payload}, indent=2, sort_keys=True)
    return render(
        request, "accounts/webhook_delivery.html", {"delivery": delivery, "attempts": attempts, "payload": payload}
    )


@require(Cap.MANAGE_INTEGRATIONS)
@require_POST
def webhook_redeliver(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("event", "endpoint"), pk=pk)
    form = RedeliverForm(request.POST)
    back = form.cleaned_data["back"] if form.is_valid() else ""
    again = redeliver(actor=request.user, delivery=delivery)
    messages.success(request, f"Delivery #{again.pk} queued: {delivery.event.type} to {delivery.endpoint.url}.")
    if back:
        return redirect(reverse("accounts:webhook_deliveries") + back)
    return redirect("accounts:webhook_delivery", pk=again.pk)
