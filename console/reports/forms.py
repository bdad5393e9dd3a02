"""Report filters as a form: the exports page, the API's query string and the command's options all pass through it.

A form holds only the fields its report accepts. `clean` gives back a
`Filters`; errors name the field.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings

from console.models import ExportFormat, ReportSubscription
from console.reports import Filters, Report
from review.models import Category, Integration, Queue, Severity, Source

# Only ISO days: 01/02/2025 means a different day in different countries.
ISO_DAY = ["%Y-%m-%d"]


class ReportFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", input_formats=ISO_DAY, help_text="UTC day, included.",
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(required=False, label="To", input_formats=ISO_DAY, help_text="UTC day, included.",
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    integration = forms.ModelChoiceField(queryset=Integration.objects.order_by("name"), required=False,
                                         empty_label="Any integration")
    category = forms.ModelChoiceField(queryset=Category.objects.all(), to_field_name="slug", required=False,
                                      empty_label="Any category")
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    source = forms.ChoiceField(choices=[("", "Any source"), *Source.choices], required=False)
    queue = forms.ModelChoiceField(queryset=Queue.objects.order_by("name"), to_field_name="slug", required=False,
                                   empty_label="Any queue")
    state = forms.ChoiceField(choices=[], required=False)
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.CSV)

    def __init__(self, *args: Any, report: Report, dates: bool = True, integration: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report
        accepted = set(report.filter_names)
        if not dates:
            accepted -= {"date_from", "date_to"}
        if not integration:
            accepted.discard("integration")
        unused = [n for n in self.fields if n in Filters.__dataclass_fields__ and n not in accepted]
        for name in unused:
            del self.fields[name]
        if "state" in self.fields:
            cast(forms.ChoiceField, self.fields["state"]).choices = [("", "Any state"), *report.states]
        if "date_from" in self.fields:
            self.fields["date_from"].label = f"{report.time_label.capitalize()} from"

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "To must not be before From.")
        return data

    def filters(self, **forced: Any) -> Filters:
        data = self.cleaned_data
        values: dict[str, Any] = {name: data.get(name) or None for name in Filters.__dataclass_fields__}
        for name in ("integration", "category", "queue"):
            if values[name] is not None:
                values[name] = values[name].pk if name == "integration" else values[name].slug
        values.update(forced)
        return Filters(**values)

    def first_error(self) -> str:
        """The first problem as one sentence that names the field, for the API and the command."""
        for name, errors in self.errors.items():
            label = "" if name == "__all__" else f"{ALIASES.get(name, name)}: "
            return f"{label}{errors[0]}"
        return ""


# What the API and the command call the fields that Python cannot.
ALIASES = {"date_from": "from", "date_to": "to"}


class SubscriptionForm(ReportFilterForm):
    frequency = forms.ChoiceField(choices=ReportSubscription.Frequency.choices)
    delivery = forms.ChoiceField(choices=ReportSubscription.Delivery.choices,
                                 initial=ReportSubscription.Delivery.ATTACHMENT)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, dates=False, **kwargs)
        self.user = user

    def clean_delivery(self) -> str:
        value = self.cleaned_data["delivery"]
        if value == ReportSubscription.Delivery.LINK and not settings.DOCKET_BASE_URL:
            raise forms.ValidationError("Links need DOCKET_BASE_URL set on the server; choose the attachment.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.user.email:
            raise forms.ValidationError("Your staff account has no e-mail address to send reports to.")
        return data
