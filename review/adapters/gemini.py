"""PaLM and Gemini safety ratings.

Accepted, alone or together in one object:

- ``safetyRatings``: a bare list of ``{"category", "probability", ...}``
  (PaLM responses, or one Gemini candidate forwarded on its own);
- ``candidates[].safetyRatings`` and ``candidates[].finishReason`` (a
  Gemini ``generateContent`` response, or a PaLM ``generateText`` one);
- ``promptFeedback.safetyRatings`` and ``promptFeedback.blockReason``;
- PaLM's ``safetyFeedback[].rating`` and ``filters[].reason``.

Keys are read in the REST API's camelCase or in the snake_case that the
Python SDKs produce when a response is dumped to a dict.

Gemini rates by probability, so each rating carries its own level; when a
category is rated in several places (prompt and candidates) the highest
level wins. A block that the ratings do not explain (PROHIBITED_CONTENT,
BLOCKLIST, OTHER, ...) becomes a signal of its own at level high.
"""

from __future__ import annotations

from collections.abc import Mapping

from review.adapters.base import (
    Level,
    RawSignal,
    check_signal_count,
    expect_bool,
    expect_label,
    expect_list,
    expect_object,
    expect_probability,
    expect_str,
    fail,
    key_path,
    max_level,
    require,
)

_PROBABILITIES = {
    "NEGLIGIBLE": Level.NEGLIGIBLE,
    "LOW": Level.LOW,
    "MEDIUM": Level.MEDIUM,
    "HIGH": Level.HIGH,
}
_UNSPECIFIED_PROBABILITY = "HARM_PROBABILITY_UNSPECIFIED"
# PaLM spelt it BLOCKED_REASON_*, Gemini BLOCK_REASON_*.
_UNSPECIFIED_REASONS = frozenset({"BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED"})
# Candidate finish reasons that mean the output was withheld for safety;
# STOP, MAX_TOKENS, RECITATION and the like say nothing about harm.
SAFETY_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
    }
)
_KNOWN_KEYS = (
    "safetyRatings",
    "safety_ratings",
    "candidates",
    "promptFeedback",
    "prompt_feedback",
    "safetyFeedback",
    "safety_feedback",
    "filters",
)
# Leaves room for the "blockReason:" prefix inside the 200-character label cap.
_REASON_MAX_LENGTH = 180


def parse(result: object) -> list[RawSignal]:
    root = expect_object(result, "result")
    if not any(key in root for key in _KNOWN_KEYS):
        raise fail(
            "result",
            "must have safetyRatings, candidates, promptFeedback, safetyFeedback or filters",
        )

    ratings = _Ratings()
    # Block reasons are collected first and emitted last: whether a SAFETY
    # block needs a signal of its own depends on whether any rating explains it.
    blocks: list[tuple[str, str]] = []  # (label prefix, reason)

    key, value = _field(root, "safetyRatings", "safety_ratings")
    if key is not None:
        ratings.add_list(value, key_path("result", key))

    if "candidates" in root and root["candidates"] is not None:
        candidates = expect_list(root["candidates"], "result.candidates")
        for index, candidate_value in enumerate(candidates):
            path = f"result.candidates[{index}]"
            candidate = expect_object(candidate_value, path)
            key, value = _field(candidate, "safetyRatings", "safety_ratings")
            if key is not None:
                ratings.add_list(value, key_path(path, key))
            key, value = _field(candidate, "finishReason", "finish_reason")
            if key is not None and value is not None:
                reason = expect_label(value, key_path(path, key), max_length=_REASON_MAX_LENGTH)
                if reason.upper() in SAFETY_FINISH_REASONS:
                    blocks.append(("finishReason", reason.upper()))

    key, value = _field(root, "promptFeedback", "prompt_feedback")
    if key is not None and value is not None:
        path = key_path("result", key)
        feedback = expect_object(value, path)
        key, value = _field(feedback, "safetyRatings", "safety_ratings")
        if key is not None:
            ratings.add_list(value, key_path(path, key))
        key, value = _field(feedback, "blockReason", "block_reason")
        if key is not None and value is not None:
            reason = expect_label(value, key_path(path, key), max_length=_REASON_MAX_LENGTH)
            blocks.append(("blockReason", reason.upper()))

    key, value = _field(root, "safetyFeedback", "safety_feedback")
    if key is not None and value is not None:
        path = key_path("result", key)
        for index, entry_value in enumerate(expect_list(value, path)):
            entry_path = f"{path}[{index}]"
            entry = expect_object(entry_value, entry_path)
            ratings.add(require(entry, "rating", entry_path), key_path(entry_path, "rating"))

    if "filters" in root and root["filters"] is not None:
        for index, filter_value in enumerate(expect_list(root["filters"], "result.filters")):
            path = f"result.filters[{index}]"
            content_filter = expect_object(filter_value, path)
            reason = expect_label(
                require(content_filter, "reason", path),
                key_path(path, "reason"),
                max_length=_REASON_MAX_LENGTH,
            )
            # PaLM's ContentFilter.reason uses the same BlockedReason enum as
            # a blocked prompt, so it gets the same label.
            blocks.append(("blockReason", reason.upper()))

    signals = ratings.signals()
    seen: set[str] = set()
    for prefix, reason in blocks:
        if reason in _UNSPECIFIED_REASONS:
            continue
        if reason == "SAFETY" and ratings:
            continue
        label = f"{prefix}:{reason}"
        if label not in seen:
            seen.add(label)
            signals.append(RawSignal(label=label, native_level=Level.HIGH))
    return check_signal_count(signals)


def _field(obj: Mapping[str, object], *names: str) -> tuple[str | None, object]:
    for name in names:
        if name in obj:
            return name, obj[name]
    return None, None


class _Ratings:
    """Safety ratings merged by category, keeping the highest level."""

    def __init__(self) -> None:
        # label -> (level, highest probabilityScore seen); dicts keep the
        # order in which categories first appeared.
        self._merged: dict[str, tuple[Level, float | None]] = {}

    def __bool__(self) -> bool:
        return bool(self._merged)

    def signals(self) -> list[RawSignal]:
        return [
            RawSignal(label=label, score=score, native_level=level) for label, (level, score) in self._merged.items()
        ]

    def add_list(self, value: object, path: str) -> None:
        if value is None:
            return
        for index, rating in enumerate(expect_list(value, path)):
            self.add(rating, f"{path}[{index}]")

    def add(self, value: object, path: str) -> None:
        parsed = _rating(value, path)
        if parsed is None:
            return
        label, level, score = parsed
        if label in self._merged:
            old_level, old_score = self._merged[label]
            level = max_level(level, old_level)
            if score is None or (old_score is not None and old_score > score):
                score = old_score
        self._merged[label] = (level, score)


def _rating(value: object, path: str) -> tuple[str, Level, float | None] | None:
    rating = expect_object(value, path)
    category = expect_label(require(rating, "category", path), key_path(path, "category"))
    probability_path = key_path(path, "probability")
    probability = expect_str(require(rating, "probability", path), probability_path)
    probability = probability.strip().upper()
    if probability == _UNSPECIFIED_PROBABILITY:
        return None
    level = _PROBABILITIES.get(probability)
    if level is None:
        raise fail(
            probability_path,
            f"must be one of NEGLIGIBLE, LOW, MEDIUM, HIGH, not {probability!r}",
        )

    key, score_value = _field(rating, "probabilityScore", "probability_score")
    score = None
    if key is not None and score_value is not None:
        score = expect_probability(score_value, key_path(path, key))
    # Vertex AI adds a severity next to the probability. It is checked but not
    # kept: Docket's levels follow the probability, which is what Gemini's own
    # block thresholds act on.
    key, severity_score = _field(rating, "severityScore", "severity_score")
    if key is not None and severity_score is not None:
        expect_probability(severity_score, key_path(path, key))
    if "severity" in rating and rating["severity"] is not None:
        expect_str(rating["severity"], key_path(path, "severity"))
    if "blocked" in rating and rating["blocked"] is not None:
        expect_bool(rating["blocked"], key_path(path, "blocked"))
    return category, level, score
