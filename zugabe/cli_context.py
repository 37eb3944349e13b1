"""What every ``zugabe`` command shares: the settings overrides and the acting account.

Changes made from the shell have an author too: a command that writes acts as the
account named by ``--user NAME``, which must exist and be active, and goes through the
same policy as the web. Without ``--user`` a command may only read, as the local
operator (someone with the instance folder at hand can read the store anyway).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from zugabe.config import load_settings
from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.services import Services

OPERATOR = "operator"


class CliContext:
    def __init__(self, overrides: dict[str, Any], user: str | None) -> None:
        self.overrides = overrides
        self.user = user

    @contextmanager
    def services(self) -> Iterator[Services]:
        settings = load_settings(self.overrides)
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        services = Services.open(settings)
        try:
            yield services
        finally:
            services.close()

    @staticmethod
    def warn_at_start(services: Services) -> None:
        """Tell the administrator (on stderr) what works but is probably not meant so."""
        for warning in services.start_warnings():
            click.echo(f"zugabe: warning: {warning}", err=True)

    def actor(self, services: Services, *, write: bool) -> Actor:
        """The ``--user`` account; without it, the read-only local operator (writes refused)."""
        address = f"cli:{_os_user()}"
        if self.user is None:
            if write:
                raise click.UsageError(
                    "changes need an author: name your account with --user NAME "
                    "(before the command, e.g. zugabe --user a.kaya layers import …)"
                )
            return Actor(
                OPERATOR,
                "operator (local shell)",
                roles=frozenset({Role.REGION_ADMIN}),
                scope=Scope.READ,
                via="cli",
                address=address,
            )
        account = services.store.find_account(self.user)
        if account is None or not account.active:
            raise click.UsageError(f"--user {self.user}: no active account of that name")
        return Actor.of(account, via="cli", address=address)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


pass_context = click.make_pass_decorator(CliContext)
