"""Adapters that read classifier and moderation results into raw signals.

``parse(source, result)`` validates one native result and returns its
``RawSignal`` list; ``normalise`` (in ``review.adapters.normalise``) then maps
labels to categories and scores to levels using the policy's tables, whose
defaults live in ``review.adapters.defaults``.

Pure Python on purpose: no Django, no database, so the API can run it before
opening a transaction and the tests need no fixtures.
"""

from __future__ import annotations

from collections.abc import Callable

from review.adapters import (
    azure,
    claude,
    comprehend,
    gemini,
    generic,
    llamaguard,
    openai,
    perspective,
)
from review.adapters.base import AdapterError, Level, RawSignal, describe

ADAPTERS: dict[str, Callable[[object], list[RawSignal]]] = {
    "openai": openai.parse,
    "perspective": perspective.parse,
    "gemini": gemini.parse,
    "azure": azure.parse,
    "comprehend": comprehend.parse,
    "llamaguard": llamaguard.parse,
    "claude": claude.parse,
    "generic": generic.parse,
}


def parse(source: str, result: object) -> list[RawSignal]:
    """The raw signals in ``result``, read by the adapter named ``source``."""
    adapter = ADAPTERS.get(source) if isinstance(source, str) else None
    if adapter is None:
        shown = repr(source[:40]) if isinstance(source, str) else describe(source)
        raise AdapterError(f"unknown source {shown}; expected one of: {', '.join(ADAPTERS)}", path="source")
    return adapter(result)


__all__ = ["ADAPTERS", "AdapterError", "Level", "RawSignal", "parse"]
