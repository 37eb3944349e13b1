"""``zugabe store``: the store as a whole, for the operator (moving an instance)."""

from __future__ import annotations

import click
from pyproj import CRS
from sqlalchemy.engine import make_url

from zugabe.cli_context import CliContext, pass_context
from zugabe.config import load_settings
from zugabe.errors import ConfigError
from zugabe.storage import open_store
from zugabe.storage.sqlite import SqliteStore


@click.group()
def store() -> None:
    """The store as a whole."""


def _shown(url: str) -> str:
    """A URL fit for the terminal: never its password."""
    return make_url(url).render_as_string(hide_password=True)


@store.command("copy")
@click.argument("source_url")
@click.argument("target_url")
@pass_context
def copy(context: CliContext, source_url: str, target_url: str) -> None:
    """Copy an instance from an SQLite store (SOURCE_URL, sqlite:////…) into an empty PostGIS
    database (TARGET_URL, postgresql+psycopg://…): projects, layers with their versions,
    cases with their history, accounts, notifications and the audit chain. Counts every
    table and verifies the audit chain afterwards, then vacuums and analyses the target (a
    bulk load); the source is only read. The target's geometry columns take the instance's
    storage_crs."""
    # Imported here: the PostGIS extra (psycopg) is installed only where PostGIS is used.
    from zugabe.storage.copy import copy_store
    from zugabe.storage.postgis import PostgisStore

    srid = CRS.from_user_input(load_settings(context.overrides).storage_crs).to_epsg()
    source = open_store(source_url)
    try:
        if not isinstance(source, SqliteStore):
            raise ConfigError(f"the source must be an SQLite store, got {_shown(source_url)}")
        target = open_store(target_url, srid)
        try:
            if not isinstance(target, PostgisStore):
                raise ConfigError(f"the target must be a PostGIS store, got {_shown(target_url)}")
            report = copy_store(source, target)
        finally:
            target.close()
    finally:
        source.close()
    for name, count in report.rows.items():
        click.echo(f"{name}: {count}")
    click.echo(
        f"copied {_shown(source_url)} to {_shown(target_url)}: counts equal, "
        f"audit chain intact ({report.audit.checked} entries); vacuumed and analysed"
    )
