"""Amazon Comprehend ``DetectToxicContent``.

``ResultList`` holds one entry per submitted text segment (a prompt and a
response are often sent as two). Each entry's ``Labels[].Score`` and its
overall ``Toxicity`` (reported as the label ``TOXICITY``) are read, keeping
the highest score per label across segments.
"""

from __future__ import annotations

from review.adapters.base import (
    RawSignal,
    check_signal_count,
    expect_label,
    expect_list,
    expect_object,
    expect_probability,
    key_path,
    require,
)

TOXICITY_LABEL = "TOXICITY"


def parse(result: object) -> list[RawSignal]:
    root = expect_object(result, "result")
    entries = expect_list(require(root, "ResultList", "result"), "result.ResultList")

    best: dict[str, float] = {}

    def keep(label: str, score: float) -> None:
        best[label] = max(score, best.get(label, 0.0))

    for index, entry_value in enumerate(entries):
        path = f"result.ResultList[{index}]"
        entry = expect_object(entry_value, path)
        labels = entry.get("Labels")
        if labels is not None:
            labels_path = key_path(path, "Labels")
            for label_index, label_value in enumerate(expect_list(labels, labels_path)):
                label_path = f"{labels_path}[{label_index}]"
                content = expect_object(label_value, label_path)
                name = expect_label(require(content, "Name", label_path), key_path(label_path, "Name"))
                score = expect_probability(require(content, "Score", label_path), key_path(label_path, "Score"))
                keep(name, score)
        toxicity = entry.get("Toxicity")
        if toxicity is not None:
            keep(TOXICITY_LABEL, expect_probability(toxicity, key_path(path, "Toxicity")))

    return check_signal_count([RawSignal(label=label, score=score) for label, score in best.items()])
