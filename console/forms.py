from __future__ import annotations

from django import forms


class StaffSettingsForm(forms.Form):
    blur_sensitive = forms.BooleanField(
        required=False,
        label="Blur sensitive text until I reveal it",
        help_text="Text in categories a policy admin marks sensitive (sexual, violence, self-harm, child safety) "
        "stays blurred on the case page until you press Reveal or the R key.",
    )
