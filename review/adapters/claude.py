"""Claude as a moderator, per Anthropic's content-moderation guide.

The guide has Claude answer with one JSON object, either

- ``{"violation": bool, "categories": [...], "explanation": "..."}`` or
- ``{"risk_level": 0-3, "categories": [...], "explanation": "..."}``.

That object is accepted as it is, as the JSON text Claude wrote (bare or in a
fenced code block, since models add fences despite being asked not to), or
inside the Messages API response that carried it.

Levels: ``risk_level`` 0-3 is Claude's own level (no, low, medium, high risk).
``violation: true`` says only "unsafe", so those signals carry no level and
take the policy's "unsafe" default in ``normalise``. A result that finds
nothing (``violation: false`` or ``risk_level: 0`` with no categories) gives
no signals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from review.adapters.base import (
    MAX_TEXT_LENGTH,
    Level,
    RawSignal,
    check_signal_count,
    describe,
    expect_bool,
    expect_int,
    expect_label,
    expect_list,
    expect_object,
    expect_str,
    fail,
    key_path,
)

RISK_LEVELS = (Level.NEGLIGIBLE, Level.LOW, Level.MEDIUM, Level.HIGH)
# The label used when Claude reports a violation or a risk without naming a
# category.
VIOLATION_LABEL = "violation"
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)


def parse(result: object) -> list[RawSignal]:
    assessment, path = _assessment(result)
    return check_signal_count(_signals(assessment, path), path)


def _assessment(result: object) -> tuple[Mapping[str, object], str]:
    if isinstance(result, str):
        return expect_object(_load_json(result, "result"), "result"), "result"
    root = expect_object(result, "result")
    if "violation" in root or "risk_level" in root:
        return root, "result"
    if "content" in root:
        text = _message_text(root["content"], "result.content")
        return expect_object(_load_json(text, "result.content"), "result.content"), "result.content"
    raise fail(
        "result",
        "must be Claude's assessment (with violation or risk_level) or a Messages API response whose text holds it",
    )


def _message_text(value: object, path: str) -> str:
    blocks = expect_list(value, path)
    texts = []
    for index, block_value in enumerate(blocks):
        block_path = f"{path}[{index}]"
        block = expect_object(block_value, block_path)
        # Other block types (thinking, tool_use) carry no verdict.
        if block.get("type") != "text":
            continue
        texts.append(expect_str(block.get("text"), key_path(block_path, "text"), max_length=MAX_TEXT_LENGTH))
    if not texts:
        raise fail(path, "has no text block holding Claude's assessment")
    return "".join(texts)


def _load_json(text: str, path: str) -> object:
    text = expect_str(text, path, max_length=MAX_TEXT_LENGTH).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    candidates = [text]
    # A sentence before or after the object ("Here is my assessment: {...}")
    # is common enough to tolerate; the object itself must still be valid JSON.
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end and (start, end) != (0, len(text) - 1):
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            continue
    raise fail(path, "must hold Claude's assessment as a JSON object, but it is not valid JSON")


def _signals(assessment: Mapping[str, object], path: str) -> list[RawSignal]:
    categories = _categories(assessment.get("categories"), key_path(path, "categories"))
    _check_explanation(assessment.get("explanation"), key_path(path, "explanation"))

    level: Level | None
    if "risk_level" in assessment:
        risk = expect_int(assessment["risk_level"], key_path(path, "risk_level"), minimum=0, maximum=3)
        if "violation" in assessment:
            expect_bool(assessment["violation"], key_path(path, "violation"))
        level = RISK_LEVELS[risk]
        if risk == 0 and not categories:
            return []
    elif "violation" in assessment:
        violation = expect_bool(assessment["violation"], key_path(path, "violation"))
        if not violation and not categories:
            return []
        # Categories named alongside "no violation" are kept at negligible:
        # they record what Claude considered without asking for review.
        level = None if violation else Level.NEGLIGIBLE
    else:
        raise fail(path, "must have a violation or risk_level field")

    labels = categories or [VIOLATION_LABEL]
    return [RawSignal(label=label, native_level=level) for label in labels]


def _categories(value: object, path: str) -> list[str]:
    if value is None:
        return []
    # The guide's template reads "[Comma-separated list of violated
    # categories]", and Claude sometimes answers with exactly that: one string.
    if isinstance(value, str):
        items = expect_list([part for part in value.split(",") if part.strip()], path)
    else:
        items = expect_list(value, path)
    labels: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        label = expect_label(item, f"{path}[{index}]")
        if label.casefold() not in seen:
            seen.add(label.casefold())
            labels.append(label)
    return labels


def _check_explanation(value: object, path: str) -> None:
    if value is None or isinstance(value, str):
        return
    # The template shows the field in brackets, so a one-item list turns up.
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return
    raise fail(path, f"must be a string, not {describe(value)}")
