"""Shared vocabulary and shape checks for the classifier adapters.

An adapter turns one provider's native result into a flat list of
``RawSignal``: the provider's own label and whatever it said about it (a
probability, a level, a severity). Mapping labels onto Docket's taxonomy
and turning scores into levels is ``normalise``'s job, because that part is
policy data that admins edit; the adapters only read and validate.

Everything here treats its input as hostile: results arrive over the public
API, so every check names where in ``result`` it failed and every loop is
bounded before it starts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# Bounds on the work one result may cause. Real providers stay far below them
# (OpenAI has 13 categories, Llama Guard 14); anything larger is a mistake or
# an attempt to make ingestion expensive.
MAX_SIGNALS = 500
MAX_LABEL_LENGTH = 200
# Text results (Llama Guard verdicts, Claude's JSON) are a few hundred bytes in
# practice; the cap keeps json.loads and the line scanning cheap.
MAX_TEXT_LENGTH = 100_000


class Level(StrEnum):
    NEGLIGIBLE = "negligible"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 for negligible up to 3 for high, for comparing levels.

        A StrEnum compares as text ("high" < "low"), so ordering must go
        through the rank, never through ``<`` on the members themselves.
        """
        return LEVEL_ORDER.index(self)

    @classmethod
    def parse(cls, value: str) -> Level:
        """The level named by ``value``, ignoring case and surrounding space."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"unknown level {value!r}; expected one of: {', '.join(LEVEL_ORDER)}") from None


LEVEL_ORDER: tuple[Level, ...] = (Level.NEGLIGIBLE, Level.LOW, Level.MEDIUM, Level.HIGH)


def max_level(*levels: Level) -> Level:
    return max(levels, key=lambda level: level.rank)


@dataclass(frozen=True, slots=True)
class RawSignal:
    """One verdict as the source gave it, before any Docket policy applies."""

    # The source's own label: "harassment/threatening", "TOXICITY", "S10".
    label: str
    # A 0..1 probability, where the source gives one.
    score: float | None = None
    # Where the source states a level itself (Gemini's probability, Claude's
    # risk_level, a blocklist hit).
    native_level: Level | None = None
    # Azure's 0..7 severity, as given.
    severity: int | None = None


class AdapterError(ValueError):
    """A result that does not have the shape its source documents.

    ``path`` points into the submitted flag (``result.results[0].flagged``)
    so the API can tell the integration exactly which field to fix.
    """

    def __init__(self, message: str, path: str = "result") -> None:
        super().__init__(message)
        self.path = path


# ---------------------------------------------------------------------------
# Shape checks. Each returns the value narrowed to its type or raises an
# AdapterError whose message starts with the path.


def fail(path: str, problem: str) -> AdapterError:
    return AdapterError(f"{path} {problem}", path=path)


def key_path(path: str, key: str) -> str:
    """``path.key`` for identifier-like keys, ``path["key"]`` otherwise."""
    if key.isidentifier():
        return f"{path}.{key}"
    shown = key if len(key) <= 60 else key[:57] + "..."
    return f"{path}[{json.dumps(shown)}]"


def describe(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def expect_object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise fail(path, f"must be an object, not {describe(value)}")
    if len(value) > MAX_SIGNALS:
        raise fail(path, f"has {len(value)} entries; at most {MAX_SIGNALS} are accepted")
    for key in value:
        if not isinstance(key, str):
            raise fail(path, "must have only string keys")
    return value


def expect_list(value: object, path: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise fail(path, f"must be an array, not {describe(value)}")
    if len(value) > MAX_SIGNALS:
        raise fail(path, f"has {len(value)} items; at most {MAX_SIGNALS} are accepted")
    return list(value)


def require(obj: Mapping[str, object], key: str, path: str) -> object:
    if key not in obj:
        raise fail(key_path(path, key), "is required")
    return obj[key]


def expect_str(value: object, path: str, *, max_length: int = MAX_LABEL_LENGTH) -> str:
    if not isinstance(value, str):
        raise fail(path, f"must be a string, not {describe(value)}")
    if len(value) > max_length:
        raise fail(path, f"is {len(value)} characters long; at most {max_length} are accepted")
    return value


def expect_label(value: object, path: str, *, max_length: int = MAX_LABEL_LENGTH) -> str:
    label = expect_str(value, path, max_length=max_length).strip()
    if not label:
        raise fail(path, "must not be empty")
    return label


def expect_number(value: object, path: str) -> float:
    # bool is an int subclass: True would otherwise pass as a score of 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(path, f"must be a number, not {describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise fail(path, "must be a finite number")
    return number


def expect_probability(value: object, path: str) -> float:
    number = expect_number(value, path)
    if not 0.0 <= number <= 1.0:
        raise fail(path, f"must be between 0 and 1, not {number!r}")
    return number


def expect_int(value: object, path: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, f"must be an integer, not {describe(value)}")
    if not minimum <= value <= maximum:
        raise fail(path, f"must be between {minimum} and {maximum}, not {value}")
    return value


def expect_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, f"must be true or false, not {describe(value)}")
    return value


def check_signal_count(signals: list[RawSignal], path: str = "result") -> list[RawSignal]:
    if len(signals) > MAX_SIGNALS:
        raise fail(path, f"gives {len(signals)} signals; at most {MAX_SIGNALS} are accepted")
    return signals
