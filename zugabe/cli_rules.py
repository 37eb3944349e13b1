"""``zugabe rules check``: which coordination rules detect, and which the region's vocabulary
leaves inactive, without opening the store."""

from __future__ import annotations

import click

from zugabe.cli_context import CliContext, pass_context
from zugabe.config import load_settings
from zugabe.services import RegionSetup


@click.group()
def rules() -> None:
    """The coordination rules of the region."""


@rules.command("check")
@pass_context
def check(context: CliContext) -> None:
    """List the active rules, and the inactive ones with the vocabulary keys they miss.

    A broken rule file ends with exit code 2 and its problems, one per line."""
    rule_set = RegionSetup.load(load_settings(context.overrides)).rules
    active, inactive = rule_set.active, rule_set.inactive
    click.echo(
        f"rule file {rule_set.source}: {len(rule_set.rules)} rules, "
        f"{len(active)} active, {len(inactive)} inactive"
    )
    if active:
        click.echo("active:")
        for rule in active:
            click.echo(f"  {rule.id:<32} {rule.relation:<9} {rule.severity:<7} {rule.name.en}")
    if inactive:
        click.echo("inactive (keys missing from the vocabulary):")
        for rule in inactive:
            missing = "; ".join(keys.describe() for keys in rule.missing)
            click.echo(f"  {rule.id:<32} {missing}")
