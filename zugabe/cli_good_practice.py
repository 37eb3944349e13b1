"""``zugabe good-practice``: the good-practice collection from the shell, as the web and
``/api/good-practice`` offer it: list the examples, show one with its votes, withdraw a
released one (with a reason, as ``--user``; the same policy and audit entry as the web)."""

from __future__ import annotations

import json
from typing import Any

import click

from zugabe.cli_context import CliContext, pass_context
from zugabe.domain.good_practice import ExampleState, GoodPractice
from zugabe.services.good_practice import GoodPracticeService

LANG = click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group("good-practice")
def good_practice() -> None:
    """The good-practice collection: proposals, released and withdrawn examples."""


@good_practice.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in ExampleState]),
    help="Only examples in this state (repeatable; default: all).",
)
@AS_JSON
@pass_context
def list_examples(context: CliContext, states: tuple[str, ...], as_json: bool) -> None:
    """Every example with its state, project and the organisations still to vote, as
    GET /api/good-practice lists them."""
    with context.services() as services:
        service = services.good_practice
        examples = service.list(
            context.actor(services, write=False), tuple(ExampleState(s) for s in states)
        )
        if as_json:
            _echo_json([service.to_json(e) for e in examples])
            return
        for example in examples:
            waiting = ", ".join(example.waiting_for())
            click.echo(
                f"{example.id:>4}  {example.state.value:<10} project {example.project_id:<6} "
                f"{service.city(example) or '–':<14} {example.content.title}"
                + (f"  (waiting for: {waiting})" if waiting else "")
            )


@good_practice.command("show")
@click.argument("example_id", type=int)
@LANG
@AS_JSON
@pass_context
def show(context: CliContext, example_id: int, lang: str, as_json: bool) -> None:
    """Example EXAMPLE_ID with its content, realised synergies, votes and history."""
    with context.services() as services:
        service = services.good_practice
        example = service.get(example_id, context.actor(services, write=False))
        if as_json:
            _echo_json(service.to_json(example))
            return
        for line in _describe(service, example, lang):
            click.echo(line)


def _describe(service: GoodPracticeService, example: GoodPractice, lang: str) -> list[str]:
    """The example as lines of text; vocabulary keys named in ``lang``."""
    content = example.content
    measure_types = service.measure_types(example)
    named = ", ".join(service.label("measure_type", m, lang) for m in measure_types)
    organisation = service.label("organisation", example.organisation, lang)
    lines = [
        f"good-practice example {example.id}: {content.title}",
        f"state: {example.state.value} (round {example.round}, version {example.version})",
        f"project: {example.project_id} · {organisation} · measure types: {named}",
        "involved: " + ", ".join(service.label("organisation", o, lang) for o in example.involved),
    ]
    if waiting := example.waiting_for():
        lines.append("waiting for: " + ", ".join(waiting))
    for vote in example.votes:
        reason = f": {vote.reason}" if vote.reason else ""
        lines.append(
            f"vote: {vote.organisation} {vote.choice.value} by {vote.by} "
            f"at {vote.at:%Y-%m-%d %H:%M}{reason}"
        )
    lines.append(f"proposed by {example.proposed_by} at {example.proposed_at:%Y-%m-%d %H:%M}")
    if example.released_at:
        lines.append(f"released at {example.released_at:%Y-%m-%d %H:%M}")
    if example.withdrawn_at:
        lines.append(
            f"withdrawn by {example.withdrawn_by} at {example.withdrawn_at:%Y-%m-%d %H:%M}: "
            f"{example.withdraw_reason}"
        )
    if content.costs_eur is not None or content.costs_note:
        costs = f"{content.costs_eur:,.0f} EUR" if content.costs_eur is not None else ""
        lines.append(f"costs: {' · '.join(filter(None, (costs, content.costs_note)))}")
    for synergy in example.synergies:
        partner = synergy.partner.get(lang, synergy.partner.get("en", ""))
        lines.append(f"synergy: {service.label('rule', synergy.rule_id, lang)} with {partner}")
    lines.append(f"photos: {len(example.photos)}")
    for title, text in (
        ("description", content.description),
        ("lessons learned", content.lessons),
        ("contacts", content.contacts),
    ):
        if text:
            lines += ["", f"{title}:", text]
    return lines


@good_practice.command("withdraw")
@click.argument("example_id", type=int)
@click.option("--reason", required=True, help="Why it leaves the public page (audited).")
@pass_context
def withdraw(context: CliContext, example_id: int, reason: str) -> None:
    """Take released example EXAMPLE_ID off the public page, its GeoJSON and feed: a
    coordinator of an organisation involved, or a region admin (--user)."""
    with context.services() as services:
        actor = context.actor(services, write=True)
        example = services.good_practice.withdraw(example_id, reason, actor, None)
    click.echo(f"good-practice example {example.id} withdrawn: {example.withdraw_reason}")
