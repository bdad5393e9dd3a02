"""Template filters for untrusted text: `{% load docket_text %}`.

    {{ flag.prompt|reveal_invisible }}         escaped, with hidden characters shown as markers
    {% with found=flag|hidden_findings %}      what was found in a flag's texts, for a warning badge
    {{ flag.metadata|pretty_json|reveal_invisible }}
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.safestring import SafeString

from console.hidden_text import Findings, findings, reveal

register = template.Library()


@register.filter(is_safe=True)
def reveal_invisible(value: Any) -> SafeString:
    return reveal(value)


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON, characters as they are (not \\u escapes): reveal_invisible then shows the hidden ones."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def hidden_findings(value: Any) -> Findings:
    """For a flag: what its request id, prompt, response and metadata hide; for anything else: what its text hides."""
    if hasattr(value, "prompt") and hasattr(value, "response"):
        metadata = getattr(value, "metadata", None)
        return findings(
            getattr(value, "external_id", ""),
            value.prompt,
            value.response,
            pretty_json(metadata) if metadata else "",
        )
    return findings(value)
