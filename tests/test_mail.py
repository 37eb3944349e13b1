"""E-mail through the outbox, against a real SMTP server (aiosmtpd, ``tests/smtp_server.py``):
what arrives, what waits while the server is down, retries, giving up, never twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from smtp_server import SmtpServer, free_port

from zugabe.cli import cli
from zugabe.config import Settings
from zugabe.domain.accounts import Role
from zugabe.services.mail import Delivery, MailService, read_unsubscribe_token, unsubscribe_token
from zugabe.storage.contract import MailState, NewAccount, NewMail
from zugabe.storage.sqlite import SqliteStore

SUBJECT = "Neuer Koordinationsfall: Kanalsanierung Müllerstraße"
TEXT = "Grüße aus Herne!\nDie Maßnahme überschneidet sich mit „Fahrbahnerneuerung“.\n"
HTML = "<p>Grüße aus Herne!</p>"


def mail_settings(tmp_path: Path, port: int, **changes: Any) -> Settings:
    return Settings(
        instance_path=tmp_path / "instance",
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="ZUGABE Emscher <zugabe@example.org>",
        public_url="https://zugabe.example.org",
        **changes,
    )


def a_mail(recipient: str = "a.kaya@herne.de", **changes: Any) -> NewMail:
    return NewMail(recipient, SUBJECT, TEXT, "case.created", **changes)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(f"sqlite:///{tmp_path / 'instance' / 'zugabe.sqlite'}")
    yield store
    store.close()


def test_a_queued_mail_arrives_in_utf8(smtp: SmtpServer, store: SqliteStore, tmp_path: Path):
    service = MailService(store, mail_settings(tmp_path, smtp.port))
    mail_id = service.enqueue(a_mail(html=HTML))
    delivery = service.deliver_due(datetime.now(UTC))
    assert delivery.sent == (mail_id,) and delivery.retrying == delivery.failed == ()
    [arrived] = smtp.received
    assert arrived.recipients == ("a.kaya@herne.de",)
    assert arrived.mail_from == "zugabe@example.org"
    message = arrived.message
    assert message["Subject"] == SUBJECT
    assert message["To"] == "a.kaya@herne.de"
    assert message["From"] == "ZUGABE Emscher <zugabe@example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.org>")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and text.get_content().replace("\r\n", "\n") == TEXT  # CRLF: SMTP
    assert text.get_content_charset() == "utf-8"
    assert html is not None and html.get_content().strip() == HTML
    assert store.list_mail(1)[0].state is MailState.SENT


def test_a_save_does_not_wait_for_a_mail_server_that_is_down(
    store: SqliteStore, tmp_path: Path
) -> None:
    down = SmtpServer(free_port())  # not started yet
    service = MailService(store, mail_settings(tmp_path, down.port))
    with store.transaction():  # the change and its mail commit together
        store.add_account(
            NewAccount("a.kaya", "Ayşe Kaya", "a@herne.de", "herne", (), frozenset({Role.PLANNER}))
        )
        mail_id = service.enqueue(a_mail())
    now = datetime.now(UTC)
    assert service.deliver_due(now).retrying == (mail_id,)
    [waiting] = store.list_mail(1)
    assert (waiting.state, waiting.attempts) == (MailState.QUEUED, 1)
    assert waiting.last_error is not None and "ConnectionRefusedError" in waiting.last_error
    assert waiting.next_attempt_at == now + timedelta(minutes=5)
    down.start()
    try:
        assert service.deliver_due(now + timedelta(minutes=4)).sent == ()  # not due yet
        assert service.deliver_due(now + timedelta(minutes=5)).sent == (mail_id,)
        assert [a.message["Subject"] for a in down.received] == [SUBJECT]
        assert service.deliver_due(now + timedelta(days=1)).sent == ()  # never again
    finally:
        down.stop()
    [sent] = store.list_mail(1)
    assert (sent.state, sent.attempts, sent.last_error) == (MailState.SENT, 2, None)


def test_a_mail_is_given_up_after_the_last_attempt(store: SqliteStore, tmp_path: Path) -> None:
    settings = mail_settings(tmp_path, free_port(), mail_max_attempts=3, mail_retry_minutes=10)
    service = MailService(store, settings)
    mail_id = service.enqueue(a_mail())
    now = datetime.now(UTC)
    assert service.deliver_due(now).retrying == (mail_id,)
    assert store.list_mail(1)[0].next_attempt_at == now + timedelta(minutes=10)
    later = now + timedelta(minutes=10)
    assert service.deliver_due(later).retrying == (mail_id,)
    assert store.list_mail(1)[0].next_attempt_at == later + timedelta(minutes=20)  # doubled
    assert service.deliver_due(later + timedelta(minutes=20)).failed == (mail_id,)
    assert service.deliver_due(now + timedelta(days=30)) == Delivery()
    [failed] = store.list_mail(1)
    assert (failed.state, failed.attempts) == (MailState.FAILED, 3)
    assert failed.last_error is not None and failed.next_attempt_at is None
    assert store.count_mail()[MailState.FAILED] == 1


def test_a_refused_recipient_waits_while_the_others_are_sent(
    smtp: SmtpServer, store: SqliteStore, tmp_path: Path
) -> None:
    smtp.refuse.add("nobody@herne.de")
    service = MailService(store, mail_settings(tmp_path, smtp.port))
    ids = [service.enqueue(a_mail(to)) for to in ("a@herne.de", "nobody@herne.de", "b@herne.de")]
    delivery = service.deliver_due(datetime.now(UTC))
    assert (delivery.sent, delivery.retrying) == ((ids[0], ids[2]), (ids[1],))
    assert [a.recipients for a in smtp.received] == [("a@herne.de",), ("b@herne.de",)]
    refused = next(m for m in store.list_mail(3) if m.id == ids[1])
    assert refused.last_error == "recipient refused: 550 5.1.1 mailbox unavailable"


def test_a_mail_that_cannot_be_written_waits_while_the_others_are_sent(
    smtp: SmtpServer, store: SqliteStore, tmp_path: Path
) -> None:
    service = MailService(store, mail_settings(tmp_path, smtp.port))
    broken = service.enqueue(a_mail("a@herne.de\nBcc: all@herne.de"))  # no header injection
    fine = service.enqueue(a_mail())
    delivery = service.deliver_due(datetime.now(UTC))
    assert (delivery.retrying, delivery.sent) == ((broken,), (fine,))
    assert [a.recipients for a in smtp.received] == [("a.kaya@herne.de",)]
    assert "ValueError" in (store.list_mail(2)[1].last_error or "")


def test_two_senders_at_once_send_each_mail_once(
    smtp: SmtpServer, store: SqliteStore, tmp_path: Path
) -> None:
    settings = mail_settings(tmp_path, smtp.port)
    ids = {MailService(store, settings).enqueue(a_mail(f"p{n}@herne.de")) for n in range(30)}
    other = SqliteStore(f"sqlite:///{tmp_path / 'instance' / 'zugabe.sqlite'}")
    senders = [MailService(store, settings), MailService(other, settings)]
    sent: list[int] = []
    now = datetime.now(UTC)
    threads = [
        threading.Thread(target=lambda s=s: sent.extend(s.deliver_due(now).sent)) for s in senders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert sorted(sent) == sorted(ids)
    assert sorted(a.recipients[0] for a in smtp.received) == sorted(
        f"p{n}@herne.de" for n in range(30)
    )


def test_mail_off_queues_nothing(store: SqliteStore, tmp_path: Path) -> None:
    service = MailService(store, Settings(instance_path=tmp_path / "instance"))
    assert not service.enabled
    assert service.enqueue(a_mail()) is None
    assert store.list_mail(10) == []


def test_the_server_thread_sends_what_is_queued(
    smtp: SmtpServer, store: SqliteStore, tmp_path: Path
) -> None:
    service = MailService(store, mail_settings(tmp_path, smtp.port))
    service.start_background(0.05)
    try:
        service.enqueue(a_mail())
        deadline = time.monotonic() + 10
        while not smtp.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.close()
    assert [a.message["Subject"] for a in smtp.received] == [SUBJECT]


def test_send_due_and_list_from_the_shell(
    smtp: SmtpServer, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    settings = mail_settings(tmp_path, smtp.port)
    for name in ("smtp_host", "smtp_port", "mail_from", "public_url"):
        monkeypatch.setenv(f"ZUGABE_{name.upper()}", str(getattr(settings, name)))
    store = SqliteStore(settings.store_url)
    try:
        service = MailService(store, settings)
        first = service.enqueue(a_mail("a@herne.de"))
        service.enqueue(a_mail("nobody@herne.de"))
    finally:
        store.close()
    smtp.refuse.add("nobody@herne.de")
    result = runner.invoke(cli, ["--instance", str(instance), "mail", "send-due"])
    assert result.exit_code == 0, result.output
    assert result.output == "sent 1, to be retried 1, given up 0\n"
    assert [a.recipients for a in smtp.received] == [("a@herne.de",)]
    result = runner.invoke(cli, ["--instance", str(instance), "mail", "list"])
    assert result.exit_code == 0, result.output
    counts, newest, oldest = result.output.splitlines()
    assert counts == "queued 1, sent 1, failed 0"
    assert newest.split("\t")[1:3] == ["queued", "1"]
    assert newest.endswith("recipient refused: 550 5.1.1 mailbox unavailable")
    assert oldest.split("\t")[:2] == [str(first), "sent"]
    assert TEXT.splitlines()[0] not in result.output  # never a mail's text


def test_send_due_says_when_mail_is_off(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--instance", str(tmp_path / "i"), "mail", "send-due"])
    assert result.exit_code != 0 and "mail is off" in str(result.exception)


def test_an_unsubscribe_token_names_its_user_and_mails() -> None:
    secret = "s" * 40
    token = unsubscribe_token(secret, "a.kaya", "digest")
    assert read_unsubscribe_token(secret, token) == ("a.kaya", "digest")
    assert read_unsubscribe_token("t" * 40, token) is None  # another instance's key
    assert read_unsubscribe_token(secret, token[:-2] + "xx") is None
    assert read_unsubscribe_token(secret, "not a token") is None
