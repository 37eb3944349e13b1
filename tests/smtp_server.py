"""A real SMTP server for the mail tests: aiosmtpd on a free local port, keeping what
arrives as parsed messages.

``SmtpServer`` is created on a port without listening, so a test can send to a server
that is down and start it later on the same port.
"""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Arrived:
    """One mail as the server received it: the envelope and the parsed message."""

    mail_from: str
    recipients: tuple[str, ...]
    message: EmailMessage


@dataclass
class SmtpServer:
    port: int
    received: list[Arrived] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    """Recipients answered with 550, as a server does for an unknown mailbox."""
    _controller: Controller | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Arrived(str(envelope.mail_from), tuple(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
