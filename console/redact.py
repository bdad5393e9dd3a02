"""Keeps API keys and Authorization headers out of the logs.

`RedactSecrets` is a logging filter on every handler (see LOGGING in
settings): it rewrites a record's message and traceback text before any
handler formats it, whatever logger it came from and whoever wrote the
message. A key never has to be logged for anything to work: the key's
prefix (its first characters, shown in the console) names it.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = [
    # An integration key anywhere: dk_ and its random part (and the prefix the console shows).
    (re.compile(r"\bdk_[A-Za-z0-9_\-]{4,}"), "dk_" + REDACTED),
    # Bearer credentials, whatever the token looks like.
    (re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[^\s\"',;)\]}]+"), r"\1\2" + REDACTED),
    # An Authorization header or META entry with its value: "Authorization: x", 'HTTP_AUTHORIZATION': 'x'.
    (re.compile(r"(?i)\b((?:http_)?authorization)(['\"]?\s*[:=]\s*['\"]?)[^'\"\n,}]+"), r"\1\2" + REDACTED),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # The formatted text is what handlers print; the exception object itself (its
            # message, its frames' locals) would take the secret past this filter.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
