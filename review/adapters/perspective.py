"""Perspective API (``comments:analyze``).

Reads ``attributeScores.<ATTRIBUTE>.summaryScore.value``; span scores are
accepted but not used, because a flag is judged as a whole.
"""

from __future__ import annotations

from review.adapters.base import (
    RawSignal,
    check_signal_count,
    expect_label,
    expect_list,
    expect_object,
    expect_probability,
    expect_str,
    fail,
    key_path,
    require,
)

# Perspective's "bridging" attributes score good qualities (a personal story,
# curiosity, respect). A high score there is not a harm, so turning them into
# signals would send the most constructive comments to review.
BRIDGING_ATTRIBUTES = frozenset(
    {
        "AFFINITY_EXPERIMENTAL",
        "COMPASSION_EXPERIMENTAL",
        "CURIOSITY_EXPERIMENTAL",
        "NUANCE_EXPERIMENTAL",
        "PERSONAL_STORY_EXPERIMENTAL",
        "REASONING_EXPERIMENTAL",
        "RESPECT_EXPERIMENTAL",
    }
)


def parse(result: object) -> list[RawSignal]:
    root = expect_object(result, "result")
    attributes_path = "result.attributeScores"
    attributes = expect_object(require(root, "attributeScores", "result"), attributes_path)
    if "languages" in root and root["languages"] is not None:
        expect_list(root["languages"], "result.languages")

    signals = []
    for name, entry in attributes.items():
        label = expect_label(name, attributes_path)
        entry_path = key_path(attributes_path, name)
        score = _summary_score(entry, entry_path)
        if label.upper() in BRIDGING_ATTRIBUTES:
            continue
        signals.append(RawSignal(label=label, score=score))
    return check_signal_count(signals)


def _summary_score(entry: object, path: str) -> float:
    attribute = expect_object(entry, path)
    if "spanScores" in attribute and attribute["spanScores"] is not None:
        expect_list(attribute["spanScores"], key_path(path, "spanScores"))
    summary_path = key_path(path, "summaryScore")
    summary = expect_object(require(attribute, "summaryScore", path), summary_path)
    if "type" in summary:
        # Only probability scores are documented; any other score type would
        # not be comparable with the cut points.
        score_type = expect_str(summary["type"], key_path(summary_path, "type"))
        if score_type != "PROBABILITY":
            raise fail(key_path(summary_path, "type"), f"must be PROBABILITY, not {score_type!r}")
    return expect_probability(require(summary, "value", summary_path), key_path(summary_path, "value"))
