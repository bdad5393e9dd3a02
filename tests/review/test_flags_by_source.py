"""Each source's native result, posted as its provider documents it, judged by the default profile.

The default profile is PaLM's: low and above for hate and harassment, medium
and above for the rest; child safety is reviewed at low whatever a profile
says. Routing: child safety to `child-safety`, high self-harm, violence and
dangerous to `self-harm-violence`, the rest to `general`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from review.models import Case, Flag, Integration, ProfileThreshold, Signal
from tests.factories import Api, flag_payload
from tests.review.test_adapters import OPENAI_CATEGORIES

# --- Provider samples ----------------------------------------------------------------------

OPENAI_LABELS = OPENAI_CATEGORIES  # the documented list, kept once in the adapter tests


def openai_response(**scores: float) -> dict[str, Any]:
    """A whole omni-moderation response; labels not given score 0.00001."""
    category_scores = {label: scores.get(label, 0.00001) for label in OPENAI_LABELS}
    return {
        "id": "modr-970d409ef3bef3b70c73d8232df86e7d",
        "model": "omni-moderation-2024-09-26",
        "results": [
            {
                "flagged": any(score >= 0.5 for score in category_scores.values()),
                "categories": {label: score >= 0.5 for label, score in category_scores.items()},
                "category_scores": category_scores,
                "category_applied_input_types": {label: ["text"] for label in OPENAI_LABELS},
            }
        ],
    }


def perspective_response(**values: float) -> dict[str, Any]:
    return {
        "attributeScores": {
            name: {
                "spanScores": [{"begin": 0, "end": 38, "score": {"value": value, "type": "PROBABILITY"}}],
                "summaryScore": {"value": value, "type": "PROBABILITY"},
            }
            for name, value in values.items()
        },
        "languages": ["en"],
        "detectedLanguages": ["en"],
    }


def gemini_rating(category: str, probability: str, **extra: Any) -> dict[str, Any]:
    return {"category": f"HARM_CATEGORY_{category}", "probability": probability, **extra}


GEMINI_RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "..."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [
                gemini_rating("SEXUALLY_EXPLICIT", "NEGLIGIBLE", probabilityScore=0.03),
                gemini_rating(
                    "HATE_SPEECH", "MEDIUM", probabilityScore=0.52, severity="HARM_SEVERITY_LOW", severityScore=0.31
                ),
                gemini_rating("HARASSMENT", "LOW", probabilityScore=0.27),
                gemini_rating("DANGEROUS_CONTENT", "NEGLIGIBLE", probabilityScore=0.05),
            ],
        }
    ],
    "promptFeedback": {
        "safetyRatings": [
            gemini_rating("SEXUALLY_EXPLICIT", "NEGLIGIBLE"),
            gemini_rating("HATE_SPEECH", "HIGH", blocked=False),
            gemini_rating("HARASSMENT", "NEGLIGIBLE"),
            gemini_rating("DANGEROUS_CONTENT", "NEGLIGIBLE"),
            gemini_rating("CIVIC_INTEGRITY", "LOW"),
        ]
    },
    "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 31, "totalTokenCount": 40},
    "modelVersion": "gemini-1.5-flash-002",
}

PALM_RESPONSE = {  # generateText, with PaLM's six categories
    "candidates": [
        {
            "output": "...",
            "safetyRatings": [
                gemini_rating("DEROGATORY", "NEGLIGIBLE"),
                gemini_rating("TOXICITY", "NEGLIGIBLE"),
                gemini_rating("VIOLENCE", "LOW"),
                gemini_rating("SEXUAL", "NEGLIGIBLE"),
                gemini_rating("MEDICAL", "LOW"),
                gemini_rating("DANGEROUS", "NEGLIGIBLE"),
            ],
        }
    ]
}

GEMINI_BLOCKED_PROMPT = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {}}

AZURE_RESPONSE = {
    "blocklistsMatch": [{"blocklistName": "competitors", "blocklistItemId": "b7", "blocklistItemText": "acme"}],
    "categoriesAnalysis": [
        {"category": "Hate", "severity": 2},
        {"category": "SelfHarm", "severity": 6},
        {"category": "Sexual", "severity": 0},
        {"category": "Violence", "severity": 4},
    ],
}

AZURE_CLEAN = {
    "blocklistsMatch": [],
    "categoriesAnalysis": [
        {"category": "Hate", "severity": 0},
        {"category": "SelfHarm", "severity": 0},
        {"category": "Sexual", "severity": 2},
        {"category": "Violence", "severity": 0},
    ],
}

COMPREHEND_RESPONSE = {
    "ResultList": [
        {
            "Labels": [
                {"Name": "PROFANITY", "Score": 0.046},
                {"Name": "HATE_SPEECH", "Score": 0.041},
                {"Name": "INSULT", "Score": 0.823},
                {"Name": "GRAPHIC", "Score": 0.013},
                {"Name": "HARASSMENT_OR_ABUSE", "Score": 0.588},
                {"Name": "SEXUAL", "Score": 0.017},
                {"Name": "VIOLENCE_OR_THREAT", "Score": 0.212},
            ],
            "Toxicity": 0.804,
        },
        {"Labels": [{"Name": "PROFANITY", "Score": 0.301}, {"Name": "INSULT", "Score": 0.12}], "Toxicity": 0.31},
    ],
    "ResponseMetadata": {"RequestId": "f1e2d3c4-0000-4a4a-9b9b-123456789abc", "HTTPStatusCode": 200},
}


def comprehend_clean() -> dict[str, Any]:
    return {
        "ResultList": [
            {"Labels": [{"Name": "PROFANITY", "Score": 0.12}, {"Name": "INSULT", "Score": 0.49}], "Toxicity": 0.2}
        ]
    }


def claude_message(assessment: dict[str, Any]) -> dict[str, Any]:
    """A Messages API response whose text holds the guide's JSON, fenced as Claude often writes it."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "```json\n" + json.dumps(assessment, indent=2) + "\n```"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 412, "output_tokens": 58},
    }


@dataclass(frozen=True)
class Sample:
    source: str
    result: Any
    signals: dict[str, tuple[str, str]]  # source label → (category, level)
    case: tuple[str, str, str] | None  # (category, level, queue) of the case, or None: not queued


NEG = "negligible"
SAMPLES = {
    "openai queued": Sample(
        "openai",
        openai_response(**{"harassment": 0.91, "harassment/threatening": 0.62, "violence": 0.55, "self-harm": 0.21}),
        {
            "harassment": ("harassment", "high"),
            "harassment/threatening": ("harassment", "medium"),
            "hate": ("hate", NEG),
            "hate/threatening": ("hate", NEG),
            "illicit": ("dangerous", NEG),
            "illicit/violent": ("dangerous", NEG),
            "self-harm": ("self_harm", "low"),
            "self-harm/intent": ("self_harm", NEG),
            "self-harm/instructions": ("self_harm", NEG),
            "sexual": ("sexual", NEG),
            "sexual/minors": ("child_safety", NEG),
            "violence": ("violence", "medium"),
            "violence/graphic": ("violence", NEG),
        },
        ("violence", "medium", "general"),
    ),
    "openai below threshold": Sample(
        "openai",
        openai_response(**{"violence": 0.3, "sexual": 0.45, "hate": 0.19}),
        {
            label: (category, {"violence": "low", "sexual": "low"}.get(label, NEG))
            for label, category in [
                ("harassment", "harassment"),
                ("harassment/threatening", "harassment"),
                ("hate", "hate"),
                ("hate/threatening", "hate"),
                ("illicit", "dangerous"),
                ("illicit/violent", "dangerous"),
                ("self-harm", "self_harm"),
                ("self-harm/intent", "self_harm"),
                ("self-harm/instructions", "self_harm"),
                ("sexual", "sexual"),
                ("sexual/minors", "child_safety"),
                ("violence", "violence"),
                ("violence/graphic", "violence"),
            ]
        },
        None,
    ),
    "perspective queued": Sample(
        "perspective",
        perspective_response(TOXICITY=0.93, INSULT=0.71, THREAT=0.12, IDENTITY_ATTACK=0.55, RESPECT_EXPERIMENTAL=0.9),
        {
            "TOXICITY": ("harassment", "high"),
            "INSULT": ("harassment", "medium"),
            "THREAT": ("violence", NEG),
            "IDENTITY_ATTACK": ("hate", "low"),
        },
        ("hate", "low", "general"),
    ),
    "perspective below threshold": Sample(
        "perspective",
        perspective_response(TOXICITY=0.49, THREAT=0.65, SEXUALLY_EXPLICIT=0.2),
        {"TOXICITY": ("harassment", NEG), "THREAT": ("violence", "low"), "SEXUALLY_EXPLICIT": ("sexual", NEG)},
        None,
    ),
    "gemini queued": Sample(
        "gemini",
        GEMINI_RESPONSE,
        {
            "HARM_CATEGORY_SEXUALLY_EXPLICIT": ("sexual", NEG),
            "HARM_CATEGORY_HATE_SPEECH": ("hate", "high"),
            "HARM_CATEGORY_HARASSMENT": ("harassment", "low"),
            "HARM_CATEGORY_DANGEROUS_CONTENT": ("dangerous", NEG),
            "HARM_CATEGORY_CIVIC_INTEGRITY": ("elections", "low"),
        },
        ("hate", "high", "general"),
    ),
    "palm below threshold": Sample(
        "gemini",
        PALM_RESPONSE,
        {
            "HARM_CATEGORY_DEROGATORY": ("hate", NEG),
            "HARM_CATEGORY_TOXICITY": ("harassment", NEG),
            "HARM_CATEGORY_VIOLENCE": ("violence", "low"),
            "HARM_CATEGORY_SEXUAL": ("sexual", NEG),
            "HARM_CATEGORY_MEDICAL": ("medical", "low"),
            "HARM_CATEGORY_DANGEROUS": ("dangerous", NEG),
        },
        None,
    ),
    "gemini prompt blocked for prohibited content": Sample(
        "gemini",
        GEMINI_BLOCKED_PROMPT,
        {"blockReason:PROHIBITED_CONTENT": ("child_safety", "high")},
        ("child_safety", "high", "child-safety"),
    ),
    "azure queued": Sample(
        "azure",
        AZURE_RESPONSE,
        {
            "Hate": ("hate", "low"),
            "SelfHarm": ("self_harm", "high"),
            "Sexual": ("sexual", NEG),
            "Violence": ("violence", "medium"),
            "blocklist:competitors": ("other", "high"),
        },
        ("self_harm", "high", "self-harm-violence"),
    ),
    "azure below threshold": Sample(
        "azure",
        AZURE_CLEAN,
        {
            "Hate": ("hate", NEG),
            "SelfHarm": ("self_harm", NEG),
            "Sexual": ("sexual", "low"),
            "Violence": ("violence", NEG),
        },
        None,
    ),
    "comprehend queued": Sample(
        "comprehend",
        COMPREHEND_RESPONSE,
        {
            "PROFANITY": ("harassment", NEG),
            "HATE_SPEECH": ("hate", NEG),
            "INSULT": ("harassment", "medium"),
            "GRAPHIC": ("violence", NEG),
            "HARASSMENT_OR_ABUSE": ("harassment", "low"),
            "SEXUAL": ("sexual", NEG),
            "VIOLENCE_OR_THREAT": ("violence", NEG),
            "TOXICITY": ("harassment", "medium"),
        },
        ("harassment", "medium", "general"),
    ),
    "comprehend below threshold": Sample(
        "comprehend",
        comprehend_clean(),
        {"PROFANITY": ("harassment", NEG), "INSULT": ("harassment", NEG), "TOXICITY": ("harassment", NEG)},
        None,
    ),
    "llamaguard unsafe": Sample(
        "llamaguard",
        "unsafe\nS1,S10",
        {"S1": ("violence", "high"), "S10": ("hate", "high")},
        ("violence", "high", "self-harm-violence"),
    ),
    "llamaguard child exploitation": Sample(
        "llamaguard", "\n\nunsafe\nS4", {"S4": ("child_safety", "high")}, ("child_safety", "high", "child-safety")
    ),
    "llamaguard safe": Sample("llamaguard", "safe", {}, None),
    "claude violation in a message": Sample(
        "claude",
        claude_message(
            {
                "violation": True,
                "categories": ["Hate Speech", "Harassment"],
                "explanation": "Demeans a group and insults the reader.",
            }
        ),
        {"Hate Speech": ("hate", "high"), "Harassment": ("harassment", "high")},
        ("hate", "high", "general"),
    ),
    "claude risk level below threshold": Sample(
        "claude",
        {"risk_level": 1, "categories": ["Specialized Advice"], "explanation": "Mentions a dosage."},
        {"Specialized Advice": ("medical", "low")},
        None,
    ),
    "claude no violation": Sample(
        "claude", '{"violation": false, "categories": [], "explanation": "A recipe."}', {}, None
    ),
    "generic queued": Sample(
        "generic",
        {"signals": [{"category": "fraud_spam", "score": 0.8}, {"category": "privacy", "level": "low"}]},
        {"fraud_spam": ("fraud_spam", "high"), "privacy": ("privacy", "low")},
        ("fraud_spam", "high", "general"),
    ),
    "generic own labels below threshold": Sample(
        "generic",
        {"signals": [{"category": "weapons", "score": 0.3}, {"category": "brand-new-label", "level": "low"}]},
        {"weapons": ("dangerous", "low"), "brand-new-label": ("other", "low")},
        None,
    ),
}


@pytest.mark.parametrize("sample", list(SAMPLES.values()), ids=list(SAMPLES))
def test_a_providers_result_lands_with_the_right_categories_levels_and_queue(api: Api, sample: Sample) -> None:
    response = api.post("flags", flag_payload(id="req-1", source=sample.source, result=sample.result))

    assert response.status_code == 201
    result = response.json()["results"][0]
    flag = Flag.objects.get()
    stored = {s.source_label: (s.category_id, s.get_level_display()) for s in Signal.objects.filter(flag=flag)}
    assert stored == sample.signals
    assert Signal.objects.filter(flag=flag).count() == len(sample.signals)
    assert flag.source == sample.source
    assert flag.result == sample.result
    if sample.case is None:
        assert result["queued"] is False
        assert flag.needs_review is False
        assert flag.case is None
        assert Case.objects.count() == 0
    else:
        case = Case.objects.get()
        assert (result["queued"], result["case"], result["queue"]) == (True, case.pk, sample.case[2])
        assert flag.needs_review is True
        assert flag.case == case
        assert (case.category_id, case.get_level_display(), case.queue.slug) == sample.case


def test_azure_keeps_each_categorys_severity(api: Api) -> None:
    api.post("flags", flag_payload(source="azure", result=AZURE_RESPONSE))

    assert dict(Signal.objects.values_list("source_label", "severity")) == {
        "Hate": 2,
        "SelfHarm": 6,
        "Sexual": 0,
        "Violence": 4,
        "blocklist:competitors": None,
    }


def test_the_case_records_why_it_was_queued(api: Api) -> None:
    api.post("flags", flag_payload(source="azure", result=AZURE_RESPONSE))

    assert Case.objects.get().routing == {
        "category": "self_harm",
        "label": "SelfHarm",
        "level": "high",
        "score": None,
        "threshold": "medium",
        "rule": "Urgent harm",
        "queue": "self-harm-violence",
    }


def set_threshold(integration: Integration, category: str, threshold: str) -> None:
    thresholds = ProfileThreshold.objects.filter(profile=integration.profile, category_id=category)
    assert thresholds.update(threshold=threshold) == 1


def post_one(api: Api, category: str, value: float | str) -> dict[str, Any]:
    key = "level" if isinstance(value, str) else "score"
    response = api.post("flags", flag_payload(result={"signals": [{"category": category, key: value}]}))
    return response.json()["results"][0]


# --- Thresholds at their boundaries (generic cut points: low .25, medium .5, high .75) ---------


@pytest.mark.parametrize(
    ("category", "score", "level", "queued"),
    [
        ("hate", 0.249, "negligible", False),  # hate is reviewed from low up
        ("hate", 0.25, "low", True),
        ("violence", 0.499, "low", False),  # violence from medium up
        ("violence", 0.5, "medium", True),
        ("violence", 0.749, "medium", True),
        ("violence", 0.75, "high", True),
    ],
)
def test_a_score_is_judged_at_the_cut_points_against_the_profiles_threshold(
    api: Api, category: str, score: float, level: str, queued: bool
) -> None:
    result = post_one(api, category, score)

    signal = Signal.objects.get()
    assert (signal.category_id, signal.score, signal.get_level_display()) == (category, score, level)
    assert signal.met_threshold is queued
    assert result["queued"] is queued
    assert Case.objects.count() == int(queued)


def test_a_category_switched_off_is_never_queued(api: Api, integration: Integration) -> None:
    set_threshold(integration, "violence", "off")  # a video-game integration

    result = post_one(api, "violence", 1.0)

    assert result["status"] == "created"
    assert result["queued"] is False
    signal = Signal.objects.get()
    assert (signal.get_level_display(), signal.threshold, signal.met_threshold) == ("high", "off", False)
    assert Case.objects.count() == 0


def test_a_category_at_high_queues_only_high(api: Api, integration: Integration) -> None:
    set_threshold(integration, "hate", "high")

    medium = post_one(api, "hate", 0.74)
    high = post_one(api, "hate", 0.75)

    assert (medium["queued"], high["queued"]) == (False, True)
    assert list(Signal.objects.order_by("pk").values_list("threshold", "met_threshold")) == [
        ("high", False),
        ("high", True),
    ]


def test_a_threshold_change_applies_to_the_next_flag(api: Api, integration: Integration) -> None:
    before = post_one(api, "medical", "low")
    set_threshold(integration, "medical", "low")

    after = post_one(api, "medical", "low")

    assert (before["queued"], after["queued"]) == (False, True)


def test_child_safety_is_queued_at_low_even_when_the_profile_says_off(api: Api, integration: Integration) -> None:
    set_threshold(integration, "child_safety", "off")

    low = post_one(api, "child_safety", 0.25)
    negligible = post_one(api, "child_safety", 0.2)

    assert (low["queued"], low["queue"]) == (True, "child-safety")
    assert negligible["queued"] is False
    assert list(Signal.objects.order_by("pk").values_list("threshold", "met_threshold")) == [
        ("low", True),
        ("low", False),
    ]


def test_a_flags_lead_signal_is_its_most_urgent_category(api: Api) -> None:
    result = api.post(
        "flags",
        flag_payload(
            result={
                "signals": [
                    {"category": "hate", "level": "high"},
                    {"category": "child_safety", "level": "low"},
                    {"category": "self_harm", "level": "high"},
                ]
            }
        ),
    ).json()["results"][0]

    case = Case.objects.get()
    assert result["queue"] == "child-safety"
    assert (case.category_id, case.get_level_display()) == ("child_safety", "low")


# --- Routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "level", "queue"),
    [
        ("self_harm", "high", "self-harm-violence"),
        ("violence", "high", "self-harm-violence"),
        ("dangerous", "high", "self-harm-violence"),
        ("self_harm", "medium", "general"),
        ("child_safety", "low", "child-safety"),
        ("child_safety", "high", "child-safety"),
        ("hate", "high", "general"),
        ("fraud_spam", "high", "general"),
        ("other", "medium", "general"),
    ],
)
def test_a_case_is_routed_by_category_and_level(api: Api, category: str, level: str, queue: str) -> None:
    result = post_one(api, category, level)

    assert (result["queued"], result["queue"]) == (True, queue)
    assert Case.objects.get().queue.slug == queue
