"""The classifier adapters, their default tables and normalise().

Samples follow the shapes each provider documents; the values are made up.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from review.adapters import (
    ADAPTERS,
    AdapterError,
    Level,
    RawSignal,
    azure,
    claude,
    comprehend,
    gemini,
    generic,
    llamaguard,
    openai,
    parse,
    perspective,
)
from review.adapters.base import LEVEL_ORDER, max_level
from review.adapters.defaults import (
    CATEGORIES,
    CATEGORY_SLUGS,
    CUT_POINTS,
    DEFAULT_UNSAFE_LEVEL,
    HARM_DIMENSIONS,
    LABEL_MAP,
    SEVERITY_LEVELS,
)
from review.adapters.normalise import NormalisedSignal, normalise


@contextmanager
def raises_at(path: str, *fragments: str) -> Iterator[None]:
    """Expect an AdapterError at ``path`` whose message names it and says each fragment."""
    with pytest.raises(AdapterError) as caught:
        yield
    error = caught.value
    assert error.path == path
    assert str(error).startswith(path + " ")
    for fragment in fragments:
        assert fragment in str(error)


def by_label(signals: list[RawSignal]) -> dict[str, RawSignal]:
    labels = [signal.label for signal in signals]
    assert len(labels) == len(set(labels)), f"duplicate labels in {labels}"
    return {signal.label: signal for signal in signals}


def normalise_with_defaults(source: str, raw: list[RawSignal]) -> list[NormalisedSignal]:
    return normalise(
        source,
        raw,
        label_map=LABEL_MAP[source],
        cut_points=CUT_POINTS.get(source),
        severity_levels=SEVERITY_LEVELS,
        unsafe_level=DEFAULT_UNSAFE_LEVEL,
    )


# ---------------------------------------------------------------------------
# Level


def test_levels_rank_from_negligible_to_high() -> None:
    assert [level.rank for level in LEVEL_ORDER] == [0, 1, 2, 3]
    assert [level.value for level in LEVEL_ORDER] == ["negligible", "low", "medium", "high"]
    assert max_level(Level.LOW, Level.HIGH, Level.MEDIUM) is Level.HIGH
    # As strings "high" < "low"; rank is what orders them.
    assert Level.HIGH.rank > Level.LOW.rank


def test_level_parse_ignores_case_and_space_and_refuses_unknown_names() -> None:
    assert Level.parse(" Medium ") is Level.MEDIUM
    with pytest.raises(ValueError, match="unknown level 'severe'"):
        Level.parse("severe")


# ---------------------------------------------------------------------------
# Registry


def test_the_registry_has_exactly_the_documented_sources() -> None:
    assert list(ADAPTERS) == [
        "openai",
        "perspective",
        "gemini",
        "azure",
        "comprehend",
        "llamaguard",
        "claude",
        "generic",
    ]


def test_parse_dispatches_to_the_named_adapter() -> None:
    assert parse("llamaguard", "unsafe\nS10") == [RawSignal(label="S10")]


def test_an_unknown_source_is_an_error_at_source() -> None:
    with pytest.raises(AdapterError) as caught:
        parse("moderatr", {})
    assert caught.value.path == "source"
    assert str(caught.value) == (
        "unknown source 'moderatr'; expected one of: "
        "openai, perspective, gemini, azure, comprehend, llamaguard, claude, generic"
    )


def test_a_source_that_is_not_a_string_is_unknown() -> None:
    with pytest.raises(AdapterError, match=r"^unknown source null; expected one of: ") as caught:
        parse(None, {})  # type: ignore[arg-type]
    assert caught.value.path == "source"


# ---------------------------------------------------------------------------
# OpenAI moderation

OPENAI_CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]


def openai_result(**scores: float) -> dict[str, object]:
    """One omni-moderation result; categories not given score 0.00001."""
    category_scores = {
        name: scores.get(name.replace("/", "__").replace("-", "_"), 0.00001) for name in OPENAI_CATEGORIES
    }
    return {
        "flagged": any(score >= 0.5 for score in category_scores.values()),
        "categories": {name: score >= 0.5 for name, score in category_scores.items()},
        "category_scores": category_scores,
        "category_applied_input_types": {name: ["text"] for name in OPENAI_CATEGORIES},
    }


def openai_response(*results: dict[str, object]) -> dict[str, object]:
    return {
        "id": "modr-5f1b2c0e3a",
        "model": "omni-moderation-2024-09-26",
        "results": list(results),
    }


def test_openai_reads_every_category_score() -> None:
    response = openai_response(openai_result(violence=0.86, harassment__threatening=0.62, self_harm__intent=0.003))

    signals = by_label(openai.parse(response))

    assert list(signals) == OPENAI_CATEGORIES
    assert signals["violence"] == RawSignal(label="violence", score=0.86)
    assert signals["harassment/threatening"].score == 0.62
    assert signals["self-harm/intent"].score == 0.003
    assert signals["sexual/minors"].score == 0.00001
    assert all(s.native_level is None and s.severity is None for s in signals.values())


def test_openai_keeps_the_highest_score_across_several_inputs() -> None:
    response = openai_response(
        openai_result(hate=0.7, violence=0.1),
        openai_result(hate=0.2, violence=0.9),
    )

    signals = by_label(openai.parse(response))

    assert signals["hate"].score == 0.7
    assert signals["violence"].score == 0.9
    assert len(signals) == 13


def test_openai_accepts_a_single_result_without_the_wrapper() -> None:
    signals = by_label(openai.parse(openai_result(sexual=0.55)))

    assert signals["sexual"].score == 0.55


def test_openai_tolerates_extra_fields_and_unknown_categories() -> None:
    result = openai_result(illicit=0.4)
    result["category_scores"]["weapons/new"] = 0.3  # type: ignore[index]
    result["flagging_model_version"] = "x"
    response = openai_response(result)
    response["usage"] = {"total_tokens": 0}

    signals = by_label(openai.parse(response))

    assert signals["illicit"].score == 0.4
    assert signals["weapons/new"].score == 0.3


def test_openai_skips_a_null_score() -> None:
    result = openai_result()
    result["category_scores"]["illicit"] = None  # type: ignore[index]
    result["categories"]["illicit"] = None  # type: ignore[index]

    signals = by_label(openai.parse(openai_response(result)))

    assert "illicit" not in signals
    assert len(signals) == 12


def test_openai_clean_result_gives_low_scores() -> None:
    signals = openai.parse(openai_response(openai_result()))

    assert len(signals) == 13
    assert {signal.score for signal in signals} == {0.00001}


def test_openai_refuses_category_scores_that_are_not_an_object() -> None:
    response = openai_response(openai_result())
    response["results"][0]["category_scores"] = [0.1, 0.2]  # type: ignore[index]

    with raises_at("result.results[0].category_scores", "must be an object, not an array"):
        openai.parse(response)


def test_openai_refuses_a_boolean_score_naming_the_key() -> None:
    response = openai_response(openai_result())
    response["results"][0]["category_scores"]["harassment/threatening"] = True  # type: ignore[index]

    with raises_at(
        'result.results[0].category_scores["harassment/threatening"]',
        "must be a number, not a boolean",
    ):
        openai.parse(response)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, 1.5, "0.3"])
def test_openai_refuses_scores_that_are_not_probabilities(bad: object) -> None:
    response = openai_response(openai_result())
    response["results"][0]["category_scores"]["hate"] = bad  # type: ignore[index]

    with raises_at("result.results[0].category_scores.hate"):
        openai.parse(response)


def test_openai_requires_category_scores() -> None:
    result = openai_result()
    del result["category_scores"]

    with raises_at("result.results[1].category_scores", "is required"):
        openai.parse(openai_response(openai_result(), result))


def test_openai_refuses_an_empty_results_list_and_a_non_boolean_flag() -> None:
    with raises_at("result.results", "at least one"):
        openai.parse(openai_response())
    result = openai_result()
    result["categories"]["hate"] = "no"  # type: ignore[index]
    with raises_at("result.categories.hate", "must be true or false"):
        openai.parse(result)


def test_openai_refuses_a_result_that_is_not_an_object() -> None:
    with raises_at("result", "must be an object, not a string"):
        openai.parse("flagged")


# ---------------------------------------------------------------------------
# Perspective


def perspective_attribute(value: float) -> dict[str, object]:
    return {
        "spanScores": [{"begin": 0, "end": 41, "score": {"value": value, "type": "PROBABILITY"}}],
        "summaryScore": {"value": value, "type": "PROBABILITY"},
    }


def perspective_response(**values: float) -> dict[str, object]:
    return {
        "attributeScores": {name: perspective_attribute(v) for name, v in values.items()},
        "languages": ["en"],
        "detectedLanguages": ["en"],
    }


def test_perspective_reads_each_summary_score() -> None:
    response = perspective_response(TOXICITY=0.91, SEVERE_TOXICITY=0.42, INSULT=0.88, THREAT=0.07, IDENTITY_ATTACK=0.31)

    signals = perspective.parse(response)

    assert signals == [
        RawSignal(label="TOXICITY", score=0.91),
        RawSignal(label="SEVERE_TOXICITY", score=0.42),
        RawSignal(label="INSULT", score=0.88),
        RawSignal(label="THREAT", score=0.07),
        RawSignal(label="IDENTITY_ATTACK", score=0.31),
    ]


def test_perspective_tolerates_extra_fields_and_a_missing_type() -> None:
    response = perspective_response(PROFANITY=0.6)
    response["clientToken"] = "abc"
    response["attributeScores"]["SPAM"] = {"summaryScore": {"value": 0.2}}  # type: ignore[index]

    assert by_label(perspective.parse(response))["SPAM"].score == 0.2


def test_perspective_drops_bridging_attributes_which_score_good_qualities() -> None:
    response = perspective_response(TOXICITY=0.02, RESPECT_EXPERIMENTAL=0.97)

    assert perspective.parse(response) == [RawSignal(label="TOXICITY", score=0.02)]


def test_perspective_clean_result_gives_low_scores() -> None:
    signals = perspective.parse(perspective_response(TOXICITY=0.021, PROFANITY=0.013))

    assert [signal.score for signal in signals] == [0.021, 0.013]


def test_perspective_refuses_a_summary_value_that_is_not_a_number() -> None:
    response = perspective_response(TOXICITY=0.5)
    response["attributeScores"]["TOXICITY"]["summaryScore"]["value"] = "high"  # type: ignore[index]

    with raises_at("result.attributeScores.TOXICITY.summaryScore.value", "not a string"):
        perspective.parse(response)


def test_perspective_refuses_other_score_types_and_missing_parts() -> None:
    response = perspective_response(TOXICITY=0.5)
    response["attributeScores"]["TOXICITY"]["summaryScore"]["type"] = "STD_DEV"  # type: ignore[index]
    with raises_at("result.attributeScores.TOXICITY.summaryScore.type", "PROBABILITY"):
        perspective.parse(response)

    with raises_at("result.attributeScores", "is required"):
        perspective.parse({"languages": ["en"]})

    with raises_at("result.attributeScores.INSULT.summaryScore", "is required"):
        perspective.parse({"attributeScores": {"INSULT": {"spanScores": []}}})


# ---------------------------------------------------------------------------
# Gemini and PaLM


def rating(category: str, probability: str, **extra: object) -> dict[str, object]:
    return {"category": f"HARM_CATEGORY_{category}", "probability": probability, **extra}


def test_gemini_reads_palm_safety_ratings_as_native_levels() -> None:
    result = {
        "safetyRatings": [
            rating("DEROGATORY", "LOW"),
            rating("TOXICITY", "MEDIUM"),
            rating("VIOLENCE", "NEGLIGIBLE"),
            rating("SEXUAL", "NEGLIGIBLE"),
            rating("MEDICAL", "HIGH"),
            rating("DANGEROUS", "NEGLIGIBLE"),
        ]
    }

    signals = by_label(gemini.parse(result))

    assert len(signals) == 6
    assert signals["HARM_CATEGORY_DEROGATORY"] == RawSignal(label="HARM_CATEGORY_DEROGATORY", native_level=Level.LOW)
    assert signals["HARM_CATEGORY_TOXICITY"].native_level is Level.MEDIUM
    assert signals["HARM_CATEGORY_MEDICAL"].native_level is Level.HIGH


GEMINI_RESPONSE: dict[str, object] = {
    "candidates": [
        {
            "content": {"parts": [{"text": "..."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [
                rating("SEXUALLY_EXPLICIT", "NEGLIGIBLE", probabilityScore=0.03),
                rating(
                    "HATE_SPEECH",
                    "MEDIUM",
                    probabilityScore=0.52,
                    severity="HARM_SEVERITY_LOW",
                    severityScore=0.31,
                ),
                rating("HARASSMENT", "LOW", probabilityScore=0.27),
                rating("DANGEROUS_CONTENT", "NEGLIGIBLE", probabilityScore=0.05),
            ],
        }
    ],
    "promptFeedback": {
        "safetyRatings": [
            rating("SEXUALLY_EXPLICIT", "NEGLIGIBLE"),
            rating("HATE_SPEECH", "HIGH", blocked=False),
            rating("HARASSMENT", "NEGLIGIBLE"),
            rating("DANGEROUS_CONTENT", "NEGLIGIBLE"),
            rating("CIVIC_INTEGRITY", "LOW"),
        ]
    },
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 40},
    "modelVersion": "gemini-1.5-flash-002",
}


def test_gemini_merges_prompt_and_candidate_ratings_keeping_the_highest_level() -> None:
    signals = by_label(gemini.parse(copy.deepcopy(GEMINI_RESPONSE)))

    assert list(signals) == [
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    ]
    # The prompt's HIGH beats the candidate's MEDIUM; the score is the only one given.
    assert signals["HARM_CATEGORY_HATE_SPEECH"] == RawSignal(
        label="HARM_CATEGORY_HATE_SPEECH", score=0.52, native_level=Level.HIGH
    )
    assert signals["HARM_CATEGORY_HARASSMENT"].native_level is Level.LOW
    assert signals["HARM_CATEGORY_HARASSMENT"].score == 0.27
    assert signals["HARM_CATEGORY_CIVIC_INTEGRITY"].native_level is Level.LOW


def test_gemini_blocked_prompt_without_ratings_gives_a_high_block_signal() -> None:
    result = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 12},
    }

    assert gemini.parse(result) == [RawSignal(label="blockReason:PROHIBITED_CONTENT", native_level=Level.HIGH)]


def test_gemini_safety_block_explained_by_ratings_adds_no_extra_signal() -> None:
    result = {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [rating("HARASSMENT", "HIGH", blocked=True)],
        }
    }

    assert gemini.parse(result) == [RawSignal(label="HARM_CATEGORY_HARASSMENT", native_level=Level.HIGH)]


def test_gemini_candidate_withheld_for_prohibited_content_is_a_signal() -> None:
    result = {"candidates": [{"finishReason": "PROHIBITED_CONTENT", "index": 0}]}

    assert gemini.parse(result) == [RawSignal(label="finishReason:PROHIBITED_CONTENT", native_level=Level.HIGH)]


def test_gemini_reads_palm_safety_feedback_and_filters() -> None:
    result = {
        "candidates": [],
        "filters": [{"reason": "OTHER", "message": "The prompt was blocked."}],
        "safetyFeedback": [
            {
                "rating": rating("VIOLENCE", "HIGH"),
                "setting": {
                    "category": "HARM_CATEGORY_VIOLENCE",
                    "threshold": "BLOCK_MEDIUM_AND_ABOVE",
                },
            }
        ],
    }

    assert gemini.parse(result) == [
        RawSignal(label="HARM_CATEGORY_VIOLENCE", native_level=Level.HIGH),
        RawSignal(label="blockReason:OTHER", native_level=Level.HIGH),
    ]


def test_gemini_accepts_the_python_sdks_snake_case() -> None:
    result = {
        "candidates": [{"safety_ratings": [rating("HARASSMENT", "MEDIUM", probability_score=0.6)]}],
        "prompt_feedback": {"block_reason": "BLOCKLIST"},
    }

    assert gemini.parse(result) == [
        RawSignal(label="HARM_CATEGORY_HARASSMENT", score=0.6, native_level=Level.MEDIUM),
        RawSignal(label="blockReason:BLOCKLIST", native_level=Level.HIGH),
    ]


def test_gemini_skips_unspecified_probabilities_and_block_reasons() -> None:
    result = {
        "safetyRatings": [
            rating("HARASSMENT", "HARM_PROBABILITY_UNSPECIFIED"),
            rating("HATE_SPEECH", "NEGLIGIBLE"),
        ],
        "promptFeedback": {"blockReason": "BLOCK_REASON_UNSPECIFIED"},
    }

    assert gemini.parse(result) == [RawSignal(label="HARM_CATEGORY_HATE_SPEECH", native_level=Level.NEGLIGIBLE)]


def test_gemini_clean_response_gives_negligible_levels() -> None:
    result = {
        "candidates": [
            {
                "finishReason": "STOP",
                "safetyRatings": [
                    rating(name, "NEGLIGIBLE") for name in ("HARASSMENT", "HATE_SPEECH", "SEXUALLY_EXPLICIT")
                ],
            }
        ]
    }

    signals = gemini.parse(result)

    assert [signal.native_level for signal in signals] == [Level.NEGLIGIBLE] * 3


def test_gemini_refuses_an_unknown_probability() -> None:
    result = {"candidates": [{"safetyRatings": [rating("HARASSMENT", "VERY_HIGH")]}]}

    with raises_at("result.candidates[0].safetyRatings[0].probability", "not 'VERY_HIGH'"):
        gemini.parse(result)


def test_gemini_refuses_a_boolean_probability_score() -> None:
    result = {"safetyRatings": [rating("HARASSMENT", "LOW", probabilityScore=True)]}

    with raises_at("result.safetyRatings[0].probabilityScore", "not a boolean"):
        gemini.parse(result)


def test_gemini_refuses_results_with_none_of_its_fields() -> None:
    with raises_at("result", "must have safetyRatings"):
        gemini.parse({"results": []})
    with raises_at("result.promptFeedback.safetyRatings", "must be an array, not an object"):
        gemini.parse({"promptFeedback": {"safetyRatings": {"category": "x"}}})
    with raises_at("result.safetyFeedback[0].rating", "is required"):
        gemini.parse({"safetyFeedback": [{"setting": {}}]})


# ---------------------------------------------------------------------------
# Azure AI Content Safety

AZURE_RESPONSE: dict[str, object] = {
    "blocklistsMatch": [
        {"blocklistName": "slurs", "blocklistItemId": "a1", "blocklistItemText": "xx"},
        {"blocklistName": "slurs", "blocklistItemId": "a2", "blocklistItemText": "yy"},
        {"blocklistName": "competitors", "blocklistItemId": "b7", "blocklistItemText": "zz"},
    ],
    "categoriesAnalysis": [
        {"category": "Hate", "severity": 2},
        {"category": "SelfHarm", "severity": 0},
        {"category": "Sexual", "severity": 0},
        {"category": "Violence", "severity": 6},
    ],
}


def test_azure_keeps_severities_and_turns_each_blocklist_into_a_high_signal() -> None:
    assert azure.parse(copy.deepcopy(AZURE_RESPONSE)) == [
        RawSignal(label="Hate", severity=2),
        RawSignal(label="SelfHarm", severity=0),
        RawSignal(label="Sexual", severity=0),
        RawSignal(label="Violence", severity=6),
        RawSignal(label="blocklist:slurs", native_level=Level.HIGH),
        RawSignal(label="blocklist:competitors", native_level=Level.HIGH),
    ]


def test_azure_tolerates_extra_fields_and_skips_ungraded_categories() -> None:
    result = {
        "categoriesAnalysis": [
            {"category": "Hate", "severity": 5, "confidence": 0.9},
            {"category": "Violence"},
        ],
        "blocklistsMatch": None,
        "apiVersion": "2024-09-01",
    }

    assert azure.parse(result) == [RawSignal(label="Hate", severity=5)]


def test_azure_clean_result_gives_severity_zero() -> None:
    result = {
        "blocklistsMatch": [],
        "categoriesAnalysis": [
            {"category": name, "severity": 0} for name in ("Hate", "SelfHarm", "Sexual", "Violence")
        ],
    }

    assert {signal.severity for signal in azure.parse(result)} == {0}


@pytest.mark.parametrize(
    ("bad", "says"),
    [(8, "between 0 and 7"), ("4", "not a string"), (True, "not a boolean"), (2.5, "not a number")],
)
def test_azure_refuses_a_severity_outside_0_to_7(bad: object, says: str) -> None:
    result = {
        "categoriesAnalysis": [
            {"category": "Hate", "severity": 0},
            {"category": "Sexual", "severity": bad},
        ]
    }

    with raises_at("result.categoriesAnalysis[1].severity", says):
        azure.parse(result)


def test_azure_refuses_missing_parts() -> None:
    with raises_at("result.categoriesAnalysis", "is required"):
        azure.parse({"hateResult": {"category": "Hate", "severity": 2}})
    with raises_at("result.blocklistsMatch[0].blocklistName", "is required"):
        azure.parse({"categoriesAnalysis": [], "blocklistsMatch": [{"blocklistItemId": "a"}]})


# ---------------------------------------------------------------------------
# Amazon Comprehend

COMPREHEND_RESPONSE: dict[str, object] = {
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
        {
            "Labels": [
                {"Name": "PROFANITY", "Score": 0.301},
                {"Name": "INSULT", "Score": 0.12},
            ],
            "Toxicity": 0.31,
        },
    ],
    "ResponseMetadata": {"RequestId": "f1e2", "HTTPStatusCode": 200},
}


def test_comprehend_keeps_the_highest_score_per_label_and_reads_toxicity() -> None:
    signals = by_label(comprehend.parse(copy.deepcopy(COMPREHEND_RESPONSE)))

    assert signals == {
        "PROFANITY": RawSignal(label="PROFANITY", score=0.301),
        "HATE_SPEECH": RawSignal(label="HATE_SPEECH", score=0.041),
        "INSULT": RawSignal(label="INSULT", score=0.823),
        "GRAPHIC": RawSignal(label="GRAPHIC", score=0.013),
        "HARASSMENT_OR_ABUSE": RawSignal(label="HARASSMENT_OR_ABUSE", score=0.588),
        "SEXUAL": RawSignal(label="SEXUAL", score=0.017),
        "VIOLENCE_OR_THREAT": RawSignal(label="VIOLENCE_OR_THREAT", score=0.212),
        "TOXICITY": RawSignal(label="TOXICITY", score=0.804),
    }


def test_comprehend_clean_result_gives_low_scores() -> None:
    result = {"ResultList": [{"Labels": [{"Name": "INSULT", "Score": 0.002}], "Toxicity": 0.01}]}

    assert comprehend.parse(result) == [
        RawSignal(label="INSULT", score=0.002),
        RawSignal(label="TOXICITY", score=0.01),
    ]


def test_comprehend_refuses_wrong_shapes() -> None:
    with raises_at("result.ResultList[0].Labels[1].Score", "between 0 and 1"):
        comprehend.parse(
            {
                "ResultList": [
                    {
                        "Labels": [
                            {"Name": "SEXUAL", "Score": 0.1},
                            {"Name": "GRAPHIC", "Score": 1.2},
                        ]
                    }
                ]
            }
        )
    with raises_at("result.ResultList[0].Labels", "must be an array"):
        comprehend.parse({"ResultList": [{"Labels": {"Name": "SEXUAL"}}]})
    with raises_at("result.ResultList[0].Labels[0].Name", "is required"):
        comprehend.parse({"ResultList": [{"Labels": [{"Score": 0.1}]}]})
    with raises_at("result.ResultList[0].Toxicity", "finite"):
        comprehend.parse({"ResultList": [{"Labels": [], "Toxicity": math.inf}]})
    with raises_at("result.ResultList", "is required"):
        comprehend.parse({"Labels": []})


# ---------------------------------------------------------------------------
# Llama Guard


@pytest.mark.parametrize("verdict", ["safe", "\n\nsafe", "  safe \n\n", "Safe"])
def test_llamaguard_safe_gives_no_signals(verdict: str) -> None:
    assert llamaguard.parse(verdict) == []


@pytest.mark.parametrize(
    ("verdict", "labels"),
    [
        ("unsafe\nS1,S10", ["S1", "S10"]),
        ("\n\nunsafe\nS2\n", ["S2"]),
        ("unsafe\nS4, S12 ,S4", ["S4", "S12"]),
        ("unsafe\nS14\nS13", ["S14", "S13"]),
        ("unsafe\ns11", ["S11"]),
    ],
)
def test_llamaguard_unsafe_lists_its_hazard_codes(verdict: str, labels: list[str]) -> None:
    signals = llamaguard.parse(verdict)

    assert [signal.label for signal in signals] == labels
    assert all(signal == RawSignal(label=signal.label) for signal in signals)


def test_llamaguard_unsafe_without_codes_is_labelled_unsafe() -> None:
    assert llamaguard.parse("  unsafe  \n") == [RawSignal(label="unsafe")]


def test_llamaguard_refuses_unknown_codes_naming_them() -> None:
    with raises_at("result", "unknown Llama Guard categories: S99, O3", "S1 to S14"):
        llamaguard.parse("unsafe\nS1,S99,O3")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"text": "unsafe\nS1"}, "must be a string, not an object"),
        (["unsafe", "S1"], "must be a string, not an array"),
        ("", "empty"),
        ("maybe\nS1", "must start with safe or unsafe"),
        ("safe\nS1", "says safe"),
    ],
)
def test_llamaguard_refuses_anything_but_a_verdict(value: object, says: str) -> None:
    with raises_at("result", says):
        llamaguard.parse(value)


# ---------------------------------------------------------------------------
# Claude (content-moderation guide)

CLAUDE_VIOLATION = {
    "violation": True,
    "categories": ["Violent Crimes", "Hate"],
    "explanation": "The message threatens the reader's family.",
}


def claude_message(text: str) -> dict[str, object]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 180, "output_tokens": 41},
    }


def test_claude_violation_categories_carry_no_level_of_their_own() -> None:
    assert claude.parse(dict(CLAUDE_VIOLATION)) == [
        RawSignal(label="Violent Crimes"),
        RawSignal(label="Hate"),
    ]


def test_claude_risk_level_is_a_native_level() -> None:
    result = {"risk_level": 2, "categories": ["Specialized Advice"], "explanation": "Dosage."}

    assert claude.parse(result) == [RawSignal(label="Specialized Advice", native_level=Level.MEDIUM)]


@pytest.mark.parametrize(("risk", "level"), [(1, Level.LOW), (3, Level.HIGH)])
def test_claude_risk_levels_map_one_to_one(risk: int, level: Level) -> None:
    result = {"risk_level": risk, "categories": ["Privacy"]}

    assert claude.parse(result) == [RawSignal(label="Privacy", native_level=level)]


def test_claude_accepts_json_text_bare_fenced_or_with_a_preamble() -> None:
    text = json.dumps(CLAUDE_VIOLATION)
    expected = [RawSignal(label="Violent Crimes"), RawSignal(label="Hate")]

    assert claude.parse(text) == expected
    assert claude.parse(f"```json\n{text}\n```") == expected
    assert claude.parse(f"Here is my assessment:\n\n{text}\n") == expected


def test_claude_reads_the_assessment_from_a_messages_api_response() -> None:
    message = claude_message('```json\n{"risk_level": 3, "categories": ["Child Exploitation"]}\n```')
    message["content"].insert(0, {"type": "thinking", "thinking": "..."})  # type: ignore[attr-defined]

    assert claude.parse(message) == [RawSignal(label="Child Exploitation", native_level=Level.HIGH)]


def test_claude_tolerates_extra_fields_and_categories_as_one_string() -> None:
    result = {
        "violation": True,
        "categories": "Non-Violent Crimes, Privacy",
        "explanation": ["Shares a stolen card number."],
        "confidence": "high",
    }

    assert claude.parse(result) == [
        RawSignal(label="Non-Violent Crimes"),
        RawSignal(label="Privacy"),
    ]


def test_claude_violation_or_risk_without_categories_gives_one_signal() -> None:
    assert claude.parse({"violation": True}) == [RawSignal(label="violation")]
    assert claude.parse({"risk_level": 1, "categories": []}) == [RawSignal(label="violation", native_level=Level.LOW)]


@pytest.mark.parametrize(
    "result",
    [
        {"violation": False, "categories": []},
        {"violation": False},
        {"risk_level": 0, "categories": [], "explanation": None},
        '{"violation": false, "categories": []}',
    ],
)
def test_claude_nothing_found_gives_no_signals(result: object) -> None:
    assert claude.parse(result) == []


def test_claude_categories_named_with_no_violation_are_negligible() -> None:
    result = {"violation": False, "categories": ["Hate"]}

    assert claude.parse(result) == [RawSignal(label="Hate", native_level=Level.NEGLIGIBLE)]


@pytest.mark.parametrize(
    ("result", "path", "says"),
    [
        ({"risk_level": 4, "categories": []}, "result.risk_level", "between 0 and 3"),
        ({"risk_level": True}, "result.risk_level", "not a boolean"),
        ({"risk_level": "2"}, "result.risk_level", "not a string"),
        ({"violation": "yes"}, "result.violation", "true or false"),
        ({"violation": True, "categories": [7]}, "result.categories[0]", "not a number"),
        ({"violation": True, "explanation": 3}, "result.explanation", "not a number"),
        ({"verdict": "unsafe"}, "result", "violation or risk_level"),
        ("violation: yes", "result", "not valid JSON"),
        ("[1, 2]", "result", "must be an object, not an array"),
        (claude_message("{not json"), "result.content", "not valid JSON"),
        (
            {"content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]},
            "result.content",
            "no text block",
        ),
        (
            claude_message('{"risk_level": 9}'),
            "result.content.risk_level",
            "between 0 and 3",
        ),
    ],
)
def test_claude_refuses_wrong_shapes(result: object, path: str, says: str) -> None:
    with raises_at(path, says):
        claude.parse(result)


# ---------------------------------------------------------------------------
# generic


def test_generic_reads_scores_and_levels() -> None:
    result = {
        "signals": [
            {"category": "hate", "score": 0.7},
            {"category": "violence", "level": "high"},
            {"category": "Fraud", "score": 0.3, "level": "Low", "source_label": "scam"},
        ],
        "classifier": "in-house-v3",
    }

    assert generic.parse(result) == [
        RawSignal(label="hate", score=0.7),
        RawSignal(label="violence", native_level=Level.HIGH),
        RawSignal(label="Fraud", score=0.3, native_level=Level.LOW),
    ]


def test_generic_clean_result() -> None:
    assert generic.parse({"signals": []}) == []
    assert generic.parse({"signals": [{"category": "hate", "score": 0}]}) == [RawSignal(label="hate", score=0.0)]


@pytest.mark.parametrize(
    ("result", "path", "says"),
    [
        ({"signals": [{"category": "hate"}]}, "result.signals[0]", "score (0 to 1) or a level"),
        (
            {"signals": [{"category": "hate", "level": "severe"}]},
            "result.signals[0].level",
            "negligible, low, medium, high",
        ),
        ({"signals": [{"category": "hate", "score": 1.1}]}, "result.signals[0].score", "0 and 1"),
        ({"signals": [{"score": 0.4}]}, "result.signals[0].category", "is required"),
        ({"signals": [{"category": "   ", "score": 0.4}]}, "result.signals[0].category", "empty"),
        ({"signal": []}, "result.signals", "is required"),
        ({"signals": {"hate": 0.5}}, "result.signals", "must be an array"),
    ],
)
def test_generic_refuses_wrong_shapes(result: object, path: str, says: str) -> None:
    with raises_at(path, says):
        generic.parse(result)


# ---------------------------------------------------------------------------
# Bounds shared by every adapter


def test_more_than_500_signals_are_refused() -> None:
    result = {"signals": [{"category": f"c{i}", "score": 0.1} for i in range(501)]}

    with raises_at("result.signals", "has 501 items; at most 500"):
        generic.parse(result)
    # 500 is still fine.
    assert len(generic.parse({"signals": result["signals"][:500]})) == 500


def test_more_than_500_keys_in_an_object_are_refused() -> None:
    scores = {f"category-{i}": 0.1 for i in range(501)}

    with raises_at("result.category_scores", "has 501 entries"):
        openai.parse({"category_scores": scores})


def test_labels_longer_than_200_characters_are_refused() -> None:
    long_label = "x" * 201

    with raises_at("result.signals[0].category", "201 characters long; at most 200"):
        generic.parse({"signals": [{"category": long_label, "score": 0.1}]})
    with raises_at("result.categoriesAnalysis[0].category", "201 characters"):
        azure.parse({"categoriesAnalysis": [{"category": long_label, "severity": 1}]})
    assert generic.parse({"signals": [{"category": "x" * 200, "score": 0.1}]})[0].label == "x" * 200


def test_long_keys_are_shortened_in_the_error_path() -> None:
    key = "k/" * 150

    with pytest.raises(AdapterError) as caught:
        openai.parse({"category_scores": {key: 0.1}})
    assert caught.value.path == "result.category_scores"
    assert "at most 200" in str(caught.value)


def test_nan_and_infinity_are_refused_everywhere_a_number_is_read() -> None:
    with raises_at("result.attributeScores.TOXICITY.summaryScore.value", "finite"):
        perspective.parse({"attributeScores": {"TOXICITY": {"summaryScore": {"value": math.nan}}}})
    with raises_at("result.safetyRatings[0].probabilityScore", "finite"):
        gemini.parse({"safetyRatings": [rating("HARASSMENT", "LOW", probabilityScore=-math.inf)]})
    with raises_at("result.signals[0].score", "finite"):
        generic.parse({"signals": [{"category": "hate", "score": math.nan}]})


def test_oversized_text_results_are_refused() -> None:
    with raises_at("result", "at most 100000"):
        llamaguard.parse("unsafe\n" + "S1," * 40_000)
    with raises_at("result", "at most 100000"):
        claude.parse(" " * 100_001)


def test_deeply_nested_json_text_is_refused_not_crashed_on() -> None:
    with raises_at("result", "not valid JSON"):
        claude.parse("[" * 50_000 + "]" * 50_000)


# ---------------------------------------------------------------------------
# Default tables


def test_the_taxonomy_has_the_documented_categories_and_flags() -> None:
    assert CATEGORY_SLUGS == (
        "hate",
        "harassment",
        "sexual",
        "violence",
        "self_harm",
        "dangerous",
        "cyber",
        "fraud_spam",
        "elections",
        "privacy",
        "medical",
        "child_safety",
        "other",
    )
    sensitive = {c["slug"] for c in CATEGORIES if c["sensitive"]}
    fixed = {c["slug"] for c in CATEGORIES if not c["adjustable"]}
    assert sensitive == {"sexual", "violence", "self_harm", "child_safety"}
    assert fixed == {"child_safety"}
    for category in CATEGORIES:
        assert set(category) == {
            "slug",
            "name",
            "description",
            "harm_dimensions",
            "sensitive",
            "adjustable",
        }
        assert set(category["harm_dimensions"]) <= set(HARM_DIMENSIONS)  # type: ignore[arg-type]
        assert str(category["description"]).endswith(".")
    json.dumps(CATEGORIES)  # seeded by a migration: must be plain data


def test_every_label_map_targets_a_known_category() -> None:
    assert set(LABEL_MAP) == set(ADAPTERS)
    for source, table in LABEL_MAP.items():
        for label, category in table.items():
            assert category in CATEGORY_SLUGS, (source, label, category)
            assert len(label) <= 200


def test_label_maps_cover_every_documented_provider_label() -> None:
    assert set(OPENAI_CATEGORIES) <= set(LABEL_MAP["openai"])
    assert {
        "TOXICITY",
        "SEVERE_TOXICITY",
        "IDENTITY_ATTACK",
        "INSULT",
        "PROFANITY",
        "THREAT",
        "SEXUALLY_EXPLICIT",
        "FLIRTATION",
        "TOXICITY_EXPERIMENTAL",
        "THREAT_EXPERIMENTAL",
    } <= set(LABEL_MAP["perspective"])
    assert {
        f"HARM_CATEGORY_{name}"
        for name in (
            "DEROGATORY",
            "TOXICITY",
            "VIOLENCE",
            "SEXUAL",
            "MEDICAL",
            "DANGEROUS",
            "HARASSMENT",
            "HATE_SPEECH",
            "SEXUALLY_EXPLICIT",
            "DANGEROUS_CONTENT",
            "CIVIC_INTEGRITY",
        )
    } <= set(LABEL_MAP["gemini"])
    assert {f"blockReason:{r}" for r in ("SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY")} <= set(
        LABEL_MAP["gemini"]
    )
    assert set(LABEL_MAP["azure"]) == {"Hate", "SelfHarm", "Sexual", "Violence"}
    assert set(LABEL_MAP["comprehend"]) == {
        "PROFANITY",
        "HATE_SPEECH",
        "INSULT",
        "GRAPHIC",
        "HARASSMENT_OR_ABUSE",
        "SEXUAL",
        "VIOLENCE_OR_THREAT",
        "TOXICITY",
    }
    assert set(LABEL_MAP["llamaguard"]) == {f"S{n}" for n in range(1, 15)} | {"unsafe"}


def test_key_mappings_send_labels_where_policy_expects_them() -> None:
    assert LABEL_MAP["openai"]["sexual/minors"] == "child_safety"
    assert LABEL_MAP["openai"]["illicit/violent"] == "dangerous"
    assert LABEL_MAP["perspective"]["IDENTITY_ATTACK"] == "hate"
    assert LABEL_MAP["gemini"]["HARM_CATEGORY_CIVIC_INTEGRITY"] == "elections"
    assert LABEL_MAP["llamaguard"]["S4"] == "child_safety"
    assert LABEL_MAP["llamaguard"]["S14"] == "cyber"
    assert LABEL_MAP["llamaguard"]["S6"] == "medical"
    assert LABEL_MAP["claude"]["Child Exploitation"] == "child_safety"
    assert LABEL_MAP["claude"]["Sex Crimes"] == LABEL_MAP["llamaguard"]["S3"] == "violence"
    assert LABEL_MAP["comprehend"]["TOXICITY"] == "harassment"


def test_cut_points_rise_from_low_to_high_within_0_and_1() -> None:
    assert set(CUT_POINTS) == {"openai", "perspective", "comprehend", "generic"}
    assert CUT_POINTS["openai"] == {"low": 0.2, "medium": 0.5, "high": 0.8}
    assert CUT_POINTS["perspective"]["medium"] == 0.7
    for points in CUT_POINTS.values():
        assert 0 < points["low"] < points["medium"] < points["high"] <= 1


def test_severity_levels_and_unsafe_default() -> None:
    assert SEVERITY_LEVELS == {
        0: "negligible",
        1: "negligible",
        2: "low",
        3: "low",
        4: "medium",
        5: "medium",
        6: "high",
        7: "high",
    }
    assert DEFAULT_UNSAFE_LEVEL == "high"


# ---------------------------------------------------------------------------
# normalise()

OPENAI_CUTS = {"low": 0.2, "medium": 0.5, "high": 0.8}


def level_for(score: float, cuts: dict[str, float] | None = OPENAI_CUTS) -> Level:
    [signal] = normalise("openai", [RawSignal("hate", score=score)], label_map={}, cut_points=cuts)
    return signal.level


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0.0, Level.NEGLIGIBLE),
        (0.1999, Level.NEGLIGIBLE),
        (0.2, Level.LOW),
        (0.4999, Level.LOW),
        (0.5, Level.MEDIUM),
        (0.7999, Level.MEDIUM),
        (0.8, Level.HIGH),
        (1.0, Level.HIGH),
    ],
)
def test_a_score_exactly_at_a_cut_point_takes_that_level(score: float, level: Level) -> None:
    assert level_for(score) is level


def test_a_score_without_cut_points_uses_even_spacing_rather_than_unsafe() -> None:
    assert level_for(0.01, None) is Level.NEGLIGIBLE
    assert level_for(0.75, None) is Level.HIGH


def test_a_level_missing_from_the_cut_points_is_never_reached() -> None:
    assert level_for(0.95, {"low": 0.3, "medium": 0.6}) is Level.MEDIUM


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (0, "negligible"),
        (1, "negligible"),
        (2, "low"),
        (3, "low"),
        (4, "medium"),
        (5, "medium"),
        (6, "high"),
        (7, "high"),
    ],
)
def test_azure_severity_maps_through_the_table(severity: int, level: str) -> None:
    [signal] = normalise_with_defaults("azure", [RawSignal("Violence", severity=severity)])

    assert signal == NormalisedSignal(
        label="Violence", category="violence", score=None, level=Level(level), severity=severity
    )


def test_severity_tables_with_string_keys_work_too() -> None:
    [signal] = normalise(
        "azure",
        [RawSignal("Hate", severity=4)],
        label_map={"Hate": "hate"},
        cut_points=None,
        severity_levels={"4": "medium"},  # type: ignore[dict-item]
    )

    assert signal.level is Level.MEDIUM


def test_a_native_level_wins_over_severity_and_score() -> None:
    raw = [RawSignal("hate", score=0.99, native_level=Level.LOW, severity=7)]

    [signal] = normalise(
        "generic",
        raw,
        label_map={"hate": "hate"},
        cut_points=OPENAI_CUTS,
        severity_levels=SEVERITY_LEVELS,
    )

    assert signal.level is Level.LOW
    assert signal.score == 0.99
    assert signal.severity == 7


def test_severity_wins_over_score() -> None:
    [signal] = normalise(
        "azure",
        [RawSignal("Hate", score=0.99, severity=2)],
        label_map={},
        cut_points=OPENAI_CUTS,
        severity_levels=SEVERITY_LEVELS,
    )

    assert signal.level is Level.LOW


def test_a_signal_with_nothing_but_a_label_takes_the_unsafe_level() -> None:
    raw = [RawSignal("S1")]

    assert normalise("llamaguard", raw, label_map={}, cut_points=None)[0].level is Level.HIGH
    [signal] = normalise("llamaguard", raw, label_map={}, cut_points=None, unsafe_level="medium")
    assert signal.level is Level.MEDIUM


def test_an_unmapped_label_is_other() -> None:
    [signal] = normalise(
        "openai",
        [RawSignal("weapons/new", score=0.9)],
        label_map={"hate": "hate"},
        cut_points=OPENAI_CUTS,
    )

    assert signal.category == "other"
    assert signal.level is Level.HIGH


def test_an_empty_or_non_string_mapping_falls_back_to_other() -> None:
    raw = [RawSignal("a", score=0.1), RawSignal("b", score=0.1)]

    signals = normalise("generic", raw, label_map={"a": "", "b": None}, cut_points=None)  # type: ignore[dict-item]

    assert [signal.category for signal in signals] == ["other", "other"]


def test_labels_match_exactly_then_ignoring_case_then_ignoring_punctuation() -> None:
    label_map = {"Hate": "hate", "hate": "harassment", "Self-Harm": "self_harm"}
    raw = [RawSignal("hate"), RawSignal("HATE"), RawSignal("self harm"), RawSignal("SELF_HARM")]

    signals = normalise("claude", raw, label_map=label_map, cut_points=None)

    # "hate" has an exact entry; "HATE" folds to the first entry, "Hate".
    assert [signal.category for signal in signals] == [
        "harassment",
        "hate",
        "self_harm",
        "self_harm",
    ]


def test_a_malformed_policy_table_raises_value_error() -> None:
    with pytest.raises(ValueError, match="unknown level 'severe'"):
        normalise("llamaguard", [RawSignal("S1")], label_map={}, cut_points=None, unsafe_level="severe")
    with pytest.raises(ValueError, match="cut point 'low' for 'openai' must be a number"):
        normalise("openai", [], label_map={}, cut_points={"low": "0.2"})  # type: ignore[dict-item]


# ---------------------------------------------------------------------------
# End to end with the default tables


def test_openai_end_to_end() -> None:
    response = openai_response(openai_result(sexual__minors=0.31, violence=0.86))

    signals = {s.label: s for s in normalise_with_defaults("openai", parse("openai", response))}

    assert signals["sexual/minors"].category == "child_safety"
    assert signals["sexual/minors"].level is Level.LOW
    assert signals["violence"].level is Level.HIGH
    assert signals["hate"].level is Level.NEGLIGIBLE


def test_perspective_end_to_end() -> None:
    response = perspective_response(TOXICITY=0.7, IDENTITY_ATTACK=0.92, THREAT=0.49)

    assert [(s.category, s.level) for s in normalise_with_defaults("perspective", parse("perspective", response))] == [
        ("harassment", Level.MEDIUM),
        ("hate", Level.HIGH),
        ("violence", Level.NEGLIGIBLE),
    ]


def test_gemini_end_to_end() -> None:
    signals = normalise_with_defaults("gemini", parse("gemini", copy.deepcopy(GEMINI_RESPONSE)))

    assert [(s.category, s.level) for s in signals] == [
        ("sexual", Level.NEGLIGIBLE),
        ("hate", Level.HIGH),
        ("harassment", Level.LOW),
        ("dangerous", Level.NEGLIGIBLE),
        ("elections", Level.LOW),
    ]


def test_azure_end_to_end() -> None:
    signals = normalise_with_defaults("azure", parse("azure", copy.deepcopy(AZURE_RESPONSE)))

    assert [(s.label, s.category, s.level) for s in signals] == [
        ("Hate", "hate", Level.LOW),
        ("SelfHarm", "self_harm", Level.NEGLIGIBLE),
        ("Sexual", "sexual", Level.NEGLIGIBLE),
        ("Violence", "violence", Level.HIGH),
        ("blocklist:slurs", "other", Level.HIGH),
        ("blocklist:competitors", "other", Level.HIGH),
    ]


def test_comprehend_end_to_end() -> None:
    signals = {
        s.label: s
        for s in normalise_with_defaults("comprehend", parse("comprehend", copy.deepcopy(COMPREHEND_RESPONSE)))
    }

    assert (signals["INSULT"].category, signals["INSULT"].level) == ("harassment", Level.MEDIUM)
    assert (signals["TOXICITY"].category, signals["TOXICITY"].level) == ("harassment", Level.MEDIUM)
    assert signals["HARASSMENT_OR_ABUSE"].level is Level.LOW
    assert signals["GRAPHIC"].category == "violence"


def test_llamaguard_end_to_end() -> None:
    signals = normalise_with_defaults("llamaguard", parse("llamaguard", "unsafe\nS4,S13"))

    assert signals == [
        NormalisedSignal(label="S4", category="child_safety", score=None, level=Level.HIGH, severity=None),
        NormalisedSignal(label="S13", category="elections", score=None, level=Level.HIGH, severity=None),
    ]


def test_claude_end_to_end_matches_guide_categories_ignoring_case() -> None:
    message = claude_message(
        json.dumps(
            {
                "violation": True,
                "categories": ["violent crimes", "Sex Crimes", "Underage posting", "Spam bots"],
            }
        )
    )

    signals = normalise_with_defaults("claude", parse("claude", message))

    assert [(s.category, s.level) for s in signals] == [
        ("violence", Level.HIGH),
        ("violence", Level.HIGH),
        ("child_safety", Level.HIGH),
        ("other", Level.HIGH),
    ]


def test_generic_end_to_end() -> None:
    result = {
        "signals": [
            {"category": "hate", "score": 0.5},
            {"category": "Self-Harm", "level": "medium"},
        ]
    }

    signals = normalise_with_defaults("generic", parse("generic", result))

    assert [(s.category, s.level) for s in signals] == [
        ("hate", Level.MEDIUM),
        ("self_harm", Level.MEDIUM),
    ]
