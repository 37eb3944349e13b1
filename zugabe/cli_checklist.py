"""``zugabe checklist PROJECT_ID``: a development plan's checklist with its evidence, answers
and score, as the fact sheet shows it (or as the API's JSON)."""

from __future__ import annotations

import json

import click

from zugabe.cli_context import CliContext, pass_context
from zugabe.services.checklists import TEXTS, checklist_view


@click.command("checklist")
@click.argument("project_id", type=int)
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@pass_context
def checklist(context: CliContext, project_id: int, lang: str, as_json: bool) -> None:
    """The checklist of development plan PROJECT_ID: items by theme, the evidence measured
    from the stored layers, the answers and the completion score."""
    with context.services() as services:
        service = services.checklists
        state = service.of_project(context.actor(services, write=False), project_id)
        if as_json:
            click.echo(json.dumps(service.to_json(state), ensure_ascii=False, indent=2))
            return
        view = checklist_view(service.checklist, state, lang, services.accounts.display_name)
    t = TEXTS[lang]
    click.echo(f"{view['title']}: {t['plan']} {view['project_id']} {view['project_title']}")
    click.echo(f"{t['score']}: {view['score_text']} · {view['open']} {t['open_items']}")
    for theme in view["themes"]:
        click.echo(f"\n{theme['title']}")
        for item in theme["items"]:
            mark = "!" if item["open"] else " "
            click.echo(
                f" {mark} {item['id']:<28} {item['relevance_label']:<15} {item['answer_label']}"
            )
            if item["evidence"] is not None:
                click.echo(f"     {item['evidence_label']}: {item['evidence']}")
            if item["note"]:
                click.echo(f"     {t['note']}: {item['note']}")
