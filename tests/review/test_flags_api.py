"""POST /api/v1/flags and GET /api/v1/flags/{id}, request by request."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from console.models import AuditEntry
from review.intake import MAX_TEXT_CHARS
from review.models import Case, CaseStatus, Flag, Integration, Scope, Signal
from review.services import revoke_api_key, update_integration
from tests.factories import Api, flag_payload, make_integration, make_key

SOURCES = "openai, perspective, gemini, azure, comprehend, llamaguard, claude, generic"


def counts() -> dict[str, int]:
    return {
        "flags": Flag.objects.count(),
        "signals": Signal.objects.count(),
        "accounts": Account.objects.count(),
        "cases": Case.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def signals(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """A generic result: ("hate", 0.7) gives a score, ("hate", "high") a level."""
    return {
        "signals": [
            {"category": category, ("level" if isinstance(value, str) else "score"): value} for category, value in pairs
        ]
    }


def post_raw(client: Client, body: str | bytes, secret: str | None, content_type: str = "application/json") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret is not None else {}
    return client.post("/api/v1/flags", body, content_type=content_type, **headers)


# --- Authentication and scopes ----------------------------------------------------------


def test_posting_without_a_key_is_refused_with_401_and_writes_nothing(client: Client, integration: Integration) -> None:
    before = counts()

    response = post_raw(client, json.dumps(flag_payload()), secret=None)

    assert response.status_code == 401
    assert response.json() == {"error": "A valid API key is required: send 'Authorization: Bearer <key>'."}
    assert response["WWW-Authenticate"] == "Bearer"
    assert counts() == before


@pytest.mark.parametrize(
    "secret",
    [
        "dk_" + "A" * 43,  # the right shape, but no such key
        "not-even-a-docket-key",
        "dk_" + "x" * 200,  # longer than any key
    ],
)
def test_posting_with_a_wrong_key_is_refused_with_401(client: Client, integration: Integration, secret: str) -> None:
    make_key(integration)
    before = counts()

    response = post_raw(client, json.dumps(flag_payload()), secret=secret)

    assert response.status_code == 401
    assert response.json()["error"] == "A valid API key is required: send 'Authorization: Bearer <key>'."
    assert counts() == before


def test_a_revoked_key_is_refused_with_401(client: Client, integration: Integration) -> None:
    new = make_key(integration)
    revoke_api_key(actor=None, key=new.key, reason="leaked in a pastebin")
    before = counts()

    posted = post_raw(client, json.dumps(flag_payload()), secret=new.secret)
    read = client.get("/api/v1/flags/req-anything", HTTP_AUTHORIZATION=f"Bearer {new.secret}")

    assert posted.status_code == 401
    assert posted.json()["error"] == "A valid API key is required: send 'Authorization: Bearer <key>'."
    assert read.status_code == 401
    assert counts() == before


def test_a_key_of_a_deactivated_integration_is_refused_with_401(client: Client, integration: Integration) -> None:
    new = make_key(integration)
    update_integration(
        actor=None,
        integration=integration,
        profile=integration.profile,
        is_active=False,
        reason="contract ended",
    )
    before = counts()

    response = post_raw(client, json.dumps(flag_payload()), secret=new.secret)

    assert response.status_code == 401
    assert counts() == before


def test_a_key_without_flags_write_may_not_post(client: Client, integration: Integration) -> None:
    reader = make_key(integration, scopes=[Scope.FLAGS_READ, Scope.STATUS_READ])
    before = counts()

    response = post_raw(client, json.dumps(flag_payload()), secret=reader.secret)

    assert response.status_code == 403
    assert response.json() == {"error": "This API key lacks the scope 'flags:write'."}
    assert counts() == before


def test_a_key_without_flags_read_may_not_read_a_flag(client: Client, integration: Integration, api: Api) -> None:
    api.post("flags", flag_payload(id="req-secret"))
    writer = make_key(integration, scopes=[Scope.FLAGS_WRITE])

    response = client.get("/api/v1/flags/req-secret", HTTP_AUTHORIZATION=f"Bearer {writer.secret}")

    assert response.status_code == 403
    assert response.json() == {"error": "This API key lacks the scope 'flags:read'."}


def test_reading_a_flag_without_a_key_is_refused_with_401(client: Client, api: Api) -> None:
    api.post("flags", flag_payload(id="req-1"))

    response = client.get("/api/v1/flags/req-1")

    assert response.status_code == 401
    assert "error" in response.json()


# --- Bodies and batches ------------------------------------------------------------------


def test_a_single_flag_object_is_created_with_201(api: Api) -> None:
    response = api.post("flags", flag_payload(id="req-one"))

    assert response.status_code == 201
    flag = Flag.objects.get()
    assert response.json() == {
        "results": [
            {
                "index": 0,
                "id": "req-one",
                "status": "created",
                "flag": flag.pk,
                "queued": True,
                "case": flag.case_id,
                "queue": "general",
            },
        ],
        "created": 1,
        "duplicate": 0,
        "rejected": 0,
    }
    assert flag.external_id == "req-one"


def test_a_batch_answers_each_flag_in_order(api: Api) -> None:
    api.post("flags", flag_payload(id="req-old"))
    original = Flag.objects.get(external_id="req-old")

    response = api.post_flags(
        flag_payload(id="req-new", result=signals(("hate", 0.01))),
        flag_payload(id="req-old"),
        flag_payload(id="req-bad", user=None),
        flag_payload(id="req-new-2", prompt="other words"),
    )

    assert response.status_code == 200
    body = response.json()
    assert [(r["index"], r["id"], r["status"]) for r in body["results"]] == [
        (0, "req-new", "created"),
        (1, "req-old", "duplicate"),
        (2, "req-bad", "rejected"),
        (3, "req-new-2", "created"),
    ]
    assert (body["created"], body["duplicate"], body["rejected"]) == (2, 1, 1)
    assert body["results"][0] == {
        "index": 0,
        "id": "req-new",
        "status": "created",
        "flag": Flag.objects.get(external_id="req-new").pk,
        "queued": False,
    }
    assert body["results"][1]["flag"] == original.pk
    assert body["results"][2]["errors"] == [{"field": "user", "message": "is required"}]
    assert set(Flag.objects.values_list("external_id", flat=True)) == {"req-old", "req-new", "req-new-2"}


def test_a_batch_in_which_every_flag_is_rejected_answers_422(api: Api) -> None:
    response = api.post_flags(flag_payload(user=None), flag_payload(result=None))

    assert response.status_code == 422
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]
    assert Flag.objects.count() == 0


def test_more_than_1000_flags_in_a_batch_is_refused_with_413(api: Api) -> None:
    before = counts()

    response = api.post_flags(*(flag_payload() for _ in range(1001)))

    assert response.status_code == 413
    assert response.json() == {"error": "flags has 1001 items; send at most 1000 per request."}
    assert counts() == before


def test_exactly_1000_flags_are_accepted(api: Api) -> None:
    response = api.post_flags(*(flag_payload(result=signals(("hate", 0.01))) for _ in range(1000)))

    assert response.status_code == 200
    assert response.json()["created"] == 1000
    assert Flag.objects.count() == 1000


def test_an_empty_batch_is_refused_with_400(api: Api) -> None:
    response = api.post("flags", {"flags": []})

    assert response.status_code == 400
    assert response.json() == {"error": "flags is empty: send between 1 and 1,000 flags."}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([flag_payload()], 'Send one flag object, or {"flags": [flag, ...]}.'),
        ("just a string", 'Send one flag object, or {"flags": [flag, ...]}.'),
        ({"flags": {"id": "x"}}, 'Send one flag object, or {"flags": [flag, ...]}.'),
        ({"flags": [flag_payload()], "extra": 1}, 'A batch is {"flags": [...]} and nothing else.'),
    ],
)
def test_a_body_that_is_neither_a_flag_nor_a_batch_is_refused_with_400(api: Api, body: Any, message: str) -> None:
    response = api.post("flags", json.dumps(body))

    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert Flag.objects.count() == 0


def test_a_body_that_is_not_json_is_refused_with_400(api: Api) -> None:
    response = api.post("flags", '{"id": "req-1", "user": ')

    assert response.status_code == 400
    assert response.json()["error"].startswith("The body is not valid JSON: ")


def test_a_body_that_is_not_utf8_is_refused_with_400(api: Api) -> None:
    body = b'{"id": "req-1", "user": "u\xff\xfe", "prompt": "caf\xe9", "result": {"signals": []}}'

    response = api.post("flags", body)

    assert response.status_code == 400
    assert response.json() == {"error": "The body is not valid UTF-8."}
    assert Flag.objects.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_sent_as_anything_but_json_is_refused_with_415(client: Client, api: Api, content_type: str) -> None:
    response = post_raw(client, json.dumps(flag_payload()), secret=api.secret, content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"error": "Send the body as JSON with 'Content-Type: application/json'."}
    assert Flag.objects.count() == 0


def test_json_with_a_charset_parameter_is_accepted(client: Client, api: Api) -> None:
    response = post_raw(
        client, json.dumps(flag_payload()), secret=api.secret, content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201


def test_a_body_over_the_size_limit_is_refused_with_413(api: Api, settings: Any) -> None:
    settings.DOCKET_MAX_BODY_BYTES = 2048
    body = json.dumps(flag_payload(prompt="x" * 3000))
    size = len(body.encode())

    response = api.post("flags", body)

    assert response.status_code == 413
    assert response.json() == {"error": f"The body is {size} bytes; the limit is 2048."}
    assert Flag.objects.count() == 0


def test_a_body_at_the_size_limit_is_accepted(api: Api, settings: Any) -> None:
    settings.DOCKET_MAX_BODY_BYTES = 2048
    body = json.dumps(flag_payload(prompt=""))
    body = json.dumps(flag_payload(prompt="x" * (2048 - len(body.encode()))))
    assert len(body.encode()) == 2048

    response = api.post("flags", body)

    assert response.status_code == 201


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 100_000, '{"flags": [' + "[" * 100_000])
def test_a_deeply_nested_body_is_refused_with_400_not_a_crash(api: Api, body: str) -> None:
    response = api.post("flags", body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("The body is not valid JSON")
    assert Flag.objects.count() == 0


# --- Every kind of bad flag, answered alone ----------------------------------------------


def _without(*names: str) -> dict[str, Any]:
    payload = flag_payload(id="req-bad")
    for name in names:
        payload.pop(name)
    return payload


FAR_FUTURE = (datetime.now(UTC) + timedelta(days=2)).isoformat()
NINE_DEEP: dict[str, Any] = {"leaf": 1}
for _ in range(8):
    NINE_DEEP = {"k": NINE_DEEP}

BAD_FLAGS = {
    "missing id": (_without("id"), "id", "is required"),
    "blank id": (flag_payload(id="   "), "id", "must not be empty"),
    "missing user": (_without("user"), "user", "is required"),
    "neither prompt nor response": (
        _without("prompt", "response"),
        "prompt",
        "a flag needs a prompt or a response (or both)",
    ),
    "empty prompt and response": (
        flag_payload(id="req-bad", prompt="", response=""),
        "prompt",
        "a flag needs a prompt or a response (or both)",
    ),
    "id as a number": (flag_payload(id=12345), "id", "must be a string, not int"),
    "user as an object": (flag_payload(id="req-bad", user={"id": 7}), "user", "must be a string, not dict"),
    "prompt as a list": (flag_payload(id="req-bad", prompt=["a", "b"]), "prompt", "must be a string, not list"),
    "metadata as a list": (flag_payload(id="req-bad", metadata=["a"]), "metadata", "must be an object, not list"),
    "NUL in the prompt": (
        flag_payload(id="req-bad", prompt="before\x00after"),
        "prompt",
        "must not contain NUL characters",
    ),
    "NUL in a metadata key": (
        flag_payload(id="req-bad", metadata={"a\x00b": 1}),
        "metadata",
        "has a key that must not contain NUL characters",
    ),
    "NUL in the result": (
        flag_payload(id="req-bad", result={"signals": [{"category": "ha\x00te", "level": "low"}]}),
        "result",
        "has a string that must not contain NUL characters",
    ),
    "text over 1 MiB": (
        flag_payload(id="req-bad", response="x" * (MAX_TEXT_CHARS + 1)),
        "response",
        f"is {MAX_TEXT_CHARS + 1} characters; the limit is {MAX_TEXT_CHARS}",
    ),
    "id over 200 characters": (flag_payload(id="r" * 201), "id", "is 201 characters; the limit is 200"),
    "metadata over 16 KiB": (
        flag_payload(id="req-bad", metadata={"blob": "x" * 16_384}),
        "metadata",
        "is 16396 bytes; the limit is 16384",
    ),
    "metadata nested deeper than 8": (
        flag_payload(id="req-bad", metadata=NINE_DEEP),
        "metadata",
        "is nested deeper than 8 levels",
    ),
    "metadata with NaN": (
        flag_payload(id="req-bad", metadata={"x": float("nan")}),
        "metadata",
        "must not contain NaN or infinite numbers",
    ),
    "unknown source": (
        flag_payload(id="req-bad", source="bing"),
        "source",
        f"unknown source 'bing'; expected one of: {SOURCES}",
    ),
    "source as a number": (
        flag_payload(id="req-bad", source=3),
        "source",
        f"unknown source int; expected one of: {SOURCES}",
    ),
    "missing result": (_without("result"), "result", "is required: the classifier's native output"),
    "openai given a string": (
        flag_payload(id="req-bad", source="openai", result="flagged"),
        "result",
        "does not match source 'openai': result must be an object, not a string",
    ),
    "llamaguard with an unknown code": (
        flag_payload(id="req-bad", source="llamaguard", result="unsafe\nS1,S99"),
        "result",
        "does not match source 'llamaguard': result names unknown Llama Guard categories: S99; expected S1 to S14",
    ),
    "generic score above 1": (
        flag_payload(id="req-bad", result={"signals": [{"category": "hate", "score": 1.5}]}),
        "result.signals[0].score",
        "does not match source 'generic': result.signals[0].score must be between 0 and 1, not 1.5",
    ),
    "occurred_at without an offset": (
        flag_payload(id="req-bad", occurred_at="2026-11-20T10:15:00"),
        "occurred_at",
        "needs a time zone offset (Z or +hh:mm)",
    ),
    "occurred_at not a time": (
        flag_payload(id="req-bad", occurred_at="last tuesday"),
        "occurred_at",
        "is not an RFC 3339 time: 'last tuesday'",
    ),
    "occurred_at impossible date": (
        flag_payload(id="req-bad", occurred_at="2026-02-30T10:00:00Z"),
        "occurred_at",
        "is not an RFC 3339 time: '2026-02-30T10:00:00Z'",
    ),
    "occurred_at as a number": (
        flag_payload(id="req-bad", occurred_at=1763806500),
        "occurred_at",
        "must be an RFC 3339 time such as 2026-11-22T10:15:00Z",
    ),
    "occurred_at in the far future": (
        flag_payload(id="req-bad", occurred_at=FAR_FUTURE),
        "occurred_at",
        "is more than an hour in the future",
    ),
    "bad language tag": (
        flag_payload(id="req-bad", language="English (UK)"),
        "language",
        "must be a BCP 47 language tag such as 'en' or 'pt-BR'",
    ),
    "language as a number": (
        flag_payload(id="req-bad", language=0),
        "language",
        "must be a BCP 47 language tag such as 'en' or 'pt-BR'",
    ),
    "unknown top-level field": (
        flag_payload(id="req-bad", usr="someone"),
        "flag",
        "has unknown fields 'usr'; put extra data in metadata",
    ),
    "not an object": ("just a string", "flag", "must be an object, not str"),
}


@pytest.mark.parametrize(("bad", "field", "message"), list(BAD_FLAGS.values()), ids=list(BAD_FLAGS))
def test_a_bad_flag_is_rejected_alone_and_its_neighbours_are_stored(
    api: Api, bad: Any, field: str, message: str
) -> None:
    response = api.post_flags(flag_payload(id="req-before"), bad, flag_payload(id="req-after"))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "created"]
    assert results[1]["errors"] == [{"field": field, "message": message}]
    assert set(Flag.objects.values_list("external_id", flat=True)) == {"req-before", "req-after"}
    assert Account.objects.get().flag_count == 2
    assert Case.objects.get().flag_count == 2


def test_a_lone_surrogate_sent_as_a_json_escape_is_rejected(api: Api) -> None:
    # json.loads turns "\ud800" into a str PostgreSQL cannot store; build the text by hand so the escape is literal.
    good = json.dumps(flag_payload(id="req-good"))
    bad = '{"id": "req-bad", "user": "u", "prompt": "half a pair: \\ud800!", "result": {"signals": []}}'
    body = '{"flags": [' + good + ", " + bad + "]}"
    assert "\\ud800" in body

    response = api.post("flags", body)

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    assert results[1]["errors"] == [
        {"field": "prompt", "message": "must be valid Unicode (it contains a lone surrogate)"}
    ]
    assert list(Flag.objects.values_list("external_id", flat=True)) == ["req-good"]


def test_a_lone_surrogate_in_the_id_is_rejected_and_echoed_safely(api: Api) -> None:
    body = '{"id": "req-\\udc00", "user": "u", "prompt": "p", "result": {"signals": []}}'

    response = api.post("flags", body)

    assert response.status_code == 422
    assert response.json()["results"][0]["errors"] == [
        {"field": "id", "message": "must be valid Unicode (it contains a lone surrogate)"}
    ]


def test_a_flag_with_several_problems_lists_them_all(api: Api) -> None:
    response = api.post("flags", {"prompt": 7, "source": "openai", "result": "x", "language": "??"})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["results"][0]["errors"]] == [
        "id",
        "user",
        "prompt",
        "result",
        "language",
    ]


def test_text_of_exactly_1_mib_is_accepted(api: Api) -> None:
    response = api.post("flags", flag_payload(prompt="é" * MAX_TEXT_CHARS, response=""))

    assert response.status_code == 201
    assert len(Flag.objects.get().prompt) == MAX_TEXT_CHARS


def test_metadata_nested_exactly_8_levels_is_accepted(api: Api) -> None:
    metadata: dict[str, Any] = {"leaf": [1, 2]}  # the list is the 8th level
    for _ in range(6):
        metadata = {"k": metadata}

    response = api.post("flags", flag_payload(metadata=metadata))

    assert response.status_code == 201
    assert Flag.objects.get().metadata == metadata


def test_a_valid_flag_is_stored_as_sent(api: Api) -> None:
    response = api.post(
        "flags",
        flag_payload(
            id="req-full",
            prompt="p",
            response="r",
            occurred_at="2026-11-20T10:15:00+02:00",
            language="pt-BR",
            metadata={"model": "my-llm-7b", "route": "/chat"},
        ),
    )

    assert response.status_code == 201
    flag = Flag.objects.get()
    assert (flag.prompt, flag.response, flag.source, flag.language) == ("p", "r", "generic", "pt-BR")
    assert flag.occurred_at == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert flag.metadata == {"model": "my-llm-7b", "route": "/chat"}
    assert flag.result == {"signals": [{"category": "hate", "level": "high"}]}


def test_occurred_at_defaults_to_when_the_flag_was_received(api: Api) -> None:
    before = timezone.now()

    api.post("flags", flag_payload())

    flag = Flag.objects.get()
    assert flag.occurred_at == flag.received_at
    assert before <= flag.received_at <= timezone.now()


# --- Idempotency ---------------------------------------------------------------------------


def test_resending_a_batch_answers_duplicate_with_the_originals_and_writes_nothing(api: Api) -> None:
    batch = [
        flag_payload(id="req-1", user="alice"),
        flag_payload(id="req-2", user="alice", prompt="something else"),
        flag_payload(id="req-3", user="bob", result=signals(("hate", 0.01))),
    ]
    first = api.post_flags(*batch).json()["results"]
    before = counts()
    accounts_before = dict(Account.objects.values_list("user_hash", "flag_count"))
    cases_before = dict(Case.objects.values_list("pk", "flag_count"))

    again = api.post_flags(*batch)

    assert again.status_code == 200
    body = again.json()
    assert (body["created"], body["duplicate"], body["rejected"]) == (0, 3, 0)
    assert body["results"] == [{**result, "status": "duplicate"} for result in first]
    assert counts() == before
    assert dict(Account.objects.values_list("user_hash", "flag_count")) == accounts_before
    assert dict(Case.objects.values_list("pk", "flag_count")) == cases_before


def test_resending_a_single_flag_answers_200_duplicate(api: Api) -> None:
    created = api.post("flags", flag_payload(id="req-1")).json()["results"][0]

    response = api.post("flags", flag_payload(id="req-1", prompt="changed my mind"))

    assert response.status_code == 200
    assert response.json()["results"][0] == {**created, "status": "duplicate"}
    assert Flag.objects.get().prompt == "a prompt"


def test_the_same_id_twice_in_one_batch_is_stored_once_the_first_counting(api: Api) -> None:
    response = api.post_flags(
        flag_payload(id="req-twice", prompt="first"),
        flag_payload(id="req-twice", prompt="second"),
    )

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "duplicate"]
    flag = Flag.objects.get()
    assert results[1] == {**results[0], "index": 1, "status": "duplicate"}
    assert results[0]["flag"] == flag.pk
    assert flag.prompt == "first"
    assert Account.objects.get().flag_count == 1
    assert Case.objects.get().flag_count == 1


def test_the_same_id_from_another_integration_is_another_flag(client: Client, api: Api) -> None:
    other = Api(client, make_key(make_integration("Other App")).secret)

    first = api.post("flags", flag_payload(id="req-1")).json()["results"][0]
    second = other.post("flags", flag_payload(id="req-1")).json()["results"][0]

    assert (first["status"], second["status"]) == ("created", "created")
    assert first["flag"] != second["flag"]
    assert Flag.objects.count() == 2
    assert Account.objects.count() == 2


# --- Reading a flag back -------------------------------------------------------------------


def test_reading_a_flag_returns_its_signals_and_case(api: Api) -> None:
    posted = api.post(
        "flags", flag_payload(id="req-read", result=signals(("hate", 0.8), ("violence", 0.3), ("threat", "low")))
    ).json()["results"][0]

    response = api.get("flags/req-read")

    assert response.status_code == 200
    body = response.json()
    case = Case.objects.get()
    assert body["id"] == "req-read"
    assert body["flag"] == posted["flag"]
    assert body["account"] == Account.objects.get().user_hash
    assert (body["prompt"], body["response"], body["source"], body["max_level"]) == (
        "a prompt",
        "a response",
        "generic",
        "high",
    )
    assert sorted(body["signals"], key=lambda s: s["source_label"]) == [
        {
            "source_label": "hate",
            "score": 0.8,
            "level": "high",
            "category": "hate",
            "threshold": "low",
            "met_threshold": True,
        },
        {
            "source_label": "threat",
            "score": None,
            "level": "low",
            "category": "violence",
            "threshold": "medium",
            "met_threshold": False,
        },
        {
            "source_label": "violence",
            "score": 0.3,
            "level": "low",
            "category": "violence",
            "threshold": "medium",
            "met_threshold": False,
        },
    ]
    assert body["queued"] is True
    assert body["case"] == {"id": case.pk, "status": "open", "queue": "general"}
    assert body["decision"] is None


def test_a_flag_below_threshold_reads_back_not_queued(api: Api) -> None:
    api.post("flags", flag_payload(id="req-quiet", result=signals(("violence", 0.3))))

    body = api.get("flags/req-quiet").json()

    assert body["queued"] is False
    assert body["case"] is None
    assert body["max_level"] == "low"
    assert Case.objects.count() == 0


def test_another_integrations_flag_is_not_found(client: Client, api: Api) -> None:
    other = Api(client, make_key(make_integration("Other App")).secret)
    other.post("flags", flag_payload(id="req-theirs"))

    theirs = api.get("flags/req-theirs")
    missing = api.get("flags/req-never-sent")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert set(theirs.json()) == {"error"}


# --- Accounts ------------------------------------------------------------------------------


def test_flags_from_one_user_make_one_account_known_only_by_its_hmac(
    api: Api, integration: Integration, settings: Any
) -> None:
    api.post_flags(
        flag_payload(user="user-42", occurred_at="2026-11-20T10:00:00Z"),
        flag_payload(user="user-42", prompt="another", occurred_at="2026-11-18T09:00:00Z"),
    )

    account = Account.objects.get()
    expected = hmac.new(settings.DOCKET_ACCOUNT_HASH_KEY.encode(), b"user-42", hashlib.sha256).hexdigest()
    assert account.user_hash == expected
    assert account.integration == integration
    assert account.flag_count == 2
    assert account.first_seen == datetime(2026, 11, 18, 9, tzinfo=UTC)
    assert account.last_seen == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert set(Flag.objects.values_list("account", flat=True)) == {account.pk}


def test_a_later_flag_adds_to_the_same_account(api: Api) -> None:
    api.post("flags", flag_payload(user="user-42"))
    api.post("flags", flag_payload(user="user-42", prompt="again"))
    api.post("flags", flag_payload(user="user-43"))

    assert sorted(Account.objects.values_list("flag_count", flat=True)) == [1, 2]


# --- Cases ---------------------------------------------------------------------------------


def test_the_same_content_from_the_same_account_joins_one_case(api: Api) -> None:
    api.post("flags", flag_payload(user="u", prompt="same", response="words"))
    api.post_flags(
        flag_payload(user="u", prompt="same", response="words"),
        flag_payload(user="u", prompt="same", response="words"),
    )

    case = Case.objects.get()
    assert case.flag_count == 3
    assert set(Flag.objects.values_list("case", flat=True)) == {case.pk}


def test_different_content_or_another_account_opens_another_case(api: Api) -> None:
    api.post_flags(
        flag_payload(user="u", prompt="one", response="r"),
        flag_payload(user="u", prompt="two", response="r"),
        flag_payload(user="v", prompt="one", response="r"),
        # The split between prompt and response matters: "on" + "er" is not "one" + "r".
        flag_payload(user="u", prompt="on", response="er"),
    )

    assert Case.objects.count() == 4
    assert set(Case.objects.values_list("flag_count", flat=True)) == {1}


def test_a_closed_case_is_not_reopened_by_the_same_content(api: Api) -> None:
    api.post("flags", flag_payload(user="u", prompt="same"))
    Case.objects.update(status=CaseStatus.CLOSED)

    api.post("flags", flag_payload(user="u", prompt="same"))

    assert sorted(Case.objects.values_list("status", "flag_count")) == [("closed", 1), ("open", 1)]


def test_a_child_safety_case_outranks_a_hate_case(api: Api) -> None:
    results = api.post_flags(
        flag_payload(prompt="hateful", result=signals(("hate", "high"))),
        flag_payload(prompt="about a child", result=signals(("child_safety", "low"))),
    ).json()["results"]

    hate, child = Case.objects.get(pk=results[0]["case"]), Case.objects.get(pk=results[1]["case"])
    assert (hate.category_id, child.category_id) == ("hate", "child_safety")
    assert child.priority > hate.priority
    assert child.queue.slug == "child-safety"


def test_a_case_takes_the_priority_of_its_most_urgent_flag(api: Api) -> None:
    api.post("flags", flag_payload(result=signals(("hate", "low"))))
    low = Case.objects.get().priority

    api.post("flags", flag_payload(result=signals(("hate", "high"))))

    case = Case.objects.get()
    assert case.flag_count == 2
    assert case.priority > low


def test_ingestion_writes_no_audit_entries(api: Api) -> None:
    before = AuditEntry.objects.count()

    api.post_flags(flag_payload(), flag_payload(id="req-x", user=None), flag_payload(prompt="other"))
    api.post_flags(flag_payload(id="req-x"))

    assert AuditEntry.objects.count() == before


def test_get_shows_the_decision_once_there_is_one_and_follows_a_correction(
    api: Api, integration: Integration, reviewer, senior
) -> None:
    from review.models import Case, Category, Outcome, Severity
    from review.services import Verdict, correct_decision
    from tests.factories import make_decision

    api.post_flags(flag_payload(id="decided-1"))
    assert api.get("flags/decided-1").json()["decision"] is None
    case = Case.objects.get()
    first = make_decision(
        case, reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(slug="hate"), severity=Severity.HIGH
    )
    shown = api.get("flags/decided-1").json()["decision"]
    assert (shown["outcome"], shown["category"], shown["severity"], shown["corrected"]) == (
        "violating",
        "hate",
        "high",
        False,
    )
    correct_decision(actor=senior, decision=first, verdict=Verdict(Outcome.NOT_VIOLATING), reason="satire")
    shown = api.get("flags/decided-1").json()["decision"]
    assert (shown["outcome"], shown["category"], shown["corrected"]) == ("not_violating", None, True)
