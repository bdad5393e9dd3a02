"""Reading one flag object from the API: every field checked, every size bounded.

Each problem becomes a `FieldError` naming the field, so one bad flag in a
batch is answered on its own and the others go on. Text that PostgreSQL
cannot store (NUL, lone surrogates) is refused here, never at INSERT time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from review.adapters import ADAPTERS, AdapterError, RawSignal, parse

MAX_TEXT_CHARS = 1_048_576  # per prompt / response: 1 MiB of text, the hostile corpus's longest line
MAX_ID_CHARS = 200
MAX_USER_CHARS = 256
MAX_METADATA_BYTES = 16_384
MAX_RESULT_BYTES = 65_536
MAX_DEPTH = 8
FUTURE_TOLERANCE = timedelta(hours=1)
FLAG_FIELDS = frozenset({"id", "user", "prompt", "response", "source", "result", "occurred_at", "language", "metadata"})
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class FlagInput:
    external_id: str
    user_hash: str
    prompt: str
    response: str
    source: str
    result: Any
    raw_signals: list[RawSignal]
    occurred_at: datetime
    language: str
    metadata: dict[str, Any]
    content_hash: str


class Invalid(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def hash_user_id(user_id: str) -> str:
    """HMAC-SHA256 of the platform's user id with the server's key: the only form Docket keeps."""
    return hmac.new(settings.DOCKET_ACCOUNT_HASH_KEY.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def content_hash(prompt: str, response: str) -> str:
    # Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
    digest = hashlib.sha256()
    for part in (prompt, response):
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    if _SURROGATE.search(text):
        return "must be valid Unicode (it contains a lone surrogate)"
    return None


def _check_json(value: Any, field: str, *, max_bytes: int) -> FieldError | None:
    """Bound depth and size, and refuse what a JSON column cannot hold."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        # Depth counts objects and arrays only: {"a": 1} is one level deep.
        if isinstance(item, dict | list) and depth > MAX_DEPTH:
            return FieldError(field, f"is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if problem := _unstorable(key):
                    return FieldError(field, f"has a key that {problem}")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if problem := _unstorable(item):
                return FieldError(field, f"has a string that {problem}")
        elif isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            return FieldError(field, "must not contain NaN or infinite numbers")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > max_bytes:
        return FieldError(field, f"is {size} bytes; the limit is {max_bytes}")
    return None


def _text(obj: dict[str, Any], name: str, errors: list[FieldError], *, max_chars: int, required: bool) -> str:
    value = obj.get(name)
    if value is None:
        if required:
            errors.append(FieldError(name, "is required"))
        return ""
    if not isinstance(value, str):
        errors.append(FieldError(name, f"must be a string, not {type(value).__name__}"))
        return ""
    if len(value) > max_chars:
        errors.append(FieldError(name, f"is {len(value)} characters; the limit is {max_chars}"))
        return ""
    if problem := _unstorable(value):
        errors.append(FieldError(name, problem))
        return ""
    if required and not value.strip():
        errors.append(FieldError(name, "must not be empty"))
    return value


def read_flag(obj: object, *, now: datetime | None = None) -> FlagInput:
    """A validated flag, or `Invalid` listing every problem found."""
    if not isinstance(obj, dict):
        raise Invalid([FieldError("flag", f"must be an object, not {type(obj).__name__}")])
    errors: list[FieldError] = []
    unknown = sorted(set(obj) - FLAG_FIELDS)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        errors.append(FieldError("flag", f"has unknown fields {shown}; put extra data in metadata"))
    external_id = _text(obj, "id", errors, max_chars=MAX_ID_CHARS, required=True)
    user = _text(obj, "user", errors, max_chars=MAX_USER_CHARS, required=True)
    prompt = _text(obj, "prompt", errors, max_chars=MAX_TEXT_CHARS, required=False)
    response = _text(obj, "response", errors, max_chars=MAX_TEXT_CHARS, required=False)
    if not prompt and not response and not any(e.field in {"prompt", "response"} for e in errors):
        errors.append(FieldError("prompt", "a flag needs a prompt or a response (or both)"))

    source = obj.get("source", "generic")
    if not isinstance(source, str) or source not in ADAPTERS:
        shown = repr(source[:40]) if isinstance(source, str) else type(source).__name__
        errors.append(FieldError("source", f"unknown source {shown}; expected one of: {', '.join(ADAPTERS)}"))
        source = ""

    result = obj.get("result")
    raw_signals: list[RawSignal] = []
    if result is None:
        errors.append(FieldError("result", "is required: the classifier's native output"))
    elif (problem := _check_json(result, "result", max_bytes=MAX_RESULT_BYTES)) is not None:
        errors.append(problem)
    elif source:
        try:
            raw_signals = parse(source, result)
        except AdapterError as error:
            errors.append(FieldError(error.path or "result", f"does not match source {source!r}: {error}"))

    occurred_at = now or timezone.now()
    raw_time = obj.get("occurred_at")
    if raw_time is not None:
        parsed = _parse_time(raw_time, errors)
        if parsed is not None:
            if parsed > (now or timezone.now()) + FUTURE_TOLERANCE:
                errors.append(FieldError("occurred_at", "is more than an hour in the future"))
            occurred_at = parsed

    language = obj.get("language")
    if language is None:
        language = ""
    if not isinstance(language, str) or (language and (len(language) > 35 or not _LANGUAGE.match(language))):
        errors.append(FieldError("language", "must be a BCP 47 language tag such as 'en' or 'pt-BR'"))
        language = ""

    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        errors.append(FieldError("metadata", f"must be an object, not {type(metadata).__name__}"))
        metadata = {}
    elif (problem := _check_json(metadata, "metadata", max_bytes=MAX_METADATA_BYTES)) is not None:
        errors.append(problem)

    if errors:
        raise Invalid(errors)
    return FlagInput(
        external_id=external_id,
        user_hash=hash_user_id(user),
        prompt=prompt,
        response=response,
        source=source,
        result=result,
        raw_signals=raw_signals,
        occurred_at=occurred_at,
        language=language,
        metadata=metadata,
        content_hash=content_hash(prompt, response),
    )


def _parse_time(value: object, errors: list[FieldError]) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        errors.append(FieldError("occurred_at", "must be an RFC 3339 time such as 2026-11-22T10:15:00Z"))
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        errors.append(FieldError("occurred_at", f"is not an RFC 3339 time: {value[:40]!r}"))
        return None
    if parsed.tzinfo is None:
        errors.append(FieldError("occurred_at", "needs a time zone offset (Z or +hh:mm)"))
        return None
    return parsed
