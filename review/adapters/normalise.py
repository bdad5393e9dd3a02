"""Raw signals to Docket signals: a category and a level for each.

The tables come in as arguments (the policy's copy from the database, seeded
from ``defaults``) so this stays a pure function of its inputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from review.adapters.base import LEVEL_ORDER, Level, RawSignal
from review.adapters.defaults import CUT_POINTS, FALLBACK_CATEGORY


@dataclass(frozen=True, slots=True)
class NormalisedSignal:
    label: str
    category: str
    score: float | None
    level: Level
    severity: int | None


_NON_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")


def normalise(
    source: str,
    raw: list[RawSignal],
    *,
    label_map: dict[str, str],
    cut_points: dict[str, float] | None,
    severity_levels: dict[int, str] | None = None,
    unsafe_level: str = "high",
) -> list[NormalisedSignal]:
    """Map each raw signal's label to a category and its verdict to a level.

    Level, first that applies: the source's own level; the severity through
    ``severity_levels``; the score through ``cut_points`` (at or above a cut
    point is that level, below "low" is negligible); else ``unsafe_level``.

    Category: ``label_map`` by exact label, then ignoring case, then ignoring
    punctuation and spacing too ("Self Harm" finds "self-harm"); else
    "other". An unmapped label never raises, since new provider labels must
    not make flags bounce. A malformed table does raise ValueError: that is a
    policy mistake to surface, not a flag to accept with a guessed level.
    """
    lookup = _lookup_for(label_map)
    default_level = _level(unsafe_level, f"unsafe level for {source!r}")
    thresholds = _thresholds(source, cut_points)
    # Tables that went through JSON come back with string keys ("4": "medium").
    severities = {int(key): name for key, name in severity_levels.items()} if severity_levels is not None else {}
    return [
        NormalisedSignal(
            label=signal.label,
            category=lookup.category(signal.label),
            score=signal.score,
            level=_signal_level(signal, source, thresholds, severities, default_level),
            severity=signal.severity,
        )
        for signal in raw
    ]


_LOOKUPS: dict[int, tuple[Mapping[str, str], _LabelLookup]] = {}


def _lookup_for(label_map: Mapping[str, str]) -> _LabelLookup:
    """One lookup per table object: a cached policy passes the same dict for every flag.

    The table itself is kept beside its lookup, so an id reused by a new
    dict after the old one died can never match.
    """
    hit = _LOOKUPS.get(id(label_map))
    if hit is not None and hit[0] is label_map:
        return hit[1]
    if len(_LOOKUPS) > 256:
        _LOOKUPS.clear()
    lookup = _LabelLookup(label_map)
    _LOOKUPS[id(label_map)] = (label_map, lookup)
    return lookup


class _LabelLookup:
    def __init__(self, label_map: Mapping[str, str]) -> None:
        self.exact = label_map
        self.folded: dict[str, str] = {}
        self.squashed: dict[str, str] = {}
        # The first entry wins when two labels fold together, so the order of
        # an admin's table decides, not whichever came last.
        for label, category in label_map.items():
            self.folded.setdefault(label.casefold(), category)
            self.squashed.setdefault(_squash(label), category)

    def category(self, label: str) -> str:
        for table, key in (
            (self.exact, label),
            (self.folded, label.casefold()),
            (self.squashed, _squash(label)),
        ):
            category = table.get(key)
            if isinstance(category, str) and category:
                return category
        return FALLBACK_CATEGORY


def _squash(label: str) -> str:
    return _NON_ALPHANUMERIC.sub(" ", label.casefold()).strip()


def _thresholds(source: str, cut_points: Mapping[str, float] | None) -> list[tuple[Level, float]]:
    """(level, minimum score) from high down to low, skipping levels not given."""
    if cut_points is None:
        # A score with no table would otherwise fall through to the unsafe
        # level and turn a 0.01 into "high"; the even spacing is the safer guess.
        cut_points = CUT_POINTS["generic"]
    thresholds = []
    for level in reversed(LEVEL_ORDER[1:]):
        if level.value not in cut_points:
            continue
        value = cut_points[level.value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"cut point {level.value!r} for {source!r} must be a number")
        thresholds.append((level, float(value)))
    return thresholds


def _signal_level(
    signal: RawSignal,
    source: str,
    thresholds: list[tuple[Level, float]],
    severities: Mapping[int, str],
    default_level: Level,
) -> Level:
    if signal.native_level is not None:
        return signal.native_level
    if signal.severity is not None:
        name = severities.get(signal.severity)
        if name is not None:
            return _level(name, f"severity {signal.severity} for {source!r}")
    if signal.score is not None:
        for level, minimum in thresholds:
            if signal.score >= minimum:
                return level
        return Level.NEGLIGIBLE
    return default_level


def _level(name: object, what: str) -> Level:
    if isinstance(name, Level):
        return name
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a level name, not {name!r}")
    return Level.parse(name)
