from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms

from review.models import Integration, PolicyProfile, Scope

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


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
        required=False, assume_scheme="https", help_text="Where Docket sends action events (HTTPS). Optional."
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
    webhook_url = forms.URLField(required=False, assume_scheme="https")
    is_active = forms.BooleanField(required=False, help_text="An inactive integration's keys are refused.")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Why — kept in the audit log.")

    def clean_webhook_url(self) -> str:
        return clean_webhook_url(self.cleaned_data["webhook_url"])


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses this key, e.g. 'gateway-prod'.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Give a key only the scopes its caller needs.",
    )

    def clean_scopes(self) -> list[Scope]:
        return [Scope(value) for value in self.cleaned_data["scopes"]]


class RevokeKeyForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
