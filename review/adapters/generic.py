"""Docket's own format, for classifiers that have no adapter.

``{"signals": [{"category": "hate", "score": 0.7}, {"category": "violence",
"level": "high"}]}``: each signal names a category (used as the label, so it
can be a Docket slug or the classifier's own name, mapped like any label) and
gives a 0..1 score, a level, or both (the level then wins in ``normalise``).
"""

from __future__ import annotations

from review.adapters.base import (
    LEVEL_ORDER,
    Level,
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


def parse(result: object) -> list[RawSignal]:
    root = expect_object(result, "result")
    items = expect_list(require(root, "signals", "result"), "result.signals")

    signals = []
    for index, item_value in enumerate(items):
        path = f"result.signals[{index}]"
        item = expect_object(item_value, path)
        label = expect_label(require(item, "category", path), key_path(path, "category"))
        score_value = item.get("score")
        level_value = item.get("level")
        if score_value is None and level_value is None:
            raise fail(path, "needs a score (0 to 1) or a level")
        score = None
        if score_value is not None:
            score = expect_probability(score_value, key_path(path, "score"))
        level = None
        if level_value is not None:
            level = _level(level_value, key_path(path, "level"))
        signals.append(RawSignal(label=label, score=score, native_level=level))
    return check_signal_count(signals)


def _level(value: object, path: str) -> Level:
    name = expect_str(value, path)
    try:
        return Level.parse(name)
    except ValueError:
        raise fail(path, f"must be one of {', '.join(LEVEL_ORDER)}, not {name!r}") from None
