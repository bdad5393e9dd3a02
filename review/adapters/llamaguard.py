"""Llama Guard 3 and 4 text verdicts.

The model answers ``safe``, or ``unsafe`` followed by a line of hazard codes
from the MLCommons taxonomy (``S1`` to ``S14``), e.g. ``"unsafe\\nS1,S10"``.
Only that string is accepted. A code outside S1-S14 means the prompt used a
different category list (Llama Guard 1 and 2 numbered theirs differently),
so the codes cannot be trusted and the result is refused.

Llama Guard gives no score or level, so the signals carry none: the level
comes from the policy's "unsafe" default in ``normalise``.
"""

from __future__ import annotations

import re

from review.adapters.base import (
    MAX_TEXT_LENGTH,
    RawSignal,
    check_signal_count,
    expect_str,
    fail,
)

HAZARD_CODES = tuple(f"S{number}" for number in range(1, 15))
UNSAFE_LABEL = "unsafe"
_SEPARATORS = re.compile(r"[\s,;]+")


def parse(result: object) -> list[RawSignal]:
    text = expect_str(result, "result", max_length=MAX_TEXT_LENGTH)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise fail("result", "must be a Llama Guard verdict (safe or unsafe), not an empty string")

    verdict = lines[0].lower()
    tokens = [token for token in _SEPARATORS.split(" ".join(lines[1:])) if token]
    if verdict == "safe":
        if tokens:
            raise fail("result", "says safe but goes on to list categories")
        return []
    if verdict != "unsafe":
        shown = lines[0] if len(lines[0]) <= 40 else lines[0][:37] + "..."
        raise fail("result", f"must start with safe or unsafe, not {shown!r}")

    codes: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        code = token.upper()
        if code in HAZARD_CODES:
            if code not in codes:
                codes.append(code)
        elif code not in unknown:
            unknown.append(code)
    if unknown:
        shown = ", ".join(code[:20] for code in unknown[:10])
        raise fail("result", f"names unknown Llama Guard categories: {shown}; expected S1 to S14")
    if not codes:
        return [RawSignal(label=UNSAFE_LABEL)]
    return check_signal_count([RawSignal(label=code) for code in codes])
