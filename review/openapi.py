"""Schemas and examples for the flags API's OpenAPI document.

The flags endpoint validates each flag itself (so one bad flag in a batch is
answered alone), so the request schema here documents rather than parses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class FlagIn(Schema):
    id: str = Field(max_length=200, description="Your request id: the idempotency key.")
    user: str = Field(max_length=256, description="Your user id. Docket keeps only its HMAC-SHA256.")
    prompt: str | None = Field(
        None, description="The prompt text (at most 1 MiB). A flag needs a prompt or a response."
    )
    response: str | None = Field(None, description="The response text (at most 1 MiB).")
    source: Literal["openai", "perspective", "gemini", "azure", "comprehend", "llamaguard", "claude", "generic"] = (
        Field("generic", description="Which adapter reads `result`.")
    )
    result: Any = Field(description="The classifier's native output, as the provider returned it.")
    occurred_at: datetime | None = Field(None, description="RFC 3339 with an offset; default: when received.")
    language: str | None = Field(None, max_length=35, description="BCP 47 tag, e.g. 'en' or 'pt-BR'.")
    metadata: dict[str, Any] | None = Field(None, description="Your own data (at most 16 KiB, nesting at most 8).")


class FlagBatchIn(Schema):
    flags: list[FlagIn] = Field(min_length=1, max_length=1000)


class FieldErrorOut(Schema):
    field: str
    message: str


class FlagResultOut(Schema):
    index: int
    id: str | None = Field(None, description="Your request id, when the flag had a readable one.")
    status: Literal["created", "duplicate", "rejected"]
    flag: int | None = Field(None, description="The flag's id in the console.")
    queued: bool | None = None
    case: int | None = None
    queue: str | None = None
    errors: list[FieldErrorOut] | None = None


class IngestOut(Schema):
    results: list[FlagResultOut]
    created: int
    duplicate: int
    rejected: int


class SignalOut(Schema):
    source_label: str
    score: float | None
    level: str
    category: str
    threshold: str
    met_threshold: bool


class CaseOut(Schema):
    id: int
    status: str
    queue: str


class JudgedByOut(Schema):
    profile: str = Field(description="The name of the policy profile whose thresholds judged the flag.")
    profile_version: int = Field(description="That profile's version at the time.")
    mapping_version: int | None = Field(description="The version of the source's label mappings and cut points.")


class FlagOut(Schema):
    id: str
    flag: int
    account: str = Field(description="The account's hash.")
    source: str
    prompt: str
    response: str
    text_removed_at: datetime | None = Field(
        None, description="When retention removed the prompt and response text (both are then empty)."
    )
    occurred_at: datetime
    received_at: datetime
    language: str
    metadata: dict[str, Any]
    max_level: str
    signals: list[SignalOut]
    queued: bool
    case: CaseOut | None
    decision: dict[str, Any] | None
    judged_by: JudgedByOut | None = Field(
        None, description="The policy versions that decided whether it needed review."
    )


def _example(source: str, result: Any, **extra: Any) -> dict[str, Any]:
    return {
        "summary": f"One flag from {source}",
        "value": {
            "id": f"req-{source}-1",
            "user": "user-42",
            "prompt": "…",
            "source": source,
            "result": result,
            **extra,
        },
    }


EXAMPLES = {
    "openai": _example(
        "openai",
        {
            "id": "modr-1",
            "model": "omni-moderation-latest",
            "results": [
                {
                    "flagged": True,
                    "categories": {"harassment": True, "violence": False},
                    "category_scores": {"harassment": 0.91, "violence": 0.02},
                }
            ],
        },
    ),
    "perspective": _example(
        "perspective",
        {
            "attributeScores": {
                "TOXICITY": {"summaryScore": {"value": 0.93, "type": "PROBABILITY"}},
                "INSULT": {"summaryScore": {"value": 0.71, "type": "PROBABILITY"}},
            },
            "languages": ["en"],
        },
    ),
    "gemini": _example(
        "gemini",
        {
            "candidates": [
                {
                    "safetyRatings": [
                        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "MEDIUM"},
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
                    ]
                }
            ]
        },
    ),
    "azure": _example(
        "azure",
        {
            "blocklistsMatch": [],
            "categoriesAnalysis": [{"category": "Hate", "severity": 4}, {"category": "Violence", "severity": 0}],
        },
    ),
    "comprehend": _example(
        "comprehend",
        {
            "ResultList": [
                {"Toxicity": 0.82, "Labels": [{"Name": "PROFANITY", "Score": 0.8}, {"Name": "INSULT", "Score": 0.35}]}
            ]
        },
    ),
    "llamaguard": _example("llamaguard", "unsafe\nS1,S10"),
    "claude": _example("claude", {"violation": True, "categories": ["Hate Speech"], "explanation": "Demeans a group."}),
    "generic": _example(
        "generic", {"signals": [{"category": "fraud_spam", "score": 0.8}, {"category": "privacy", "level": "low"}]}
    ),
    "batch": {
        "summary": "A batch",
        "value": {
            "flags": [
                {
                    "id": "req-1",
                    "user": "user-1",
                    "response": "…",
                    "source": "generic",
                    "result": {"signals": [{"category": "hate", "level": "high"}]},
                    "occurred_at": "2026-11-22T10:15:00Z",
                    "language": "en",
                    "metadata": {"model": "my-llm-7b", "route": "/chat"},
                }
            ]
        },
    },
}

FLAG_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [{"$ref": "#/components/schemas/FlagIn"}, {"$ref": "#/components/schemas/FlagBatchIn"}]
            },
            "examples": EXAMPLES,
        }
    },
}


DOCUMENTED_ONLY: list[type[Schema]] = [FlagIn, FlagBatchIn]
