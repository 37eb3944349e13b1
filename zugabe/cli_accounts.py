"""``zugabe users``, ``zugabe tokens`` and ``zugabe audit``: accounts, API tokens and the
audit log from the shell, through the same services (and policy) as the web."""

from __future__ import annotations

import click

from zugabe.cli_context import CliContext, pass_context
from zugabe.domain.accounts import Actor, Role, Scope
from zugabe.errors import Forbidden
from zugabe.services import Services
from zugabe.services.accounts import AccountInput, parse_roles
from zugabe.services.audit import parse_audit_query

ROLE_CHOICE = click.Choice([r.value for r in Role])


@click.group()
def users() -> None:
    """Manage accounts: add, list, disable, enable, roles, password."""


def _writer(context: CliContext, services: Services, roles: frozenset[Role]) -> Actor:
    """The ``--user`` account; for the very first region admin, the local operator."""
    if (
        context.user is None
        and Role.REGION_ADMIN in roles
        and services.accounts.bootstrap_allowed()
    ):
        return Actor.system("operator (first region admin)", roles=frozenset({Role.REGION_ADMIN}))
    return context.actor(services, write=True)


def _password(prompt: bool, password_stdin: bool) -> str | None:
    if password_stdin:
        return click.get_text_stream("stdin").readline().rstrip("\n")
    if prompt:
        return click.prompt("password", hide_input=True, confirmation_prompt=True)
    return None


@users.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Display name, e.g. 'Ayşe Yılmaz'.")
@click.option("--email", default="", help="E-mail address.")
@click.option("--organisation", help="Organisation key (none: region-wide accounts only).")
@click.option("--department", "departments", multiple=True, help="Department key (repeatable).")
@click.option("--role", "roles", multiple=True, type=ROLE_CHOICE, required=True, help="Role.")
@click.option("--theme", "themes", multiple=True, help="Data steward: theme key, or '*'.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--no-password", is_flag=True, help="No password (single sign-on or tokens only).")
@pass_context
def add_user(
    context: CliContext,
    username: str,
    display_name: str,
    email: str,
    organisation: str | None,
    departments: tuple[str, ...],
    roles: tuple[str, ...],
    themes: tuple[str, ...],
    password_stdin: bool,
    no_password: bool,
) -> None:
    """Create the account USERNAME (asks for its password unless told otherwise).

    The first region admin of an instance needs no --user:
    zugabe users add a.admin --name "…" --role region_admin
    """
    role_set = parse_roles(roles)
    new = AccountInput(username, display_name, email, organisation, departments, role_set, themes)
    with context.services() as services:
        actor = _writer(context, services, role_set)
        password = _password(not no_password, password_stdin)
        account = services.accounts.add(actor, new, password)
    click.echo(f"account {account.username} created ({', '.join(sorted(account.roles))})")


@users.command("list")
@click.option("--organisation", help="Only this organisation.")
@pass_context
def list_users(context: CliContext, organisation: str | None) -> None:
    """Print the accounts: username, organisation, roles, active, name."""
    with context.services() as services:
        accounts = services.accounts.list(context.actor(services, write=False), organisation)
    for a in accounts:
        state = "active" if a.active else "disabled"
        demo = " (demo password)" if a.demo_password else ""
        click.echo(
            f"{a.username:<24} {a.organisation or '-':<14} {','.join(sorted(a.roles)):<28} "
            f"{state:<8} {a.display_name}{demo}"
        )
    click.echo(f"{len(accounts)} accounts")


@users.command("disable")
@click.argument("username")
@pass_context
def disable_user(context: CliContext, username: str) -> None:
    """Disable USERNAME: no sign-in, no token, its sessions end."""
    _set_active(context, username, False)


@users.command("enable")
@click.argument("username")
@pass_context
def enable_user(context: CliContext, username: str) -> None:
    """Enable USERNAME again."""
    _set_active(context, username, True)


def _set_active(context: CliContext, username: str, active: bool) -> None:
    with context.services() as services:
        services.accounts.set_active(context.actor(services, write=True), username, active)
    click.echo(f"account {username} {'enabled' if active else 'disabled'}")


@users.command("roles")
@click.argument("username")
@click.option("--role", "roles", multiple=True, type=ROLE_CHOICE, required=True, help="Role.")
@click.option("--theme", "themes", multiple=True, help="Data steward: theme key, or '*'.")
@pass_context
def set_roles(
    context: CliContext, username: str, roles: tuple[str, ...], themes: tuple[str, ...]
) -> None:
    """Replace the roles (and themes) of USERNAME."""
    with context.services() as services:
        account = services.accounts.set_roles(
            context.actor(services, write=True), username, parse_roles(roles), themes or None
        )
    click.echo(f"account {account.username}: {', '.join(sorted(account.roles))}")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_context
def set_password(context: CliContext, username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (ends a demo password and all its sessions)."""
    with context.services() as services:
        actor = context.actor(services, write=True)
        password = _password(True, password_stdin)
        assert password is not None
        services.accounts.set_password(actor, username, password)
    click.echo(f"password of {username} set")


@click.group()
def tokens() -> None:
    """Personal API tokens for scripts, QGIS and GDAL: create, list, revoke."""


@tokens.command("create")
@click.option("--name", required=True, help="What it is for, e.g. QGIS.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
@click.option("--days", type=int, help="Life in days (default: setting token_days).")
@click.option("--for", "owner", help="Another account's token (its admins only).")
@pass_context
def create_token(
    context: CliContext, name: str, scope: str, days: int | None, owner: str | None
) -> None:
    """Create a token for --user (or --for); the secret is printed once."""
    with context.services() as services:
        actor = context.actor(services, write=True)
        token, secret = services.accounts.create_token(
            actor, owner or actor.username, name, Scope(scope), days
        )
    click.echo(secret)
    click.echo(
        f"token {token.id} ({token.scope.value}) valid until {token.expires_at:%Y-%m-%d}; "
        "it is shown this once: send it as 'Authorization: Bearer <token>'",
        err=True,
    )


@tokens.command("list")
@click.option("--for", "owner", help="Another account's tokens (its admins only).")
@pass_context
def list_tokens(context: CliContext, owner: str | None) -> None:
    """Print the tokens of --user (or --for): id, prefix, scope, expiry, state."""
    with context.services() as services:
        found = services.accounts.list_tokens(
            context.actor(services, write=True), owner or context.user
        )
    for t in found:
        state = "revoked" if t.revoked_at else "active"
        used = f"{t.last_used_at:%Y-%m-%d}" if t.last_used_at else "never"
        click.echo(
            f"{t.id:>5}  {t.prefix}…  {t.scope.value:<5}  until {t.expires_at:%Y-%m-%d}  "
            f"used {used:<10}  {state:<7}  {t.name}"
        )


@tokens.command("revoke")
@click.argument("token_id", type=int)
@pass_context
def revoke_token(context: CliContext, token_id: int) -> None:
    """Revoke token TOKEN_ID at once."""
    with context.services() as services:
        services.accounts.revoke_token(context.actor(services, write=True), token_id)
    click.echo(f"token {token_id} revoked")


@click.group()
def audit() -> None:
    """The audit log: verify its hash chain, list entries."""


@audit.command("verify")
@pass_context
def verify_audit(context: CliContext) -> None:
    """Check every entry's hash and link; exit 1 naming the first entry that was changed or
    deleted behind ZUGABE's back."""
    with context.services() as services:
        result = services.audit.verify()
    if not result.intact:
        click.echo(f"audit log BROKEN at entry {result.broken_seq}: {result.problem}", err=True)
        raise SystemExit(1)
    click.echo(f"audit log intact: {result.checked} entries")


@audit.command("list")
@click.option("--actor", help="Only this account.")
@click.option("--action", help="Exact action, or a prefix ending in '.', e.g. project.")
@click.option("--from", "time_from", help="From (date or ISO time).")
@click.option("--to", "time_to", help="Until (date or ISO time).")
@pass_context
def list_audit(
    context: CliContext,
    actor: str | None,
    action: str | None,
    time_from: str | None,
    time_to: str | None,
) -> None:
    """Print audit entries as CSV."""
    params = {"actor": actor, "action": action, "from": time_from, "to": time_to}
    query = parse_audit_query({k: v for k, v in params.items() if v})
    with context.services() as services:
        reader = context.actor(services, write=False)
        try:
            for piece in services.audit.csv_rows(reader, query):
                click.echo(piece, nl=False)
        except Forbidden as exc:
            raise click.UsageError(exc.detail) from None
