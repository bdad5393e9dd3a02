from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from django import forms

from review.models import Category, Integration, Outcome, PolicyProfile, Scope, Severity
from review.services import Verdict

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
MAX_RATE_PER_MINUTE = 10_000_000


def clean_webhook_url(value: str) -> str:
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        raise forms.ValidationError("Webhooks go over HTTPS (plain HTTP only to localhost, for testing).")
    return value


class IntegrationForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="How staff will recognise this platform or app.")
    profile = forms.ModelChoiceField(
        queryset=PolicyProfile.objects.order_by("name"),
        help_text="The per-category thresholds its flags are judged by.",
    )
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Optional: becomes the first webhook endpoint (every event). More on the Webhooks page.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Integration.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("An integration with this name already exists.")
        return name

    def clean_webhook_url(self) -> str:
        return clean_webhook_url(self.cleaned_data["webhook_url"])


class IntegrationEditForm(forms.Form):
    profile = forms.ModelChoiceField(queryset=PolicyProfile.objects.order_by("name"))
    is_active = forms.BooleanField(required=False, help_text="An inactive integration's keys are refused.")
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}), help_text="Why — kept in the audit log."
    )

    def clean_webhook_url(self) -> str:
        return clean_webhook_url(self.cleaned_data["webhook_url"])


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses this key, e.g. 'gateway-prod'.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Give a key only the scopes its caller needs.",
    )

    rate_per_minute = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RATE_PER_MINUTE,
        label="Requests per minute",
        help_text="Above this the key is answered 429 until the next minute. Empty: the default.",
    )

    def clean_scopes(self) -> list[Scope]:
        return [Scope(value) for value in self.cleaned_data["scopes"]]


class KeyRateForm(forms.Form):
    rate_per_minute = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_RATE_PER_MINUTE, label="Requests per minute"
    )
    reason = forms.CharField(max_length=500, required=False)


class RevokeKeyForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


SEVERITY_FOR_LEVEL = {0: "low", 1: "low", 2: "medium", 3: "high"}


class VerdictForm(forms.Form):
    """Validates a decision; `verdict()` gives the domain value for the service."""

    outcome = forms.ChoiceField(choices=Outcome.choices)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False, empty_label="— category —")
    severity = forms.ChoiceField(choices=Severity.choices, required=False, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("outcome") == Outcome.VIOLATING:
            if not data.get("category"):
                self.add_error("category", "Choose the category the content violates.")
            if not data.get("severity"):
                self.add_error("severity", "Choose how severe the violation is.")
        if data.get("outcome") == Outcome.ESCALATED and not (data.get("note") or "").strip():
            self.add_error("note", "Say why you escalate: the senior reviewer reads it first.")
        return data

    def verdict(self) -> Verdict:
        data = self.cleaned_data
        return Verdict(
            outcome=Outcome(data["outcome"]),
            category=data.get("category"),
            severity=Severity(data["severity"]) if data.get("severity") else None,
            note=data.get("note") or "",
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500)


class CorrectionForm(VerdictForm):
    outcome = forms.ChoiceField(choices=[(Outcome.VIOLATING, "Violating"), (Outcome.NOT_VIOLATING, "Not violating")])
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class BulkDecisionForm(VerdictForm):
    outcome = forms.ChoiceField(choices=[(Outcome.VIOLATING, "Violating"), (Outcome.NOT_VIOLATING, "Not violating")])
    cases = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any id is accepted here; the service refuses ids it cannot decide and says why.
        submitted = self.data.getlist("cases") if hasattr(self.data, "getlist") else []
        cases = cast(forms.TypedMultipleChoiceField, self.fields["cases"])
        cases.choices = [(v, v) for v in submitted if str(v).isdigit()]
