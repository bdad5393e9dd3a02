from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from console.models import AuditEntry, AuditVerb


@pytest.fixture
def stdin(monkeypatch):  # type: ignore[no-untyped-def]
    def feed(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO(text))

    return feed


@pytest.mark.django_db
def test_it_creates_a_staff_user_with_the_role_and_audits_it(roles, stdin, capsys) -> None:
    stdin("a-sturdy-passphrase-42\n")
    call_command("create_staff", "mina", "--role", "senior_reviewer")
    user = get_user_model().objects.get(username="mina")
    assert user.check_password("a-sturdy-passphrase-42")
    assert list(user.groups.values_list("name", flat=True)) == ["senior_reviewer"]
    assert user.has_perm("console.approve_actions") and not user.has_perm("console.manage_policy")
    verbs = list(AuditEntry.objects.filter(target_id=str(user.pk)).order_by("seq").values_list("verb", "actor_type"))
    assert verbs == [(AuditVerb.STAFF_CREATED, "system"), (AuditVerb.STAFF_ROLE_GRANTED, "system")]
    assert "Created mina with the role senior_reviewer." in capsys.readouterr().out


@pytest.mark.django_db
def test_it_refuses_a_weak_password_and_creates_nothing(roles, stdin) -> None:
    stdin("password\n")
    with pytest.raises(CommandError, match=r"The password was refused: .*too short"):
        call_command("create_staff", "mina", "--role", "reviewer")
    assert not get_user_model().objects.filter(username="mina").exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_existing_username(reviewer, stdin) -> None:
    stdin("a-sturdy-passphrase-42\n")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_staff", reviewer.username, "--role", "reviewer")


@pytest.mark.django_db
def test_it_refuses_an_empty_standard_input(roles, stdin) -> None:
    stdin("")
    with pytest.raises(CommandError, match="No password on standard input"):
        call_command("create_staff", "mina", "--role", "reviewer")


def test_it_refuses_an_unknown_role() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'boss'"):
        call_command("create_staff", "mina", "--role", "boss")
