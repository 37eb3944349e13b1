"""E-mail through the outbox: queued with the change it reports, sent later.

A use case queues its mails inside its store transaction (``MailService.enqueue``), so a
save and its mails commit together and a save never waits for, or fails on, the mail
server. ``deliver_due`` sends what is due over SMTP — from the background thread of
``zugabe serve`` or from ``zugabe mail send-due`` — and reschedules what the server did
not take, waiting twice as long each time, until ``mail_max_attempts``; then the mail
stays in the outbox as failed, with the server's last answer.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from itsdangerous import BadSignature, URLSafeSerializer

from zugabe.config import Settings
from zugabe.storage.contract import NewMail, OutboxMail, Store

LOG = logging.getLogger("zugabe.mail")
SMTP_TIMEOUT = 30.0
"""Seconds to wait for the mail server: a hung server delays the next mails, no save."""
BATCH = 20
"""Mails claimed and sent over one connection."""
LEASE = timedelta(minutes=15)
"""How long a claimed mail is left to its sender (≥ a batch at ``SMTP_TIMEOUT`` each)."""
MAIL_INTERVAL = 10.0
"""Seconds between two looks at the outbox in ``zugabe serve`` (one indexed read)."""
_UNSUBSCRIBE_SALT = "zugabe.unsubscribe"
_THIS_MAIL_ONLY = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,  # e.g. an address in Unicode, and no SMTPUTF8 there
)


@dataclass(frozen=True)
class Delivery:
    """What one ``deliver_due`` did, by mail id."""

    sent: tuple[int, ...] = ()
    retrying: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()


class MailService:
    """Queues and sends e-mail; everything is off while ``smtp_host`` is empty."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def enqueue(self, mail: NewMail) -> int | None:
        """Queue a mail in the caller's transaction; None when mail is off (nothing would
        ever send it) or its ``dedup_key`` was queued before."""
        return self.store.enqueue_mail(mail) if self.enabled else None

    def deliver_due(self, now: datetime) -> Delivery:
        """Send every mail due at ``now``, batch by batch, recording each outcome as soon
        as the server answered: a crash resends at most the mail being sent."""
        outcome: dict[str, list[int]] = {"sent": [], "retrying": [], "failed": []}
        if not self.enabled:
            return Delivery()
        while not self._stop.is_set() and (
            batch := self.store.claim_due_mail(now, now + LEASE, BATCH)
        ):
            for mail, error in self._send(batch):
                outcome[self._record(mail, error, now)].append(mail.id)
        return Delivery(*(tuple(ids) for ids in outcome.values()))

    def _record(self, mail: OutboxMail, error: str | None, now: datetime) -> str:
        if error is None:
            self.store.mail_sent(mail.id, datetime.now(UTC))
            LOG.info("mail %d (%s) sent", mail.id, mail.kind)
            return "sent"
        retry_at = None
        if mail.attempts < self.settings.mail_max_attempts:
            wait = self.settings.mail_retry_minutes * 2 ** (mail.attempts - 1)
            retry_at = now + timedelta(minutes=wait)
        self.store.mail_not_sent(mail.id, error, retry_at)
        if retry_at is None:
            LOG.error(
                "mail %d (%s) given up after %d attempts: %s",
                mail.id,
                mail.kind,
                mail.attempts,
                error,
            )
            return "failed"
        LOG.warning(
            "mail %d (%s) not sent (attempt %d), next attempt at %s: %s",
            mail.id,
            mail.kind,
            mail.attempts,
            retry_at.isoformat(),
            error,
        )
        return "retrying"

    def _send(self, batch: list[OutboxMail]) -> Iterator[tuple[OutboxMail, str | None]]:
        """Each mail with its error (None: the server took it), over one connection."""
        done = 0
        try:
            with self._connect() as smtp:
                for mail in batch:
                    error = None
                    try:
                        smtp.send_message(self.message(mail))
                    except (*_THIS_MAIL_ONLY, ValueError) as exc:  # ValueError: a bad header
                        error = _describe(exc)  # the connection lives on for the next
                    done += 1
                    yield mail, error
        except (OSError, smtplib.SMTPException) as exc:  # no connection: the rest wait
            for mail in batch[done:]:
                yield mail, _describe(exc)

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
        try:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def message(self, mail: OutboxMail) -> EmailMessage:
        """The mail as sent: UTF-8 text (and HTML, where given), marked as automatic."""
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(mail.created_at)
        domain = parseaddr(self.settings.mail_from)[1].rpartition("@")[2]
        message["Message-ID"] = make_msgid(f"zugabe.{mail.id}", domain=domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
        message.set_content(mail.text)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
        return message

    def start_background(
        self, interval: float, queue_first: Sequence[Callable[[datetime], object]] = ()
    ) -> None:
        """Send what is due every ``interval`` seconds in a daemon thread (``zugabe serve``),
        after the jobs that queue mails on a schedule (``queue_first``: the daily digest)."""
        self._thread = threading.Thread(
            target=self._deliver_until_stopped,
            args=(interval, tuple(queue_first)),
            name="mail",
            daemon=True,
        )
        self._thread.start()

    def _deliver_until_stopped(
        self, interval: float, queue_first: tuple[Callable[[datetime], object], ...]
    ) -> None:
        while not self._stop.wait(interval):
            try:
                now = datetime.now(UTC)
                for job in queue_first:
                    job(now)
                self.deliver_due(now)
            except Exception:  # the store was busy or broken: try again next round
                LOG.exception("mail delivery failed")

    def close(self) -> None:
        """Stop the background thread (and any ``deliver_due``) after its current batch."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _describe(exc: BaseException) -> str:
    """The error as recorded with the mail: the server's answer, never a password."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        (code, answer), *_ = exc.recipients.values()
        return f"recipient refused: {code} {_text(answer)}"[:500]
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer


def unsubscribe_token(secret: str, username: str, what: str) -> str:
    """A signed token for a mail's unsubscribe link: stop mails of kind ``what`` to
    ``username``. It does not expire — a link in an old mail must still work — and grants
    nothing but that; ``secret`` is ``zugabe.config.secret_key``."""
    return URLSafeSerializer(secret, salt=_UNSUBSCRIBE_SALT).dumps([username, what])


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str] | None:
    """The (username, what) a token was signed for, or None when it was not signed here."""
    try:
        username, what = URLSafeSerializer(secret, salt=_UNSUBSCRIBE_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return str(username), str(what)
