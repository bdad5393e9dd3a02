"""OpenAI moderation (``POST /v1/moderations``).

Accepts the whole response (``{"id", "model", "results": [...]}``) or one
element of ``results`` on its own, since SDK users often forward
``response.results[0]``. Every key of ``category_scores`` becomes a signal;
when the request had several inputs the highest score per category wins,
because one flagged input is enough to make the call a violation.
"""

from __future__ import annotations

from collections.abc import Mapping

from review.adapters.base import (
    RawSignal,
    check_signal_count,
    expect_bool,
    expect_label,
    expect_list,
    expect_object,
    expect_probability,
    fail,
    key_path,
    require,
)


def parse(result: object) -> list[RawSignal]:
    root = expect_object(result, "result")
    if "results" in root:
        items = expect_list(root["results"], "result.results")
        if not items:
            raise fail("result.results", "must hold at least one moderation result")
        paths = [f"result.results[{index}]" for index in range(len(items))]
    else:
        items, paths = [root], ["result"]

    best: dict[str, float] = {}
    for item, path in zip(items, paths, strict=True):
        for label, score in _scores(item, path):
            best[label] = max(score, best.get(label, 0.0))
    return check_signal_count([RawSignal(label=label, score=score) for label, score in best.items()])


def _scores(item: object, path: str) -> list[tuple[str, float]]:
    moderation = expect_object(item, path)
    if "flagged" in moderation:
        expect_bool(moderation["flagged"], key_path(path, "flagged"))
    if "categories" in moderation:
        _check_flags(moderation["categories"], key_path(path, "categories"))

    scores_path = key_path(path, "category_scores")
    scores = expect_object(require(moderation, "category_scores", path), scores_path)
    pairs = []
    for key, value in scores.items():
        label = expect_label(key, scores_path)
        # The SDKs type a few newer categories as optional; a null score says
        # the model did not score it, which is not the same as a zero.
        if value is None:
            continue
        pairs.append((label, expect_probability(value, key_path(scores_path, key))))
    return pairs


def _check_flags(value: object, path: str) -> None:
    flags: Mapping[str, object] = expect_object(value, path)
    for key, flag in flags.items():
        if flag is not None:
            expect_bool(flag, key_path(path, key))
