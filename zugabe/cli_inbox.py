"""``zugabe inbox``: one's own inbox in the shell, as the map's inbox panel shows it."""

from __future__ import annotations

import click

from zugabe.cli_context import CliContext, pass_context
from zugabe.services.inbox import DUE_WINDOWS


@click.command()
@click.option("--assigned-to-me", is_flag=True, help="Only cases assigned to you.")
@click.option("--status", default="", help="Statuses, comma-separated (any of).")
@click.option("--relation", default="", help="conflict, synergy, note (any of).")
@click.option("--severity", default="", help="high, medium, low (any of).")
@click.option("--due", type=click.Choice(list(DUE_WINDOWS)), help="Due: overdue, week, month.")
@click.option("--unread", is_flag=True, help="Only cases new to you.")
@click.option("--waiting", is_flag=True, help="Proposals waiting for your organisation's vote.")
@click.option("--department", is_flag=True, help="Only cases of your department(s).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
@pass_context
def inbox(
    context: CliContext,
    assigned_to_me: bool,
    status: str,
    relation: str,
    severity: str,
    due: str | None,
    unread: bool,
    waiting: bool,
    department: bool,
    limit: int,
    lang: str,
) -> None:
    """The live cases of your organisation (--user NAME), most urgent first: id, new?,
    status, relation, severity, due date, assignee, message."""
    if context.user is None:
        raise click.UsageError("name whose inbox: zugabe --user NAME inbox")
    params = {
        "status": status,
        "relation": relation,
        "severity": severity,
        "due": due or "",
        "limit": str(limit),
        "scope": "department" if department else "organisation",
    }
    if assigned_to_me:
        params["assigned"] = "me"
    if unread:
        params["unread"] = "true"
    if waiting:
        params["waiting"] = "me"
    with context.services() as services:
        actor = context.actor(services, write=False)
        page = services.inbox.page(actor, services.inbox.query(actor, params))
        rows = [services.cases.to_json(case, lang=lang) for case, _ in page.cases]
    click.echo(f"{page.matched} cases, {page.unread} new", err=True)
    for (case, new), row in zip(page.cases, rows, strict=True):
        props = row["properties"]
        click.echo(
            "\t".join(
                [
                    str(case.id),
                    "*" if new else "",
                    props["status"],
                    props["relation"],
                    props["severity"],
                    props["due_date"] or "",
                    props["assignee"] or "",
                    props["message"][lang],
                ]
            )
        )
