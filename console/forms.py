from __future__ import annotations

from typing import Any

from django import forms

from console import twofactor
from console.roles import Role


class StaffSettingsForm(forms.Form):
    blur_sensitive = forms.BooleanField(
        required=False,
        label="Blur sensitive text until I reveal it",
        help_text="Text in categories a policy admin marks sensitive (sexual, violence, self-harm, child safety) "
        "stays blurred on the case page until you press Reveal or the R key.",
    )


# --- Staff accounts: second factor, roles ------------------------------------------------------

_CODE_ATTRS = {"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false", "autofocus": True}


class CodeForm(forms.Form):
    """A code from the authenticator app, or (where `recovery` is on) one of the recovery codes."""

    code = forms.CharField(label="Authentication code", max_length=40, widget=forms.TextInput(attrs=_CODE_ATTRS))

    recovery = True

    def clean_code(self) -> str:
        code = twofactor.normalise(self.cleaned_data["code"])
        if twofactor.is_totp_code(code) or (self.recovery and twofactor.looks_like_recovery_code(code)):
            return code
        if self.recovery:
            raise forms.ValidationError("Enter the 6-digit code from your app, or one of your recovery codes.")
        raise forms.ValidationError("Enter the 6-digit code your app shows.")


class EnrolForm(CodeForm):
    recovery = False


class DisableTwoFactorForm(CodeForm):
    password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput)

    field_order = ["password", "code"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["code"].widget.attrs.pop("autofocus", None)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=500, help_text="Kept in the audit log.")


class RolesForm(ReasonForm):
    roles = forms.TypedMultipleChoiceField(
        label="Roles", choices=Role.choices, coerce=Role, required=False, widget=forms.CheckboxSelectMultiple
    )

    field_order = ["roles", "reason"]
