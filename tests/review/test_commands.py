from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from console.models import AuditEntry, AuditVerb
from review.apikeys import hash_key
from review.models import ApiKey, Flag, Integration
from tests.factories import flag_payload, make_integration


@pytest.mark.django_db
def test_create_integration_uses_the_named_profile_and_audits(capsys) -> None:
    call_command("create_integration", "Acme", "--profile", "Default")
    integration = Integration.objects.get(name="Acme")
    assert integration.profile.name == "Default"
    assert AuditEntry.objects.get(verb=AuditVerb.INTEGRATION_CREATED).actor_label.startswith("cli:")


@pytest.mark.django_db
def test_create_integration_refuses_an_unknown_profile() -> None:
    with pytest.raises(CommandError, match=r"No policy profile named 'Nope'\. Known: Default"):
        call_command("create_integration", "Acme", "--profile", "Nope")
    assert not Integration.objects.exists()


@pytest.mark.django_db
def test_create_api_key_prints_only_the_key() -> None:
    make_integration("Acme")
    out = io.StringIO()
    call_command("create_api_key", "Acme", "--scopes", "flags:write,flags:read", stdout=out)
    secret = out.getvalue().strip()
    assert out.getvalue() == secret + "\n"
    key = ApiKey.objects.get(key_hash=hash_key(secret))
    assert key.scopes == ["flags:read", "flags:write"]
    assert AuditEntry.objects.filter(verb=AuditVerb.API_KEY_CREATED).count() == 1


@pytest.mark.django_db
def test_create_api_key_refuses_an_unknown_scope() -> None:
    make_integration("Acme")
    with pytest.raises(CommandError, match=r"Unknown or missing scopes \['flags:delete'\]"):
        call_command("create_api_key", "Acme", "--scopes", "flags:write,flags:delete")
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_ingest_jsonl_stores_good_lines_and_exits_non_zero_listing_bad_ones(tmp_path) -> None:
    make_integration("Acme")
    lines = [json.dumps(flag_payload(id="ok-1")), "{not json", json.dumps({"id": "bad-1", "user": "u"}),
             json.dumps(flag_payload(id="ok-2")), json.dumps(flag_payload(id="ok-1"))]
    path = tmp_path / "flags.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"2 line\(s\) were rejected"):
        call_command("ingest_jsonl", str(path), "--integration", "Acme", stdout=out, stderr=err)
    assert "created 2, duplicate 1, rejected 2" in out.getvalue()
    assert "line 2: not valid JSON" in err.getvalue()
    assert "line 3 (id 'bad-1'): prompt: a flag needs a prompt or a response" in err.getvalue()
    assert sorted(Flag.objects.values_list("external_id", flat=True)) == ["ok-1", "ok-2"]


@pytest.mark.django_db
def test_ingest_jsonl_succeeds_quietly_when_every_line_is_good(tmp_path) -> None:
    make_integration("Acme")
    path = tmp_path / "flags.jsonl"
    path.write_text("\n".join(json.dumps(flag_payload()) for _ in range(3)))
    out = io.StringIO()
    call_command("ingest_jsonl", str(path), "--integration", "Acme", stdout=out, stderr=io.StringIO())
    assert "created 3, duplicate 0, rejected 0" in out.getvalue()


@pytest.mark.django_db
def test_ingest_jsonl_names_a_missing_file() -> None:
    make_integration("Acme")
    with pytest.raises(CommandError, match=r"No such file: /nope\.jsonl"):
        call_command("ingest_jsonl", "/nope.jsonl", "--integration", "Acme")
