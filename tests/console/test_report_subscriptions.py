"""Scheduled reports: an ops user subscribes; after each day or week a mail brings the report, once."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from freezegun import freeze_time

from console.models import AuditEntry, AuditVerb, Export, ReportSubscription
from console.reports import get_report
from console.reports import services as reports
from console.reports.base import Filters
from console.roles import Role
from console.services import create_staff
from console.tasks import enqueue_due_reports
from tests.factories import make_integration, make_violation

pytestmark = pytest.mark.django_db

MONDAY = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
TUESDAY_NIGHT = datetime(2025, 6, 3, 0, 20, tzinfo=UTC)
NEXT_MONDAY_NIGHT = datetime(2025, 6, 9, 0, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _urls_loaded() -> None:
    # Importing the URLconf builds the API's pydantic schemas, which refuse freezegun's fake date class.
    reverse("console:exports")


@pytest.fixture
def otto(roles: None) -> Any:
    from tests.twofactor import enrol_totp

    # Ops must sign in with a second factor: enrolled, as the shared personas are.
    user = create_staff(actor=None, username="otto", password="a-long-test-password-4-staff", role=Role.OPS,
                        email="otto@example.com")
    enrol_totp(user)
    return user


@pytest.fixture
def acme(roles: None) -> Any:
    return make_integration("Acme Chat")


@pytest.fixture
def export_dir(settings: Any, tmp_path: Any) -> Any:
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    return settings.DOCKET_EXPORT_DIR


def subscribe(user: Any, frequency: str = "daily", delivery: str = "attachment", **filters: Any) -> ReportSubscription:
    return reports.subscribe(actor=user, report=get_report("violations"), filters=Filters(**filters), fmt="csv",
                             frequency=frequency, delivery=delivery)


def test_a_daily_subscription_mails_the_previous_day_once(otto, acme, reviewer, export_dir, mailoutbox) -> None:
    with freeze_time(MONDAY):
        subscription = subscribe(otto, category="hate")
        monday = [make_violation(acme, reviewer, user=f"u{n}", category="hate") for n in range(2)]
        make_violation(acme, reviewer, user="u9", category="sexual")
    with freeze_time(TUESDAY_NIGHT):
        make_violation(acme, reviewer, user="tuesday", category="hate")

        assert enqueue_due_reports.call() == 1
        assert enqueue_due_reports.call() == 0  # the period is claimed: a second sweep sends nothing

    [message] = mailoutbox
    assert message.to == ["otto@example.com"]
    assert message.subject == "Docket: Violations, 2025-06-02"
    assert "2025-06-02 (UTC), 2025-06-02 to 2025-06-02, category hate: 2 rows." in message.body
    [(name, content, mimetype)] = message.attachments
    assert (name, mimetype) == ("docket-violations-2025-06-02-to-2025-06-02.csv", "text/csv")
    rows = list(csv.DictReader(io.StringIO(content if isinstance(content, str) else content.decode())))
    assert [int(r["decision"]) for r in rows] == [v.decision_id for v in monday]
    subscription.refresh_from_db()
    assert subscription.last_period == "2025-06-02"
    assert subscription.last_sent_at == TUESDAY_NIGHT
    entry = AuditEntry.objects.get(verb=AuditVerb.REPORT_MAILED)
    assert entry.actor_label == "system"
    assert entry.after["to"] == "otto" and entry.after["period"] == "2025-06-02" and entry.after["rows"] == 2
    export = Export.objects.get()
    assert (export.requested_by, export.subscription) == (otto, subscription)


def test_the_same_period_is_never_mailed_twice_even_by_two_tasks(otto, export_dir, mailoutbox) -> None:
    with freeze_time(MONDAY):
        subscription = subscribe(otto)
    with freeze_time(TUESDAY_NIGHT):
        first = reports.send_scheduled_report(subscription_id=subscription.pk, period_key="2025-06-02")
        second = reports.send_scheduled_report(subscription_id=subscription.pk, period_key="2025-06-02")
    assert (first, second) == (True, False)
    assert len(mailoutbox) == 1


def test_a_weekly_subscription_mails_monday_to_sunday(otto, acme, reviewer, export_dir, mailoutbox) -> None:
    with freeze_time(datetime(2025, 6, 4, 12, 0, tzinfo=UTC)):  # a Wednesday
        subscribe(otto, frequency="weekly")
        wednesday = make_violation(acme, reviewer)
    with freeze_time(datetime(2025, 6, 8, 23, 0, tzinfo=UTC)):  # Sunday: the week has not ended
        sunday = make_violation(acme, reviewer, user="late")
        assert enqueue_due_reports.call() == 0
    with freeze_time(NEXT_MONDAY_NIGHT):
        assert enqueue_due_reports.call() == 1

    [message] = mailoutbox
    assert message.subject == "Docket: Violations, 2025-06-02 to 2025-06-08"
    rows = list(csv.DictReader(io.StringIO(message.attachments[0][1])))
    assert [int(r["decision"]) for r in rows] == [wednesday.decision_id, sunday.decision_id]
    assert ReportSubscription.objects.get().last_period == "2025-W23"


def test_link_delivery_sends_a_link_to_the_download(otto, export_dir, settings, mailoutbox) -> None:
    settings.DOCKET_BASE_URL = "https://docket.example.com"
    with freeze_time(MONDAY):
        subscribe(otto, delivery="link")
    with freeze_time(TUESDAY_NIGHT):
        enqueue_due_reports.call()

    [message] = mailoutbox
    export = Export.objects.get()
    assert message.attachments == []
    assert f"https://docket.example.com/exports/{export.pk}/download/" in message.body


def test_a_file_too_large_to_attach_is_sent_as_a_link(otto, acme, reviewer, export_dir, settings,
                                                       mailoutbox) -> None:
    settings.DOCKET_EXPORT_MAIL_MAX_BYTES = 100
    settings.DOCKET_BASE_URL = "https://docket.example.com"
    with freeze_time(MONDAY):
        subscribe(otto)
        make_violation(acme, reviewer)
    with freeze_time(TUESDAY_NIGHT):
        enqueue_due_reports.call()

    [message] = mailoutbox
    assert message.attachments == []
    assert "too large to attach" in message.body
    assert AuditEntry.objects.get(verb=AuditVerb.REPORT_MAILED).after["delivery"] == "link"


def test_nothing_is_mailed_to_someone_who_lost_the_role(otto, export_dir, mailoutbox) -> None:
    with freeze_time(MONDAY):
        subscribe(otto)
    otto.groups.clear()
    otto = type(otto).objects.get(pk=otto.pk)  # permissions are cached on the instance
    with freeze_time(TUESDAY_NIGHT):
        enqueue_due_reports.call()
    assert mailoutbox == []
    assert not Export.objects.exists()


def test_a_mail_that_fails_is_sent_again_by_the_next_sweep(otto, export_dir, mailoutbox, monkeypatch) -> None:
    with freeze_time(MONDAY):
        subscription = subscribe(otto)
    real_send = mail.EmailMessage.send

    def refuse(self: Any, *args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(mail.EmailMessage, "send", refuse)
    with freeze_time(TUESDAY_NIGHT):
        enqueue_due_reports.call()  # the task fails (the backend records it); nothing was sent
    assert mailoutbox == []
    assert not AuditEntry.objects.filter(verb=AuditVerb.REPORT_MAILED).exists()
    subscription.refresh_from_db()
    assert subscription.last_period == "2025-06-01"  # given back

    monkeypatch.setattr(mail.EmailMessage, "send", real_send)
    with freeze_time(TUESDAY_NIGHT):
        assert enqueue_due_reports.call() == 1
    assert len(mailoutbox) == 1


def test_subscribing_from_the_page_is_audited_and_needs_an_address(client, otto, make_staff, settings) -> None:
    client.force_login(otto)
    url = reverse("console:subscription_new", kwargs={"name": "actions"})

    response = client.post(url, {"sub-format": "jsonl", "sub-frequency": "weekly", "sub-delivery": "attachment",
                                 "sub-state": "applied"})

    assert response.status_code == 302
    subscription = ReportSubscription.objects.get()
    assert (subscription.report, subscription.format, subscription.frequency) == ("actions", "jsonl", "weekly")
    assert subscription.filters == {"state": "applied"}
    entry = AuditEntry.objects.get(verb=AuditVerb.SUBSCRIPTION_CREATED)
    assert entry.actor_label == "otto" and entry.after["email"] == "otto@example.com"
    page = client.get(reverse("console:exports")).content.decode()
    assert "Enforcement actions" in page and "state applied" in page

    link = client.post(url, {"sub-format": "csv", "sub-frequency": "daily", "sub-delivery": "link"})
    assert link.status_code == 400
    assert "Links need DOCKET_BASE_URL" in link.content.decode()

    client.force_login(make_staff(Role.OPS, "nomail"))
    nomail = client.post(url, {"sub-format": "csv", "sub-frequency": "daily", "sub-delivery": "attachment"})
    assert nomail.status_code == 400
    assert "no e-mail address" in nomail.content.decode()
    assert ReportSubscription.objects.count() == 1


def test_unsubscribing_deletes_it_and_is_audited(client, otto) -> None:
    subscription = subscribe(otto)
    client.force_login(otto)

    response = client.post(reverse("console:subscription_delete", kwargs={"pk": subscription.pk}))

    assert response.status_code == 302
    assert not ReportSubscription.objects.exists()
    entry = AuditEntry.objects.get(verb=AuditVerb.SUBSCRIPTION_DELETED)
    assert entry.before["report"] == "violations" and entry.actor_label == "otto"
