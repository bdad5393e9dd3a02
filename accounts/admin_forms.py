"""Forms for the rule and webhook pages: they validate and normalise, and hand domain values over."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms

from accounts.models import (
    ActionKind,
    DeliveryState,
    EnforcementRule,
    RuleKind,
    WebhookDelivery,
    WebhookEventType,
    Window,
)
from accounts.services.rules import RULE_FIELDS
from review.forms import clean_webhook_url
from review.models import Category, Integration, Severity

REASON_HELP = "Why — kept with the version and in the audit log."
MAX_HOURS = 24 * 366


class RuleForm(forms.Form):
    """A rule as policy admins describe it; `rule_data()` is what `save_rule` stores.

    Fields that do not apply to the chosen kind or action are reset to their
    defaults, so a version's snapshot (and the diff between versions) only
    carries what the rule actually uses.
    """

    name = forms.CharField(max_length=100, help_text="Shown on the actions this rule proposes.")
    is_active = forms.BooleanField(
        required=False, label="Active", help_text="Inactive rules are kept, with their history, but never fire."
    )
    kind = forms.ChoiceField(
        choices=RuleKind.choices, widget=forms.RadioSelect, label="Fires when",
        help_text="Every kind counts only confirmed violations that no earlier action of this rule used.",
    )
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.all(), to_field_name="slug", required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only violations in these categories count. None ticked: every category "
        "(an “any violation” rule needs at least one).",
    )
    severities = forms.MultipleChoiceField(
        choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Only violations decided at these severities count. None ticked: every severity.",
    )
    window = forms.ChoiceField(
        choices=Window.choices, initial=Window.MONTH,
        help_text="How far back violations count (repeat rules: also how recent the earlier action must be).",
    )
    count = forms.IntegerField(
        required=False, initial=1, label="Count",
        help_text="Count and repeat rules: how many violations it takes (1 or more).",
    )
    rate = forms.FloatField(
        required=False, label="Rate (per 1,000 requests)",
        help_text="Rate rules: violations per 1,000 requests in the window that make it fire (more than 0).",
    )
    min_requests = forms.IntegerField(
        required=False, label="Minimum requests",
        help_text="Rate rules: the account must have made at least this many requests in the window, "
        "so a handful of requests cannot make a high rate.",
    )
    prior_kind = forms.ChoiceField(
        choices=[("", "Any earlier action"), *ActionKind.choices], required=False, label="Earlier action",
        help_text="Repeat rules: the kind of action that must already have been applied in the window.",
    )
    action_kind = forms.ChoiceField(
        choices=ActionKind.choices, widget=forms.RadioSelect, label="Then propose",
        help_text="The action is proposed, not applied: a senior approves it (suspend and terminate need two).",
    )
    action_scope = forms.CharField(
        max_length=200, required=False, label="Restriction scope",
        help_text="Restrict only: what is restricted, e.g. tools:computer_use or rate_limit:10/min.",
    )
    action_hours = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_HOURS, label="Duration (hours)",
        help_text="Suspend: required. Warn and restrict: optional, empty means until lifted. "
        "Terminate: leave empty, a termination does not end.",
    )
    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)

    GROUPS = [
        ("Rule", ["name", "is_active"]),
        ("When", ["kind", "categories", "severities", "window", "count", "rate", "min_requests", "prior_kind"]),
        ("Then", ["action_kind", "action_scope", "action_hours"]),
        ("Why", ["reason"]),
    ]

    def __init__(self, *args: Any, rule: EnforcementRule | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule = rule

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = EnforcementRule.objects.filter(name__iexact=name)
        if self.rule is not None:
            others = others.exclude(pk=self.rule.pk)
        if others.exists():
            raise forms.ValidationError("Another rule already has this name.")
        return name

    def clean_kind(self) -> RuleKind:
        return RuleKind(self.cleaned_data["kind"])

    def clean_categories(self) -> list[str]:
        return [category.slug for category in self.cleaned_data["categories"]]

    def clean_severities(self) -> list[str]:
        chosen = set(self.cleaned_data["severities"])
        return [s.value for s in Severity if s.value in chosen]

    def clean_window(self) -> Window:
        return Window(self.cleaned_data["window"])

    def clean_prior_kind(self) -> str:
        value = self.cleaned_data["prior_kind"]
        return ActionKind(value) if value else ""

    def clean_action_kind(self) -> ActionKind:
        return ActionKind(self.cleaned_data["action_kind"])

    def clean_action_scope(self) -> str:
        return self.cleaned_data["action_scope"].strip()

    def clean_based_on(self) -> int | None:
        based_on = self.cleaned_data["based_on"]
        if self.rule is not None and based_on is not None and based_on != self.rule.version:
            raise forms.ValidationError(
                f"Someone saved version {self.rule.version} of this rule after you opened it. "
                "Reload the page and make your change again."
            )
        return based_on

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind, action = data.get("kind"), data.get("action_kind")
        if kind is not None:
            self._clean_condition(kind, data)
        if action is not None:
            self._clean_action(action, data)
        if self.rule is not None and not self.errors and self.rule_data() == self._current():
            raise forms.ValidationError("Nothing changed: a new version needs a change.")
        return data

    def _clean_condition(self, kind: RuleKind, data: dict[str, Any]) -> None:
        if kind in (RuleKind.COUNT, RuleKind.REPEAT):
            if data.get("count") is None or data["count"] < 1:
                self.add_error("count", f"A {kind.value} rule needs a count of 1 or more.")
        else:
            data["count"] = 1
        if kind == RuleKind.RATE:
            if data.get("rate") is None or data["rate"] <= 0:
                self.add_error("rate", "A rate rule needs a rate above 0.")
            if data.get("min_requests") is None or data["min_requests"] < 1:
                self.add_error("min_requests", "A rate rule needs a minimum number of requests (1 or more).")
        else:
            data["rate"], data["min_requests"] = None, 0
        if kind == RuleKind.ANY and "categories" in data and not data["categories"]:
            self.add_error("categories", "An “any violation” rule needs at least one category.")
        if kind != RuleKind.REPEAT:
            data["prior_kind"] = ""

    def _clean_action(self, action: ActionKind, data: dict[str, Any]) -> None:
        if action == ActionKind.RESTRICT:
            if not data.get("action_scope"):
                self.add_error("action_scope", "A restriction needs a scope: what is restricted.")
        else:
            data["action_scope"] = ""
        if action == ActionKind.SUSPEND and data.get("action_hours") is None and "action_hours" not in self.errors:
            self.add_error("action_hours", "A suspension needs a duration in hours.")
        if action == ActionKind.TERMINATE and data.get("action_hours") is not None:
            self.add_error("action_hours", "A termination has no duration: leave this empty.")

    def rule_data(self) -> dict[str, Any]:
        """The rule's fields as `save_rule` takes them (valid forms only)."""
        return {name: self.cleaned_data[name] for name in RULE_FIELDS}

    def _current(self) -> dict[str, Any]:
        assert self.rule is not None
        return {name: getattr(self.rule, name) for name in RULE_FIELDS}


class RestoreForm(forms.Form):
    reason = forms.CharField(max_length=400, help_text="Why go back to this version.")


class EndpointForm(forms.Form):
    url = forms.URLField(
        max_length=500, assume_scheme="https", label="URL",
        help_text="Where Docket POSTs signed events. HTTPS; plain HTTP only to localhost, for testing.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Which events to send. None ticked: every event, including ones added later.",
    )

    def __init__(self, *args: Any, integration: Integration, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.integration = integration

    def clean_url(self) -> str:
        url = clean_webhook_url(self.cleaned_data["url"])
        if self.integration.webhook_endpoints.filter(url=url, is_active=True).exists():
            raise forms.ValidationError("This integration already sends events to this URL.")
        return url

    def clean_events(self) -> list[WebhookEventType]:
        chosen = set(self.cleaned_data["events"])
        return [event for event in WebhookEventType if event.value in chosen]


class RedeliverForm(forms.Form):
    back = forms.CharField(required=False, max_length=2000)  # the deliveries list's query string, to return to

    def clean_back(self) -> str:
        back = self.cleaned_data["back"]
        return back if back.startswith("?") else ""


class DeliveryFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=DeliveryState.choices, empty_label="Any state")
    event = django_filters.ChoiceFilter(
        field_name="event__type", choices=WebhookEventType.choices, empty_label="Any event", label="Event type"
    )
    integration = django_filters.ModelChoiceFilter(
        field_name="endpoint__integration", queryset=Integration.objects.all(), empty_label="Any integration",
        label="Integration",
    )

    class Meta:
        model = WebhookDelivery
        fields: list[str] = []
