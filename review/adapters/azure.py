"""Azure AI Content Safety (``text:analyze``, API version 2023-10-01 and later).

``categoriesAnalysis[].severity`` is kept as given (0-7; the default
four-level output only uses 0, 2, 4 and 6); the severity-to-level table is
policy data applied by ``normalise``. A custom blocklist hit is a decision the
integration made in advance, so each matched blocklist becomes one signal
``blocklist:<name>`` at level high.
"""

from __future__ import annotations

from review.adapters.base import (
    Level,
    RawSignal,
    check_signal_count,
    expect_int,
    expect_label,
    expect_list,
    expect_object,
    key_path,
    require,
)

MAX_SEVERITY = 7
# Leaves room for the "blocklist:" prefix inside the 200-character label cap.
_NAME_MAX_LENGTH = 180


def parse(result: object) -> list[RawSignal]:
    root = expect_object(result, "result")
    analyses = expect_list(require(root, "categoriesAnalysis", "result"), "result.categoriesAnalysis")

    severities: dict[str, int] = {}
    for index, analysis_value in enumerate(analyses):
        path = f"result.categoriesAnalysis[{index}]"
        analysis = expect_object(analysis_value, path)
        category = expect_label(require(analysis, "category", path), key_path(path, "category"))
        # severity is optional in the API schema: a category the service did
        # not grade carries no verdict, so it yields no signal.
        raw_severity = analysis.get("severity")
        if raw_severity is None:
            continue
        severity = expect_int(raw_severity, key_path(path, "severity"), minimum=0, maximum=MAX_SEVERITY)
        severities[category] = max(severity, severities.get(category, 0))

    signals = [RawSignal(label=category, severity=severity) for category, severity in severities.items()]

    matches = root.get("blocklistsMatch")
    if matches is not None:
        names: list[str] = []
        for index, match_value in enumerate(expect_list(matches, "result.blocklistsMatch")):
            path = f"result.blocklistsMatch[{index}]"
            match = expect_object(match_value, path)
            name = expect_label(
                require(match, "blocklistName", path),
                key_path(path, "blocklistName"),
                max_length=_NAME_MAX_LENGTH,
            )
            # One signal per list, however many of its items matched: the
            # items are the integration's own terms and add nothing to triage.
            if name not in names:
                names.append(name)
        signals.extend(RawSignal(label=f"blocklist:{name}", native_level=Level.HIGH) for name in names)
    return check_signal_count(signals)
