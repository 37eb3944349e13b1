"""``zugabe mail``: the outbox of e-mails, for the operator: send what is due now, see what
is queued, sent and failed (never a mail's text)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from zugabe.cli_context import CliContext, pass_context
from zugabe.errors import ConfigError
from zugabe.storage.contract import MailState


@click.group()
def mail() -> None:
    """The outbox of e-mails."""


@mail.command("send-due")
@pass_context
def send_due(context: CliContext) -> None:
    """Send the due e-mails now, as the server's background thread would."""
    with context.services() as services:
        if not services.mail.enabled:
            raise ConfigError("mail is off: set smtp_host (see docs/administrators.md#e-mail)")
        delivery = services.mail.deliver_due(datetime.now(UTC))
    click.echo(
        f"sent {len(delivery.sent)}, to be retried {len(delivery.retrying)}, "
        f"given up {len(delivery.failed)}"
    )


@mail.command("digest")
@pass_context
def digest(context: CliContext) -> None:
    """Queue today's daily digests of notifications now, at any hour (once a day each, as
    the server's loop does from mail_digest_hour); `zugabe mail send-due` sends them."""
    with context.services() as services:
        if not services.mail.enabled:
            raise ConfigError("mail is off: set smtp_host (see docs/administrators.md#e-mail)")
        queued = services.notifications.send_digests(datetime.now(UTC), at_digest_hour=False)
    click.echo(f"digests queued {queued}")


@mail.command("list")
@click.option("--last", default=20, show_default=True, help="How many of the newest mails.")
@pass_context
def list_mail(context: CliContext, last: int) -> None:
    """Counts by state, then the newest mails: id, state, attempts, created, kind,
    recipient, subject, sent or next attempt, last error."""
    with context.services() as services:
        counts = services.store.count_mail()
        mails = services.store.list_mail(last)
    click.echo(", ".join(f"{state.value} {counts[state]}" for state in MailState))
    for item in mails:
        when = item.sent_at or item.next_attempt_at
        click.echo(
            "\t".join(
                [
                    str(item.id),
                    item.state.value,
                    str(item.attempts),
                    item.created_at.isoformat(timespec="seconds"),
                    item.kind,
                    item.recipient,
                    item.subject,
                    when.isoformat(timespec="seconds") if when else "",
                    item.last_error or "",
                ]
            )
        )
